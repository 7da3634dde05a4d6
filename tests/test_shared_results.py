"""Subscribers of the same operation share each event's execution and ``next`` frame
(drumbeat/schema/shared_results.py), yet every client still gets exactly its own events,
in order, with its own filters and selection; results with errors are never shared."""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing
from enum import Enum

from graphql import (
    GraphQLArgument, GraphQLField, GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLString,
    parse, subscribe as graphql_subscribe,
)
from strawberry import relay

import drumbeat.schema.view  # noqa: F401  (installs the sharing, as the app does)
from drumbeat.platform.tables.tracking import EventType
from drumbeat.platform.tracking.events import record_event
from drumbeat.schema import shared_results
from drumbeat.schema.shared_results import encode_next, freeze, shareable
from tests.conftest import member_token, unique
from tests.support.graphql import subscribe
from tests.support.queries import create_campaign, db_id

EVENTS = """subscription($id: ID!, $types: [EventType!]) {
  campaignEvents(campaignId: $id, types: $types) { id type detail missed } }"""
FEWER_FIELDS = """subscription($id: ID!) { campaignEvents(campaignId: $id) { id detail } }"""
COUNT = 20


class Reader:
    """A client collecting ``campaignEvents`` until the event with detail ``end``."""

    def __init__(self, server, token: str, query: str, variables: dict):
        self.events: list[dict] = []
        self.task = asyncio.create_task(self._read(server.ws_url, token, query, variables))

    async def _read(self, ws_url, token, query, variables) -> None:
        async with aclosing(subscribe(ws_url, token, query, variables)) as stream:
            async for payload in stream:
                assert "errors" not in payload, payload
                self.events.append(payload["data"]["campaignEvents"])
                if self.events[-1]["detail"] == "end":
                    return

    def saw(self, detail: str) -> bool:
        assert not self.task.done() or self.events[-1]["detail"] == "end", self.task
        return any(e["detail"] == detail for e in self.events)


async def _until_all_see(server, campaign: str, readers: list[Reader], detail: str) -> None:
    """Record OPENED events with ``detail`` until every reader has seen one."""
    while not all(r.saw(detail) for r in readers):
        await server.call(record_event(server.platform, db_id(campaign), None,
                                       EventType.OPENED, detail))
        await asyncio.sleep(0.05)


async def test_same_operation_executes_once_per_event_and_each_client_gets_its_own(
        server, admin_api):
    campaign = await create_campaign(admin_api, f"Shared {unique('shared')}")
    _, marketer = await member_token(server, "MARKETER")
    same = [Reader(server, token, EVENTS, {"id": campaign})
            for token in (admin_api.token, marketer, marketer)]
    opened_only = Reader(server, marketer, EVENTS, {"id": campaign, "types": ["OPENED"]})
    fewer = Reader(server, admin_api.token, FEWER_FIELDS, {"id": campaign})
    readers = [*same, opened_only, fewer]
    await _until_all_see(server, campaign, readers, "probe")
    await _until_all_see(server, campaign, readers, "sync")  # no probe left in flight
    before = dict(shared_results.stats)

    cid, published = db_id(campaign), []
    for n in range(COUNT):
        kind = EventType.CONVERTED if n % 2 else EventType.OPENED
        published.append((await server.call(record_event(server.platform, cid, None, kind,
                                                         f"e{n}")), kind.value, f"e{n}"))
    published.append((await server.call(record_event(server.platform, cid, None,
                                                     EventType.OPENED, "end")), "OPENED", "end"))
    await asyncio.wait_for(asyncio.gather(*(r.task for r in readers)), 60)

    def live(reader: Reader) -> list[dict]:  # from the first timed event (an OPENED one)
        return reader.events[[e["detail"] for e in reader.events].index("e0"):]

    expected = [{"id": i, "type": t, "detail": d, "missed": 0} for i, t, d in published]
    for reader in same:
        assert live(reader) == expected
    assert live(opened_only) == [e for e in expected if e["type"] == "OPENED"]
    assert live(fewer) == [{"id": i, "detail": d} for i, _, d in published]
    # one execution per event for each distinct (query, variables); the others reuse it
    executed = shared_results.stats["executed"] - before["executed"]
    shared = shared_results.stats["shared"] - before["shared"]
    events, opened = len(published), sum(t == "OPENED" for _, t, _ in published)
    assert executed == 2 * events + opened  # EVENTS, FEWER_FIELDS; EVENTS with types
    assert shared == 2 * events  # the two other subscribers of EVENTS with the same id


