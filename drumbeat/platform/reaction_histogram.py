"""Median reaction times from the reaction histogram, without walking the ledger.

Triggers keep ``drumbeat_reaction_tally``: the number of sent messages whose reaction
(seconds from sending to the first open, click or reply) falls in each bucket, per
(campaign, step, variant) — migration ``…_0201_reaction_histogram``. For a median,
:class:`Medians` sums a scope's buckets up to the middle rank, then reads the one or two
middle values from the reaction index starting at that bucket's lower edge: the walk is
bounded by one bucket's size, whatever the number of messages. The result is exact.
"""

from __future__ import annotations

from typing import Protocol, Sequence

#: Bucket edges: 1 s below a minute, 10 s below an hour, 1 min below a day, 1 h beyond.
_TIERS = ((0, 0.0, 1.0), (60, 60.0, 10.0), (414, 3600.0, 60.0), (1794, 86400.0, 3600.0))
PER_QUERY = 200  # medians read per UNION ALL statement


def bucket_low(bucket: int) -> float:
    """The lower edge, in seconds, of ``bucket`` (the inverse of the migration's
    ``bucket_sql``)."""
    first, start, width = next(t for t in reversed(_TIERS) if bucket >= t[0])
    return start + (bucket - first) * width


class HasReaction(Protocol):
    median_reaction_seconds: float | None


def _in(values: Sequence) -> str:
    return ", ".join("{}" for _ in values) or "NULL"


class Medians:
    """Median reactions asked for by scope (steps, optionally one A/B variant), read in two
    queries however many scopes and campaigns: the histogram of every step asked, then one
    ``UNION ALL`` of the middle rows of each scope."""

    def __init__(self) -> None:
        self._asked: dict[tuple[tuple[int, ...], str | None], list[HasReaction]] = {}

    def ask(self, into: HasReaction, steps: Sequence[int], variant: str | None = None) -> None:
        """Set ``into.median_reaction_seconds`` on :meth:`read` (``None`` without reactions)."""
        into.median_reaction_seconds = None
        if steps:
            self._asked.setdefault((tuple(sorted(steps)), variant), []).append(into)

    async def read(self, db) -> None:
        asked, self._asked = self._asked, {}
        steps = sorted({s for key in asked for s in key[0]})
        if not steps:
            return
        buckets: dict[tuple[int, str], dict[int, int]] = {}
        for r in await db.fetch(
                f"SELECT step, variant, bucket, SUM(n) AS n FROM drumbeat_reaction_tally"
                f" WHERE step IN ({_in(steps)}) GROUP BY step, variant, bucket", *steps):
            if int(r["n"]):
                per = buckets.setdefault((r["step"], r["variant"]), {})
                per[r["bucket"]] = per.get(r["bucket"], 0) + int(r["n"])
        parts = []
        for k, (scope, variant) in enumerate(asked):
            walk = _walk(buckets, scope, variant)
            if walk is not None:
                parts.append(_middle_rows(k, scope, variant, *walk))
        values: dict[int, list[float]] = {}
        for start in range(0, len(parts), PER_QUERY):
            batch = parts[start:start + PER_QUERY]
            for r in await db.fetch(" UNION ALL ".join(sql for sql, _ in batch),
                                    *(a for _, args in batch for a in args)):
                values.setdefault(int(r["k"]), []).append(float(r["reaction_seconds"]))
        for k, targets in enumerate(asked.values()):
            found = values.get(k)
            for into in targets:
                into.median_reaction_seconds = (round(sum(found) / len(found), 3)
                                                if found else None)


def _walk(buckets: dict[tuple[int, str], dict[int, int]], scope: tuple[int, ...],
          variant: str | None) -> tuple[float, int, int] | None:
    """(lower edge of the middle rank's bucket, rows to skip from there, rows to read)."""
    merged: dict[int, int] = {}
    for (step, name), per in buckets.items():
        if step in scope and (variant is None or name == variant):
            for bucket, n in per.items():
                merged[bucket] = merged.get(bucket, 0) + n
    total = sum(merged.values())
    if total <= 0:
        return None
    rank, before = (total - 1) // 2, 0
    for bucket in sorted(merged):
        if before + merged[bucket] > rank:
            return bucket_low(bucket), rank - before, 2 - total % 2
        before += merged[bucket]
    return None


def _middle_rows(k: int, steps: tuple[int, ...], variant: str | None, low: float, skip: int,
                 take: int) -> tuple[str, list]:
    only = " AND variant = {}" if variant is not None else ""
    return (f"SELECT * FROM (SELECT {k} AS k, reaction_seconds FROM drumbeat_delivery"
            f" WHERE step IN ({_in(steps)}) AND state = 'done' AND reaction_seconds IS NOT NULL"
            f" AND reaction_seconds >= {{}}{only} ORDER BY reaction_seconds"
            f" LIMIT {take} OFFSET {skip}) m{k}",
            [*steps, low, *([variant] if variant is not None else [])])
