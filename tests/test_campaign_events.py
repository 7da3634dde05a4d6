"""``campaignEvents`` over a real WebSocket: every SENT event of a run in order and without
gaps while another client stalls, replay with ``after``, readers only; and the bounded
queue of the bus that drops the oldest events of a slow client and says how many."""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing

import pytest
import websockets

from drumbeat.platform.events import QUEUE_LIMIT, MemoryEventBus
from drumbeat.platform.tables.tracking import EventType
from drumbeat.platform.tracking.events import record_event
from drumbeat.schema.events import unpack
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient, subscribe
from tests.support.queries import (
    CAMPAIGN, add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
)

RECIPIENTS = 500
EVENTS = """
subscription($id: ID!, $types: [EventType!], $after: Int) {
  campaignEvents(campaignId: $id, types: $types, after: $after) {
    id type deliveryId address createdAt missed
  }
}"""


async def _campaign(api: GraphQLClient, count: int) -> tuple[str, list[str]]:
    tag = unique("events")
    addresses = [f"{tag}-{i}@example.org" for i in range(count)]
    people = [{"email": a, "firstName": f"P{i}", "lastName": "Tester"}
              for i, a in enumerate(addresses)]
    campaign = await create_campaign(api, f"Campaign {tag}")
    added = await add_recipients(api, campaign, await create_contacts(api, people))
    assert (added["added"], added["errors"]) == (count, [])
    return campaign, addresses


class Reader:
    """A client reading ``campaignEvents`` into ``events`` until it has ``sent`` SENT ones."""

    def __init__(self, server, token: str, campaign: str, sent: int, **variables):
        self.events: list[dict] = []
        self._sent = sent
        self.task = asyncio.create_task(self._read(server.ws_url, token, campaign, variables))

    async def _read(self, ws_url, token, campaign, variables) -> None:
        stream = subscribe(ws_url, token, EVENTS, {"id": campaign, **variables})
        async with aclosing(stream):
            async for payload in stream:
                assert "errors" not in payload, payload
                self.events.append(payload["data"]["campaignEvents"])
                if len(self.sent()) == self._sent:
                    return

    def sent(self) -> list[dict]:
        return [e for e in self.events if e["type"] == "SENT"]

    async def until_live(self, server, campaign: str) -> None:
        """Record CONVERTED probes until this client sees one: it is subscribed then."""
        while not any(e["type"] == "CONVERTED" for e in self.events):
            assert not self.task.done(), self.task
            await server.call(record_event(server.platform, db_id(campaign), None,
                                           EventType.CONVERTED, "probe"))
            await asyncio.sleep(0.05)


async def _stalled(server, token: str, campaign: str) -> websockets.ClientConnection:
    """A connection that subscribes to the campaign's events and then never reads."""
    ws = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"],
                                  max_queue=1)
    await ws.send(json.dumps({"type": "connection_init",
                              "payload": {"Authorization": f"Bearer {token}"}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "1", "type": "subscribe",
                              "payload": {"query": EVENTS, "variables": {"id": campaign}}}))
    return ws


async def _ledger_sent(server, campaign: str) -> list[dict]:
    return await server.call(server.platform.db.fetch(
        "SELECT e.id, e.delivery FROM drumbeat_delivery_event e"
        " WHERE e.campaign = {} AND e.type = 'SENT' ORDER BY e.id", db_id(campaign)))


async def _completed(api: GraphQLClient, campaign: str) -> dict:
    while (state := (await api.data(CAMPAIGN, {"id": campaign}))["campaign"])["state"] != "COMPLETED":
        await asyncio.sleep(0.05)
    return state["counters"]


async def test_every_sent_event_in_order_while_another_client_stalls(server, admin_api, smtp_sink):
    _, reader_token = await member_token(server, "MARKETER")  # any member may read
    campaign, addresses = await _campaign(admin_api, RECIPIENTS)
    stalled = await _stalled(server, admin_api.token, campaign)
    live = Reader(server, reader_token, campaign, RECIPIENTS, types=["SENT", "CONVERTED"])
    await live.until_live(server, campaign)
    try:
        await launch_campaign(admin_api, campaign)
        await asyncio.wait_for(live.task, timeout=90)
        counters = await asyncio.wait_for(_completed(admin_api, campaign), timeout=90)
    finally:
        await stalled.close()

    assert counters["done"] == RECIPIENTS
    sent = live.sent()
    seqs = [e["id"] for e in sent]
    assert len(sent) == RECIPIENTS and seqs == sorted(set(seqs)), "strictly increasing"
    assert all(e["missed"] == 0 for e in live.events)
    ledger = await _ledger_sent(server, campaign)
    assert seqs == [r["id"] for r in ledger], "every recorded SENT event, none other"
    assert {e["deliveryId"] for e in sent} == {r["delivery"] for r in ledger}
    assert {e["address"] for e in sent} == set(addresses)
    assert {e["type"] for e in live.events} == {"SENT", "CONVERTED"}


async def test_replay_after_an_event_id_then_live_without_gap_or_duplicate(server, admin_api,
                                                                           smtp_sink):
    count = 120
    campaign, _ = await _campaign(admin_api, count)
    await launch_campaign(admin_api, campaign)
    partial = Reader(server, admin_api.token, campaign, 10, after=0, types=["SENT"])
    await asyncio.wait_for(partial.task, timeout=90)
    cut = partial.sent()[-1]["id"]  # then joins from wherever it stopped, mid-run or after

    rest = Reader(server, admin_api.token, campaign, count - 10, after=cut, types=["SENT"])
    await asyncio.wait_for(rest.task, timeout=90)
    seqs = [e["id"] for e in partial.sent() + rest.sent()]
    assert seqs == sorted(set(seqs)) and len(seqs) == count
    assert seqs == [r["id"] for r in await _ledger_sent(server, campaign)]


async def test_an_anonymous_connection_is_refused(server, admin_api):
    campaign, _ = await _campaign(admin_api, 1)
    payloads = []
    with pytest.raises(websockets.ConnectionClosedError) as refused:
        async for payload in subscribe(server.ws_url, None, EVENTS, {"id": campaign}):
            payloads.append(payload)
    assert refused.value.rcvd.code == 4403 and payloads == []


async def test_a_slow_subscriber_loses_the_oldest_events_and_is_told_how_many():
    bus = MemoryEventBus()
    slow, fast = await bus.subscribe("campaign:1"), await bus.subscribe("campaign:1")
    batches = QUEUE_LIMIT + 2  # two batches too many, of two events each
    kept_up = []
    for n in range(batches):
        await bus.publish("campaign:1", {"type": "events", "events": [
            {"type": "event", "id": 2 * n + 1}, {"type": "event", "id": 2 * n + 2}]})
        kept_up.append(await fast.get(timeout=1))  # a client that keeps up loses nothing

    first = await slow.get(timeout=1)
    assert first["missed"] == 4 and [e["id"] for e in first["events"]] == [5, 6]
    assert "missed" not in await slow.get(timeout=1)
    assert unpack(first) == first["events"] and unpack({"type": "progress"}) == []
    assert [e["id"] for m in kept_up for e in m["events"]] == list(range(1, 2 * batches + 1))
    assert not any("missed" in m for m in kept_up)
