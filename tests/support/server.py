"""The Drumbeat app served by a real uvicorn on a loopback port, in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any, Awaitable, TypeVar

import uvicorn

from drumbeat.app import create_app
from drumbeat.http_limits import server_options
from drumbeat.settings import Settings

T = TypeVar("T")


class LiveServer:
    def __init__(self, settings: Settings, run_worker: bool, extra_plugins=()):
        self.settings = settings
        self.app = create_app(settings, extra_plugins=extra_plugins, auto_migrate=False,
                              run_worker=run_worker)
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(
            self.app, log_level="warning", lifespan="on", ws="websockets-sansio",
            **server_options(settings.max_body_bytes)))
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="live-server")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def platform(self):
        return self.app.state.platform

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._server.serve(sockets=[self._socket]))

    def start(self) -> "LiveServer":
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live server did not start (see the log above)")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self.loop.close()

    async def call(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` (a coroutine or a Piccolo query) on the server's loop, where
        its database pool lives."""
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(_awaited(awaitable), self.loop))

    def call_sync(self, awaitable: Awaitable[T]) -> Any:
        return asyncio.run_coroutine_threadsafe(_awaited(awaitable), self.loop).result(timeout=60)


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable
