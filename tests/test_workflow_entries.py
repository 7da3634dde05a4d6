"""Workflow entries on a live server (the engine's clock moved by hand): each entry into a
state acts anew — a loop back through a delay runs its actions again, more looks at the
same entry do nothing more —; an entry whose batch was lost before it committed is entered
by its next look; one failing look does not stop its batch; cancelling the campaign ends
the unfinished enrollments; ``campaignEnrollmentProgress`` streams where everyone is."""

from __future__ import annotations

import asyncio
import time

import pytest

from drumbeat.platform.workflows import clock, scheduler
from drumbeat.platform.workflows import enrollments as rows_
from drumbeat.schema import enrollment_progress
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient, subscribe
from tests.support.queries import (
    add_recipients, create_campaign, create_contacts, db_id, launch_campaign, make_ready,
)
from tests.test_workflow_definition import SET
from tests.test_workflow_engine import ENROLLMENTS, PAUSE, RESUME
from tests.test_workflow_migration import DAY, _delay, _plain, _tags, _tagging, _until, _v1

CANCEL = """mutation($id: ID!) { campaignCancel(id: $id) { campaign { state } errors { code } } }"""


@pytest.fixture(autouse=True)
def _real_time():
    clock.reset()
    yield
    clock.reset()


async def test_a_state_entered_again_acts_again(server, admin_api):
    """A manual move back into a state runs its actions again (a new entry), while more
    looks at the same entry do nothing more."""
    tag = unique("again")
    email = f"{tag}@example.org".lower()
    contacts = await create_contacts(admin_api, [{"email": email}])
    campaign = await create_campaign(admin_api, f"Again {tag}")
    definition = {"states": [
        {"key": "tagged", "name": "Tagged", "start": True,
         "actions": [{"type": "contact_status", "config": {"add": ["seen"]}}],
         "transitions": [{"onComplete": {"to": "wait"}}]},
        _plain("wait", [_delay("tagged", "P2D")]),
    ], "goals": []}
    assert (await admin_api.data(SET, {"c": campaign, "input": definition})
            )["campaignWorkflowSet"]["errors"] == []
    await add_recipients(admin_api, campaign, contacts)
    await make_ready(admin_api, campaign)
    await launch_campaign(admin_api, campaign)

    async def entries() -> list[int]:
        rows = await server.call(server.platform.db.fetch(
            "SELECT entry_no FROM drumbeat_delivery WHERE campaign = {} AND state = 'done'"
            " ORDER BY id", db_id(campaign)))
        return [r["entry_no"] for r in rows]

    async def waiting():
        return (await entries()) == [0] and await server.call(server.platform.db.fetchval(
            "SELECT status FROM drumbeat_enrollment WHERE campaign = {}",
            db_id(campaign))) == "WAITING"

    await _until(server, waiting, "the first entry ran")
    for _ in range(3):
        await server.call(scheduler.tick(server.platform))
    assert await entries() == [0]
    clock.advance(2 * DAY + 60)  # the loop back through the delay: a second entry

    async def twice():
        return len(await entries()) == 2

    await _until(server, twice, "the loop's second entry ran")
    first, second = await entries()
    assert first == 0 and second > first


