"""Plugin hooks beyond action types: a plugin's own table and migration, its GraphQL
fields, and the document it writes with ``Outcome.done(persist=…)`` — exactly once per
delivery, in the transaction that marks the delivery done."""

from __future__ import annotations

import asyncio
import time

import pytest

from drumbeat import Outcome
from drumbeat.app import create_app
from drumbeat.platform import ledger
from drumbeat.platform.migrate import migrate_database
from drumbeat.platform.plugins import PluginError, build_plugins
from drumbeat.schema import build_schema
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.notes_plugin import ClashingPlugin, NotesPlugin
from tests.support.queries import (
    CAMPAIGN,
    add_recipients,
    create_campaign,
    create_contacts,
    db_id,
    launch_campaign,
)

NOTES = "query($c: ID!) { pluginNotes(campaignId: $c) }"


def test_a_plugin_field_joins_the_schema_and_may_not_redefine_one():
    sdl = build_schema(plugins=build_plugins(extra=[NotesPlugin()])).as_str()
    assert "pluginNotes(campaignId: ID!): [String!]!" in sdl
    assert "pluginNotes" not in build_schema(plugins=build_plugins()).as_str()
    with pytest.raises(PluginError, match="defines Query.campaigns, which the core already"):
        build_schema(plugins=build_plugins(extra=[ClashingPlugin()]))


def test_an_app_with_a_clashing_plugin_does_not_start(backend):
    with pytest.raises(PluginError, match="Query.campaigns"):
        create_app(backend.settings(), extra_plugins=[ClashingPlugin()])


def test_a_plugin_app_that_is_not_a_piccolo_app_is_refused():
    class Broken:
        from drumbeat import hookimpl

        @hookimpl
        def drumbeat_piccolo_apps(self):
            return ["tests.support.queries"]  # a module without APP_CONFIG

    with pytest.raises(PluginError, match="not a Piccolo app module"):
        build_plugins(extra=[Broken()])


async def _completed(api: GraphQLClient, campaign: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = (await api.data(CAMPAIGN, {"id": campaign}))["campaign"]
        if state["state"] == "COMPLETED":
            return state["counters"]
        assert time.monotonic() < deadline, f"not completed in {timeout} s: {state}"
        await asyncio.sleep(0.05)


async def test_a_plugin_table_is_migrated_and_written_once_per_delivery(backend, make_server):
    await migrate_database(backend.settings(), extra_plugins=[NotesPlugin()])
    await migrate_database(backend.settings(), extra_plugins=[NotesPlugin()])  # idempotent
    server = make_server(extra_plugins=[NotesPlugin()], chunk_size=10)
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("notes")
    people = [{"email": f"{tag}-{i}@example.org", "firstName": f"N{i:02d}"} for i in range(25)]
    campaign = await create_campaign(api, tag, {"text": "Hi {{ contact.first_name }}"}, "note")
    await add_recipients(api, campaign, await create_contacts(api, people))
    await launch_campaign(api, campaign)
    counters = await _completed(api, campaign)
    assert (counters["done"], counters["total"]) == (25, 25)
    notes = (await api.data(NOTES, {"c": campaign}))["pluginNotes"]
    assert sorted(notes) == sorted(f"Hi N{i:02d}" for i in range(25))

    # Every chunk message delivered again: the rows are done, nothing is claimed or written.
    rows = await server.call(server.platform.db.fetch(
        "SELECT id, campaign, step, state FROM drumbeat_delivery WHERE campaign = {}"
        " ORDER BY id", db_id(campaign)))
    from drumbeat.platform.execution import run_chunk

    for chunk in ledger.chunks_of(rows, 10):
        assert await server.call(run_chunk(server.platform, chunk)) == 0
    assert len((await api.data(NOTES, {"c": campaign}))["pluginNotes"]) == 25

    # A worker whose claim was lost (another took the rows) records nothing: its
    # persist functions are never called.
    called: list[int] = []

    async def persist(db) -> None:
        called.append(1)

    claim = ledger.Claim("a-lost-token", [{"id": r["id"], "attempts": 1, "address": None}
                                          for r in rows])
    outcomes = [Outcome(r["id"], "done", persist=persist) for r in rows]
    await server.call(ledger.record(server.platform.db, claim, outcomes,
                                    campaign_id=db_id(campaign)))
    assert called == []
    assert len((await api.data(NOTES, {"c": campaign}))["pluginNotes"]) == 25
