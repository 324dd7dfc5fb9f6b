"""Relay connection pieces shared by every paginated list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import strawberry

from resolvers.pagination import Page

C = TypeVar("C")

# Arguments every paginated root field takes, described once.
After = Annotated[
    str | None, strawberry.argument(description="A cursor from the previous page: read the items after it")
]
OptionalPageSize = Annotated[
    int | None, strawberry.argument(description="Page size, 0 to VIGIL_MAX_PAGE_SIZE; null: VIGIL_MAX_PAGE_SIZE")
]


@strawberry.type(description="Where a page of a cursor connection sits in the whole list")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow: pass endCursor as `after` to read them")
    has_previous_page: bool = strawberry.field(description="Items precede this page")
    start_cursor: str | None = strawberry.field(
        description="Cursor of the first item on the page; null when the page is empty"
    )
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last item on the page; null when the page is empty"
    )

    @classmethod
    def from_cursors(cls, cursors: list[str], has_next: bool, has_previous: bool) -> PageInfo:
        return cls(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        )


def build_connection(
    connection: Callable[..., C], edge: Callable[..., Any], page: Page, node: Callable[[Any], Any]
) -> C:
    """One page of rows as a connection: each row converted by `node`, with its cursor."""
    return connection(
        edges=[edge(cursor=cursor, node=node(row)) for row, cursor in zip(page.rows, page.cursors, strict=True)],
        page_info=PageInfo.from_cursors(list(page.cursors), page.has_next_page, page.has_previous_page),
        total_count=page.total_count,
    )
