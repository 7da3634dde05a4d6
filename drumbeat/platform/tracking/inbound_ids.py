"""Each signed inbound event once: the ids of triggers and provider events already applied.

A row of ``drumbeat_inbound_id`` is unique on (scope, event_id): the scope is
``trigger:<campaign id>`` for a trigger (an id may enrol into several campaigns, once
each) and ``inbound`` for the mail provider's events. :func:`claim` inserts it inside the
transaction that applies the event, so of concurrent replays exactly one commits its
effects; the others find the id taken and are answered ``duplicate``.

Ids are kept :data:`RETENTION_SECONDS` (a week) after they were received — far longer than
the signature's 5-minute window, which alone stops a replay of the same bytes, so that a
sender's retries (signed again, same id) are recognised for days — and purged by the
reconciler afterwards (:func:`purge`).
"""

from __future__ import annotations

import time

RETENTION_SECONDS = 7 * 86400


def trigger_scope(campaign_id: int) -> str:
    return f"trigger:{int(campaign_id)}"


INBOUND_SCOPE = "inbound"


async def seen(db, scope: str, event_id: str) -> bool:
    """Was ``event_id`` applied already (a quick look before the work; :func:`claim` is
    what decides)?"""
    return await db.fetchval("SELECT 1 FROM drumbeat_inbound_id WHERE scope = {}"
                             " AND event_id = {}", scope, event_id) is not None


async def claim(db, scope: str, event_id: str, signed_at: float) -> bool:
    """Record ``event_id`` in the caller's transaction: True the first time, False for a
    duplicate (a concurrent claim waits for the first one's transaction to end)."""
    rows = await db.fetch(
        "INSERT INTO drumbeat_inbound_id (scope, event_id, signed_at, received_at)"
        " VALUES ({}, {}, {}, {}) ON CONFLICT (scope, event_id) DO NOTHING RETURNING event_id",
        scope, event_id, float(signed_at), time.time())
    return bool(rows)


async def purge(db, now: float | None = None) -> None:
    """Forget ids received more than :data:`RETENTION_SECONDS` ago."""
    cutoff = (time.time() if now is None else now) - RETENTION_SECONDS
    await db.execute("DELETE FROM drumbeat_inbound_id WHERE received_at < {}", cutoff)
