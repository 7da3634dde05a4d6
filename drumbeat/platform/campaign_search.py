"""Campaign search: filters and orderings, keyset-paginated in SQL.

One statement per page, the same on SQLite and PostgreSQL: the filters are bound
parameters, the sort is ``(sort value, id)`` with unscheduled campaigns last in either
direction, and a cursor encodes the ordering, the sort value and the id of its row. The
position after a cursor is an expanded row comparison
``(v > x) OR (v = x AND id > y)`` (with ``<`` when descending) plus the NULL cases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Sequence

from strawberry import relay

from drumbeat.platform.database import Database
from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.validation import search_text_problem
from drumbeat.platform.permissions import require_member
from drumbeat.platform.records import LIKE_ESCAPE, escape_like, lower_sql
from drumbeat.platform.tables import CampaignState
from drumbeat.platform.team import Member

CURSOR_PREFIX = "campaigns"
MAX_TEXT_CHARS = 200
MAX_TAG_CHARS = 50
MAX_CURSOR_CHARS = 1000


class OrderField(str, Enum):
    NAME = "NAME"  # case-insensitive
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    SCHEDULED_START = "SCHEDULED_START"  # unscheduled campaigns come last in both directions


@dataclass(frozen=True)
class CampaignFilter:
    """All given conditions must hold. ``*_after`` bounds are inclusive, ``*_before`` exclusive."""

    states: Sequence[CampaignState] = ()  # empty: any state
    owner_id: int | None = None
    tag: str | None = None  # case-insensitive
    text: str | None = None  # case-insensitive substring of name, goal or description
    created_after: datetime | None = None
    created_before: datetime | None = None
    scheduled_after: datetime | None = None
    scheduled_before: datetime | None = None


@dataclass(frozen=True)
class CampaignOrder:
    field: OrderField = OrderField.CREATED_AT
    descending: bool = True

    @property
    def key(self) -> str:
        return f"{self.field.value}:{'DESC' if self.descending else 'ASC'}"


@dataclass(frozen=True)
class Page:
    """One page of full campaign rows in display order, each with its cursor."""

    rows: list[dict]
    cursors: list[str]
    has_more: bool  # beyond the page, in the direction it was read


@dataclass(frozen=True)
class _Sort:
    """How to compare a column's values: SQL for the column and for a bound value."""

    column: str
    key_sql: str
    param_sql: str
    nullable: bool


def _sort(field: OrderField, dialect: str) -> _Sort:
    if field is OrderField.NAME:
        # Code-point order on both databases (PostgreSQL's default collation may differ).
        collate = ' COLLATE "C"' if dialect == "postgres" else ""
        return _Sort("name", f"lower(name){collate}", "lower(CAST({} AS TEXT))", False)
    column = field.value.lower()
    return _Sort(column, column, "{}", field is OrderField.SCHEDULED_START)


