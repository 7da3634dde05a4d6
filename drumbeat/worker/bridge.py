"""Runs coroutines on the process's one event loop from Dramatiq's worker threads.

Every async resource of a process (the PostgreSQL pool, Redis clients) belongs to one
loop: the app's loop in ``drumbeat serve``, a dedicated loop thread in ``drumbeat worker``.
Actors are synchronous and hand their coroutine to that loop.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Awaitable, TypeVar

T = TypeVar("T")


class LoopBridge:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self._thread: threading.Thread | None = None

    @classmethod
    def in_new_thread(cls) -> "LoopBridge":
        """A bridge to a fresh event loop running in its own thread."""
        loop = asyncio.new_event_loop()
        bridge = cls(loop)
        bridge._thread = threading.Thread(target=loop.run_forever, name="drumbeat-loop", daemon=True)
        bridge._thread.start()
        return bridge

    def run(self, coro: Awaitable[T]) -> T:
        """Run ``coro`` on the loop and wait for its result (from another thread)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. Dramatiq's time limit interrupted the wait
            raise

    def stop(self) -> None:
        if self._thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()
