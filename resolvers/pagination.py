"""Relay cursors over id-ordered rows: opaque to clients, stable while rows are added."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Sequence
from typing import Generic, TypeVar

from tortoise.queryset import QuerySet

from resolvers.errors import BadUserInput

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    rows: Sequence[T]
    cursors: Sequence[str]
    has_next_page: bool
    has_previous_page: bool
    total_count: int


def encode_cursor(kind: str, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{row_id}".encode()).decode()


def decode_cursor(kind: str, cursor: str, maximum: int = 2**63 - 1) -> int:
    """The row id in a cursor of `kind`; an id beyond `maximum` (the key column's) comes from no page."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        prefix, _, value = raw.partition(":")
        if prefix != kind:
            raise ValueError(prefix)
        row_id = int(value)
        if not 0 <= row_id <= maximum:
            raise ValueError(value)
        return row_id
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadUserInput(f"'after' is not a {kind} cursor from this API", field="after") from exc


def page_size(first: int | None, maximum: int) -> int:
    if first is None:
        return maximum
    if first < 0:
        raise BadUserInput("'first' must not be negative", field="first")
    if first > maximum:
        raise BadUserInput(f"'first' may be at most {maximum}", field="first")
    return first


async def paginate(query: QuerySet, kind: str, first: int, after: str | None, *, descending: bool = False) -> Page:
    """Pages by primary key; `descending` lists newest first (history) and cursors still hold."""
    total = await query.count()
    if after is not None:
        last_id = decode_cursor(kind, after, query.model._meta.pk.constraints.get("le", 2**63 - 1))
        query = query.filter(id__lt=last_id) if descending else query.filter(id__gt=last_id)
    ordered = query.order_by("-id" if descending else "id")
    rows = await ordered.limit(first + 1)
    has_next = len(rows) > first
    rows = rows[:first]
    return Page(
        rows=rows,
        cursors=[encode_cursor(kind, row.id) for row in rows],
        has_next_page=has_next,
        has_previous_page=after is not None,
        total_count=total,
    )
