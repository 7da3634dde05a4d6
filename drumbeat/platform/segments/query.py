"""Evaluate filters in the database: the matching contact ids (for recipients and lists),
counts and previews — one at a time, or many filters in one query (for a page of segments).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Sequence

from drumbeat.platform.runtime import Platform
from drumbeat.platform.segments.compile import compile_filter
from drumbeat.platform.segments.filter import parse_filter
from drumbeat.platform.segments.nodes import Node
from drumbeat.platform.tables import Contact

FilterLike = Node | dict
MAX_PREVIEW = 100
MAX_PARAMS_PER_QUERY = 30_000  # below SQLite's and PostgreSQL's limit of 32 766 / 32 767
MAX_FILTERS_PER_QUERY = 50


def today() -> date:
    return datetime.now(timezone.utc).date()


def _node(filter: FilterLike, field: Sequence[str | int]) -> Node:
    return parse_filter(filter, *field) if isinstance(filter, dict) else filter


def where_sql(platform: Platform, filter: FilterLike, *, field: Sequence[str | int] = ("filter",),
              on: date | None = None) -> tuple[str, list[Any]]:
    """The filter as a boolean expression over ``drumbeat_contact c`` and its parameters;
    a dict filter is validated first (DomainError with paths under ``field``)."""
    return compile_filter(_node(filter, field), platform.db.dialect, on or today())


async def matching_contact_ids_sql(platform: Platform, filter: FilterLike, *,
                                   field: Sequence[str | int] = ("filter",),
                                   on: date | None = None) -> tuple[str, list[Any]]:
    """``SELECT c.id FROM drumbeat_contact c WHERE …`` for the contacts matching ``filter``
    (``{}`` placeholders, to embed in ``INSERT … SELECT`` or ``IN (…)``)."""
    where, params = where_sql(platform, filter, field=field, on=on)
    return f"SELECT c.id FROM drumbeat_contact c WHERE {where}", params


async def count(platform: Platform, filter: FilterLike, *, on: date | None = None) -> int:
    where, params = where_sql(platform, filter, on=on)
    return int(await platform.db.fetchval(
        f"SELECT COUNT(*) AS n FROM drumbeat_contact c WHERE {where}", *params))


async def preview(platform: Platform, filter: FilterLike, first: int = 10, *,
                  on: date | None = None) -> list[dict]:
    """The newest ``first`` matching contacts (full rows)."""
    return (await preview_many(platform, [filter], first, on=on))[0]


async def count_many(platform: Platform, filters: Sequence[FilterLike], *,
                     on: date | None = None) -> list[int]:
    """The count of each filter, in one scan of the contacts per batch of filters."""
    results: list[int] = []
    for batch in _batches(platform, filters, on):
        columns = ", ".join(f"COALESCE(SUM(CASE WHEN {where} THEN 1 ELSE 0 END), 0) AS n{index}"
                            for index, (where, _) in enumerate(batch))
        params = [p for _, batch_params in batch for p in batch_params]
        row = await platform.db.fetchrow(f"SELECT {columns} FROM drumbeat_contact c", *params)
        results += [int(row[f"n{index}"]) for index in range(len(batch))]
    return results


async def preview_many(platform: Platform, filters: Sequence[FilterLike], first: int = 10, *,
                       on: date | None = None) -> list[list[dict]]:
    """The newest ``first`` (at most 100) matching contacts of each filter, in one query per
    batch of filters plus one for the contact rows."""
    first = max(0, min(first, MAX_PREVIEW))
    matches: list[list[int]] = []
    for batch in _batches(platform, filters, on):
        parts, params = [], []
        for index, (where, batch_params) in enumerate(batch):
            parts.append(f"SELECT * FROM (SELECT {index} AS k, c.id FROM drumbeat_contact c"
                         f" WHERE {where} ORDER BY c.id DESC LIMIT {first}) AS m{index}")
            params += batch_params
        rows = await platform.db.fetch(" UNION ALL ".join(parts), *params) if first else []
        found: list[list[int]] = [[] for _ in batch]
        for row in rows:
            found[row["k"]].append(row["id"])
        matches += [sorted(ids, reverse=True) for ids in found]
    wanted = sorted({i for ids in matches for i in ids})
    contacts = {r["id"]: r for r in await Contact.select().where(Contact.id.is_in(wanted))} \
        if wanted else {}
    return [[contacts[i] for i in ids if i in contacts] for ids in matches]


def _batches(platform: Platform, filters: Sequence[FilterLike], on: date | None):
    """The compiled filters, grouped so that no query exceeds the parameter limit."""
    batch: list[tuple[str, list]] = []
    size = 0
    for filter in filters:
        where, params = where_sql(platform, filter, on=on)
        if batch and (size + len(params) > MAX_PARAMS_PER_QUERY
                      or len(batch) >= MAX_FILTERS_PER_QUERY):
            yield batch
            batch, size = [], 0
        batch.append((where, params))
        size += len(params)
    if batch:
        yield batch
