"""Relay cursor connections paginated by keyset in SQL (never "load all, then slice")."""

from __future__ import annotations

from enum import Enum
from typing import Any, Callable, Sequence, TypeVar

import strawberry
from piccolo.table import Table
from strawberry import relay

from drumbeat.platform.errors import DomainError, ErrorCode

N = TypeVar("N")
CURSOR_PREFIX = "cursor"


def encode_cursor(row_id: int) -> str:
    return relay.to_base64(CURSOR_PREFIX, row_id)


def decode_cursor(cursor: str, field: str) -> int:
    try:
        prefix, value = relay.from_base64(cursor)
        if prefix != CURSOR_PREFIX:
            raise ValueError(prefix)
        return int(value)
    except (ValueError, TypeError):
        raise DomainError.one("Invalid cursor.", ErrorCode.INVALID, [field]) from None


@strawberry.enum(description="Sort direction; ties are broken by id in the same direction.")
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


def page_window(first: int | None, last: int | None, max_page_size: int) -> tuple[int, bool]:
    """(page size, backwards?) of ``first``/``last``, each bounded by ``max_page_size``."""
    if first is not None and last is not None:
        raise DomainError.one("Give either first or last, not both.", ErrorCode.INVALID, ["last"])
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= max_page_size:
            raise DomainError.one(f"{name} must be between 0 and {max_page_size}.",
                                  ErrorCode.INVALID, [name])
    backwards = last is not None
    size = (last if backwards else first) if (first is not None or last is not None) else max_page_size
    return size, backwards


def connection(edges: list[relay.Edge[N]], *, has_more: bool, backwards: bool,
               after: str | None, before: str | None) -> relay.Connection[N]:
    """A connection of one page (in display order) fetched with one extra row (``has_more``)."""
    return relay.Connection(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=has_more if not backwards else before is not None,
            has_previous_page=has_more if backwards else after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


async def keyset_connection(
    table: type[Table],
    to_node: Callable[[dict], N],
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    max_page_size: int,
    where: Sequence[Any] = (),
) -> relay.Connection[N]:
    """Newest first (id descending). ``first``/``after`` pages forward, ``last``/``before`` back."""
    size, backwards = page_window(first, last, max_page_size)
    query = table.select().where(*where) if where else table.select()
    if after is not None:
        query = query.where(table.id < decode_cursor(after, "after"))
    if before is not None:
        query = query.where(table.id > decode_cursor(before, "before"))
    rows = await query.order_by(table.id, ascending=backwards).limit(size + 1)
    has_more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    edges = [relay.Edge(node=to_node(row), cursor=encode_cursor(row["id"])) for row in rows]
    return connection(edges, has_more=has_more, backwards=backwards, after=after, before=before)
