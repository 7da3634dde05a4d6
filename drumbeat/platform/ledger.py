"""The deliveries ledger: snapshot, chunking, claims with leases, outcomes, reconciliation.

Every statement here is set-based SQL that runs the same on SQLite and PostgreSQL; the
database is the source of truth and the broker only carries :class:`Chunk` references.
"""

from __future__ import annotations

import re
import secrets
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Awaitable, Callable, Mapping, Sequence

from drumbeat.platform.actions import Outcome
from drumbeat.platform.database import Database
from drumbeat.platform.delivery_marks import mark_reached, reach_bits
from drumbeat.platform.delivery_tally import by_state, cells
from drumbeat.platform.dispatch import TargetRow
from drumbeat.platform.retries import Backoff, retry_values
from drumbeat.platform.ledger_events import (
    event_writes, lock_recipients, outcome_events, skipped_events, timestamp_param,
)
from drumbeat.platform.tracking.frames import frames, publish_frames

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
class Claim:
    token: str
    rows: list[dict]
    #: Epoch seconds when the lease ends, unless renewed (``chunk_progress.ChunkProgress``).
    until: float = 0.0


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


async def snapshot(db: Database, campaign_id: int, step_id: int, rows: Sequence[TargetRow],
                   hold_seconds: float, entries: Mapping[int, int] | None = None) -> list[int]:
    """Write one ledger row per resolved target of ``step_id`` (``dispatch.resolve``), in
    recipient order, in bulk (one statement per 20,000 rows on PostgreSQL, so its statement
    triggers run once per batch).

    Targets with a skip reason are written as ``skipped``, each with a SKIPPED event:
    returns those events' ids, for the caller to :func:`announce` after commit. Pending
    rows are held for ``hold_seconds`` from the reconciler: the launch enqueues them itself
    right after commit, and the reconciler takes over only if that never happens.

    ``entries`` maps a recipient to its workflow entry number (the enrollment's transition
    number when it entered the state; 0 when missing): part of the ledger's key, so each
    entry into a state gets its own rows and repeating one writes nothing.
    """
    hold, stamp = time.time() + hold_seconds, utcnow()
    entries = entries or {}
    values = [(r.recipient_id, r.kind, r.id, r.address,
               "skipped" if r.skip_reason else "pending", r.skip_reason,
               None if r.skip_reason else hold, entries.get(r.recipient_id, 0)) for r in rows]
    if db.dialect == "postgres":
        for start in range(0, len(values), SNAPSHOT_BATCH):
            part = values[start:start + SNAPSHOT_BATCH]
            await db.execute(_SNAPSHOT_UNNEST, campaign_id, step_id, stamp,
                             *(list(column) for column in zip(*part)))
    else:
        await db.executemany(
            """
            INSERT INTO drumbeat_delivery
                (campaign, step, recipient, target_kind, target_id, address, state,
                 skip_reason, attempts, lease_until, created_at, entry_no)
            VALUES ({}, {}, {}, {}, {}, {}, {}, {}, 0, {}, {}, {})
            ON CONFLICT DO NOTHING
            """,
            [(campaign_id, step_id, *v[:7], stamp, v[7]) for v in values],
        )
    if not any(r.skip_reason for r in rows):
        return []
    return await skipped_events(db, "d.step = {} AND d.created_at = " + timestamp_param(db), step_id, stamp,
                                at=stamp)


SNAPSHOT_BATCH = 20_000
_SNAPSHOT_UNNEST = """
INSERT INTO drumbeat_delivery
    (campaign, step, recipient, target_kind, target_id, address, state, skip_reason,
     attempts, lease_until, created_at, entry_no)
SELECT {}, {}, r, k, t, a, s, sr, 0, l, CAST({} AS TIMESTAMPTZ), e
FROM unnest(CAST({} AS INTEGER[]), CAST({} AS TEXT[]), CAST({} AS INTEGER[]),
            CAST({} AS TEXT[]), CAST({} AS TEXT[]), CAST({} AS TEXT[]),
            CAST({} AS DOUBLE PRECISION[]), CAST({} AS INTEGER[]))
     WITH ORDINALITY AS u(r, k, t, a, s, sr, l, e, n)
ORDER BY n
ON CONFLICT DO NOTHING
"""


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


