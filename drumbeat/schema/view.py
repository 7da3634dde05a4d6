"""The Strawberry ASGI view: bearer-token auth for HTTP and for WebSocket ``connection_init``.

A WebSocket stays authenticated only while its token does: once acknowledged, each
connection (either subprotocol) is watched by the process's
:class:`~drumbeat.platform.token_watch.TokenWatch`, which closes it (4403) when the token is
revoked or its member deactivated or given another role.

Request JSON (HTTP bodies, WebSocket messages) is parsed with bounded nesting and size
(:mod:`drumbeat.platform.bounded_json`); a request the view refuses (bad JSON, too deep,
wrong method or content type) is answered with its status and a GraphQL-style body,
``{"errors": [{"message": …}]}``.
"""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from drumbeat.platform import bounded_json
from drumbeat.platform.team import authenticate, hash_token
from drumbeat.platform.token_watch import Watched, token_watch
from drumbeat.schema import shared_results
from drumbeat.schema.context import Context
from drumbeat.schema.per_event_memo import install as install_per_event_memo
from drumbeat.sign_in_throttle import CLOSE_CODE, SignInThrottle, too_many

install_per_event_memo()  # graphql-core 3.3 leaks per subscription event otherwise
shared_results.install()  # one execution per event for subscribers of the same operation


def bearer_token(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return None


def ws_token(params: Any) -> str | None:
    """The token of a ``connection_init`` payload: ``Authorization: Bearer …`` or ``token``."""
    params = params if isinstance(params, dict) else {}
    raw = params.get("Authorization") or params.get("authorization")
    token = bearer_token(raw) if raw else params.get("token")
    return token if isinstance(token, str) else None


class _TokenWatched:
    """Registers an acknowledged connection with the token watch, forgets it when the
    connection ends; :meth:`end_operations` is the protocol's own clean-up."""

    _watched: Watched | None = None

    async def handle_connection_init(self, message) -> None:
        # An address with too many failed sign-ins is refused before its token is looked at.
        payload = message.get("payload") if isinstance(message, dict) else None
        if ws_token(payload) is not None:
            wait = self.view.sign_in_throttle.retry_after(client_address(self.context.request))
            if wait is not None:
                await self.websocket.close(code=CLOSE_CODE, reason=too_many(wait))
                return
        await super().handle_connection_init(message)
        member = self.context.member
        if self.connection_acknowledged and member is not None and self._watched is None:
            token = ws_token(self.context.connection_params)
            self._watched = token_watch(self.context.platform).watch(
                hash_token(token), member.role, self._revoked)

    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            if self._watched is not None:
                token_watch(self.context.platform).forget(self._watched)

    async def _revoked(self, code: int, reason: str) -> None:
        # Operations first, so none of them sends on a closing socket.
        await self.end_operations()
        await self.websocket.close(code=code, reason=reason)


class TransportWSHandler(_TokenWatched, BaseGraphQLTransportWSHandler):
    """graphql-transport-ws."""

    async def end_operations(self) -> None:
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)


class LegacyWSHandler(_TokenWatched, BaseGraphQLWSHandler):
    """The legacy graphql-ws (subscriptions-transport-ws) protocol."""

    async def end_operations(self) -> None:
        await self.cleanup()


def client_address(connection: object) -> str:
    client = connection.client if isinstance(connection, HTTPConnection) else None
    return client.host if client else ""


class DrumbeatGraphQL(GraphQL):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, *args, sign_in_throttle: SignInThrottle | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.sign_in_throttle = (SignInThrottle(0, 1.0) if sign_in_throttle is None
                                 else sign_in_throttle)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        if bearer_token(request.headers.get("authorization")) is not None:
            wait = self.sign_in_throttle.retry_after(client_address(request))
            if wait is not None:
                response = JSONResponse({"errors": [{"message": too_many(wait)}]},
                                        status_code=429, headers={"Retry-After": str(wait)})
                await response(scope, receive, send)
                return
        try:
            response = await self.run(request)
        except HTTPException as exc:
            reason = exc.reason
            if isinstance(exc.__cause__, bounded_json.TooLargeJSON):
                reason = f"{reason}: {exc.__cause__}."
            response = JSONResponse({"errors": [{"message": reason}]}, status_code=exc.status_code)
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        return bounded_json.loads(data)

    def encode_json(self, data: object) -> str | bytes:
        frame = shared_results.encode_next(data, super().encode_json)
        return frame if frame is not None else super().encode_json(data)

    async def get_context(self, request, response) -> Context:
        platform = request.app.state.platform
        member = None
        token_watch(platform)  # binds this loop's platform: revocations announce through it
        if isinstance(request, Request):
            token = bearer_token(request.headers.get("authorization"))
            member = await authenticate(token)
            if member is None and token is not None:
                self.sign_in_throttle.failed(client_address(request))
        return Context(platform, request, response, member)

    async def on_ws_connect(self, context: Context):
        token = ws_token(context.connection_params)
        member = await authenticate(token)
        if member is None and token is not None:
            self.sign_in_throttle.failed(client_address(context.request))
        if member is None:
            raise ConnectionRejectionError({"message": "a valid bearer token is required"})
        context.member = member
        return None
