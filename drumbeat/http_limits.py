"""The request body limit of every HTTP route (``DRUMBEAT_MAX_BODY_BYTES``).

:class:`BodyLimit` is ASGI middleware around the whole app — ``/graphql``, tracking,
triggers, webhooks, the dashboard, with or without a token:

* a ``Content-Length`` over the limit is answered 413 at once, before a byte of the body is
  read (the app is not called);
* a body without one (chunked) is counted as the app reads it; the read that passes the
  limit raises :class:`BodyTooLarge` inside the app, and the middleware answers 413 — the
  rest of the body is never held.

Having answered, the middleware reads and throws away what the client is still sending
(at most :data:`DRAIN_BYTES`, never keeping more than one chunk) before it ends the
response: a server that closes a socket with unread data resets the connection, and most
clients, busy sending, would lose the 413 and see only "connection reset".

The answer is a GraphQL-style error body, ``{"errors": [{"message": …}]}``. WebSocket
messages are bounded by the server (uvicorn's ``ws_max_size``): :func:`server_options`
gives the same limit to ``drumbeat serve`` and to the tests' live server.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


DRAIN_BYTES = 1 << 30  # discarded after a refusal, at most; then the connection is dropped


class BodyTooLarge(Exception):
    """Raised by the wrapped ``receive`` when a request body passes the limit."""


def too_large_body(limit: int) -> bytes:
    return json.dumps({"errors": [{
        "message": f"The request body is larger than {limit} bytes.",
        "extensions": {"code": "PAYLOAD_TOO_LARGE"}}]}).encode()


class BodyLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int):
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._refuse(send, receive, drain=declared <= DRAIN_BYTES)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if started:  # the app answered before reading all: nothing more to say
                raise
            await self._refuse(send, receive, drain=True)

    async def _refuse(self, send: Send, receive: Receive, drain: bool) -> None:
        body = too_large_body(self.limit)
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]})
        await send({"type": "http.response.body", "body": body, "more_body": drain})
        if drain:
            await _discard(receive)
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _discard(receive: Receive) -> None:
    """Read and drop the rest of a request body, up to DRAIN_BYTES."""
    dropped = 0
    while dropped <= DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        dropped += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed one itself
    return None


def server_options(max_body_bytes: int) -> dict[str, Any]:
    """uvicorn options bounding what a client can make the server hold: WebSocket messages
    (uvicorn's default would be 16 MiB whatever the setting)."""
    return {"ws_max_size": max_body_bytes}
