"""The Strawberry ASGI view: bearer-token auth for HTTP and for WebSocket ``connection_init``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from drumbeat.platform.team import authenticate
from drumbeat.schema import shared_results
from drumbeat.schema.context import Context
from drumbeat.schema.per_event_memo import install as install_per_event_memo

install_per_event_memo()  # graphql-core 3.3 leaks per subscription event otherwise
shared_results.install()  # one execution per event for subscribers of the same operation


def bearer_token(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return None


class DrumbeatGraphQL(GraphQL):
    def encode_json(self, data: object) -> str | bytes:
        frame = shared_results.encode_next(data, super().encode_json)
        return frame if frame is not None else super().encode_json(data)

    async def get_context(self, request, response) -> Context:
        platform = request.app.state.platform
        member = None
        if isinstance(request, Request):
            member = await authenticate(bearer_token(request.headers.get("authorization")))
        return Context(platform, request, response, member)

    async def on_ws_connect(self, context: Context):
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        raw = params.get("Authorization") or params.get("authorization")
        token = bearer_token(raw) if raw else params.get("token")
        member = await authenticate(token if isinstance(token, str) else None)
        if member is None:
            raise ConnectionRejectionError({"message": "a valid bearer token is required"})
        context.member = member
        return None