# -- the mechanism, on a plain graphql-core schema ----------------------------------------

@shareable
class Item:
    def __init__(self, n: int) -> None:
        self.n = n


def _label(item: Item, _info) -> str:
    if item.n == 2:
        raise ValueError("no label for 2")
    return f"item {item.n}"


ITEMS = [Item(n) for n in range(4)]


async def _items(_root, _info, **_args):
    for item in ITEMS:
        yield item


ItemType = GraphQLObjectType("Item", {"n": GraphQLField(GraphQLNonNull(GraphQLInt),
                                                        resolve=lambda item, _info: item.n),
                                      "label": GraphQLField(GraphQLString, resolve=_label)})
SCHEMA = GraphQLSchema(
    query=GraphQLObjectType("Query", {"noop": GraphQLField(GraphQLString)}),
    subscription=GraphQLObjectType("Subscription", {"items": GraphQLField(
        ItemType, args={"tag": GraphQLArgument(GraphQLString)},
        subscribe=_items, resolve=lambda item, _info, **_args: item)}))


async def _run(query: str, variables: dict | None = None) -> list:
    stream = graphql_subscribe(SCHEMA, parse(query), variable_values=variables)
    return [result async for result in stream]


async def test_errors_are_never_shared_and_other_variables_execute_again():
    query = "subscription($tag: String) { items(tag: $tag) { n label } }"
    before = dict(shared_results.stats)
    first, second = await _run(query, {"tag": "a"}), await _run(query, {"tag": "a"})
    other = await _run(query, {"tag": "b"})
    for results in (first, second, other):
        assert [r.data["items"]["n"] for r in results] == [0, 1, 2, 3]
        assert [bool(r.errors) for r in results] == [False, False, True, False]
    assert [a is b for a, b in zip(first, second)] == [True, True, False, True]
    assert not any(a is b for a, b in zip(first, other))
    assert shared_results.stats["shared"] - before["shared"] == 3
    assert shared_results.stats["executed"] - before["executed"] == 9  # 4 + the error + 4


def test_freeze_tells_variable_values_apart_and_refuses_unknown_ones():
    class Color(Enum):
        RED = "red"

    assert freeze({"a": 1}) != freeze({"a": True}) != freeze({"a": "1"})
    assert freeze({"a": [1, 2]}) == freeze({"a": [1, 2]}) != freeze({"a": [2, 1]})
    assert freeze(relay.GlobalID("Campaign", "1")) != freeze(relay.GlobalID("Contact", "1"))
    assert freeze(Color.RED) != freeze("red")
    try:
        freeze({"a": object()})
    except shared_results._Unshareable:
        pass
    else:
        raise AssertionError("an unknown value was frozen")


def test_a_shared_next_frame_is_encoded_once_with_each_operation_id():
    result = asyncio.run(_run("subscription { items { n } }"))[0]
    encoded = []

    def dumps(value):
        encoded.append(value)
        return json.dumps(value, separators=(",", ":"))

    frames = [encode_next({"id": op, "type": "next", "payload": {"data": result.data}}, dumps)
              for op in ("1", "two")]
    assert [json.loads(f) for f in frames] == [
        {"id": op, "type": "next", "payload": {"data": {"items": {"n": 0}}}} for op in ("1", "two")]
    assert encoded.count({"data": result.data}) == 1  # the payload once, then only the ids
    assert encode_next({"id": "1", "type": "next", "payload": {"data": {"items": {"n": 0}}}},
                       dumps) is None  # data that no shared result holds
    assert encode_next({"id": "1", "type": "next", "payload": {"data": result.data,
                                                               "errors": []}}, dumps) is None
    assert encode_next({"type": "pong"}, dumps) is None
