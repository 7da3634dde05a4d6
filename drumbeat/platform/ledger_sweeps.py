"""Sweeping the ledger: taking back rows no worker holds any more, and skipping rows that
must not run — for the reconciler (``reclaim_stale``, ``skip_abandoned``), pause/resume and
cancel (``hold_pending``, ``skip_pending``) and an unsubscribe, bounce or complaint
(``skip_pending_to``). Each is one set-based statement; skipped rows get their SKIPPED events.
"""

from __future__ import annotations

import time

from drumbeat.platform.database import Database
from drumbeat.platform.ledger import utcnow
from drumbeat.platform.ledger_events import skipped_events, timestamp_param
from drumbeat.platform.tracking.frames import frames


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


async def skip_pending(db: Database, campaign_id: int, reason: str) -> list[int]:
    """Skip a campaign's rows that no worker holds (pending, or claimed with an expired
    lease), each with a SKIPPED event: returns their ids, to :func:`announce` after commit."""
    stamp = utcnow()
    await db.execute(
        """
        UPDATE drumbeat_delivery
        SET state = 'skipped', skip_reason = {}, claim_token = NULL, lease_until = NULL,
            finished_at = {}
        WHERE campaign = {}
          AND (state = 'pending' OR (state = 'claimed' AND lease_until < {}))
        """,
        reason, stamp, campaign_id, time.time(),
    )
    return await skipped_events(db, "d.campaign = {} AND d.finished_at = " + timestamp_param(db),
                                campaign_id, stamp, at=stamp)


async def skip_pending_to(db: Database, address: str, reason: str) -> tuple[list[int], list[dict]]:
    """Skip every pending delivery to ``address`` (an unsubscribe, a hard bounce, a
    complaint), each with a SKIPPED event; returns (their campaigns, the events' frames to
    publish once committed)."""
    at = utcnow()
    rows = await db.fetch(
        "UPDATE drumbeat_delivery SET state = 'skipped', skip_reason = {}, finished_at = {},"
        " lease_until = NULL, claim_token = NULL"
        " WHERE lower(address) = {} AND state = 'pending' RETURNING id, campaign",
        reason, at, address)
    if not rows:
        return [], []
    ids = [r["id"] for r in rows]
    events = await skipped_events(db, f"d.id IN ({', '.join('{}' for _ in ids)})", *ids, at=at)
    return sorted({r["campaign"] for r in rows}), await frames(db, events)


async def skip_abandoned(db: Database, reason: str = "CANCELLED") -> None:
    """Skip the rows of cancelled campaigns whose worker died while holding them (each with
    a SKIPPED event; nobody watches a cancelled campaign live, so none is published)."""
    stamp = utcnow()
    rows = await db.fetch(
        """
        UPDATE drumbeat_delivery
        SET state = 'skipped', skip_reason = {}, claim_token = NULL, lease_until = NULL,
            finished_at = {}
        WHERE state IN ('pending', 'claimed') AND lease_until < {}
          AND campaign IN (SELECT id FROM drumbeat_campaign WHERE state = 'CANCELLED')
        RETURNING id
        """,
        reason, stamp, time.time(),
    )
    ids = [r["id"] for r in rows]
    if ids:
        await skipped_events(db, f"d.id IN ({', '.join('{}' for _ in ids)})", *ids, at=stamp)
