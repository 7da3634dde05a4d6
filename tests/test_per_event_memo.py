"""A long-lived subscription keeps no per-event state: graphql-core 3.3 memoised each
event's sub-fields on the subscription's executor (drumbeat/schema/per_event_memo.py)."""

from __future__ import annotations

import gc

from graphql import GraphQLField, GraphQLObjectType, GraphQLSchema, GraphQLString, parse, subscribe
from graphql.execution.collect_fields import CollectedFields

import drumbeat.schema.view  # noqa: F401  (installs the workaround, as the app does)

EVENTS = 300
Event = GraphQLObjectType("Event", {"detail": GraphQLField(GraphQLString)})


async def _events(_root, _info):
    for n in range(EVENTS):
        yield {"detail": f"e{n}"}


SCHEMA = GraphQLSchema(
    query=GraphQLObjectType("Query", {"noop": GraphQLField(GraphQLString)}),
    subscription=GraphQLObjectType("Subscription", {"events": GraphQLField(
        Event, subscribe=_events, resolve=lambda event, _info: event)}))


def _collected() -> int:
    gc.collect()
    return sum(isinstance(o, CollectedFields) for o in gc.get_objects())


async def test_each_event_of_a_subscription_leaves_nothing_behind():
    stream = subscribe(SCHEMA, parse("subscription { events { detail } }"))
    assert hasattr(stream, "__aiter__"), stream
    details = []
    baseline = None
    async for result in stream:
        assert result.errors is None
        details.append(result.data["events"]["detail"])
        if len(details) == 10:
            baseline = _collected()
        if len(details) == EVENTS - 10:
            grown = _collected() - baseline
    assert details == [f"e{n}" for n in range(EVENTS)]
    assert grown < 5, f"{grown} memoised sub-field sets kept for {EVENTS - 20} events"
