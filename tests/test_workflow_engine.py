"""The workflow engine on a live server, with the engine's clock moved by hand (no
sleeping for time): the seed workflow end to end with a real signed inbound reply, a
random split's proportions over 2,000 recipients, and manual move / pause / resume."""

from __future__ import annotations

import asyncio
import json
import math
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from drumbeat.platform.tracking import inbound
from drumbeat.platform.tracking.tokens import parse_keys
from drumbeat.platform.workflows import clock, scheduler
from drumbeat.platform.workflows.engine import EVENT_POLL_SECONDS as EVENT_POLL
from drumbeat.platform.workflows.enrollments import journey
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN, add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
    make_ready,
)
from tests.test_workflow_definition import SET, seed

KEY = "k2:" + "w" * 32
DAY = 86_400


@pytest.fixture(autouse=True)
def _real_time():
    clock.reset()
    yield
    clock.reset()


async def _set_workflow(api: GraphQLClient, campaign: str, definition: dict) -> None:
    result = (await api.data(SET, {"c": campaign, "input": definition}))["campaignWorkflowSet"]
    assert result["errors"] == []


async def _enrollments(server, campaign: str) -> dict[str, dict]:
    """The campaign's enrollments by the contact's email."""
    rows = await server.call(server.platform.db.fetch(
        "SELECT e.id, e.state_key, e.status, e.due_at, e.step_no, c.email"
        " FROM drumbeat_enrollment e JOIN drumbeat_contact c ON c.id = e.contact"
        " WHERE e.campaign = {} ORDER BY e.id", db_id(campaign)))
    return {r["email"]: r for r in rows}


async def _tick_until(server, campaign: str, done, what: str, timeout: float = 60) -> dict:
    """Tick the scheduler until ``done(enrollments)`` (the worker sends meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        await server.call(scheduler.tick(server.platform))
        current = await _enrollments(server, campaign)
        if done(current):
            return current
        assert time.monotonic() < deadline, f"{what}: {current}"
        await asyncio.sleep(0.05)


async def _path(server, enrollment_id: int) -> list[tuple[str, str]]:
    return [(s["state_key"], s["via"]) for s in
            await server.call(journey(server.platform.db, enrollment_id))]


async def _state(api, campaign: str) -> str:
    return (await api.data(CAMPAIGN, {"id": campaign}))["campaign"]["state"]


def _seed_with_status() -> dict:
    """The seed workflow; its reminder also updates the contact's status (a tag)."""
    definition = seed()
    reminder = next(s for s in definition["states"] if s["key"] == "reminder")
    reminder["actions"].append({"type": "contact_status", "config": {"add": ["no-reply"]}})
    return definition