class _Sql:
    """A WHERE clause under construction: fragments with ``{}`` placeholders and their args."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.args: list[Any] = []

    def add(self, fragment: str, *args: Any) -> None:
        assert fragment.count("{}") == len(args)
        self.parts.append(f"({fragment})")
        self.args.extend(args)

    @property
    def where(self) -> str:
        return " AND ".join(self.parts) if self.parts else "1 = 1"


async def search_campaigns(db: Database, member: Member | None, filter: CampaignFilter,
                           order: CampaignOrder, *, size: int, backwards: bool,
                           after: str | None = None, before: str | None = None) -> Page:
    """``size`` campaigns (plus the knowledge whether there are more) after ``after`` and
    before ``before``: from the start of that window, or from its end when ``backwards``."""
    require_member(member)
    sql = _Sql()
    _add_filter(sql, filter, db.dialect)
    sort = _sort(order.field, db.dialect)
    ascending = not order.descending
    if after is not None:
        _add_past(sql, sort, _decode(after, order, "after"), ascending, nulls_last=True)
    if before is not None:
        _add_past(sql, sort, _decode(before, order, "before"), not ascending, nulls_last=False)
    reading_ascending = ascending != backwards
    rows = await db.fetch(
        f"SELECT * FROM drumbeat_campaign WHERE {sql.where}"
        f" ORDER BY {_order_by(sort, reading_ascending, nulls_last=not backwards)} LIMIT {{}}",
        *sql.args, size + 1)
    has_more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    return Page(rows=rows, cursors=[_encode(order, sort, row) for row in rows], has_more=has_more)


def _add_filter(sql: _Sql, f: CampaignFilter, dialect: str) -> None:
    problems = Problems()
    for name, value, limit in (("text", f.text, MAX_TEXT_CHARS), ("tag", f.tag, MAX_TAG_CHARS)):
        if value is not None and len(value) > limit:
            problems.add(f"At most {limit} characters.", ErrorCode.TOO_LONG, "filter", name)
        elif value is not None and search_text_problem(value) is not None:
            problems.add(search_text_problem(value), ErrorCode.INVALID, "filter", name)
    problems.raise_if_any()
    states = sorted({CampaignState(s).value for s in f.states})
    if states:
        sql.add(f"state IN ({', '.join('{}' for _ in states)})", *states)
    if f.owner_id is not None:
        sql.add("owner = {}", f.owner_id)
    # Compared in lower case: PostgreSQL lowers both sides; SQLite (whose lower() folds
    # ASCII only) gets the value lowered here and the column through records.lower_sql.
    if f.tag is not None and f.tag.strip():
        tag = f.tag.strip()
        sql.add("EXISTS (SELECT 1 FROM drumbeat_campaign_tag t WHERE t.campaign = "
                f"drumbeat_campaign.id AND {lower_sql('t.tag', dialect, tag)} = "
                f"{_lowered(dialect)})", tag.lower() if dialect == "sqlite" else tag)
    if f.text:
        text = f.text.lower() if dialect == "sqlite" else f.text
        pattern = "%" + escape_like(text) + "%"
        like = f"LIKE {_lowered(dialect)} ESCAPE '{LIKE_ESCAPE}'"
        sql.add(" OR ".join(f"{lower_sql(column, dialect, text)} {like}"
                            for column in ("name", "goal", "description")),
                pattern, pattern, pattern)
    for column, op, value, name in (
            ("created_at", ">=", f.created_after, "createdAfter"),
            ("created_at", "<", f.created_before, "createdBefore"),
            ("scheduled_start", ">=", f.scheduled_after, "scheduledAfter"),
            ("scheduled_start", "<", f.scheduled_before, "scheduledBefore")):
        if value is not None:
            sql.add(f"{column} {op} {{}}", _utc(value, "filter", name))


def _lowered(dialect: str) -> str:
    """The placeholder of a value to compare in lower case (lowered already on SQLite)."""
    return "{}" if dialect == "sqlite" else "lower(CAST({} AS TEXT))"


def _utc(value: datetime, *field: str) -> datetime:
    """Naive datetimes are taken as UTC; every bound value is aware (stored as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise DomainError.one("Out of range.", ErrorCode.INVALID, field) from None


def _add_past(sql: _Sql, sort: _Sort, cursor: tuple[Any, int], ascending: bool,
              nulls_last: bool) -> None:
    """Only rows strictly past ``cursor`` in the ordering (ascending?, nulls last?)."""
    value, row_id = cursor
    op = ">" if ascending else "<"
    key, param = sort.key_sql, sort.param_sql
    if value is not None:
        fragment = (f"{sort.column} IS NOT NULL AND "
                    f"({key} {op} {param} OR ({key} = {param} AND id {op} {{}}))")
        args = [value, value, row_id]
        if sort.nullable and nulls_last:
            fragment = f"{fragment} OR {sort.column} IS NULL"
        sql.add(fragment, *args)
    elif nulls_last:
        sql.add(f"{sort.column} IS NULL AND id {op} {{}}", row_id)
    else:
        sql.add(f"({sort.column} IS NULL AND id {op} {{}}) OR {sort.column} IS NOT NULL", row_id)


def _order_by(sort: _Sort, ascending: bool, nulls_last: bool) -> str:
    direction = "ASC" if ascending else "DESC"
    parts = [f"{sort.key_sql} {direction}", f"id {direction}"]
    if sort.nullable:
        null_rank = f"CASE WHEN {sort.column} IS NULL THEN 1 ELSE 0 END"
        parts.insert(0, f"{null_rank} {'ASC' if nulls_last else 'DESC'}")
    return ", ".join(parts)


def _encode(order: CampaignOrder, sort: _Sort, row: dict) -> str:
    value = row[sort.column]
    if isinstance(value, datetime):
        value = value.isoformat()
    return relay.to_base64(CURSOR_PREFIX, json.dumps([order.key, value, row["id"]]))


def _decode(cursor: str, order: CampaignOrder, field: str) -> tuple[Any, int]:
    """(sort value, id) of a cursor made for ``order``; anything else is a user error."""
    invalid = DomainError.one("Invalid cursor.", ErrorCode.INVALID, [field])
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError(cursor)
        prefix, payload = relay.from_base64(cursor)
        key, value, row_id = json.loads(payload)
    except (ValueError, TypeError):
        raise invalid from None
    if prefix != CURSOR_PREFIX:
        raise invalid
    if key != order.key:
        raise DomainError.one("This cursor belongs to another ordering of campaigns.",
                              ErrorCode.INVALID, [field])
    if isinstance(row_id, bool) or not isinstance(row_id, int) or not 0 < row_id < 2**31:
        raise invalid
    if order.field is OrderField.NAME:
        if isinstance(value, str) and "\x00" not in value:
            return value, row_id
    elif value is None and order.field is OrderField.SCHEDULED_START:
        return None, row_id
    elif isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value)
        except ValueError:
            stamp = None
        if stamp is not None and stamp.tzinfo is not None:
            return _utc(stamp, field), row_id
    raise invalid