async def test_cancelling_the_campaign_ends_its_unfinished_enrollments(server, admin_api):
    tag = unique("cancel")
    emails = [f"{tag}-{n}@example.org".lower() for n in ("a", "b")]
    contacts = await create_contacts(admin_api, [{"email": e} for e in emails])
    campaign = await create_campaign(admin_api, f"Cancel {tag}")
    assert (await admin_api.data(SET, {"c": campaign, "input": _v1()})
            )["campaignWorkflowSet"]["errors"] == []
    await add_recipients(admin_api, campaign, contacts)
    await make_ready(admin_api, campaign)
    await launch_campaign(admin_api, campaign)

    async def listing(status=None) -> dict[str, dict]:
        data = await admin_api.data(ENROLLMENTS, {"c": campaign, "status": status})
        return {e["node"]["contact"]["email"]: e["node"]
                for e in data["campaignEnrollments"]["edges"]}

    async def waiting():
        return len(await listing("WAITING")) == 2

    await _until(server, waiting, "both wait")
    first = (await listing())[emails[0]]["id"]
    assert (await admin_api.data(PAUSE, {"id": first}))["enrollmentPause"]["errors"] == []
    cancelled = (await admin_api.data(CANCEL, {"id": campaign}))["campaignCancel"]
    assert cancelled == {"campaign": {"state": "CANCELLED"}, "errors": []}
    clock.advance(4 * DAY)
    await server.call(scheduler.run_until_idle(server.platform))
    after = await listing()
    assert [(after[e]["stateKey"], after[e]["status"]) for e in emails] == [
        ("wait", "CANCELLED"), ("wait", "CANCELLED")]
    refused = await admin_api.data(RESUME, {"id": first})
    assert [e["code"] for e in refused["enrollmentResume"]["errors"]] == ["INVALID_STATE"]
    finished = await server.call(server.platform.db.fetch(
        "SELECT finished_at, check_at FROM drumbeat_enrollment WHERE campaign = {}",
        db_id(campaign)))
    assert all(r["finished_at"] is not None and r["check_at"] is None for r in finished)


async def test_an_entry_whose_batch_was_lost_is_entered_by_its_next_look(server, admin_api):
    """A scheduler that moved an enrollment into a state with actions and died before its
    batch committed: the next look finds the entry without ledger rows and enters it."""
    tag = unique("lost")
    email = f"{tag}@example.org".lower()
    campaign = await create_campaign(admin_api, f"Lost {tag}")
    definition = {"states": [
        {"key": "wait", "name": "Wait", "start": True, "actions": [],
         "transitions": [_delay("mark", "P1D")]},
        _tagging("mark", "marked", [{"onComplete": {"to": "done"}}]),
        _plain("done", []),
    ], "goals": []}
    assert (await admin_api.data(SET, {"c": campaign, "input": definition})
            )["campaignWorkflowSet"]["errors"] == []
    await add_recipients(admin_api, campaign, await create_contacts(admin_api, [{"email": email}]))
    await make_ready(admin_api, campaign)
    await launch_campaign(admin_api, campaign)
    await server.call(scheduler.run_until_idle(server.platform))
    db = server.platform.db
    row = await server.call(db.fetchrow(
        f"SELECT {rows_.COLUMNS} FROM drumbeat_enrollment e WHERE e.campaign = {{}}",
        db_id(campaign)))
    assert row["status"] == "WAITING"

    async def move_only():  # what the dead scheduler committed: the move, not the batch
        async with db.transaction():
            return await rows_.move(db, row, "mark", "AFTER_DELAY", clock.now())

    assert (await server.call(move_only()))["entry_no"] == 1
    assert await server.call(db.fetchval(
        "SELECT count(*) FROM drumbeat_delivery WHERE campaign = {}", db_id(campaign))) == 0

    async def done():
        return await server.call(db.fetchval(
            "SELECT status FROM drumbeat_enrollment WHERE campaign = {}",
            db_id(campaign))) == "COMPLETED"

    await _until(server, done, "the next look entered the lost entry and went on")
    assert await _tags(server, email) == {"marked"}
    rows = await server.call(db.fetch(
        "SELECT entry_no, state FROM drumbeat_delivery WHERE campaign = {}", db_id(campaign)))
    assert [(r["entry_no"], r["state"]) for r in rows] == [(1, "done")]