async def fail_exhausted(db: Database, chunk: Chunk, max_attempts: int,
                         publish: Publish | None = None) -> int:
    """Fail the claimable rows of ``chunk`` that used up their attempts, each with a FAILED
    event (published once committed); returns how many. A row whose message the server
    accepted (written down by :func:`mark_accepted`) is never failed: the next claim
    records it done."""
    now = time.time()
    async with AsyncExitStack() as turn:
        async with db.transaction():
            await turn.enter_async_context(event_writes(db, chunk.campaign_id))
            rows = await db.fetch(
                f"""
                UPDATE drumbeat_delivery
                SET state = 'failed', claim_token = NULL, lease_until = NULL, finished_at = {{}},
                    last_error = COALESCE(last_error, '') || ' (gave up after ' || attempts
                                 || ' attempts)'
                WHERE step = {{}} AND id BETWEEN {{}} AND {{}} AND attempts >= {{}}
                  AND NOT EXISTS (SELECT 1 FROM drumbeat_delivery_accepted a
                                  WHERE a.delivery = drumbeat_delivery.id) AND {CLAIMABLE}
                RETURNING id
                """,
                utcnow(), chunk.step_id, chunk.first_id, chunk.last_id, max_attempts, now, now,
            )
            events = await outcome_events(db, sorted(r["id"] for r in rows), utcnow())
        await announce(db, publish, events)
    return len(rows)


async def claim(db: Database, chunk: Chunk, lease_seconds: float, limit: int) -> Claim:
    """Atomically claim at most ``limit`` (the chunk size) claimable rows of ``chunk``, in id
    order, under a fresh lease and token — none while the campaign is not RUNNING (paused
    or cancelled meanwhile), except for an ad-hoc step (``campaignSendNow``), which runs in
    any state but CANCELLED. (A chunk's id range may hold more claimable rows than it was
    cut for — retries come due at their own times — and those have their own messages.)"""
    token = secrets.token_hex(16)
    now = time.time()
    until = now + lease_seconds
    lock = "FOR UPDATE SKIP LOCKED" if db.dialect == "postgres" else ""
    rows = await db.fetch(
        f"""
        UPDATE drumbeat_delivery
        SET state = 'claimed', claim_token = {{}}, lease_until = {{}}, attempts = attempts + 1
        WHERE id IN (
            SELECT id FROM drumbeat_delivery
            WHERE step = {{}} AND id BETWEEN {{}} AND {{}} AND {CLAIMABLE}
            ORDER BY id LIMIT {{}}
            {lock}
        ) AND {CLAIMABLE}
          AND EXISTS (SELECT 1 FROM drumbeat_campaign c WHERE c.id = {{}} AND {RUNS})
        RETURNING id, recipient, target_kind, target_id, address, attempts, entry_no,
                  deferred_since, (SELECT a.message_id FROM drumbeat_delivery_accepted a
                                   WHERE a.delivery = drumbeat_delivery.id) AS message_id
        """,
        token, until, chunk.step_id, chunk.first_id, chunk.last_id, now, now, limit,
        now, now, chunk.campaign_id, chunk.step_id,
    )
    rows.sort(key=lambda r: r["id"])
    return Claim(token, rows, until)


async def mark_accepted(db: Database, claim: Claim, accepted: Sequence[tuple[int, str]]
                        ) -> None:
    """Write down at once that the server accepted these messages ((delivery id,
    Message-ID) pairs) for rows ``claim`` still holds, in ``drumbeat_delivery_accepted``:
    one small INSERT, no lock, no event — :func:`record` does the rest when the chunk ends
    (and forgets them). A row claimed again with an accepted message (its worker died
    before recording it) is recorded done without being sent again, and is never failed
    (:func:`fail_exhausted`)."""
    if not accepted:
        return
    ids = [i for i, _ in accepted]
    await db.execute(
        f"""
        INSERT INTO drumbeat_delivery_accepted (delivery, message_id)
        SELECT id, CASE id {" ".join("WHEN {} THEN CAST({} AS TEXT)" for _ in accepted)} END
        FROM drumbeat_delivery
        WHERE claim_token = {{}} AND state = 'claimed' AND id IN ({", ".join("{}" for _ in ids)})
        ON CONFLICT (delivery) DO NOTHING
        """,
        *(v for pair in accepted for v in pair), claim.token, *ids)


