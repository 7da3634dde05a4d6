"""Real HTTP and WebSocket (graphql-transport-ws) clients for the GraphQL API."""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

import httpx
import websockets


class GraphQLClient:
    def __init__(self, base_url: str, token: str | None = None):
        self.base_url = base_url
        self.token = token

    def as_(self, token: str | None) -> "GraphQLClient":
        return GraphQLClient(self.base_url, token)

    async def execute(self, query: str, variables: dict | None = None) -> dict:
        """The whole response body (``data`` and maybe ``errors``)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60) as client:
            response = await client.post("/graphql", json={"query": query, "variables": variables or {}},
                                         headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def data(self, query: str, variables: dict | None = None) -> dict:
        """``data`` of a response that must have no top-level errors."""
        body = await self.execute(query, variables)
        assert not body.get("errors"), body["errors"]
        return body["data"]


async def subscribe(ws_url: str, token: str | None, query: str, variables: dict | None = None
                    ) -> AsyncIterator[dict]:
    """Yield each ``next`` payload of a subscription until the server completes it."""
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {token}"} if token else {}}))
        ack = json.loads(await ws.recv())
        if ack["type"] != "connection_ack":
            raise ConnectionError(f"not acknowledged: {ack}")
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": query, "variables": variables or {}}}))
        async for raw in ws:
            message: dict[str, Any] = json.loads(raw)
            if message["type"] == "next":
                yield message["payload"]
            elif message["type"] == "complete":
                return
            elif message["type"] == "error":
                raise RuntimeError(f"subscription error: {message['payload']}")
