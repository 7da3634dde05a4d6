"""The events the ledger writes itself: SENT (a message) or DONE (a work item), FAILED and
DEFERRED as outcomes are recorded, SKIPPED as rows are skipped — in the transaction that
changes the rows, in id order.

:func:`event_writes` orders a campaign's writers: one at a time in this process (so its
frames are published in id order) and, on PostgreSQL, one at a time across processes
through an advisory lock held until commit (so the campaign's event ids commit in order,
and a replay from an id then the live stream has no gap) — entered last, for the events
alone. :func:`lock_recipients` (PostgreSQL) makes writers that mark the same recipients
take turns — ``ledger.record`` before marking rows done, the conversion triggers — which
keeps ``delivery_marks.mark_reached`` exact.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import datetime
from typing import AsyncIterator, Sequence

from drumbeat.platform.database import Database

#: The first key of the PostgreSQL advisory lock that orders a campaign's event writes.
EVENT_LOCK = 0x64726D62
#: The first key of the PostgreSQL advisory locks of recipients (migration 0203 too).
RECIPIENT_LOCK = 0x64726D63
_turns: dict[tuple[int, int], tuple[asyncio.Lock, list[int]]] = {}


@asynccontextmanager
async def _turn(campaign_id: int | None) -> AsyncIterator[None]:
    if campaign_id is None:
        yield
        return
    key = (id(asyncio.get_running_loop()), campaign_id)
    lock, users = _turns.setdefault(key, (asyncio.Lock(), [0]))
    users[0] += 1
    try:
        async with lock:
            yield
    finally:
        users[0] -= 1
        if not users[0]:
            del _turns[key]


async def lock_recipients(db: Database, recipient_ids: Sequence[int]) -> None:
    """Lock these campaign recipients until the transaction ends, in id order (PostgreSQL;
    SQLite has one writer at a time)."""
    if db.dialect == "postgres" and recipient_ids:
        await db.execute(
            "SELECT pg_advisory_xact_lock({}, r) FROM"
            " (SELECT DISTINCT unnest(CAST({} AS INTEGER[])) AS r ORDER BY r) s",
            RECIPIENT_LOCK, sorted(set(recipient_ids)))


@asynccontextmanager
async def event_writes(db: Database, campaign_id: int | None) -> AsyncIterator[None]:
    """Enter inside a transaction, right before writing the campaign's events; leave after
    its commit and the publishing of its frames."""
    async with _turn(campaign_id):
        if db.dialect == "postgres" and campaign_id is not None:
            await db.execute("SELECT pg_advisory_xact_lock({}, {})", EVENT_LOCK, campaign_id)
        yield


def timestamp_param(db: Database) -> str:
    """A timestamp parameter (PostgreSQL cannot infer its type inside INSERT … SELECT)."""
    return "CAST({} AS TIMESTAMPTZ)" if db.dialect == "postgres" else "{}"


async def outcome_events(db: Database, ids: Sequence[int], at: datetime,
                         done: str = "SENT") -> list[int]:
    """One event per delivery of ``ids`` by the state it was just recorded in: ``done``
    (SENT for a message, DONE for a work item), FAILED (the error) or DEFERRED (pending
    again: the error and the retry time)."""
    if not ids:
        return []
    rows = await db.fetch(
        f"""
        INSERT INTO drumbeat_delivery_event
            (campaign, delivery, type, detail, suspected_bot, created_at, retry_at)
        SELECT campaign, id,
               CASE state WHEN 'done' THEN {{}} WHEN 'failed' THEN 'FAILED' ELSE 'DEFERRED' END,
               CASE WHEN state = 'done' THEN '' ELSE COALESCE(last_error, '') END,
               {{}}, {timestamp_param(db)}, CASE WHEN state = 'pending' THEN retry_at END
        FROM drumbeat_delivery WHERE id IN ({", ".join("{}" for _ in ids)})
        ORDER BY id
        RETURNING id
        """,
        done, False, at, *ids,
    )
    return [r["id"] for r in rows]


async def skipped_events(db: Database, where: str, *args, at: datetime) -> list[int]:
    """A SKIPPED event (detail: the reason) for each skipped delivery matching ``where``
    that has none yet."""
    rows = await db.fetch(
        f"""
        INSERT INTO drumbeat_delivery_event
            (campaign, delivery, type, detail, suspected_bot, created_at)
        SELECT d.campaign, d.id, 'SKIPPED', COALESCE(d.skip_reason, ''), {{}}, {timestamp_param(db)}
        FROM drumbeat_delivery d WHERE d.state = 'skipped' AND {where}
          AND NOT EXISTS (SELECT 1 FROM drumbeat_delivery_event e
                          WHERE e.delivery = d.id AND e.type = 'SKIPPED')
        ORDER BY d.id
        RETURNING id
        """,
        False, at, *args,
    )
    return [r["id"] for r in rows]
