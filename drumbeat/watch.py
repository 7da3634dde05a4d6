"""``drumbeat watch``: follow a campaign's progress subscription from a terminal.

A small graphql-transport-ws client of the public API — the same protocol a dashboard uses.
"""

from __future__ import annotations

import json
from typing import Callable

import websockets

PROGRESS = """
subscription($id: ID!) {
  campaignProgress(campaignId: $id) {
    state counters { total pending inProgress done failed skipped }
  }
}"""


async def watch_progress(url: str, token: str, campaign_id: str,
                         show: Callable[[dict], None]) -> None:
    """Call ``show`` with each progress update until the server completes the subscription."""
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {token}"}}))
        ack = json.loads(await ws.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"the server refused the connection: {ack}")
        await ws.send(json.dumps({"id": "progress", "type": "subscribe", "payload": {
            "query": PROGRESS, "variables": {"id": campaign_id}}}))
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "next":
                payload = message["payload"]
                if payload.get("errors"):
                    raise RuntimeError(payload["errors"][0]["message"])
                show(payload["data"]["campaignProgress"])
            elif message["type"] == "error":
                raise RuntimeError(message["payload"])
            elif message["type"] == "complete":
                return
