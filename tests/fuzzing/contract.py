"""What every GraphQL response must look like, whatever the input: docs/api.md, "Errors".

A response is a JSON object with `data` and maybe `errors`; every error carries a message and
an `extensions.code` from the documented table, and no error is INTERNAL_SERVER_ERROR (a bug, by
the same table). A message never shows a traceback or the name of a Python exception, unless the
client sent that text itself (a message may quote the value it refuses).
"""

from __future__ import annotations

import builtins
import json
import pathlib
import re
import sqlite3
from typing import Any

import tortoise.exceptions

API_DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "api.md"


def documented_codes() -> frozenset[str]:
    """The codes of the table under "## Errors" in docs/api.md, INTERNAL_SERVER_ERROR left out."""
    section = API_DOC.read_text().split("## Errors", 1)[1].split("\n## ", 1)[0]
    codes = {
        code for line in section.splitlines() if line.startswith("| `") for code in re.findall(r"`([A-Z_]+)`", line)
    }
    return frozenset(codes - {"INTERNAL_SERVER_ERROR"})


DOCUMENTED_CODES = documented_codes()


def _exception_names() -> frozenset[str]:
    modules = (builtins, sqlite3, tortoise.exceptions)
    return frozenset(
        name
        for module in modules
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, BaseException) and len(name) > 5
    )


EXCEPTION_NAMES = _exception_names()
LEAKS = re.compile(r"Traceback \(most recent call last\)|File \"|object at 0x|<class '")


def error_codes(response: dict[str, Any], sent: object = None) -> list[str]:
    """Assert `response` keeps the contract and return its error codes, in order.

    `sent` is what the client sent (variables, document): a name it contains may be quoted back.
    """
    json.dumps(response, allow_nan=False)  # it can be sent as JSON: no NaN, no stray objects
    assert set(response) <= {"data", "errors", "extensions"}, response
    assert "data" in response or response.get("errors"), response
    echoed = repr(sent) + json.dumps(sent, default=repr)
    codes = []
    for error in response.get("errors", []):
        assert isinstance(error.get("message"), str) and error["message"], error
        code = (error.get("extensions") or {}).get("code")
        assert code in DOCUMENTED_CODES, f"undocumented or internal code {code!r}: {error}"
        message = error["message"]
        assert not LEAKS.search(message), error
        leaked = {name for name in EXCEPTION_NAMES if name in message and name not in echoed}
        assert not leaked, f"{sorted(leaked)} in {error}"
        codes.append(code)
    return codes