async def test_a_broken_enrollment_does_not_stop_the_others_of_its_batch(make_server):
    """Looks share a transaction; when one fails, the batch is rolled back and redone one
    enrollment at a time: the healthy campaign's recipients move on. (The server's own
    reconciler is kept out of the way: the tick below must be the one that looks.)"""
    server = make_server(reconcile_interval_seconds=3600)
    admin_api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("broken")
    definition = {"states": [_plain("wait", [_delay("done", "P1D")]), _plain("done", [])],
                  "goals": []}
    definition["states"][0]["start"] = True
    campaigns = []
    for name in ("healthy", "broken"):
        campaign = await create_campaign(admin_api, f"{name} {tag}")
        assert (await admin_api.data(SET, {"c": campaign, "input": definition})
                )["campaignWorkflowSet"]["errors"] == []
        await add_recipients(admin_api, campaign, await create_contacts(admin_api, [
            {"email": f"{tag}-{name}-{i}@example.org"} for i in range(3)]))
        await make_ready(admin_api, campaign)
        await launch_campaign(admin_api, campaign)
        campaigns.append(db_id(campaign))
    db = server.platform.db
    await server.call(scheduler.run_until_idle(server.platform))
    # The broken campaign's definition loses its delay: looking at its enrollments raises.
    await server.call(db.execute(
        "UPDATE drumbeat_workflow_version SET definition = {} WHERE campaign = {}",
        '{"states": [{"key": "wait", "start": true, "actions": [],'
        ' "transitions": [{"afterDelay": {"to": "done"}}]}], "goals": []}', campaigns[1]))
    clock.advance(2 * DAY)
    moved = await server.call(scheduler.tick(server.platform))
    assert moved == 3
    states = {r["campaign"]: r["states"] for r in await server.call(db.fetch(
        "SELECT campaign, min(state_key) || '/' || max(status) AS states"
        " FROM drumbeat_enrollment WHERE campaign IN ({}, {}) GROUP BY campaign",
        *campaigns))}
    assert states == {campaigns[0]: "done/COMPLETED", campaigns[1]: "wait/WAITING"}


PROGRESS = """subscription($c: ID!) { campaignEnrollmentProgress(campaignId: $c) {
  state counts { version stateKey status count } } }"""


async def test_enrollment_progress_streams_where_the_recipients_are(server, admin_api,
                                                                    monkeypatch):
    """Every update comes from a notice (the safety poll is turned off): launch, a pause by
    hand, the scheduler's moves, the cancellation — which ends the stream."""
    monkeypatch.setattr(enrollment_progress, "SAFETY_POLL_SECONDS", 600.0)
    tag = unique("progress")
    campaign = await create_campaign(admin_api, f"Progress {tag}")
    definition = {"states": [_plain("wait", [_delay("done", "P1D")]), _plain("done", [])],
                  "goals": []}
    definition["states"][0]["start"] = True
    assert (await admin_api.data(SET, {"c": campaign, "input": definition})
            )["campaignWorkflowSet"]["errors"] == []
    await add_recipients(admin_api, campaign, await create_contacts(admin_api, [
        {"email": f"{tag}-{i}@example.org"} for i in range(3)]))
    await make_ready(admin_api, campaign)
    updates: list[dict] = []

    async def watch():
        async for payload in subscribe(server.ws_url, admin_api.token, PROGRESS,
                                       {"c": campaign}):
            assert "errors" not in payload, payload
            updates.append(payload["data"]["campaignEnrollmentProgress"])

    def seen() -> tuple:
        last = updates[-1]
        return last["state"], sorted((c["stateKey"], c["status"], c["count"])
                                     for c in last["counts"])

    async def until(expected: tuple, what: str) -> None:
        deadline = time.monotonic() + 30
        while not updates or seen() != expected:
            assert time.monotonic() < deadline, (what, updates[-3:])
            assert not watcher.done(), watcher
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    await until(("READY", []), "the snapshot before the launch")
    await launch_campaign(admin_api, campaign)
    await until(("RUNNING", [("wait", "WAITING", 3)]), "launched")
    first = (await admin_api.data(ENROLLMENTS, {"c": campaign, "status": None})
             )["campaignEnrollments"]["edges"][0]["node"]["id"]
    assert (await admin_api.data(PAUSE, {"id": first}))["enrollmentPause"]["errors"] == []
    await until(("RUNNING", [("wait", "PAUSED", 1), ("wait", "WAITING", 2)]), "paused")
    clock.advance(2 * DAY)
    await server.call(scheduler.run_until_idle(server.platform))
    await until(("RUNNING", [("done", "COMPLETED", 2), ("wait", "PAUSED", 1)]), "moved")
    cancelled = (await admin_api.data(CANCEL, {"id": campaign}))["campaignCancel"]
    assert cancelled["errors"] == []
    await asyncio.wait_for(watcher, timeout=30)
    assert seen() == ("CANCELLED", [("done", "COMPLETED", 2), ("wait", "CANCELLED", 1)])
