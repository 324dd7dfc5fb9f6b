"""Text no database stores: NUL characters (PostgreSQL refuses them) and unpaired UTF-16
surrogates (not encodable as UTF-8, so neither PostgreSQL nor SQLite takes them).

JSON carries both (`"\\u0000"`, `"\\ud800"`), so they reach Vigil in GraphQL variables and inside
import documents; they are refused there as BAD_USER_INPUT instead of failing in the driver.
"""

from __future__ import annotations

from probes.redaction import UNSTORABLE  # the same rule cleans what probes bring back

UNSTORABLE_RULE = "text must not contain NUL characters or unpaired surrogates"


def unstorable(value: object, path: str = "") -> str | None:
    """The path (`.input.name`, `[2]`) of a string in a JSON value that cannot be stored, or None.

    Iterative: a document may nest as deep as the JSON parser allows, deeper than Python recursion.
    """
    pending: list[tuple[str, object]] = [(path, value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str):
            if UNSTORABLE.search(item):
                return where
        elif isinstance(item, dict):
            pending.extend((f"{where}.{key}", child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            pending.extend((f"{where}[{index}]", child) for index, child in reversed(list(enumerate(item))))
    return None