async def test_the_seed_workflow_runs_with_a_reply_and_a_timeout(make_server, smtp_sink):
    server = make_server(secret_keys=(KEY,))
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("seed-run")
    replier, silent = f"{tag}-r@example.org", f"{tag}-s@example.org"
    campaign = await create_campaign(api, f"Seed {tag}")
    await _set_workflow(api, campaign, _seed_with_status())
    await add_recipients(api, campaign, await create_contacts(api, [
        {"email": replier, "firstName": "Rita", "timezone": "Europe/Berlin"},
        {"email": silent, "firstName": "Sam"}]))
    await make_ready(api, campaign)
    await launch_campaign(api, campaign)
    cid = db_id(campaign)

    # Preparation → Send email (at launch) → the email goes out → Follow-up (waiting).
    sent = await asyncio.to_thread(smtp_sink.wait_for, cid, 2, 60)
    assert sorted(m.rcpt_to[0] for m in sent) == sorted([replier, silent])
    waiting = await _tick_until(server, campaign, lambda e: all(
        r["state_key"] == "follow-up" and r["status"] == "WAITING" for r in e.values()),
        "both wait in follow-up")
    assert await _state(api, campaign) == "RUNNING"
    for row in waiting.values():  # the 3-day timeout counted from entering follow-up
        assert 3 * DAY - 120 < row["due_at"] - clock.now() <= 3 * DAY

    # A real, signed inbound reply for one of them.
    message_id = await server.call(server.platform.db.fetchval(
        "SELECT message_id FROM drumbeat_delivery WHERE campaign = {} AND address = {}",
        cid, replier))
    body = json.dumps({"id": f"{tag}-reply", "type": "REPLIED", "messageId": message_id,
                       "detail": "Call me"}).encode()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        response = await http.post("/webhooks/inbound", content=body, headers={
            "Drumbeat-Signature": inbound.sign(parse_keys((KEY,), ""), body),
            "Content-Type": "application/json"})
    assert response.json() == {"status": "recorded"}

    # Three days later: the reply moved one to the call; the other timed out → reminder.
    clock.advance(3 * DAY + 60)
    moved = await _tick_until(server, campaign, lambda e: e[replier]["state_key"] != "follow-up"
                              and e[silent]["state_key"] != "follow-up", "both moved on")
    assert moved[replier]["state_key"] in ("call", "results")
    assert moved[silent]["state_key"] == "reminder"
    reminders = await asyncio.to_thread(smtp_sink.wait_for, cid, 3, 60)
    assert sorted(m.rcpt_to[0] for m in reminders) == sorted([replier, silent, silent])

    # The call task is assigned for the replier only; its state then completes.
    finished = await _tick_until(server, campaign, lambda e: e[replier]["status"] == "COMPLETED"
                                 and e[silent]["status"] == "WAITING", "call done, reminder sent")
    tasks = await server.call(server.platform.db.fetch(
        "SELECT target_id, kind, title FROM drumbeat_task WHERE campaign = {}", cid))
    replier_contact = await server.call(server.platform.db.fetchval(
        "SELECT id FROM drumbeat_contact WHERE email = {}", replier))
    assert [(t["target_id"], t["kind"]) for t in tasks] == [(replier_contact, "CALL")]
    tags = await server.call(server.platform.db.fetch(
        "SELECT c.email, t.tag FROM drumbeat_contact_tag t JOIN drumbeat_contact c"
        " ON c.id = t.contact WHERE c.email IN ({}, {})", replier, silent))
    assert [(t["email"], t["tag"]) for t in tags] == [(silent, "no-reply")]
    # The reminder waits a day, then for the next Mon–Wed 9–17 window in Berlin.
    due = datetime.fromtimestamp(finished[silent]["due_at"], ZoneInfo("Europe/Berlin"))
    assert due.strftime("%a") in ("Mon", "Tue", "Wed") and 9 <= due.hour < 17
    assert finished[silent]["due_at"] >= clock.now() + DAY - 120
    assert await _state(api, campaign) == "RUNNING", "an enrollment is still waiting"

    clock.advance(8 * DAY)
    done = await _tick_until(server, campaign, lambda e: e[silent]["status"] == "COMPLETED",
                             "the reminder's delay passed")
    assert done[silent]["state_key"] == "results"
    assert await _path(server, done[replier]["id"]) == [
        ("preparation", "START"), ("send-email", "ON_COMPLETE"), ("follow-up", "ON_COMPLETE"),
        ("call", "ON_EVENT"), ("results", "ON_COMPLETE")]
    assert await _path(server, done[silent]["id"]) == [
        ("preparation", "START"), ("send-email", "ON_COMPLETE"), ("follow-up", "ON_COMPLETE"),
        ("reminder", "TIMEOUT"), ("results", "AFTER_DELAY")]
    deadline = time.monotonic() + 30
    while await _state(api, campaign) != "COMPLETED":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


def _split_workflow() -> dict:
    return {"states": [
        {"key": "split", "name": "Split", "start": True, "actions": [],
         "transitions": [{"randomSplit": {"paths": [{"to": "a", "weight": 1},
                                                    {"to": "b", "weight": 3}]}}]},
        {"key": "a", "name": "Path A", "start": False, "actions": [], "transitions": []},
        {"key": "b", "name": "Path B", "start": False, "actions": [], "transitions": []},
    ], "goals": []}


