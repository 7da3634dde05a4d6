"""Wiring the broker into a process: a sender only (an API replica in scaled mode), or a
consumer too (embedded mode, ``drumbeat worker``) with Dramatiq worker threads and the
reconciler."""

from __future__ import annotations

import asyncio
import logging

import dramatiq

from drumbeat.platform.runtime import Platform
from drumbeat.worker.actors import declare_actors
from drumbeat.worker.bridge import LoopBridge
from drumbeat.worker.broker import make_broker
from drumbeat.worker.reconciler import run_reconciler

log = logging.getLogger(__name__)


class WorkerService:
    def __init__(self, platform: Platform, consume: bool):
        self.platform = platform
        self.consume = consume
        self.broker = make_broker(platform.settings)
        self._worker: dramatiq.Worker | None = None
        self._reconciler: asyncio.Task | None = None

    async def start(self) -> None:
        """Start on the running loop, which becomes the loop actors run their work on."""
        bridge = LoopBridge(asyncio.get_running_loop()) if self.consume else None
        actors = declare_actors(self.broker, self.platform, bridge)
        self.platform.dispatcher = actors.dispatch
        if not self.consume:
            return
        self._worker = dramatiq.Worker(
            self.broker, worker_threads=self.platform.settings.worker_threads
        )
        await asyncio.to_thread(self._worker.start)
        self._reconciler = asyncio.create_task(run_reconciler(self.platform))
        log.info("worker started: %d threads on %s", self.platform.settings.worker_threads,
                 type(self.broker).__name__)

    async def stop(self) -> None:
        if self._reconciler is not None:
            self._reconciler.cancel()
            try:
                await self._reconciler
            except asyncio.CancelledError:
                pass
        if self._worker is not None:
            # Joins the worker threads, which may be waiting for work on this loop:
            # so it must not block the loop itself.
            await asyncio.to_thread(self._worker.stop)
        await asyncio.to_thread(self.broker.close)
