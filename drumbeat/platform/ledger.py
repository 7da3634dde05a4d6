"""The deliveries ledger: snapshot, chunking, claims with leases, outcomes, reconciliation.

Every statement here is set-based SQL that runs the same on SQLite and PostgreSQL; the
database is the source of truth and the broker only carries :class:`Chunk` references.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import AsyncIterator, Awaitable, Callable, Mapping, Sequence

from drumbeat.platform.actions import Outcome
from drumbeat.platform.database import Database
from drumbeat.platform.dispatch import TargetRow

#: Rows a chunk may claim at time ``now`` (the ``{}``, given twice): pending ones whose retry
#: is due, and claimed ones whose worker's lease expired.
CLAIMABLE = ("((state = 'pending' AND COALESCE(retry_at, 0) <= {}) "
             "OR (state = 'claimed' AND lease_until < {}))")


#: Whether campaign ``c``'s step ``{}`` may run now: the campaign is RUNNING, or the step
#: is an ad-hoc send and the campaign is not CANCELLED.
RUNS = ("(c.state = 'RUNNING' OR (c.state <> 'CANCELLED' AND EXISTS ("
        "SELECT 1 FROM drumbeat_workflow_action a WHERE a.id = {} AND a.adhoc)))")


@dataclass(frozen=True)
class Chunk:
    """What a broker message carries: a range of ledger ids of one workflow step."""

    campaign_id: int
    step_id: int
    first_id: int
    last_id: int


@dataclass(frozen=True)
class Backoff:
    """How long a retried delivery waits before it is enqueued again:
    ``min(base × 2^(attempt-1), cap)``, jittered to between half and all of that so the
    retries of one failing server spread out instead of arriving together."""

    base: float = 30.0
    cap: float = 3600.0

    @classmethod
    def of(cls, settings) -> "Backoff":
        return cls(settings.retry_backoff_seconds, settings.retry_backoff_max_seconds)

    def delay(self, attempt: int) -> float:
        full = min(self.base * 2.0 ** min(max(attempt - 1, 0), 62), self.cap)
        return full / 2 + random.uniform(0, full / 2)


@dataclass(frozen=True)
class Claim:
    token: str
    rows: list[dict]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _ts(db: Database) -> str:
    """A timestamp parameter (PostgreSQL cannot infer its type inside INSERT … SELECT)."""
    return "CAST({} AS TIMESTAMPTZ)" if db.dialect == "postgres" else "{}"


async def snapshot(db: Database, campaign_id: int, step_id: int, rows: Sequence[TargetRow],
                   hold_seconds: float, entries: Mapping[int, int] | None = None) -> None:
    """Write one ledger row per resolved target of ``step_id`` (``dispatch.resolve``), in
    recipient order, with one bulk statement.

    Targets with a skip reason are written as ``skipped``. Pending rows are held for
    ``hold_seconds`` from the reconciler: the launch enqueues them itself right after
    commit, and the reconciler takes over only if that never happens.

    ``entries`` maps a recipient to its workflow entry number (the enrollment's transition
    number when it entered the state; 0 when missing): part of the ledger's key, so each
    entry into a state gets its own rows and repeating one writes nothing.
    """
    hold, stamp = time.time() + hold_seconds, utcnow()
    entries = entries or {}
    await db.executemany(
        """
        INSERT INTO drumbeat_delivery
            (campaign, step, recipient, target_kind, target_id, address, state, skip_reason,
             attempts, lease_until, created_at, entry_no)
        VALUES ({}, {}, {}, {}, {}, {}, {}, {}, 0, {}, {}, {})
        ON CONFLICT DO NOTHING
        """,
        [(campaign_id, step_id, r.recipient_id, r.kind, r.id, r.address,
          "skipped" if r.skip_reason else "pending", r.skip_reason,
          None if r.skip_reason else hold, stamp, entries.get(r.recipient_id, 0))
         for r in rows],
    )


async def pending_chunks(db: Database, campaign_id: int, step_id: int, size: int) -> list[Chunk]:
    """The pending rows of a step, cut into id ranges of at most ``size`` rows."""
    rows = await db.fetch(
        """
        SELECT min(id) AS first_id, max(id) AS last_id FROM (
            SELECT id, (row_number() OVER (ORDER BY id) - 1) / {} AS grp
            FROM drumbeat_delivery WHERE step = {} AND state = 'pending'
        ) s GROUP BY grp ORDER BY first_id
        """,
        size, step_id,
    )
    return [Chunk(campaign_id, step_id, r["first_id"], r["last_id"]) for r in rows]


async def fail_exhausted(db: Database, chunk: Chunk, max_attempts: int) -> int:
    """Fail the claimable rows of ``chunk`` that used up their attempts; returns how many."""
    now = time.time()
    rows = await db.fetch(
        f"""
        UPDATE drumbeat_delivery
        SET state = 'failed', claim_token = NULL, lease_until = NULL, finished_at = {{}},
            last_error = COALESCE(last_error, '') || ' (gave up after ' || attempts || ' attempts)'
        WHERE step = {{}} AND id BETWEEN {{}} AND {{}} AND attempts >= {{}}
          AND {CLAIMABLE}
        RETURNING id
        """,
        utcnow(), chunk.step_id, chunk.first_id, chunk.last_id, max_attempts, now, now,
    )
    return len(rows)


async def claim(db: Database, chunk: Chunk, lease_seconds: float) -> Claim:
    """Atomically claim the claimable rows of ``chunk`` under a fresh lease and token —
    none while the campaign is not RUNNING (paused or cancelled meanwhile), except for an
    ad-hoc step (``campaignSendNow``), which runs in any state but CANCELLED."""
    token = secrets.token_hex(16)
    now = time.time()
    lock = "FOR UPDATE SKIP LOCKED" if db.dialect == "postgres" else ""
    rows = await db.fetch(
        f"""
        UPDATE drumbeat_delivery
        SET state = 'claimed', claim_token = {{}}, lease_until = {{}}, attempts = attempts + 1
        WHERE id IN (
            SELECT id FROM drumbeat_delivery
            WHERE step = {{}} AND id BETWEEN {{}} AND {{}} AND {CLAIMABLE}
            {lock}
        ) AND {CLAIMABLE}
          AND EXISTS (SELECT 1 FROM drumbeat_campaign c WHERE c.id = {{}} AND {RUNS})
        RETURNING id, recipient, target_kind, target_id, address, attempts, entry_no
        """,
        token, now + lease_seconds, chunk.step_id, chunk.first_id, chunk.last_id, now, now,
        now, now, chunk.campaign_id, chunk.step_id,
    )
    rows.sort(key=lambda r: r["id"])
    return Claim(token, rows)


async def record(db: Database, claim: Claim, outcomes: Sequence[Outcome],
                 backoff: Backoff = Backoff(), *, campaign_id: int | None = None,
                 publish: Publish | None = None) -> None:
    """Write the outcomes of a claim; rows whose claim was lost meanwhile are left alone.

    A retried row goes back to pending, held from the reconciler for the outcome's
    ``retry_after`` or else ``backoff.delay(attempt)``; the reconciler enqueues it then.
    Each row marked done gets a SENT event in the same transaction; once committed they
    are published in id order as one ``{"type": "events", "events": [...]}`` message.
    """
    finished = utcnow()
    attempts = {row["id"]: row["attempts"] for row in claim.rows}
    done, persists, failed, retry = [], {}, [], []
    for o in outcomes:
        if o.status == "done":
            done.append((o.message_id, finished, o.delivery_id, claim.token))
            if o.persist:
                persists[o.delivery_id] = o.persist
        elif o.status == "failed":
            failed.append(((o.error or "failed")[:2000], finished, o.delivery_id, claim.token))
        else:
            after = (o.retry_after if o.retry_after is not None
                     else backoff.delay(attempts.get(o.delivery_id, 1)))
            due = time.time() + after
            retry.append(((o.error or "retry")[:2000], due, due, 0 if o.counts else 1,
                          o.delivery_id, claim.token))
    guard = "WHERE id = {} AND claim_token = {} AND state = 'claimed'"
    async with AsyncExitStack() as turn:
        async with db.transaction():
            marked = await _mark_done(db, claim, done, finished)
            for delivery_id in sorted(marked):  # only rows this claim still held
                if delivery_id in persists:
                    await persists[delivery_id](db)
            await db.executemany(
                "UPDATE drumbeat_delivery SET state = 'failed', last_error = {}, finished_at = {},"
                " lease_until = NULL, claim_token = NULL " + guard, failed)
            await db.executemany(
                "UPDATE drumbeat_delivery SET state = 'pending', last_error = {}, lease_until = {},"
                " retry_at = {}, attempts = attempts - {}, claim_token = NULL " + guard, retry)
            sent: list[dict] = []
            if marked:
                # Last in the transaction, so the campaign's turn (in this process) and its
                # lock (across processes) are held only while its events are written,
                # committed and published.
                await turn.enter_async_context(_event_turn(campaign_id))
                sent = await _sent_events(db, claim, sorted(marked), campaign_id, finished)
        if sent and publish is not None:
            await publish(sent[0]["campaignId"], {"type": "events", "events": sent})


async def _mark_done(db: Database, claim: Claim, done: list[tuple], finished: datetime
                     ) -> list[int]:
    """Mark ``done`` rows (message_id, finished, id, token) still held by ``claim`` done,
    in one statement; returns their ids."""
    if not done:
        return []
    cases = " ".join("WHEN {} THEN {}" for _ in done)
    rows = await db.fetch(
        f"""
        UPDATE drumbeat_delivery
        SET state = 'done', message_id = CASE id {cases} END, finished_at = {{}},
            last_error = NULL, lease_until = NULL, claim_token = NULL
        WHERE claim_token = {{}} AND state = 'claimed' AND id IN ({", ".join("{}" for _ in done)})
        RETURNING id
        """,
        *(v for d in done for v in (d[2], d[0])), finished, claim.token, *(d[2] for d in done),
    )
    return [r["id"] for r in rows]


#: Publishes a message on a campaign's channel (``Platform.publish``).
Publish = Callable[[int, dict], Awaitable[None]]
#: The first key of the PostgreSQL advisory lock that orders a campaign's SENT events.
_EVENT_LOCK = 0x64726d62
_turns: dict[tuple[int, int], tuple[asyncio.Lock, list[int]]] = {}


@asynccontextmanager
async def _event_turn(campaign_id: int | None) -> AsyncIterator[None]:
    """Record one chunk of a campaign at a time in this process, so its SENT events are
    committed and published in id order (nothing to order without a campaign)."""
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


async def _sent_events(db: Database, claim: Claim, ids: list[int], campaign_id: int | None,
                       at: datetime) -> list[dict]:
    """Insert a SENT event for each of ``ids`` (rows this transaction just marked done, so
    locked until commit); returns their messages in id order. On PostgreSQL an advisory
    lock, held until commit, makes the campaign's event ids commit in order."""
    if not ids:
        return []
    if db.dialect == "postgres" and campaign_id is not None:
        await db.execute("SELECT pg_advisory_xact_lock({}, {})", _EVENT_LOCK, campaign_id)
    rows = await db.fetch(
        f"""
        INSERT INTO drumbeat_delivery_event
            (campaign, delivery, type, detail, suspected_bot, created_at)
        SELECT campaign, id, 'SENT', '', {{}}, {_ts(db)} FROM drumbeat_delivery
        WHERE id IN ({", ".join("{}" for _ in ids)})
        ORDER BY id
        RETURNING id, campaign, delivery
        """,
        False, at, *ids,
    )
    address = {row["id"]: row["address"] for row in claim.rows}
    return [{"type": "event", "id": r["id"], "event": "SENT",
             "campaignId": r["campaign"], "deliveryId": r["delivery"],
             "address": address.get(r["delivery"]), "detail": "", "suspectedBot": False,
             "at": at.isoformat()} for r in sorted(rows, key=lambda r: r["id"])]