async def test_a_random_split_over_2000_recipients_keeps_its_proportions(server, admin_api):
    from drumbeat.platform.workflows.engine import split_path

    tag = unique("split")
    campaign = await create_campaign(admin_api, f"Split {tag}")
    await _set_workflow(admin_api, campaign, _split_workflow())
    await add_recipients(admin_api, campaign, await create_contacts(admin_api, [
        {"email": f"{tag}-{i}@example.org"} for i in range(2000)]))
    await make_ready(admin_api, campaign)
    await launch_campaign(admin_api, campaign)
    await server.call(scheduler.run_until_idle(server.platform))
    rows = await server.call(server.platform.db.fetch(
        "SELECT id, version, state_key, status FROM drumbeat_enrollment WHERE campaign = {}",
        db_id(campaign)))
    assert len(rows) == 2000 and {r["status"] for r in rows} == {"COMPLETED"}
    n, p = 2000, 0.25
    a = sum(r["state_key"] == "a" for r in rows)
    sigma = math.sqrt(n * p * (1 - p))  # ≈ 19.4
    assert abs(a - n * p) <= 4 * sigma, a
    assert sum(r["state_key"] == "b" for r in rows) == n - a
    paths = _split_workflow()["states"][0]["transitions"][0]["randomSplit"]["paths"]
    assert all(split_path(r["id"], r["version"], "split", paths) == r["state_key"]
               for r in rows), "the same enrollment always takes the same path"
    assert await _state(admin_api, campaign) == "COMPLETED"


ENROLLMENTS = """query($c: ID!, $status: EnrollmentStatus) {
  campaignEnrollments(campaignId: $c, status: $status, first: 10) {
    edges { node { id stateKey status version dueAt contact { email }
                   journey { stateKey via movedBy { id } leftAt } } }
    pageInfo { hasNextPage } } }"""
MOVE = """mutation($id: ID!, $to: String!) { enrollmentMove(id: $id, stateKey: $to) {
  enrollment { id stateKey status } errors { field message code } } }"""
PAUSE = """mutation($id: ID!) { enrollmentPause(id: $id) {
  enrollment { id status } errors { field message code } } }"""
RESUME = """mutation($id: ID!) { enrollmentResume(id: $id) {
  enrollment { id status } errors { field message code } } }"""
JOURNEY = """query($c: ID!, $contact: ID!) { recipientJourney(campaignId: $c, contactId: $contact) {
  stateKey via enteredAt leftAt } }"""


def _wait_workflow() -> dict:
    return {"states": [
        {"key": "wait", "name": "Wait", "start": True, "actions": [],
         "transitions": [{"afterDelay": {"to": "done", "delay": {"iso": "P1D"}}},
                         {"onEvent": {"to": "vip", "event": "CLICKED"}}]},
        {"key": "vip", "name": "VIP", "start": False, "actions": [], "transitions": []},
        {"key": "done", "name": "Done", "start": False, "actions": [], "transitions": []},
    ], "goals": []}


