"""The campaign lifecycle over the API: every legal and illegal move, pause/resume across a
restart of every process, cancel, delete, and the scheduled start."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN, TRANSITION, add_recipients, create_campaign, create_contacts, db_id, make_ready,
)
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

STATES = ["PROPOSED", "IN_PREPARATION", "READY", "RUNNING", "PAUSED", "COMPLETED", "CANCELLED"]
LEGAL = {
    "PROPOSED": {"IN_PREPARATION", "CANCELLED"},
    "IN_PREPARATION": {"PROPOSED", "READY", "CANCELLED"},
    "READY": {"IN_PREPARATION", "RUNNING", "CANCELLED"},
    "RUNNING": {"PAUSED", "CANCELLED"},
    "PAUSED": {"RUNNING", "CANCELLED"},
    "COMPLETED": set(),
    "CANCELLED": set(),
}
DELETE = """mutation($id: ID!) { campaignDelete(id: $id) { deletedId errors { code } } }"""
PAUSE = """mutation($id: ID!) { campaignPause(id: $id) { campaign { state } errors { code } } }"""
RESUME = """mutation($id: ID!) { campaignResume(id: $id) { campaign { state } errors { code } } }"""
CANCEL = """mutation($id: ID!) { campaignCancel(id: $id) { campaign { state } errors { code } } }"""
UPDATE = """mutation($id: ID!, $input: CampaignUpdateInput!) {
  campaignUpdate(id: $id, input: $input) {
    campaign { id name state scheduledStart tags } errors { field message code } } }"""
AUDIT = """query($id: ID!) { campaign(id: $id) { auditLog(first: 50) { edges { node {
  action member { email } changes { field old new } } } } } }"""
SKIPS = """query($id: ID!) { campaign(id: $id) { state
  counters { total pending inProgress done failed skipped } } }"""


async def _force_state(server: LiveServer, campaign: str, state: str) -> None:
    """Put a campaign in ``state`` directly (test set-up for the moves out of it). A running
    or paused one gets a delivery that a worker holds for an hour, so it cannot complete."""
    db, cid = server.platform.db, db_id(campaign)
    if state in ("RUNNING", "PAUSED"):
        await server.call(db.execute(
            """INSERT INTO drumbeat_delivery (campaign, step, recipient, target_kind, target_id,
                   state, attempts, lease_until, claim_token, created_at)
               SELECT a.campaign, a.id, r.id, 'contact', r.contact, 'claimed', 1, {}, 'held', {}
               FROM drumbeat_workflow_action a
               JOIN drumbeat_campaign_recipient r ON r.campaign = a.campaign
               WHERE a.campaign = {}""",
            time.time() + 3600, datetime.now(timezone.utc), cid))
    await server.call(db.execute("UPDATE drumbeat_campaign SET state = {} WHERE id = {}",
                                 state, cid))


async def _state(api: GraphQLClient, campaign: str) -> str:
    return (await api.data(CAMPAIGN, {"id": campaign}))["campaign"]["state"]


async def _wait_state(api: GraphQLClient, campaign: str, *states: str, timeout: float = 60) -> str:
    deadline = asyncio.get_running_loop().time() + timeout
    while (state := await _state(api, campaign)) not in states:
        assert asyncio.get_running_loop().time() < deadline, f"still {state}"
        await asyncio.sleep(0.05)
    return state


async def test_every_legal_and_illegal_move(server, admin_api):
    tag = unique("moves")
    contact = await create_contacts(admin_api, [{"email": f"{tag}@example.org"}])
    for source in STATES:
        for target in STATES:
            campaign = await create_campaign(admin_api, f"Moves {tag} {source} {target}")
            await add_recipients(admin_api, campaign, contact)
            await _force_state(server, campaign, source)
            result = (await admin_api.data(TRANSITION, {"id": campaign, "to": target})
                      )["campaignTransition"]
            if target in LEGAL[source]:
                assert result["errors"] == [], (source, target, result)
                # A launched one-recipient campaign may complete at once.
                expected = {target, "COMPLETED"} if source == "READY" else {target}
                assert result["campaign"]["state"] in expected, (source, target)
            else:
                assert result["campaign"] is None, (source, target)
                assert [e["code"] for e in result["errors"]] == ["INVALID_TRANSITION"], (
                    source, target, result)
                assert await _state(admin_api, campaign) == source, "an illegal move changed it"


async def test_launch_needs_ready_and_a_recipient(server, admin_api):
    campaign = await create_campaign(admin_api, f"Unready {unique('launch')}")
    launch = "mutation($id: ID!) { campaignLaunch(id: $id) { campaign { state } errors { code } } }"
    assert (await admin_api.data(launch, {"id": campaign}))["campaignLaunch"]["errors"] == [
        {"code": "INVALID_TRANSITION"}]
    await make_ready(admin_api, campaign)
    assert (await admin_api.data(launch, {"id": campaign}))["campaignLaunch"]["errors"] == [
        {"code": "NO_RECIPIENTS"}]
    assert await _state(admin_api, campaign) == "READY"


async def _running_campaign(api: GraphQLClient, size: int, tag: str) -> tuple[str, list[str]]:
    people = [{"email": f"{tag}-{i}@example.org", "firstName": f"P{i}"} for i in range(size)]
    campaign = await create_campaign(api, f"Paced {tag}")
    await add_recipients(api, campaign, await create_contacts(api, people))
    await make_ready(api, campaign)
    launched = (await api.data(TRANSITION, {"id": campaign, "to": "RUNNING"}))["campaignTransition"]
    assert launched["errors"] == [], launched
    return campaign, [p["email"] for p in people]


async def test_pause_then_restart_every_process_then_resume(backend, admin_api, server):
    """Paused mid-run, the server (API + workers) stops; a new one resumes the run: every
    recipient gets exactly one message and the counters add up."""
    server.stop()  # the fixture's server only provided the admin token; pace our own
    sink = SmtpSink(delay=0.02).start()
    settings = backend.settings(smtp_url=sink.url, chunk_size=10, worker_threads=2)
    first = LiveServer(settings, run_worker=True).start()
    try:
        api = GraphQLClient(first.url, admin_api.token)
        tag = unique("pause")
        campaign, emails = await _running_campaign(api, 120, tag)
        cid = db_id(campaign)
        while len(sink.messages(cid)) < 20:
            await asyncio.sleep(0.01)
        paused = (await api.data(PAUSE, {"id": campaign}))["campaignPause"]
        assert paused == {"campaign": {"state": "PAUSED"}, "errors": []}
        # Chunks already executing finish; then nothing more goes out while paused.
        async def settled() -> int:
            while True:
                counters = (await api.data(SKIPS, {"id": campaign}))["campaign"]["counters"]
                if counters["inProgress"] == 0:
                    return len(sink.messages(cid))
                await asyncio.sleep(0.05)
        at_pause = await settled()
        assert at_pause < 120, "the run finished before the pause took effect"
    finally:
        first.stop()
    second = LiveServer(settings, run_worker=True).start()
    try:
        api = GraphQLClient(second.url, admin_api.token)
        await asyncio.sleep(1.2)  # two reconciler ticks: a paused campaign stays paused
        assert len(sink.messages(cid)) == at_pause
        assert await _state(api, campaign) == "PAUSED"
        resumed = (await api.data(RESUME, {"id": campaign}))["campaignResume"]
        assert resumed["errors"] == [] and resumed["campaign"]["state"] in ("RUNNING", "COMPLETED")
        await _wait_state(api, campaign, "COMPLETED")
        counters = (await api.data(SKIPS, {"id": campaign}))["campaign"]["counters"]
        assert counters == {"total": 120, "pending": 0, "inProgress": 0, "done": 120,
                            "failed": 0, "skipped": 0}
        received = Counter(m.rcpt_to[0] for m in sink.messages(cid))
        assert sorted(received) == sorted(emails) and set(received.values()) == {1}
    finally:
        second.stop()
        sink.stop()


async def test_cancel_skips_what_has_not_started(backend, admin_api, server):
    server.stop()
    sink = SmtpSink(delay=0.02).start()
    live = LiveServer(backend.settings(smtp_url=sink.url, chunk_size=10, worker_threads=1),
                      run_worker=True).start()
    try:
        api = GraphQLClient(live.url, admin_api.token)
        campaign, _ = await _running_campaign(api, 80, unique("cancel"))
        while len(sink.messages(db_id(campaign))) < 5:
            await asyncio.sleep(0.01)
        cancelled = (await api.data(CANCEL, {"id": campaign}))["campaignCancel"]
        assert cancelled == {"campaign": {"state": "CANCELLED"}, "errors": []}
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            counters = (await api.data(SKIPS, {"id": campaign}))["campaign"]["counters"]
            if counters["pending"] == 0 or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
        assert counters["pending"] == 0 and counters["total"] == 80
        assert counters["done"] + counters["skipped"] == 80 and counters["skipped"] > 0
        assert counters["done"] == len(sink.messages(db_id(campaign)))
        reasons = await live.call(live.platform.db.fetch(
            "SELECT DISTINCT skip_reason FROM drumbeat_delivery WHERE campaign = {}"
            " AND state = 'skipped'", db_id(campaign)))
        assert [r["skip_reason"] for r in reasons] == ["CANCELLED"]
        assert await _state(api, campaign) == "CANCELLED"
    finally:
        live.stop()
        sink.stop()


async def test_delete_only_before_it_ran(server, admin_api):
    tag = unique("delete")
    draft = await create_campaign(admin_api, f"Draft {tag}")
    assert (await admin_api.data(DELETE, {"id": draft}))["campaignDelete"] == {
        "deletedId": draft, "errors": []}
    assert (await admin_api.data(CAMPAIGN, {"id": draft}))["campaign"] is None
    rows = await server.call(server.platform.db.fetch(
        "SELECT action FROM drumbeat_audit_entry WHERE campaign_id = {} ORDER BY id", db_id(draft)))
    assert [r["action"] for r in rows] == ["campaign.create", "campaign.delete"]

    ran, _ = await _running_campaign(admin_api, 1, tag)
    await _wait_state(admin_api, ran, "COMPLETED")
    assert (await admin_api.data(DELETE, {"id": ran}))["campaignDelete"] == {
        "deletedId": None, "errors": [{"code": "INVALID_STATE"}]}
    assert await _state(admin_api, ran) == "COMPLETED"


async def test_a_scheduled_ready_campaign_launches_by_itself(server, admin_api, smtp_sink):
    tag = unique("scheduled")
    contacts = await create_contacts(admin_api, [{"email": f"{tag}@example.org"}])
    campaign = await create_campaign(admin_api, f"Scheduled {tag}")
    await add_recipients(admin_api, campaign, contacts)
    start = datetime.now(timezone.utc) + timedelta(seconds=1.5)
    updated = (await admin_api.data(UPDATE, {"id": campaign, "input": {
        "scheduledStart": start.isoformat()}}))["campaignUpdate"]
    assert updated["errors"] == []
    await make_ready(admin_api, campaign)
    assert await _wait_state(admin_api, campaign, "COMPLETED", timeout=30) == "COMPLETED"
    assert len(smtp_sink.messages(db_id(campaign))) == 1
    audit = (await admin_api.data(AUDIT, {"id": campaign}))["campaign"]["auditLog"]["edges"]
    launch = next(e["node"] for e in audit if e["node"]["action"] == "campaign.launch")
    assert launch["member"] is None, "the platform launched it, not a person"


@pytest.mark.parametrize("when, message", [
    ("2000-01-01T00:00:00+00:00", "The scheduled start is in the past."),
    ("2999-01-01T00:00:00", "Give the time with its UTC offset"),
])
async def test_a_bad_scheduled_start_is_refused(server, admin_api, when, message):
    campaign = await create_campaign(admin_api, f"Bad schedule {unique('sched')}")
    errors = (await admin_api.data(UPDATE, {"id": campaign, "input": {"scheduledStart": when}})
              )["campaignUpdate"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "scheduledStart"], "INVALID")]
    assert errors[0]["message"].startswith(message)
