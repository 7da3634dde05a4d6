"""Helpers of the audience record services (contacts, companies, leads, products)."""

from __future__ import annotations

from functools import reduce
from typing import Any, Sequence

from piccolo.columns import Column
from piccolo.columns.combination import WhereRaw
from piccolo.table import Table

from drumbeat.platform.database import UNICODE_LOWER
from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.validation import search_text_problem

MAX_SEARCH_TERMS = 5
MAX_SEARCH_CHARS = 200
LIKE_ESCAPE = "!"  # not a backslash: PostgreSQL string and LIKE escapes would both claim it


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


def escape_like(text: str) -> str:
    """``text`` as a LIKE pattern (``ESCAPE '!'``) matching itself literally: ``%`` and ``_``
    (and the escape character) are no wildcards."""
    for char in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(char, LIKE_ESCAPE + char)
    return text


def lower_sql(expression: str, dialect: str, *values: str) -> str:
    """SQL for ``expression`` in lower case, to compare with ``values`` lowered by Python.

    SQLite's own ``lower`` (and LIKE) folds ASCII only, so when a value has other characters
    SQLite uses ``unicode_lower`` (registered on every connection, see database.py). For
    ASCII values the built-in gives the same answers and stays fast (a Python call per row
    costs several times a native scan); the only difference is a stored KELVIN SIGN or
    DOTTED CAPITAL I, whose lower case contains an ASCII letter.
    """
    if dialect == "sqlite" and not all(value.isascii() for value in values):
        return f"{UNICODE_LOWER}({expression})"
    return f"lower({expression})"


def text_search(columns: Sequence[Column], text: str | None) -> list[Any]:
    """Conditions: every whitespace-separated term (the first ``MAX_SEARCH_TERMS``) appears
    in one of ``columns``, literally (``%``, ``_``, ``\\`` are plain characters) and in any
    letter case (Unicode, on SQLite too). A scan either way: no index serves ``%term%``."""
    text = text or ""
    if len(text) > MAX_SEARCH_CHARS:
        raise DomainError.one(f"At most {MAX_SEARCH_CHARS} characters.", ErrorCode.TOO_LONG,
                              ["search"])
    if (problem := search_text_problem(text)) is not None:
        raise DomainError.one(problem, ErrorCode.INVALID, ["search"])
    dialect = "sqlite" if columns[0]._meta.table._meta.db.engine_type == "sqlite" else "postgres"
    conditions = []
    for term in text.split()[:MAX_SEARCH_TERMS]:
        if dialect == "sqlite":  # (PostgreSQL's ILIKE lowers both sides by its own rules)
            term = term.lower()
        pattern = f"%{escape_like(term)}%"
        tests = [WhereRaw(f"{_matches(column, dialect, term)} ESCAPE '{LIKE_ESCAPE}'", pattern)
                 for column in columns]
        conditions.append(reduce(lambda a, b: a | b, tests))
    return conditions


def _matches(column: Column, dialect: str, term: str) -> str:
    """``column`` LIKE a ``{}`` pattern of (lowered) ``term`` in any letter case. SQLite's
    LIKE folds ASCII itself, so an ASCII term needs no ``lower`` (which would triple the
    scan's cost); other terms compare with the column's ``unicode_lower``."""
    name = column._meta.get_full_name(with_alias=False)
    if dialect == "postgres":
        return f"{name} ILIKE {{}}"
    return f"{name if term.isascii() else lower_sql(name, dialect, term)} LIKE {{}}"