async def renew(db: Database, claim: Claim, lease_seconds: float) -> tuple[set[int], float]:
    """Extend the lease of the rows ``claim`` still holds while their campaign may run
    (the same rule as :func:`claim`); returns (their ids, the new end of the lease)."""
    until = time.time() + lease_seconds
    rows = await db.fetch(
        f"""
        UPDATE drumbeat_delivery SET lease_until = {{}}
        WHERE claim_token = {{}} AND state = 'claimed'
          AND EXISTS (SELECT 1 FROM drumbeat_campaign c WHERE c.id = drumbeat_delivery.campaign
                      AND {RUNS.format("drumbeat_delivery.step")})
        RETURNING id
        """,
        until, claim.token,
    )
    return {r["id"] for r in rows}, until


async def record(db: Database, claim: Claim, outcomes: Sequence[Outcome],
                 backoff: Backoff = Backoff(), *, campaign_id: int | None = None,
                 publish: Publish | None = None, done_event: str = "SENT") -> None:
    """Write the outcomes of a claim; rows whose claim was lost meanwhile are left alone.

    A retried row goes back to pending, held from the reconciler for the outcome's
    ``retry_after`` or else ``backoff.delay(attempt)``; the reconciler enqueues it then.
    Each row recorded gets its event in the same transaction — ``done_event`` (SENT for a
    message, DONE for a work item), FAILED (with the error), DEFERRED (a counted retry,
    with the error and the retry time; a retry that only waits, ``counts=False``, gets
    none) — and rows marked done get their ``delivery_marks.mark_reached`` bits. Once committed the frames are published in id
    order as one ``{"type": "events", "events": [...]}`` message.
    """
    finished = utcnow()
    done, persists, failed = [], {}, {}
    retry, announced = retry_values(claim.rows, outcomes, backoff)
    for o in outcomes:
        if o.status == "done":
            done.append((o.message_id, finished, o.delivery_id, claim.token))
            if o.persist:
                persists[o.delivery_id] = o.persist
        elif o.status == "failed":
            failed[o.delivery_id] = ((o.error or "failed")[:2000],)
    async with AsyncExitStack() as turn:
        async with db.transaction():
            done_ids = {d[2] for d in done}  # only marking rows done needs their recipients
            await lock_recipients(db, [r["recipient"] for r in claim.rows
                                       if r["id"] in done_ids and r.get("recipient") is not None])
            bits = await reach_bits(db, [d[2] for d in done])
            marked = await _mark_done(db, claim, done, finished, bits)
            await _forget_accepted(db, marked)
            if len(marked) < len(done):  # a lost row may have taken a recipient's first bit
                await mark_reached(db, marked)
            for delivery_id in sorted(marked):  # only rows this claim still held
                if delivery_id in persists:
                    await persists[delivery_id](db)
            gone = await _set_held(db, claim, failed, "state = 'failed', finished_at = {}, "
                                   "lease_until = NULL, last_error = CASE id {TEXT} END",
                                   finished)
            back = await _set_held(
                db, claim, retry, "state = 'pending', last_error = CASE id {TEXT} END, "
                "lease_until = CASE id {DOUBLE PRECISION} END, "
                "retry_at = CASE id {DOUBLE PRECISION} END, "
                "attempts = attempts - CASE id {INTEGER} END, "
                "deferred_since = CASE id {DOUBLE PRECISION} END")
            counted = [i for i in back if i in announced]
            # Last in the transaction: the campaign's turn (in this process) and its lock
            # (across processes) are held only while its events are written and committed.
            await turn.enter_async_context(event_writes(db, campaign_id))
            events = await outcome_events(db, sorted([*marked, *gone, *counted]), finished,
                                          done_event)
            sent = await frames(db, events)
        if sent and publish is not None:
            await publish_frames(publish, sent[0]["campaignId"], sent)


