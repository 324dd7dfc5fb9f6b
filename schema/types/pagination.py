"""Relay connection pieces shared by every paginated list."""

from __future__ import annotations

import strawberry


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
