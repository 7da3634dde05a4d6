"""When a retried delivery runs again, and whether the retry uses up an attempt.

:class:`Backoff` is the policy (``DRUMBEAT_RETRY_BACKOFF_SECONDS``,
``DRUMBEAT_RETRY_BACKOFF_MAX_SECONDS``, ``DRUMBEAT_OUTAGE_WINDOW_SECONDS``);
:func:`retry_values` applies it to a claim's retry outcomes for ``ledger.record``: a counted
retry waits by its attempt, a retry that only waits (``counts=False``) uses no attempt, and
an outage deferral (``Outcome.deferred``) waits by how long the outage has lasted and uses no
attempt until it lasted the window (``drumbeat_delivery.deferred_since`` is when it began).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Sequence

from drumbeat.platform.actions import Outcome


@dataclass(frozen=True)
class Backoff:
    """How long a retried delivery waits before it is enqueued again:
    ``min(base × 2^(attempt-1), cap)``, jittered to between half and all of that so the
    retries of one failing server spread out instead of arriving together.

    A delivery deferred by an outage (``Outcome.deferred``) waits by how long the outage
    has lasted instead — ``min(max(base, elapsed), cap)``, jittered the same way — and uses
    no attempt until it lasted ``outage_window`` seconds."""

    base: float = 30.0
    cap: float = 3600.0
    outage_window: float = 86400.0

    @classmethod
    def of(cls, settings) -> "Backoff":
        return cls(settings.retry_backoff_seconds, settings.retry_backoff_max_seconds,
                   settings.outage_window_seconds)

    def delay(self, attempt: int) -> float:
        return _jitter(min(self.base * 2.0 ** min(max(attempt - 1, 0), 62), self.cap))

    def outage_delay(self, elapsed: float) -> float:
        return _jitter(min(max(self.base, elapsed), self.cap))


def _jitter(full: float) -> float:
    return full / 2 + random.uniform(0, full / 2)


def retry_values(claimed: Sequence[dict], outcomes: Sequence[Outcome], backoff: Backoff
                 ) -> tuple[dict[int, tuple], set[int]]:
    """The retry outcomes of a claim (its ``claimed`` rows) as ``ledger._set_held`` values
    {id: (error, lease_until, retry_at, attempts to give back, deferred_since)}, and the ids
    whose retry gets a DEFERRED event: a counted retry, and the first deferral of an outage
    (later ones of the same outage say nothing new)."""
    now = time.time()
    rows = {row["id"]: row for row in claimed}
    retry: dict[int, tuple] = {}
    announced: set[int] = set()
    for o in outcomes:
        if o.status != "retry":
            continue
        row = rows.get(o.delivery_id, {})
        since = row.get("deferred_since")
        counts = o.counts
        if o.outage:
            elapsed = now - since if since is not None else 0.0
            counts = elapsed >= backoff.outage_window  # a long outage uses attempts again
            after = o.retry_after if o.retry_after is not None else backoff.outage_delay(elapsed)
            since = now if since is None else since
        else:
            after = (o.retry_after if o.retry_after is not None
                     else backoff.delay(row.get("attempts", 1)))
            if counts:
                since = None  # the server answered: no outage any more
        if counts or (o.outage and row.get("deferred_since") is None):
            announced.add(o.delivery_id)
        due = now + after
        retry[o.delivery_id] = ((o.error or "retry")[:2000], due, due, 0 if counts else 1, since)
    return retry, announced