async def _forget_accepted(db: Database, ids: Sequence[int]) -> None:
    """Drop the accepted-message notes (:func:`mark_accepted`) of rows just marked done."""
    if ids:
        await db.execute("DELETE FROM drumbeat_delivery_accepted WHERE delivery IN"
                         f" ({', '.join('{}' for _ in ids)})", *ids)


async def _set_held(db: Database, claim: Claim, values: dict[int, tuple], assignments: str,
                    *fixed) -> list[int]:
    """Update the rows of ``values`` ({id: tuple}) still held by ``claim``, releasing the
    claim; ``assignments`` has a ``{}`` for each of ``fixed`` first, then one
    ``CASE id {TYPE} END`` for each element of the tuples, in order (each value is cast to
    its SQL type: PostgreSQL cannot infer a CASE branch's parameter type). Returns the ids
    updated."""
    if not values:
        return []
    ids = sorted(values)
    args = [*fixed]
    for k in range(len(values[ids[0]])):
        args += [v for i in ids for v in (i, values[i][k])]
    sql = re.sub(r"CASE id \{([A-Z ]+)\} END", lambda m: "CASE id " + " ".join(
        f"WHEN {{}} THEN CAST({{}} AS {m.group(1)})" for _ in ids) + " END", assignments)
    rows = await db.fetch(
        f"UPDATE drumbeat_delivery SET {sql}, claim_token = NULL WHERE claim_token = {{}}"
        f" AND state = 'claimed' AND id IN ({', '.join('{}' for _ in ids)}) RETURNING id",
        *args, claim.token, *ids)
    return [r["id"] for r in rows]


async def _mark_done(db: Database, claim: Claim, done: list[tuple], finished: datetime,
                     bits: dict[int, int]) -> list[int]:
    """Mark ``done`` rows (message_id, finished, id, token) still held by ``claim`` done,
    with their ``bits`` (``delivery_marks.reach_bits``), in one statement; returns their
    ids."""
    if not done:
        return []
    cases = " ".join("WHEN {} THEN {}" for _ in done)
    ints = " ".join("WHEN {} THEN CAST({} AS INTEGER)" for _ in done)
    rows = await db.fetch(
        f"""
        UPDATE drumbeat_delivery
        SET state = 'done', message_id = CASE id {cases} END, finished_at = {{}},
            marks = marks | CASE id {ints} ELSE 0 END,
            last_error = NULL, lease_until = NULL, claim_token = NULL
        WHERE claim_token = {{}} AND state = 'claimed' AND id IN ({", ".join("{}" for _ in done)})
        RETURNING id
        """,
        *(v for d in done for v in (d[2], d[0])), finished,
        *(v for d in done for v in (d[2], bits.get(d[2], 0))), claim.token, *(d[2] for d in done),
    )
    return [r["id"] for r in rows]


#: Publishes a message on a campaign's channel (``Platform.publish``).
Publish = Callable[[int, dict], Awaitable[None]]


async def announce(db: Database, publish: Publish | None, event_ids: Sequence[int]) -> None:
    """Publish the frames of committed events (``event_ids``) on their campaigns' channels
    (ids of events that were rolled back are passed over)."""
    if not event_ids or publish is None:
        return
    by_campaign: dict[int, list[dict]] = {}
    for found in await frames(db, event_ids):
        by_campaign.setdefault(found["campaignId"], []).append(found)
    for campaign_id, found in by_campaign.items():
        await publish_frames(publish, campaign_id, found)


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
    """Deliveries by state for each campaign, from the tally (aligned with ``campaign_ids``)."""
    found = await cells(db, campaign_ids)
    return [by_state(c for c in found if c.campaign == cid) for cid in campaign_ids]
