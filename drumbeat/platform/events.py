"""The event bus: progress and events published by workers, read by subscriptions.

``memory://`` works inside one process (thread-safe: workers may publish from their own
threads); ``redis://`` uses Redis pub/sub so API processes see what worker processes do.
A subscriber has a bounded queue: when it falls behind, the oldest messages are dropped
and the next one it reads says how many it missed (a ``{"events": [...]}`` batch counting
as its events) — a slow client never slows a worker.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from typing import Any, AsyncIterator

QUEUE_LIMIT = 1000


class Subscription:
    """An async iterator of ``dict`` messages for one channel."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int = QUEUE_LIMIT):
        self._loop = loop
        self._items: deque = deque()
        self._limit = limit
        self._wakeup = asyncio.Event()
        self._missed = 0
        self.closed = False

    def _push(self, message: dict) -> None:  # runs on the subscriber's loop
        if len(self._items) >= self._limit:
            dropped = self._items.popleft()
            self._missed += len(dropped["events"]) if "events" in dropped else 1
        self._items.append(message)
        self._wakeup.set()

    def push_threadsafe(self, message: dict) -> None:
        if not self.closed:
            self._loop.call_soon_threadsafe(self._push, message)

    def __aiter__(self) -> AsyncIterator[dict]:
        return self

    async def __anext__(self) -> dict:
        while not self._items:
            if self.closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        message = self._items.popleft()
        if self._missed:
            message = {**message, "missed": self._missed}
            self._missed = 0
        return message

    async def get(self, timeout: float) -> dict | None:
        """The next message, or ``None`` after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except asyncio.TimeoutError:
            return None


class EventBus:
    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        raise NotImplementedError

    async def subscribe(self, channel: str) -> Subscription:
        raise NotImplementedError

    async def unsubscribe(self, channel: str, subscription: Subscription) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        pass


class MemoryEventBus(EventBus):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._channels: dict[str, set[Subscription]] = {}

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        with self._lock:
            subscribers = list(self._channels.get(channel, ()))
        for subscription in subscribers:
            subscription.push_threadsafe(message)

    async def subscribe(self, channel: str) -> Subscription:
        subscription = Subscription(asyncio.get_running_loop())
        with self._lock:
            self._channels.setdefault(channel, set()).add(subscription)
        return subscription

    async def unsubscribe(self, channel: str, subscription: Subscription) -> None:
        subscription.closed = True
        with self._lock:
            subscribers = self._channels.get(channel)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._channels[channel]


class RedisEventBus(EventBus):
    """Redis pub/sub. One listener connection per process fans out to local subscribers.

    Like every async resource of a process, it lives on the process's one event loop.
    """

    def __init__(self, url: str, prefix: str = "drumbeat:") -> None:
        self._url = url
        self._prefix = prefix
        self._local = MemoryEventBus()
        self._redis = None  # created on first use, on the process's event loop
        self._pubsub = None
        self._listener: asyncio.Task | None = None
        self._refcount: dict[str, int] = {}
        self._lock = asyncio.Lock()

    def _client(self):
        import redis.asyncio as aioredis

        if self._redis is None:
            self._redis = aioredis.from_url(self._url)
        return self._redis

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self._client().publish(self._prefix + channel, json.dumps(message))

    async def subscribe(self, channel: str) -> Subscription:
        async with self._lock:
            if self._pubsub is None:
                self._pubsub = self._client().pubsub()
            if self._refcount.get(channel, 0) == 0:
                await self._pubsub.subscribe(self._prefix + channel)
            self._refcount[channel] = self._refcount.get(channel, 0) + 1
            if self._listener is None:
                self._listener = asyncio.create_task(self._listen())
        return await self._local.subscribe(channel)

    async def unsubscribe(self, channel: str, subscription: Subscription) -> None:
        await self._local.unsubscribe(channel, subscription)
        async with self._lock:
            self._refcount[channel] -= 1
            if self._refcount[channel] == 0:
                del self._refcount[channel]
                await self._pubsub.unsubscribe(self._prefix + channel)

    async def _listen(self) -> None:
        while True:
            if not self._refcount:
                await asyncio.sleep(0.05)
                continue
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                continue
            channel = message["channel"].decode()[len(self._prefix):]
            await self._local.publish(channel, json.loads(message["data"]))

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except (asyncio.CancelledError, Exception):
                pass
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


def make_event_bus(url: str, namespace: str = "drumbeat") -> EventBus:
    if url.startswith("memory:"):
        return MemoryEventBus()
    return RedisEventBus(url, prefix=f"{namespace}:")
