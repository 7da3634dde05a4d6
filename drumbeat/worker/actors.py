"""The generic actors. Plugins never declare actors: the chunk actor looks the action type
up in the registry. Messages carry ids only (a chunk's id range), never rows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Sequence

import dramatiq

from drumbeat.platform.execution import run_chunk
from drumbeat.platform.ledger import Chunk
from drumbeat.platform.runtime import Platform
from drumbeat.worker.bridge import LoopBridge


@dataclass
class Actors:
    process_chunk: dramatiq.Actor

    async def dispatch(self, chunks: Sequence[Chunk]) -> None:
        """The platform's dispatcher: one message per chunk (sent off the event loop)."""
        await asyncio.to_thread(self._send_all, list(chunks))

    def _send_all(self, chunks: list[Chunk]) -> None:
        for chunk in chunks:
            self.process_chunk.send(chunk.campaign_id, chunk.step_id, chunk.first_id, chunk.last_id)


def declare_actors(broker: dramatiq.Broker, platform: Platform, bridge: LoopBridge | None) -> Actors:
    """Declare the actors on ``broker``. ``bridge`` is None in a process that only sends."""
    # A chunk renews its lease while it works (``chunk_progress``), so it may run longer
    # than one lease; this only ends a chunk that hangs.
    time_limit_ms = int(platform.settings.lease_seconds * 10 * 1000)

    def process_chunk(campaign_id: int, step_id: int, first_id: int, last_id: int) -> None:
        assert bridge is not None, "this process does not consume messages"
        bridge.run(run_chunk(platform, Chunk(campaign_id, step_id, first_id, last_id)))

    actor = dramatiq.actor(
        process_chunk, broker=broker, actor_name="drumbeat.process_chunk",
        queue_name=platform.settings.queue,
        max_retries=5, min_backoff=1000, max_backoff=60_000, time_limit=time_limit_ms,
    )
    return Actors(process_chunk=actor)
