"""The decision of an A/B test, stored once per step in ``drumbeat_ab_decision``.

* The test's end (``decide_at``) is fixed the first time the step runs: an INSERT … ON
  CONFLICT DO NOTHING, then a read, so every worker agrees on it.
* At or after that time the first worker to need the winner scores each variant's test
  group (the deliveries sent with a variant so far — the rest are sent only after the
  decision) by the test's metric; the highest score wins, a tie (or no score at all)
  goes to the variant listed first. It is written with ``WHERE winner IS NULL`` and read
  back, so concurrent workers all send the same winner, and it never changes afterwards.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal

from drumbeat import ab_score, variant_counts
from drumbeat.plugins.email.variants import AbTest, Variant


@dataclass(frozen=True)
class Decision:
    decide_at: float  # epoch seconds
    winner: str | None


async def decision(db, step_id: int, test: AbTest) -> Decision:
    """The step's decision row, created (the test starting now) if it is the first call."""
    await db.execute(
        "INSERT INTO drumbeat_ab_decision (step, decide_at) VALUES ({}, {})"
        " ON CONFLICT DO NOTHING", step_id, time.time() + test.seconds)
    row = await db.fetchrow(
        "SELECT decide_at, winner FROM drumbeat_ab_decision WHERE step = {}", step_id)
    return Decision(float(row["decide_at"]), row["winner"])


async def decide(db, campaign_id: int, step_id: int, test: AbTest,
                 variants: list[Variant]) -> str:
    """The winner, chosen now if no worker chose it yet (call once ``decide_at`` passed)."""
    counts = await variant_counts(db, campaign_id, step_id)
    names = [v.name for v in variants]
    scores = {name: _number(ab_score(test.metric, counts[name])) if name in counts else None
              for name in names}
    best = max(names, key=lambda n: (scores[n] is not None, scores[n] or 0, -names.index(n)))
    await db.execute(
        "UPDATE drumbeat_ab_decision SET winner = {}, metric = {}, scores = {}, decided_at = {}"
        " WHERE step = {} AND winner IS NULL",
        best, test.metric, json.dumps(scores), time.time(), step_id)
    return await db.fetchval("SELECT winner FROM drumbeat_ab_decision WHERE step = {}", step_id)


def _number(value) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, (int, float, Decimal)) else None


async def stored(db, step_id: int) -> dict | None:
    """The stored decision (for tests and the API): decide_at, winner, metric, scores."""
    row = await db.fetchrow(
        "SELECT decide_at, winner, metric, scores, decided_at FROM drumbeat_ab_decision"
        " WHERE step = {}", step_id)
    if row is None:
        return None
    return {**dict(row), "scores": json.loads(row["scores"]) if row["scores"] else None}
