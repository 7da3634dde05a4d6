"""Triggers on a live server: a signed signup creates the contact, enrols it in a running
workflow campaign and sends its welcome email; forged signatures change nothing; the
re-entry rules ONCE / AFTER_EXIT / ALWAYS; a campaign that is not running refuses; and the
``campaignEnroll`` mutation (leads, permissions, validation)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from strawberry import relay

from drumbeat import trigger_routes
from drumbeat.platform.tracking import inbound
from drumbeat.platform.tracking.tokens import parse_keys
from drumbeat.platform.workflows import clock, scheduler
from drumbeat.platform.workflows.enrollments import journey
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    EMAIL_CONFIG, add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
)
from tests.test_workflow_definition import SET

KEY = "k3:" + "t" * 32
KEYRING = parse_keys((KEY,), "")

ENROLL = """mutation($input: CampaignEnrollInput!) { campaignEnroll(input: $input) {
  enrolled reason created enrollment { id status stateKey journey { stateKey via } }
  contact { id email } lead { id email } errors { field message code } } }"""
REENTRY = """mutation($c: ID!, $rule: ReentryRule!) { campaignReentrySet(campaignId: $c,
  rule: $rule) { campaign { id } errors { field message code } } }"""
MOVE = """mutation($id: ID!, $key: String!) { enrollmentMove(id: $id, stateKey: $key) {
  enrollment { id } errors { message } } }"""


@pytest.fixture(autouse=True)
def _real_time():
    clock.reset()
    yield
    clock.reset()


def _workflow() -> dict:
    """welcome (an email) → wait (30 days) → done."""
    return {"states": [
        {"key": "welcome", "name": "Welcome", "start": True,
         "actions": [{"type": "email", "config": EMAIL_CONFIG}],
         "transitions": [{"onComplete": {"to": "wait"}}]},
        {"key": "wait", "name": "Wait", "start": False, "actions": [],
         "transitions": [{"afterDelay": {"to": "done", "delay": {"iso": "P30D"}}}]},
        {"key": "done", "name": "Done", "start": False, "actions": [], "transitions": []},
    ], "goals": []}


async def _running(api: GraphQLClient, tag: str, launch: bool = True) -> str:
    """A workflow campaign with one launched recipient (who keeps it RUNNING: 30 days)."""
    campaign = await create_campaign(api, f"Triggers {tag}")
    result = (await api.data(SET, {"c": campaign, "input": _workflow()}))["campaignWorkflowSet"]
    assert result["errors"] == []
    await add_recipients(api, campaign, await create_contacts(
        api, [{"email": f"{tag}-seed@example.org", "firstName": "Seed"}]))
    if launch:
        await launch_campaign(api, campaign)
    return campaign


async def _post(server, campaign: str, body: dict, keyring=KEYRING, header: str | None = None
                ) -> httpx.Response:
    """POST a trigger (with a new event id unless ``body`` has one), signed unless
    ``header`` is given."""
    raw = json.dumps({"id": unique("trigger"), **body}).encode()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        return await http.post(f"/triggers/{campaign}", content=raw, headers={
            "Content-Type": "application/json",
            "Drumbeat-Signature": header if header is not None
            else trigger_routes.sign(keyring, campaign, raw)})


async def _enrollment(server, campaign: str, email: str) -> dict | None:
    return await server.call(server.platform.db.fetchrow(
        "SELECT e.id, e.state_key, e.status, e.step_no FROM drumbeat_enrollment e"
        " JOIN drumbeat_contact c ON c.id = e.contact WHERE e.campaign = {} AND c.email = {}",
        db_id(campaign), email))


async def _tick_until(server, campaign: str, email: str, done, what: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        await server.call(scheduler.tick(server.platform))
        row = await _enrollment(server, campaign, email)
        if row is not None and done(row):
            return row
        assert time.monotonic() < deadline, f"{what}: {row}"
        await asyncio.sleep(0.05)


async def _path(server, enrollment_id: int) -> list[tuple[str, str]]:
    return [(s["state_key"], s["via"]) for s in
            await server.call(journey(server.platform.db, enrollment_id))]


async def test_a_signed_signup_is_created_enrolled_and_emailed(make_server, smtp_sink):
    server = make_server(secret_keys=(KEY,))
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("signup")
    campaign = await _running(api, tag)
    cid = db_id(campaign)
    await asyncio.to_thread(smtp_sink.wait_for, cid, 1, 60)  # the seed's welcome
    email = f"{tag}-new@example.org"

    # A forged signature, a webhook key's signature, no signature: 401 and nothing created.
    body = {"id": f"{tag}-forged", "event": "NEWSLETTER_SIGNUP",
            "contact": {"email": email, "firstName": "Nina"}}
    raw = json.dumps(body).encode()
    good = trigger_routes.sign(KEYRING, campaign, raw)
    for header in (good[:-2] + ("00" if not good.endswith("00") else "11"),
                   inbound.sign(KEYRING, raw, path=f"/triggers/{campaign}"), ""):
        response = await _post(server, campaign, body, header=header)
        assert response.status_code == 401, response.text
    assert await server.call(server.platform.db.fetchval(
        "SELECT count(*) FROM drumbeat_contact WHERE email = {}", email)) == 0

    response = await _post(server, campaign, {**body, "id": f"{tag}-first",
                                              "contact": {**body["contact"],
                                                          "email": email.upper()}})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["enrolled"] is True and answer["created"] is True and answer["reason"] is None
    contact = await server.call(server.platform.db.fetchrow(
        "SELECT id, first_name FROM drumbeat_contact WHERE email = {}", email))
    assert contact["first_name"] == "Nina" and db_id(answer["contactId"]) == contact["id"]

    sent = await asyncio.to_thread(smtp_sink.wait_for, cid, 2, 60)
    assert sorted(m.rcpt_to[0] for m in sent) == sorted([f"{tag}-seed@example.org", email])
    row = await _tick_until(server, campaign, email, lambda r: r["state_key"] == "wait",
                            "the signup waits after its welcome")
    assert row["id"] == db_id(answer["enrollmentId"])
    assert await _path(server, row["id"]) == [("welcome", "TRIGGER NEWSLETTER_SIGNUP"),
                                              ("wait", "ON_COMPLETE")]

    # ONCE (the default): the same person again (another case) is not enrolled twice.
    again = await _post(server, campaign, {"event": "FORM_SUBMITTED",
                                           "contact": {"email": email.title()}})
    assert again.json()["enrolled"] is False and again.json()["reason"] == "ALREADY_ENROLLED"
    assert again.json()["created"] is False and again.json()["contactId"] == answer["contactId"]
    assert len(await _path(server, row["id"])) == 2

    # Bad input names the field; nothing is created.
    bad = await _post(server, campaign, {"event": "DOWNLOAD",
                                         "contact": {"email": "not-an-address"}})
    assert bad.status_code == 400 and bad.json()["field"] == "contact.email", bad.text
    unknown = await _post(server, campaign, {"event": "PARTY", "contact": {"email": email}})
    assert unknown.status_code == 400 and unknown.text.startswith('{"error":"event')
    missing = await _post(server, "999999999", body)
    assert missing.status_code == 404


async def test_reentry_rules(make_server, smtp_sink):
    server = make_server(secret_keys=(KEY,))
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("reentry")
    campaign = await _running(api, tag)
    email = f"{tag}-p@example.org"
    body = {"event": "FORM_SUBMITTED", "contact": {"email": email}}

    assert (await api.data(REENTRY, {"c": campaign, "rule": "AFTER_EXIT"})
            )["campaignReentrySet"]["errors"] == []
    first = (await _post(server, campaign, body)).json()
    assert first["enrolled"] is True
    row = await _tick_until(server, campaign, email, lambda r: r["state_key"] == "wait",
                            "waiting")
    refused = (await _post(server, campaign, body)).json()
    assert (refused["enrolled"], refused["reason"]) == (False, "STILL_ENROLLED")

    # Finished (moved to "done" by hand, then completed): AFTER_EXIT lets it in again.
    moved = (await api.data(MOVE, {"id": first["enrollmentId"], "key": "done"}))
    assert moved["enrollmentMove"]["errors"] == []
    await _tick_until(server, campaign, email, lambda r: r["status"] == "COMPLETED", "completed")
    second = (await _post(server, campaign, body)).json()
    assert second["enrolled"] is True and second["enrollmentId"] == first["enrollmentId"]
    row = await _tick_until(server, campaign, email, lambda r: r["state_key"] == "wait"
                            and r["status"] == "WAITING", "waiting again")
    assert [via for _, via in await _path(server, row["id"])] == [
        "TRIGGER FORM_SUBMITTED", "ON_COMPLETE", "MANUAL", "TRIGGER FORM_SUBMITTED",
        "ON_COMPLETE"]

    # ALWAYS: enrolled again while still waiting — back to the start state.
    assert (await api.data(REENTRY, {"c": campaign, "rule": "ALWAYS"})
            )["campaignReentrySet"]["errors"] == []
    third = (await _post(server, campaign, {**body, "event": "DOWNLOAD"})).json()
    assert third["enrolled"] is True
    await _tick_until(server, campaign, email, lambda r: r["step_no"] > row["step_no"]
                      and r["state_key"] == "wait", "restarted")
    assert (await _path(server, row["id"]))[-2] == ("welcome", "TRIGGER DOWNLOAD")

    # ONCE again: refused.
    await api.data(REENTRY, {"c": campaign, "rule": "ONCE"})
    fourth = (await _post(server, campaign, body)).json()
    assert (fourth["enrolled"], fourth["reason"]) == (False, "ALREADY_ENROLLED")


async def test_the_mutation_leads_permissions_and_a_campaign_not_running(make_server):
    server = make_server(secret_keys=(KEY,))
    owner = GraphQLClient(server.url, (await member_token(server, "MARKETER"))[1])
    other = GraphQLClient(server.url, (await member_token(server, "MARKETER"))[1])
    tag = unique("enroll")
    campaign = await _running(owner, tag)
    lead_email = f"{tag}-lead@example.org"
    person = {"email": lead_email, "firstName": "Lea", "companyName": "Acme"}

    denied = (await other.data(ENROLL, {"input": {"campaignId": campaign, "event": "OTHER",
                                                  "contact": person, "asLead": True}}))
    assert [e["code"] for e in denied["campaignEnroll"]["errors"]] == ["FORBIDDEN"]
    refused = (await other.data(REENTRY, {"c": campaign, "rule": "ALWAYS"}))
    assert [e["code"] for e in refused["campaignReentrySet"]["errors"]] == ["FORBIDDEN"]

    done = (await owner.data(ENROLL, {"input": {"campaignId": campaign, "event": "DOWNLOAD",
                                                "contact": person, "asLead": True}}))
    result = done["campaignEnroll"]
    assert result["errors"] == [] and result["enrolled"] and result["created"]
    assert result["lead"]["email"] == lead_email and result["contact"] is None
    assert result["enrollment"]["journey"][0] == {"stateKey": "welcome",
                                                  "via": "TRIGGER DOWNLOAD"}
    assert await server.call(server.platform.db.fetchval(
        "SELECT count(*) FROM drumbeat_lead WHERE email = {}", lead_email)) == 1

    # An existing contact by id: the launch enrolled it already (ONCE).
    seed = await server.call(server.platform.db.fetchval(
        "SELECT id FROM drumbeat_contact WHERE email = {}", f"{tag}-seed@example.org"))
    by_id = (await owner.data(ENROLL, {"input": {
        "campaignId": campaign, "event": "OTHER",
        "contactId": str(relay.GlobalID("Contact", str(seed)))}}))["campaignEnroll"]
    assert (by_id["enrolled"], by_id["reason"], by_id["created"]) == (
        False, "ALREADY_ENROLLED", False)
    assert db_id(by_id["enrollment"]["id"]) == await server.call(server.platform.db.fetchval(
        "SELECT id FROM drumbeat_enrollment WHERE contact = {}", seed))

    invalid = (await owner.data(ENROLL, {"input": {
        "campaignId": campaign, "event": "OTHER",
        "contact": {"email": f"{tag}@example.org", "timezone": "Mars/Olympus"}}}))
    assert [e["field"] for e in invalid["campaignEnroll"]["errors"]] == [["contact", "timezone"]]
    assert await server.call(server.platform.db.fetchval(
        "SELECT count(*) FROM drumbeat_contact WHERE email = {}", f"{tag}@example.org")) == 0

    # A campaign that is not running (not launched) refuses: 409 / INVALID_STATE.
    idle = await _running(owner, f"{tag}-idle", launch=False)
    response = await _post(server, idle, {"event": "OTHER", "contact": {"email": lead_email}})
    assert response.status_code == 409 and response.json()["field"] == "campaignId"
    payload = (await owner.data(ENROLL, {"input": {"campaignId": idle, "event": "OTHER",
                                                   "contact": {"email": lead_email}}}))
    assert [e["code"] for e in payload["campaignEnroll"]["errors"]] == ["INVALID_STATE"]


CONVERT = """mutation($input: CampaignConversionRecordInput!) {
  campaignConversionRecord(input: $input) { event { type } errors { field code } } }"""


async def test_a_reentered_recipient_gets_the_actions_again_and_old_conversions_are_no_goal(
        make_server, smtp_sink):
    """Each entry into a state acts anew (the welcome email is sent once per enrolment, and
    a repeated look sends nothing more); a conversion before the re-entry does not meet
    the CONVERTED goal of the new round, a later one does."""
    server = make_server(secret_keys=(KEY,))
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("again")
    campaign = await create_campaign(api, f"Triggers {tag}")
    workflow = {**_workflow(), "goals": [{"event": "CONVERTED"}]}
    assert (await api.data(SET, {"c": campaign, "input": workflow})
            )["campaignWorkflowSet"]["errors"] == []
    await add_recipients(api, campaign, await create_contacts(
        api, [{"email": f"{tag}-seed@example.org"}]))
    await launch_campaign(api, campaign)
    cid = db_id(campaign)
    await asyncio.to_thread(smtp_sink.wait_for, cid, 1, 60)
    assert (await api.data(REENTRY, {"c": campaign, "rule": "AFTER_EXIT"})
            )["campaignReentrySet"]["errors"] == []
    email = f"{tag}-p@example.org".lower()
    body = {"event": "FORM_SUBMITTED", "contact": {"email": email}}

    def welcomes() -> int:
        return len({m.message_id for m in smtp_sink.messages(cid) if m.rcpt_to[0] == email})

    async def welcomed(count: int) -> None:
        deadline = time.monotonic() + 60
        while welcomes() < count:
            assert time.monotonic() < deadline, f"{welcomes()} welcomes, wanted {count}"
            await asyncio.sleep(0.05)

    first = (await _post(server, campaign, body)).json()
    assert first["enrolled"] is True
    await welcomed(1)
    await _tick_until(server, campaign, email, lambda r: r["state_key"] == "wait", "waiting")
    converted = (await api.data(CONVERT, {"input": {"campaignId": campaign,
                                                    "contactId": first["contactId"]}}))
    assert converted["campaignConversionRecord"]["errors"] == []
    await _tick_until(server, campaign, email, lambda r: r["status"] == "EXITED", "exited")

    second = (await _post(server, campaign, body)).json()
    assert second["enrolled"] is True and second["enrollmentId"] == first["enrollmentId"]
    row = await _tick_until(server, campaign, email, lambda r: r["state_key"] == "wait"
                            and r["status"] == "WAITING", "waiting again, not exited")
    await welcomed(2)
    for _ in range(3):  # more looks send nothing more
        await server.call(scheduler.tick(server.platform))
    entries = await server.call(server.platform.db.fetch(
        "SELECT d.entry_no, d.state FROM drumbeat_delivery d JOIN drumbeat_enrollment e"
        " ON e.recipient = d.recipient WHERE e.id = {} ORDER BY d.id", row["id"]))
    assert [(r["entry_no"], r["state"]) for r in entries] == [
        (0, "done"), (row["step_no"] - 1, "done")]
    assert (await _enrollment(server, campaign, email))["status"] == "WAITING"
    await asyncio.sleep(0.5)
    assert welcomes() == 2  # two distinct Message-IDs: a receiver drops no new round

    converted = (await api.data(CONVERT, {"input": {"campaignId": campaign,
                                                    "contactId": first["contactId"]}}))
    assert converted["campaignConversionRecord"]["errors"] == []
    await _tick_until(server, campaign, email, lambda r: r["status"] == "EXITED",
                      "a new conversion exits it")
