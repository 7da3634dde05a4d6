"""The reconciler: re-enqueues what a lost message or a killed worker left behind.

Every ``reconcile_interval_seconds`` it takes back ledger rows of running campaigns whose
lease (claimed) or hold (pending, already enqueued once) expired, enqueues chunks for
them, skips what a dead worker held for a cancelled campaign, completes campaigns whose
deliveries are all final, and launches READY campaigns whose scheduled start has come, and takes the due workflow
transitions (``workflows.scheduler.tick``), and forgets inbound ids past their retention
(``tracking.inbound_ids``). Several reconcilers may run
at once (one per worker process): the take-back is one atomic UPDATE … RETURNING.
"""

from __future__ import annotations

import asyncio
import logging

from drumbeat.platform import delivery_tally, ledger, ledger_sweeps
from drumbeat.platform.campaigns import complete_finished
from drumbeat.platform.lifecycle import launch_due
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tracking import inbound_ids
from drumbeat.platform.workflows.scheduler import drain as workflow_drain

log = logging.getLogger(__name__)


async def reconcile_once(platform: Platform) -> int:
    """One pass; returns how many ledger rows were re-enqueued."""
    settings = platform.settings
    rows = await ledger_sweeps.reclaim_stale(platform.db, settings.redeliver_after_seconds)
    if rows:
        log.info("reconciler: re-enqueueing %d stale deliveries", len(rows))
        await platform.dispatch(ledger.chunks_of(rows, settings.chunk_size))
    await ledger_sweeps.skip_abandoned(platform.db)
    await delivery_tally.compact_busy(platform.db)
    await complete_finished(platform)
    await launch_due(platform)
    await workflow_drain(platform)  # workflow transitions whose time has come
    await inbound_ids.purge(platform.db)
    return len(rows)


async def run_reconciler(platform: Platform) -> None:
    """Run :func:`reconcile_once` forever (cancel the task to stop it)."""
    while True:
        try:
            await reconcile_once(platform)
        except asyncio.CancelledError:
            raise
        except Exception:  # a database restart, say: try again next tick
            log.exception("reconciler pass failed")
        await asyncio.sleep(platform.settings.reconcile_interval_seconds)
