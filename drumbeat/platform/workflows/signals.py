"""Events the workflow engine reacts to that do not come from the tracking endpoints:
a call task's outcome (``CALL_OUTCOME``), recorded by the tasks plugin through the public
``drumbeat.record_call_outcome_event``.

It is a row of the event ledger (``drumbeat_delivery_event``) on the call task's delivery,
with the outcome (``REACHED``, ``NO_ANSWER``, …) as its detail; the scheduler polls the
ledger, so nothing needs to be notified. It is not one of the tracking ``EventType``s: the
events API and its subscription leave it out, so it is not published either.
"""

from __future__ import annotations

import re

from drumbeat.platform.ledger import utcnow

CALL_OUTCOME = "CALL_OUTCOME"
_OUTCOME = re.compile(r"^[A-Za-z0-9_]{1,50}$")


async def record_call_outcome_event(db, campaign_id: int, delivery_id: int,
                                    outcome: str) -> int:
    """Store a ``CALL_OUTCOME`` event with ``outcome`` on the delivery (in the caller's
    transaction, if any); returns its id. ``db``: ``platform.db`` or ``ctx.db``."""
    if not _OUTCOME.fullmatch(outcome or ""):
        raise ValueError(f"not a call outcome: {outcome!r}")
    return await db.fetchval(
        "INSERT INTO drumbeat_delivery_event"
        " (campaign, delivery, type, detail, client_hash, suspected_bot, created_at)"
        " VALUES ({}, {}, {}, {}, NULL, {}, {}) RETURNING id",
        campaign_id, delivery_id, CALL_OUTCOME, outcome, False, utcnow())
