"""The tally: how many deliveries each campaign has per (step, variant, state, marks).

Database triggers keep ``drumbeat_delivery_tally`` in step with the ledger, whoever writes
it (migration ``…_0200_campaign_truth``): on SQLite one row per cell, upserted; on
PostgreSQL appended deltas (one per cell and statement), so concurrent workers never wait
on a counter row. Readers sum the rows of a cell; :func:`compact` folds a campaign's
deltas (and those of the reaction histogram) into one row per cell: the reconciler does
it for busy campaigns (:func:`compact_busy`), and :func:`cells` does it by itself when a
campaign has more than ``COMPACT_AFTER`` rows. Counters and metrics read this table, never
the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from drumbeat.platform.database import Database

COMPACT_AFTER = 20_000  # rows of one campaign a read folds first
BUSY_AFTER = 500  # rows of one campaign the reconciler folds
STATES = ("pending", "claimed", "done", "failed", "skipped")


@dataclass(frozen=True)
class Cell:
    campaign: int
    step: int
    variant: str | None  # None: sent without a variant
    state: str
    marks: int
    n: int

    def has(self, bits: int) -> bool:
        return self.marks & bits == bits


def _in(values: Sequence) -> str:
    return ", ".join("{}" for _ in values) or "NULL"


async def cells(db: Database, campaign_ids: Sequence[int], step: int | None = None
                ) -> list[Cell]:
    """The non-empty cells of the campaigns (of one step when ``step`` is given)."""
    ids = list(dict.fromkeys(campaign_ids))
    only = " AND step = {}" if step is not None else ""
    rows = await db.fetch(
        f"SELECT campaign, step, variant, state, marks, SUM(n) AS n, COUNT(*) AS kept"
        f" FROM drumbeat_delivery_tally WHERE campaign IN ({_in(ids)}){only}"
        f" GROUP BY campaign, step, variant, state, marks",
        *ids, *([step] if step is not None else []))
    if db.dialect == "postgres" and step is None:
        kept: dict[int, int] = {}
        for r in rows:
            kept[r["campaign"]] = kept.get(r["campaign"], 0) + int(r["kept"])
        for campaign_id, count in kept.items():
            if count > COMPACT_AFTER:
                await compact(db, campaign_id)
    return [Cell(r["campaign"], r["step"], r["variant"] or None, r["state"], int(r["marks"]),
                 int(r["n"])) for r in rows if int(r["n"])]


_FOLDED = {"drumbeat_delivery_tally": "step, variant, state, marks",
           "drumbeat_reaction_tally": "step, variant, bucket"}


async def compact(db: Database, campaign_id: int) -> None:
    """Fold a campaign's rows (PostgreSQL's deltas) into one per cell, in the tally and the
    reaction histogram. Safe beside writers and other compactions: the DELETE takes only
    rows it sees, and a row another compaction took is gone for it."""
    if db.dialect != "postgres":
        return  # SQLite's triggers keep one row per cell already
    for table, key in _FOLDED.items():
        await db.execute(
            f"WITH gone AS (DELETE FROM {table} WHERE campaign = {{}} RETURNING {key}, n)"
            f" INSERT INTO {table} (campaign, {key}, n) SELECT {{}}, {key}, SUM(n) FROM gone"
            f" GROUP BY {key} HAVING SUM(n) <> 0", campaign_id, campaign_id)


async def compact_busy(db: Database) -> int:
    """Fold the campaigns with more than ``BUSY_AFTER`` tally rows (the reconciler's
    periodic pass, so that no reader has to); returns how many."""
    if db.dialect != "postgres":
        return 0
    busy = [r["campaign"] for r in await db.fetch(
        "SELECT campaign FROM drumbeat_delivery_tally GROUP BY campaign HAVING COUNT(*) > {}"
        " UNION SELECT campaign FROM drumbeat_reaction_tally GROUP BY campaign"
        " HAVING COUNT(*) > {}", BUSY_AFTER, BUSY_AFTER)]
    for campaign_id in busy:
        await compact(db, campaign_id)
    return len(busy)


def by_state(found: Iterable[Cell]) -> dict[str, int]:
    """Deliveries per state, with ``total``."""
    counts = {state: 0 for state in STATES}
    for cell in found:
        counts[cell.state] = counts.get(cell.state, 0) + cell.n
    counts["total"] = sum(counts[s] for s in STATES)
    return counts