async def test_one_enrollment_is_moved_paused_and_resumed_by_hand(server, admin_api):
    tag = unique("manual")
    emails = [f"{tag}-{n}@example.org" for n in ("a", "b", "c")]
    contacts = await create_contacts(admin_api, [{"email": e} for e in emails])
    campaign = await create_campaign(admin_api, f"Manual {tag}")
    await _set_workflow(admin_api, campaign, _wait_workflow())
    await add_recipients(admin_api, campaign, contacts)
    await make_ready(admin_api, campaign)
    await launch_campaign(admin_api, campaign)
    await server.call(scheduler.run_until_idle(server.platform))

    async def listing(status=None) -> dict[str, dict]:
        data = await admin_api.data(ENROLLMENTS, {"c": campaign, "status": status})
        return {e["node"]["contact"]["email"]: e["node"]
                for e in data["campaignEnrollments"]["edges"]}

    before = await listing()
    assert {n["status"] for n in before.values()} == {"WAITING"}
    a, b, c = (before[e]["id"] for e in emails)

    # Only the owner or an admin; a bad state key; a wrong id type.
    _, token = await member_token(server, "MARKETER")
    refused = await admin_api.as_(token).data(PAUSE, {"id": a})
    assert [e["code"] for e in refused["enrollmentPause"]["errors"]] == ["FORBIDDEN"]
    bad = await admin_api.data(MOVE, {"id": b, "to": "nowhere"})
    assert [(e["field"], e["code"]) for e in bad["enrollmentMove"]["errors"]] == [
        (["stateKey"], "NOT_FOUND")]
    assert (await admin_api.data(PAUSE, {"id": campaign}))["enrollmentPause"]["errors"]

    paused = await admin_api.data(PAUSE, {"id": a})
    assert paused["enrollmentPause"] == {"enrollment": {"id": a, "status": "PAUSED"},
                                         "errors": []}
    again = await admin_api.data(PAUSE, {"id": a})
    assert [e["code"] for e in again["enrollmentPause"]["errors"]] == ["INVALID_STATE"]
    moved = await admin_api.data(MOVE, {"id": b, "to": "vip"})
    assert moved["enrollmentMove"]["enrollment"] == {"id": b, "stateKey": "vip",
                                                     "status": "ACTIVE"}

    clock.advance(2 * DAY)
    await server.call(scheduler.run_until_idle(server.platform))
    after = await listing()
    assert (after[emails[0]]["stateKey"], after[emails[0]]["status"]) == ("wait", "PAUSED")
    assert (after[emails[1]]["stateKey"], after[emails[1]]["status"]) == ("vip", "COMPLETED")
    assert (after[emails[2]]["stateKey"], after[emails[2]]["status"]) == ("done", "COMPLETED")
    me = (await admin_api.data("query { me { id } }"))["me"]["id"]
    assert [(s["stateKey"], s["via"], (s["movedBy"] or {}).get("id"))
            for s in after[emails[1]]["journey"]] == [("wait", "START", None),
                                                      ("vip", "MANUAL", me)]
    assert await _state(admin_api, campaign) == "RUNNING", "one enrollment is paused"
    assert list(await listing("PAUSED")) == [emails[0]]

    resumed = await admin_api.data(RESUME, {"id": a})
    assert resumed["enrollmentResume"]["enrollment"]["status"] == "WAITING"
    await server.call(scheduler.run_until_idle(server.platform))
    journey_a = (await admin_api.data(JOURNEY, {"c": campaign, "contact": contacts[0]}))
    assert [(s["stateKey"], s["via"]) for s in journey_a["recipientJourney"]] == [
        ("wait", "START"), ("done", "AFTER_DELAY")]
    assert journey_a["recipientJourney"][0]["leftAt"] is not None
    assert await _state(admin_api, campaign) == "COMPLETED"
    audit = await admin_api.data("""query($id: ID!) { campaign(id: $id) { auditLog(first: 10) {
        edges { node { action } } } } }""", {"id": campaign})
    actions = [e["node"]["action"] for e in audit["campaign"]["auditLog"]["edges"]]
    assert {"enrollment.move", "enrollment.pause", "enrollment.resume"} <= set(actions)


RECORD_CALL = """mutation($input: TaskCallOutcomeInput!) { taskRecordCallOutcome(input: $input) {
  task { id outcome } errors { field message code } } }"""


async def test_a_call_outcome_moves_the_recipient_along_its_branch(server, admin_api):
    from strawberry import relay

    from tests.test_workflow_definition import CALL

    definition = {"states": [
        {"key": "call", "name": "Call", "start": True, "actions": [CALL], "transitions": [
            {"onEvent": {"to": "won", "event": "CALL_OUTCOME", "outcome": "REACHED"}},
            {"onEvent": {"to": "retry", "event": "CALL_OUTCOME", "outcome": "NO_ANSWER"}}]},
        {"key": "won", "name": "Won", "start": False, "actions": [], "transitions": []},
        {"key": "retry", "name": "Retry", "start": False, "actions": [], "transitions": []},
    ], "goals": []}
    tag = unique("calls")
    emails = [f"{tag}-{n}@example.org" for n in ("reached", "silent")]
    campaign = await create_campaign(admin_api, f"Calls {tag}")
    await _set_workflow(admin_api, campaign, definition)
    await add_recipients(admin_api, campaign, await create_contacts(
        admin_api, [{"email": e, "firstName": "Pat", "phone": "+385 1 234"} for e in emails]))
    await make_ready(admin_api, campaign)
    await launch_campaign(admin_api, campaign)
    await _tick_until(server, campaign, lambda e: {r["status"] for r in e.values()} == {"WAITING"},
                      "the calls are assigned")
    tasks = await server.call(server.platform.db.fetch(
        "SELECT t.id, c.email FROM drumbeat_task t JOIN drumbeat_contact c ON c.id = t.target_id"
        " WHERE t.campaign = {}", db_id(campaign)))
    by_email = {t["email"]: relay.to_base64("Task", t["id"]) for t in tasks}
    for email, outcome in zip(emails, ("REACHED", "NO_ANSWER")):
        result = await admin_api.data(RECORD_CALL, {"input": {"id": by_email[email],
                                                              "outcome": outcome}})
        assert result["taskRecordCallOutcome"]["errors"] == []
    done = await _tick_until(server, campaign, lambda e: {r["status"] for r in e.values()}
                             == {"COMPLETED"}, "both calls had an outcome")
    assert (done[emails[0]]["state_key"], done[emails[1]]["state_key"]) == ("won", "retry")
    assert await _path(server, done[emails[0]]["id"]) == [("call", "START"), ("won", "ON_EVENT")]


