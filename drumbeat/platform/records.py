"""Helpers of the audience record services (contacts, companies, leads, products)."""

from __future__ import annotations

from functools import reduce
from typing import Any, Sequence

from piccolo.columns import Column
from piccolo.table import Table

from drumbeat.platform.errors import DomainError, ErrorCode, Problems

MAX_SEARCH_TERMS = 5


async def get_row(table: type[Table], row_id: int, *field: str) -> dict:
    row = await table.select().where(table.id == row_id).first()
    if row is None:
        raise DomainError.one(f"No such {table.__name__.lower()}.", ErrorCode.NOT_FOUND,
                              list(field) or ["id"])
    return row


async def check_reference(problems: Problems, table: type[Table], row_id: int | None,
                          *field: str | int) -> None:
    """Report ``row_id`` (when given) unless a row of ``table`` has it."""
    if row_id is not None and not await table.exists().where(table.id == row_id):
        problems.add(f"No such {table.__name__.lower()}.", ErrorCode.NOT_FOUND, *field)


def text_search(columns: Sequence[Column], text: str | None) -> list[Any]:
    """Conditions: every whitespace-separated term appears (case-insensitively) in one of
    ``columns``."""
    conditions = []
    # SQLite's LIKE ignores (ASCII) case already; Piccolo warns on its ILIKE.
    sqlite = columns[0]._meta.table._meta.db.engine_type == "sqlite"
    for term in (text or "").split()[:MAX_SEARCH_TERMS]:
        pattern = f"%{term}%"
        conditions.append(reduce(lambda a, b: a | b,
                                 (c.like(pattern) if sqlite else c.ilike(pattern) for c in columns)))
    return conditions
