"""``enrollmentsMigrate`` on a live server with the engine's clock moved by hand: recipients
in flight stay on their version until migrated; a migration keeps a recipient's place (and
its timers count from when it entered) in a state of the same key, under the new version's
rules, and enters a mapped state (its actions run — for a paused one, when resumed);
unmapped states, bad versions and other people's campaigns are refused with nothing
changed."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from drumbeat.platform.workflows import clock, scheduler
from tests.conftest import member_token, unique
from tests.support.queries import (
    add_recipients, create_campaign, create_contacts, db_id, launch_campaign, make_ready,
)
from tests.test_workflow_definition import SET
from tests.test_workflow_engine import ENROLLMENTS, MOVE, PAUSE, RESUME

DAY = 86_400

MIGRATE = """mutation($input: EnrollmentsMigrateInput!) { enrollmentsMigrate(input: $input) {
  migrated states { from to count } errors { field message code } } }"""

COUNTS = """query($c: ID!) { campaignEnrollmentCounts(campaignId: $c) {
  version stateKey stateName status count } }"""

CAMPAIGN_WORKFLOW = """query($id: ID!, $status: EnrollmentStatus) { campaign(id: $id) {
  workflow { version states { key } }
  enrollments(first: 2, status: $status) { edges { node { stateKey status } }
                                           pageInfo { hasNextPage } }
  enrollmentCounts { version stateKey status count } } }"""


@pytest.fixture(autouse=True)
def _real_time():
    clock.reset()
    yield
    clock.reset()


def _tagging(key: str, tag: str, transitions: list[dict], start: bool = False) -> dict:
    return {"key": key, "name": key.title(), "start": start,
            "actions": [{"type": "contact_status", "config": {"add": [tag]}}],
            "transitions": transitions}


def _plain(key: str, transitions: list[dict]) -> dict:
    return {"key": key, "name": key.title(), "start": False, "actions": [],
            "transitions": transitions}


def _delay(to: str, iso: str) -> dict:
    return {"afterDelay": {"to": to, "delay": {"iso": iso}}}


def _v1() -> dict:
    """start (tag v1-start) → wait (3 days → done; a reply → legacy) ; legacy (30 days)."""
    return {"states": [
        _tagging("start", "v1-start", [{"onComplete": {"to": "wait"}}], start=True),
        _plain("wait", [_delay("done", "P3D"), {"onEvent": {"to": "legacy",
                                                            "event": "REPLIED"}}]),
        _plain("legacy", [_delay("done", "P30D")]),
        _plain("done", []),
    ], "goals": []}


def _v2() -> dict:
    """start (tag v2-start) → wait (5 days → done; a reply → nurture); nurture (tag
    nurtured, 1 day → done). No ``legacy``."""
    return {"states": [
        _tagging("start", "v2-start", [{"onComplete": {"to": "wait"}}], start=True),
        _plain("wait", [_delay("done", "P5D"), {"onEvent": {"to": "nurture",
                                                            "event": "REPLIED"}}]),
        _tagging("nurture", "nurtured", [_delay("done", "P1D")]),
        _plain("done", []),
    ], "goals": []}


async def _tags(server, email: str) -> set[str]:
    rows = await server.call(server.platform.db.fetch(
        "SELECT t.tag FROM drumbeat_contact_tag t JOIN drumbeat_contact c ON c.id = t.contact"
        " WHERE c.email = {}", email))
    return {r["tag"] for r in rows}


async def _until(server, check, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        await server.call(scheduler.tick(server.platform))
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_in_flight_enrollments_migrate_only_when_asked(server, admin_api):
    tag = unique("migrate")
    emails = [f"{tag}-{n}@example.org".lower() for n in ("a", "b", "c", "d")]
    contacts = await create_contacts(admin_api, [{"email": e} for e in emails])
    campaign = await create_campaign(admin_api, f"Migrate {tag}")
    assert (await admin_api.data(SET, {"c": campaign, "input": _v1()})
            )["campaignWorkflowSet"]["errors"] == []
    await add_recipients(admin_api, campaign, contacts)
    await make_ready(admin_api, campaign)
    await launch_campaign(admin_api, campaign)

    async def listing() -> dict[str, dict]:
        data = await admin_api.data(ENROLLMENTS, {"c": campaign, "status": None})
        return {e["node"]["contact"]["email"]: e["node"]
                for e in data["campaignEnrollments"]["edges"]}

    async def all_waiting():
        now = await listing()
        return now if {n["status"] for n in now.values()} == {"WAITING"} else None

    before = await _until(server, all_waiting, "everyone waits after the start state")
    a, b, c, d = (before[e]["id"] for e in emails)
    assert [await _tags(server, e) for e in emails] == [{"v1-start"}] * 4
    moved = await admin_api.data(MOVE, {"id": c, "to": "legacy"})
    assert moved["enrollmentMove"]["errors"] == []
    for paused in (c, d):
        assert (await admin_api.data(PAUSE, {"id": paused}))["enrollmentPause"]["errors"] == []

    # A new version: the recipients in flight stay on version 1.
    assert (await admin_api.data(SET, {"c": campaign, "input": _v2()})
            )["campaignWorkflowSet"]["errors"] == []
    await server.call(scheduler.run_until_idle(server.platform))
    assert {n["version"] for n in (await listing()).values()} == {1}

    async def migrate(**fields) -> dict:
        data = {"campaignId": campaign, "fromVersion": 1, "toVersion": 2, **fields}
        return (await admin_api.data(MIGRATE, {"input": data}))["enrollmentsMigrate"]

    def codes(result: dict) -> list[tuple]:
        return [(tuple(e["field"]), e["code"]) for e in result["errors"]]

    # Refusals change nothing.
    unmapped = await migrate()
    assert codes(unmapped) == [(("states",), "UNMAPPED_STATE")]
    assert "legacy" in unmapped["errors"][0]["message"] and unmapped["migrated"] == 0
    assert codes(await migrate(toVersion=1)) == [(("toVersion",), "INVALID")]
    assert codes(await migrate(toVersion=9)) == [(("toVersion",), "NOT_FOUND")]
    assert codes(await migrate(states=[{"from": "legacy", "to": "nowhere"},
                                       {"from": "gone", "to": "done"}])) == [
        (("states", "0", "to"), "NOT_FOUND"), (("states", "1", "from"), "NOT_FOUND")]
    assert codes(await migrate(enrollmentIds=[campaign])) == [
        (("enrollmentIds", "0"), "INVALID")]
    _, token = await member_token(server, "MARKETER")
    other = await admin_api.as_(token).data(MIGRATE, {"input": {
        "campaignId": campaign, "fromVersion": 1, "toVersion": 2}})
    assert [e["code"] for e in other["enrollmentsMigrate"]["errors"]] == ["FORBIDDEN"]
    assert {n["version"] for n in (await listing()).values()} == {1}

    # A dry run tells what would move, and moves nothing.
    preview = await migrate(states=[{"from": "legacy", "to": "nurture"}], dryRun=True)
    assert preview["errors"] == [] and preview["migrated"] == 4
    assert sorted((s["from"], s["to"], s["count"]) for s in preview["states"]) == [
        ("legacy", "nurture", 1), ("wait", "wait", 3)]
    assert codes(await migrate(dryRun=True)) == [(("states",), "UNMAPPED_STATE")]
    counts = (await admin_api.data(COUNTS, {"c": campaign}))["campaignEnrollmentCounts"]
    # "legacy" is a state of version 1 only: its name comes from that version.
    assert counts == [
        {"version": 1, "stateKey": "legacy", "stateName": "Legacy", "status": "PAUSED",
         "count": 1},
        {"version": 1, "stateKey": "wait", "stateName": "Wait", "status": "PAUSED", "count": 1},
        {"version": 1, "stateKey": "wait", "stateName": "Wait", "status": "WAITING",
         "count": 2}]

    # Only a: it keeps its place in "wait" (no v2-start tag), under v2's 5-day delay.
    only_a = await migrate(enrollmentIds=[a])
    assert only_a == {"migrated": 1, "states": [{"from": "wait", "to": "wait", "count": 1}],
                      "errors": []}
    assert codes(await migrate(enrollmentIds=[a])) == [(("enrollmentIds", "0"),
                                                        "INVALID_STATE")]
    # The rest: b stays in "wait", c (paused) goes from "legacy" to "nurture", d (paused)
    # stays in "wait".
    rest = await migrate(states=[{"from": "legacy", "to": "nurture"}])
    assert rest["errors"] == [] and rest["migrated"] == 3
    assert sorted((s["from"], s["to"], s["count"]) for s in rest["states"]) == [
        ("legacy", "nurture", 1), ("wait", "wait", 2)]
    assert (await migrate())["migrated"] == 0  # nothing left on version 1

    await server.call(scheduler.run_until_idle(server.platform))
    now = await listing()
    assert {n["version"] for n in now.values()} == {2}
    counts = (await admin_api.data(COUNTS, {"c": campaign}))["campaignEnrollmentCounts"]
    assert [(c["version"], c["stateKey"], c["status"], c["count"]) for c in counts] == [
        (2, "nurture", "PAUSED", 1), (2, "wait", "PAUSED", 1), (2, "wait", "WAITING", 2)]
    # The same from the campaign itself.
    seen = (await admin_api.data(CAMPAIGN_WORKFLOW, {"id": campaign}))["campaign"]
    assert seen["workflow"]["version"] == 2
    assert [s["key"] for s in seen["workflow"]["states"]] == ["start", "wait", "nurture", "done"]
    assert seen["enrollmentCounts"] == [{k: v for k, v in c.items() if k != "stateName"}
                                        for c in counts]
    assert [e["node"]["status"] for e in seen["enrollments"]["edges"]] == ["WAITING"] * 2
    assert seen["enrollments"]["pageInfo"]["hasNextPage"] is True
    paused = (await admin_api.data(CAMPAIGN_WORKFLOW, {"id": campaign, "status": "PAUSED"})
              )["campaign"]["enrollments"]
    assert [e["node"]["stateKey"] for e in paused["edges"]] == ["nurture", "wait"]
    assert [(now[e]["stateKey"], now[e]["status"]) for e in emails] == [
        ("wait", "WAITING"), ("wait", "WAITING"), ("nurture", "PAUSED"), ("wait", "PAUSED")]
    assert [s["via"] for s in now[emails[0]]["journey"]] == ["START", "ON_COMPLETE",
                                                             "MIGRATE v1->v2"]
    await asyncio.sleep(0.3)
    assert await _tags(server, emails[2]) == {"v1-start"}, "paused: nurture has not run yet"

    # Three and a half days on: under v1 "wait" would be over; under v2 (5 days) it is not.
    clock.advance(3.5 * DAY)
    await server.call(scheduler.run_until_idle(server.platform))
    now = await listing()
    assert [now[e]["stateKey"] for e in emails[:2]] == ["wait", "wait"]

    # c resumed: it enters "nurture" now (its tag), then leaves after v2's 1 day.
    assert (await admin_api.data(RESUME, {"id": c}))["enrollmentResume"]["errors"] == []

    async def nurtured():
        return "nurtured" in await _tags(server, emails[2])

    await _until(server, nurtured, "the resumed enrollment runs nurture's action")
    # Five and a half days after entering "wait": a and b are done; d was paused there.
    clock.advance(2 * DAY)
    await server.call(scheduler.run_until_idle(server.platform))
    now = await listing()
    assert [(now[e]["stateKey"], now[e]["status"]) for e in emails] == [
        ("done", "COMPLETED"), ("done", "COMPLETED"), ("done", "COMPLETED"),
        ("wait", "PAUSED")]
    assert not any("v2-start" in tags for tags in [await _tags(server, e) for e in emails])
    assert (await admin_api.data(RESUME, {"id": d}))["enrollmentResume"]["errors"] == []
    await server.call(scheduler.run_until_idle(server.platform))
    assert (await listing())[emails[3]]["stateKey"] == "done"

    audit = await admin_api.data("""query($id: ID!) { campaign(id: $id) { auditLog(first: 20) {
        edges { node { action changes { field old new } } } } } }""", {"id": campaign})
    entries = [e["node"] for e in audit["campaign"]["auditLog"]["edges"]
               if e["node"]["action"] == "enrollments.migrate"]
    assert len(entries) == 2
    assert all({c["field"] for c in e["changes"]} == {"version", "enrollments", "states"}
               for e in entries)


async def test_a_migration_chosen_as_a_deadlock_victim_runs_again(server, admin_api):
    """PostgreSQL: another transaction holds one enrollment and then wants one the
    migration locked first — a deadlock; PostgreSQL aborts the migration (it waited
    longer), which runs again once the other is gone, and answers as if nothing happened."""
    if server.platform.db.dialect != "postgres":
        pytest.skip("row locks: PostgreSQL only (a SQLite transaction holds the database)")
    tag = unique("deadlock")
    contacts = await create_contacts(admin_api, [{"email": f"{tag}-{n}@example.org"}
                                                 for n in range(2)])
    campaign = await create_campaign(admin_api, f"Deadlock {tag}")
    assert (await admin_api.data(SET, {"c": campaign, "input": _v1()})
            )["campaignWorkflowSet"]["errors"] == []
    await add_recipients(admin_api, campaign, contacts)
    await make_ready(admin_api, campaign)
    await launch_campaign(admin_api, campaign)
    await server.call(scheduler.run_until_idle(server.platform))
    assert (await admin_api.data(SET, {"c": campaign, "input": _v2()})
            )["campaignWorkflowSet"]["errors"] == []
    db = server.platform.db
    first, second = [r["id"] for r in await server.call(db.fetch(
        "SELECT id FROM drumbeat_enrollment WHERE campaign = {} ORDER BY id",
        db_id(campaign)))]
    other = await asyncpg.connect(server.settings.database_url)
    watch = await asyncpg.connect(server.settings.database_url)
    try:
        deadlocks = await watch.fetchval(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        lock = "UPDATE drumbeat_enrollment SET check_at = check_at WHERE id = $1"
        transaction = other.transaction()
        await transaction.start()
        await other.execute(lock, second)
        migrating = asyncio.create_task(admin_api.data(MIGRATE, {"input": {
            "campaignId": campaign, "fromVersion": 1, "toVersion": 2}}))
        deadline = time.monotonic() + 20
        while not await watch.fetchval(  # (not `other`: in a transaction it sees a snapshot)
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE '%FOR UPDATE%'"):
            assert time.monotonic() < deadline, "the migration never waited for the lock"
            assert not migrating.done(), migrating
            await asyncio.sleep(0.02)
        # The migration holds `first` and waits for `second`: wanting `first` closes the
        # cycle. PostgreSQL aborts the migration, so this goes through.
        await asyncio.wait_for(other.execute(lock, first), 20)
        await transaction.rollback()
        result = (await asyncio.wait_for(migrating, 30))["enrollmentsMigrate"]
        assert result["errors"] == [] and result["migrated"] == 2
        while (await watch.fetchval(
                "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
               ) <= deadlocks:  # statistics arrive a moment later
            assert time.monotonic() < deadline + 20, "no deadlock was detected"
            await asyncio.sleep(0.1)
    finally:
        await other.close()
        await watch.close()
    versions = await server.call(db.fetch(
        "SELECT version FROM drumbeat_enrollment WHERE campaign = {}", db_id(campaign)))
    assert [r["version"] for r in versions] == [2, 2]
