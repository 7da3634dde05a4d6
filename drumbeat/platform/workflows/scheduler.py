"""The workflow scheduler: each tick looks at the enrollments whose ``check_at`` has come
(at most ``BATCH`` of them, oldest first) in running campaigns, takes their due
transitions (:class:`~.engine.Engine`; ``LOOK_BATCH`` looks per transaction), enters the
actions of the states they moved into in one batch, dispatches their chunks, and completes
the campaigns that finished.

It runs in the reconciler loop (embedded mode and every worker process), ticking again
while full batches are due (:func:`drain`, up to ``DRAIN_SECONDS`` a pass); several may
tick at once — each transition is a guarded UPDATE, so it happens once whoever wins.
"""

from __future__ import annotations

import asyncio
import logging
import time

from drumbeat.platform import ledger
from drumbeat.platform.campaigns import complete_finished
from drumbeat.platform.workflows import clock
from drumbeat.platform.workflows.engine import Engine
from drumbeat.platform.workflows.enrollments import COLUMNS, ENROLLMENTS_CHANGED

log = logging.getLogger(__name__)

BATCH = 500
#: Looks per transaction.
LOOK_BATCH = 100
#: How long one reconciler pass keeps ticking while full batches are due.
DRAIN_SECONDS = 4.0
#: The last event id each process's scheduler has nudged for (per database object).
_seen: dict[int, int] = {}


async def nudge_new_events(db, now: float) -> None:
    """Look at once at the WAITING enrollments whose recipient got an event since the last
    tick (so an ``onEvent`` fires within a tick, not at the next poll). Advisory: an event
    committed out of id order is still seen by the enrollment's regular poll."""
    last = _seen.get(id(db))
    newest = await db.fetchval("SELECT max(id) FROM drumbeat_delivery_event") or 0
    _seen[id(db)] = max(newest, last or 0)
    if last is None or newest <= last:
        return
    await db.execute(
        "UPDATE drumbeat_enrollment SET check_at = {} WHERE status = 'WAITING' AND check_at > {}"
        " AND recipient IN (SELECT d.recipient FROM drumbeat_delivery_event v"
        " JOIN drumbeat_delivery d ON d.id = v.delivery WHERE v.id > {} AND v.id <= {}"
        " AND v.type NOT IN ('SENT', 'DONE', 'FAILED', 'SKIPPED', 'DEFERRED'))",
        now, now, last, newest)


async def due(db, now: float, limit: int = BATCH, campaign_id: int | None = None) -> list[dict]:
    only = "AND e.campaign = {}" if campaign_id is not None else ""
    return await db.fetch(
        f"SELECT {COLUMNS}, c.timezone AS timezone FROM drumbeat_enrollment e"
        " JOIN drumbeat_campaign k ON k.id = e.campaign"
        " LEFT JOIN drumbeat_contact c ON c.id = e.contact"
        " WHERE e.status IN ('ACTIVE', 'WAITING') AND e.check_at <= {}"
        f" AND k.state = 'RUNNING' {only} ORDER BY e.check_at, e.id LIMIT {int(limit)}",
        now, *(() if campaign_id is None else (campaign_id,)))


async def tick(platform, limit: int = BATCH, campaign_id: int | None = None) -> int:
    """One pass; returns how many transitions it took."""
    return (await _tick(platform, limit, campaign_id))[0]


async def drain(platform, seconds: float = DRAIN_SECONDS) -> int:
    """Ticks while they find a full batch due, for up to ``seconds`` (the reconciler's
    pass: a delay that expires for 100,000 recipients at once must not wait for one batch
    per reconciler interval); returns the transitions taken."""
    total, started = 0, time.monotonic()
    while True:
        moved, looked = await _tick(platform, BATCH, None)
        total += moved
        if looked < BATCH or time.monotonic() - started >= seconds:
            return total


async def _tick(platform, limit: int, campaign_id: int | None) -> tuple[int, int]:
    """(transitions taken, enrollments looked at)."""
    now = clock.now()
    engine = Engine(platform)
    await nudge_new_events(platform.db, now)
    rows = await due(platform.db, now, limit, campaign_id)
    for start in range(0, len(rows), LOOK_BATCH):
        await _look_batch(platform.db, engine, rows[start:start + LOOK_BATCH], now)
    try:
        await engine.enter_batch()
    except Exception:  # their next looks enter them (Engine._actions_finished)
        log.exception("workflow: entering the actions of %d enrollments failed",
                      len(engine.entering))
    if engine.chunks:
        try:
            await platform.dispatch(engine.chunks)
        except Exception:  # the rows are in the ledger: the reconciler re-sends them
            log.exception("workflow: enqueueing %d chunks failed", len(engine.chunks))
    await ledger.announce(platform.db, platform.publish, engine.skipped)
    for campaign in sorted(engine.changed):
        await platform.publish(campaign, ENROLLMENTS_CHANGED)
    for campaign in sorted({row["campaign"] for row in rows}):
        await complete_finished(platform, campaign)
    return engine.transitions, len(rows)


async def _look_batch(db, engine: Engine, rows: list[dict], now: float) -> None:
    """Look at ``rows`` in one transaction (one commit instead of one per change: the
    guarded UPDATEs still decide each race). If a look fails, the batch is rolled back and
    looked at again one enrollment per transaction, so one broken enrollment never stops
    the others."""
    mark = engine.mark()
    try:
        async with db.transaction():
            for row in rows:
                await engine.look(row, now)
        return
    except Exception:
        engine.rollback_to(mark)
    for row in rows:
        mark = engine.mark()
        try:
            async with db.transaction():
                await engine.look(row, now)
        except Exception:
            engine.rollback_to(mark)
            log.exception("workflow: enrollment %s failed", row["id"])


async def run_until_idle(platform, rounds: int = 100, campaign_id: int | None = None) -> int:
    """Tick until nothing is due (tests and tools); returns the transitions this caller
    took. A tick that took nothing while enrollments are still due lost them to another
    scheduler (the reconciler's, say) that is moving them right now: wait for it."""
    total = 0
    for _ in range(rounds):
        moved = await tick(platform, campaign_id=campaign_id)
        total += moved
        if not moved:
            if not await due(platform.db, clock.now(), 1, campaign_id):
                break
            await asyncio.sleep(0.05)
    return total