async def test_a_condition_branches_on_the_contact_and_a_goal_exits_it(server, admin_api):
    city = lambda name: {"field": {"field": "CITY", "op": "EQ", "value": name}}  # noqa: E731
    definition = {"states": [
        {"key": "check", "name": "Check", "start": True, "actions": [], "transitions": [
            {"condition": {"if": city("Zagreb"), "then": "local", "else": "remote"}}]},
        {"key": "local", "name": "Local", "start": False, "actions": [], "transitions": []},
        {"key": "remote", "name": "Remote", "start": False, "actions": [],
         "transitions": [{"afterDelay": {"to": "end", "delay": {"iso": "P2D"}}}]},
        {"key": "end", "name": "End", "start": False, "actions": [], "transitions": []},
    ], "goals": [{"if": city("Split")}]}
    tag = unique("branch")
    people = [(f"{tag}-zg@example.org", "Zagreb"), (f"{tag}-ri@example.org", "Rijeka"),
              (f"{tag}-st@example.org", "Osijek")]
    contacts = await create_contacts(admin_api, [{"email": e, "city": c} for e, c in people])
    campaign = await create_campaign(admin_api, f"Branch {tag}")
    await _set_workflow(admin_api, campaign, definition)
    await add_recipients(admin_api, campaign, contacts)
    await make_ready(admin_api, campaign)
    await launch_campaign(admin_api, campaign)
    await server.call(scheduler.run_until_idle(server.platform))
    rows = await _enrollments(server, campaign)
    assert [(rows[e]["state_key"], rows[e]["status"]) for e, _ in people] == [
        ("local", "COMPLETED"), ("remote", "WAITING"), ("remote", "WAITING")]
    # One of the waiting ones moves to Split: the goal takes it out before its delay ends.
    moved = await admin_api.data("""mutation($id: ID!) { contactUpdate(id: $id,
        input: {city: "Split"}) { errors { code } } }""", {"id": contacts[2]})
    assert moved["contactUpdate"]["errors"] == []
    clock.advance(EVENT_POLL + 1)
    await server.call(scheduler.run_until_idle(server.platform))
    rows = await _enrollments(server, campaign)
    assert (rows[people[2][0]]["state_key"], rows[people[2][0]]["status"]) == ("remote", "EXITED")
    assert rows[people[1][0]]["status"] == "WAITING"
    clock.advance(2 * DAY)
    await server.call(scheduler.run_until_idle(server.platform))
    rows = await _enrollments(server, campaign)
    assert (rows[people[1][0]]["state_key"], rows[people[1][0]]["status"]) == ("end", "COMPLETED")
    assert await _path(server, rows[people[0][0]]["id"]) == [("check", "START"),
                                                             ("local", "CONDITION")]
    assert await _state(admin_api, campaign) == "COMPLETED"


def test_the_contact_status_action_checks_its_tags():
    from pydantic import ValidationError

    from drumbeat.plugins.contact_status.action import ContactStatusAction

    action = ContactStatusAction()
    config = action.parse_config({"add": [" no-reply ", "no-reply"], "remove": ["lead"]})
    assert (config.add, config.remove) == (["no-reply"], ["lead"])
    assert action.check_config(action.parse_config({}), None) == [
        (("add",), "Add or remove at least one tag.")]
    assert action.check_config(action.parse_config({"add": ["x"], "remove": ["x"]}), None)
    for bad in ({"add": ["a\nb"]}, {"add": ["x" * 51]}, {"add": [""]}, {"colour": "red"},
                {"add": [str(i) for i in range(11)]}):
        with pytest.raises(ValidationError):
            action.parse_config(bad)
