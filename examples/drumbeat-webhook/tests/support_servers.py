"""Real servers on loopback ports, each served by uvicorn in a background thread: Drumbeat
itself and a webhook receiver that records every request."""

from __future__ import annotations

import asyncio
import inspect
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class Served:
    """An ASGI app served on a free 127.0.0.1 port until :meth:`stop`."""

    def __init__(self, app, lifespan: str = "on"):
        self.app = app
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan=lifespan))
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._server.serve(sockets=[self._socket]))

    def start(self) -> "Served":
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start (see the log above)")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self.loop.close()

    async def call(self, awaitable: Awaitable) -> Any:
        """Await ``awaitable`` on the server's loop (where Drumbeat's database pool lives)."""
        async def run():
            return await awaitable
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), self.loop))


@dataclass(frozen=True)
class Received:
    path: str
    client_port: int
    headers: dict[str, str]  # lower-case names
    body: bytes


Reply = tuple[int, dict[str, str], str]
# (request, earlier ones to its path) → reply, or an awaitable of it
Script = Callable[[Received, list[Received]], Reply | Awaitable[Reply]]


class Receiver:
    """A webhook receiver: records each POST to ``/hooks/<name>`` and answers it by the
    script registered for that path (200 by default)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.scripts: dict[str, Script] = {}
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/hooks/{name}", self._hook, methods=["POST"])])
        self.served = Served(app, lifespan="off")

    def url(self, name: str) -> str:
        return f"{self.served.url}/hooks/{name}"

    def received(self, name: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == f"/hooks/{name}"]

    async def _hook(self, request: Request) -> Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        got = Received(request.url.path, request.client.port, headers, await request.body())
        with self._lock:
            earlier = [r for r in self.requests if r.path == got.path]
            self.requests.append(got)
        script = self.scripts.get(got.path.rsplit("/", 1)[1])
        reply = script(got, earlier) if script else (200, {}, "ok")
        status, headers, text = await reply if inspect.isawaitable(reply) else reply
        return Response(text, status_code=status, headers=headers)