async def reclaim_stale(db: Database, hold_seconds: float) -> list[dict]:
    """Take back rows of running campaigns whose lease or hold expired.

    Returns them (id, campaign, step) as pending rows held for ``hold_seconds``: the caller
    enqueues chunks for them. The UPDATE … RETURNING is atomic, so two reconcilers never
    take back the same row.
    """
    now = time.time()
    return await db.fetch(
        """
        UPDATE drumbeat_delivery
        SET state = 'pending', claim_token = NULL, lease_until = {}
        WHERE state IN ('pending', 'claimed') AND lease_until < {}
          AND (campaign IN (SELECT id FROM drumbeat_campaign WHERE state = 'RUNNING')
               OR step IN (SELECT a.id FROM drumbeat_workflow_action a
                           JOIN drumbeat_campaign c ON c.id = a.campaign
                           WHERE a.adhoc AND c.state <> 'CANCELLED'))
        RETURNING id, campaign, step
        """,
        now + hold_seconds, now,
    )


async def hold_pending(db: Database, campaign_id: int, hold_seconds: float) -> list[dict]:
    """Hold a campaign's pending rows for ``hold_seconds`` and return them (id, campaign,
    step) for the caller to enqueue — used when a paused campaign resumes. Rows waiting
    for a retry keep their time; the reconciler enqueues them when it comes."""
    now = time.time()
    return await db.fetch(
        """
        UPDATE drumbeat_delivery SET lease_until = {}
        WHERE campaign = {} AND state = 'pending' AND COALESCE(retry_at, 0) <= {}
        RETURNING id, campaign, step
        """,
        now + hold_seconds, campaign_id, now,
    )


async def skip_pending(db: Database, campaign_id: int, reason: str) -> None:
    """Skip a campaign's rows that no worker holds (pending, or claimed with an expired lease)."""
    await db.execute(
        """
        UPDATE drumbeat_delivery
        SET state = 'skipped', skip_reason = {}, claim_token = NULL, lease_until = NULL,
            finished_at = {}
        WHERE campaign = {}
          AND (state = 'pending' OR (state = 'claimed' AND lease_until < {}))
        """,
        reason, utcnow(), campaign_id, time.time(),
    )


async def skip_abandoned(db: Database, reason: str = "CANCELLED") -> None:
    """Skip the rows of cancelled campaigns whose worker died while holding them."""
    await db.execute(
        """
        UPDATE drumbeat_delivery
        SET state = 'skipped', skip_reason = {}, claim_token = NULL, lease_until = NULL,
            finished_at = {}
        WHERE state IN ('pending', 'claimed') AND lease_until < {}
          AND campaign IN (SELECT id FROM drumbeat_campaign WHERE state = 'CANCELLED')
        """,
        reason, utcnow(), time.time(),
    )


def chunks_of(rows: list[dict], size: int) -> list[Chunk]:
    """Group ledger rows (id, campaign, step) into id-range chunks of at most ``size``."""
    by_step: dict[tuple[int, int], list[int]] = {}
    for row in rows:
        by_step.setdefault((row["campaign"], row["step"]), []).append(row["id"])
    chunks = []
    for (campaign_id, step_id), ids in by_step.items():
        ids.sort()
        for i in range(0, len(ids), size):
            part = ids[i:i + size]
            chunks.append(Chunk(campaign_id, step_id, part[0], part[-1]))
    return chunks


async def counters(db: Database, campaign_id: int) -> dict[str, int]:
    return (await counters_many(db, [campaign_id]))[0]


async def counters_many(db: Database, campaign_ids: Sequence[int]) -> list[dict[str, int]]:
    """Deliveries by state for each campaign, in one query (aligned with ``campaign_ids``)."""
    placeholders = ", ".join("{}" for _ in campaign_ids) or "NULL"
    rows = await db.fetch(
        f"SELECT campaign, state, count(*) AS n FROM drumbeat_delivery"
        f" WHERE campaign IN ({placeholders}) GROUP BY campaign, state",
        *campaign_ids,
    )
    result = {cid: {state: 0 for state in ("pending", "claimed", "done", "failed", "skipped")}
              for cid in campaign_ids}
    for row in rows:
        result[row["campaign"]][row["state"]] = int(row["n"])
    for counts in result.values():
        counts["total"] = sum(counts.values())
    return [result[cid] for cid in campaign_ids]
