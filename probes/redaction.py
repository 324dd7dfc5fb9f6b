"""Keeping a service's credential, and text no database stores, out of what its probe learned.

A server that receives a credential can send it back: in a maintenance message, a version,
its name or description, a panel label, a URL its registry lists. Whatever a probe returns may
be stored and shown to every reader of the API and the status page, so the public entry points
(`adapter.check`, `adapter.discover`, `discovery.detect`, `discovery.discover_services`) pass
their answer through `redact` with the credential they were given. It replaces the credential,
raw or percent-encoded, with `REDACTED` in every string of the returned value objects.

Credentials shorter than `MIN_LENGTH` are left in place: replacing "500" would garble every
message, and a secret that short protects nothing anyway.

The same walk replaces NUL characters and unpaired surrogates (a JSON `"\\u0000"` or `"\\ud800"`
in a version, a panel label, a maintenance message) with U+FFFD: PostgreSQL refuses the first
and no UTF-8 store takes the second, so one such string from a hostile server would otherwise
fail the write of every check of that service, and the batch it rode in with.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import urllib.parse
from typing import Any, TypeVar

REDACTED = "[redacted]"
MIN_LENGTH = 8
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"

T = TypeVar("T")


def redact(value: T, secret: str | None) -> T:
    """`value` with every occurrence of `secret` replaced, and every unstorable character; frozen
    dataclasses and tuples are rebuilt, other values (numbers, enums, datetimes) pass through. The
    same object comes back when nothing matched."""
    if secret is None or len(secret) < MIN_LENGTH:
        return _walk(value, [])
    forms = sorted(
        {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret), urllib.parse.quote_plus(secret)},
        key=len,
        reverse=True,
    )
    result: T = _walk(value, forms)
    return result


def _walk(value: Any, forms: list[str]) -> Any:
    if isinstance(value, enum.Enum):  # StrEnum members are strings, but never server text
        return value
    if isinstance(value, str):
        for form in forms:
            if form in value:
                value = value.replace(form, REDACTED)
        return UNSTORABLE.sub(REPLACEMENT, value) if UNSTORABLE.search(value) else value
    if isinstance(value, tuple):
        items = tuple(_walk(item, forms) for item in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for field in dataclasses.fields(value):
            if not field.init:
                continue
            old = getattr(value, field.name)
            new = _walk(old, forms)
            if new is not old:
                changes[field.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    return value
