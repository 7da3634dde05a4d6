"""Ad-hoc manual send (``campaignSendNow``) through the API, a live worker and the aiosmtpd
sink: chosen recipients of a COMPLETED or PAUSED campaign get the email through the ledger
(skips with reasons) and tracking; refusals change nothing."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import httpx

from drumbeat.platform.suppression import suppress
from drumbeat.platform.tables.deliveries import SuppressionReason
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN, add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
)

SEND_NOW = """
mutation($input: CampaignSendNowInput!) {
  campaignSendNow(input: $input) {
    stepId queued skipped { reason count } errors { field message code }
  }
}"""
PAUSE = """
mutation($id: ID!) { campaignPause(id: $id) { campaign { state } errors { code } } }"""
CANCEL = """
mutation($id: ID!) { campaignCancel(id: $id) { campaign { state } errors { code } } }"""
HTML = ('<html><body><p>Hi {{ contact.first_name }}, <a href="https://shop.example/new">'
        "new things</a>.</p></body></html>")


async def _admin(server) -> GraphQLClient:
    return GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])


async def _campaign(api, addresses: list[str]) -> tuple[str, list[str]]:
    """An email campaign to one new contact per address (launched, not yet complete)."""
    people = [{"email": a, "firstName": f"P{i}", "lastName": "Adhoc"}
              for i, a in enumerate(addresses)]
    contacts = await create_contacts(api, people)
    campaign = await create_campaign(api, unique("Adhoc"))
    assert (await add_recipients(api, campaign, contacts))["added"] == len(addresses)
    await launch_campaign(api, campaign)
    return campaign, contacts


async def _state(api, campaign: str, wanted: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        data = (await api.data(CAMPAIGN, {"id": campaign}))["campaign"]
        if data["state"] == wanted:
            return data
        assert time.monotonic() < deadline, data
        await asyncio.sleep(0.05)


async def _step_rows(server, step_id: int, final: bool = True) -> list[dict]:
    """The ledger rows of a step (waiting until every one is final)."""
    deadline = time.monotonic() + 60
    while True:
        rows = [dict(r) for r in await server.call(server.platform.db.fetch(
            "SELECT id, address, state, skip_reason, last_error FROM drumbeat_delivery"
            " WHERE step = {} ORDER BY id", step_id))]
        if not final or all(r["state"] in ("done", "failed", "skipped") for r in rows):
            return rows
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.05)


def _of_step(sink, campaign: str, step_id: int) -> list:
    prefix = f"<c{db_id(campaign)}.s{step_id}."
    return [m for m in sink.messages(db_id(campaign)) if m.message_id.startswith(prefix)]


async def _send(api, campaign: str, contacts: list[str], **content) -> dict:
    data = await api.data(SEND_NOW, {"input": {"campaignId": campaign, "contactIds": contacts,
                                               **content}})
    return data["campaignSendNow"]


async def test_send_now_in_a_completed_campaign_is_delivered_and_tracked(server, smtp_sink):
    api = await _admin(server)
    tag = unique("adhoc")
    addresses = [f"{tag}-{i}@example.org" for i in range(5)]
    campaign, contacts = await _campaign(api, addresses)
    await _state(api, campaign, "COMPLETED")
    await server.call(suppress(server.platform.db, addresses[3], SuppressionReason.MANUAL))

    result = await _send(api, campaign, contacts[:4],
                         subject="Follow-up for {{ contact.first_name }}",
                         text="Hello again {{ contact.first_name }}", html=HTML)
    assert result["errors"] == []
    assert result["queued"] == 3
    assert result["skipped"] == [{"reason": "SUPPRESSED", "count": 1}]
    step = result["stepId"]

    rows = await _step_rows(server, step)
    assert [(r["address"], r["state"], r["skip_reason"]) for r in rows] == [
        (addresses[0], "done", None), (addresses[1], "done", None),
        (addresses[2], "done", None), (addresses[3], "skipped", "SUPPRESSED")]
    messages = smtp_sink.wait_for(db_id(campaign), 5 + 3)
    adhoc = _of_step(smtp_sink, campaign, step)
    assert sorted(m.rcpt_to[0] for m in adhoc) == addresses[:3]
    first = next(m for m in adhoc if m.rcpt_to[0] == addresses[0])
    assert first.message["Subject"] == "Follow-up for P0"
    assert "Hello again P0" in first.body_text()
    assert "/u/" in first.message["List-Unsubscribe"]
    assert len(messages) == 8  # the launch's five and these three, nothing twice

    # The campaign stays COMPLETED; the ad-hoc step is no start step and is audited.
    data = await _state(api, campaign, "COMPLETED")
    assert data["counters"]["done"] == 8 and data["counters"]["skipped"] == 1
    step_row = await server.call(server.platform.db.fetchrow(
        "SELECT a.adhoc, a.action_type, s.is_start, s.name FROM drumbeat_workflow_action a"
        " JOIN drumbeat_workflow_state s ON s.id = a.state WHERE a.id = {}", step))
    assert (bool(step_row["adhoc"]), step_row["action_type"], bool(step_row["is_start"]),
            step_row["name"]) == (True, "email", False, "Ad-hoc")
    assert await server.call(server.platform.db.fetchval(
        "SELECT count(*) FROM drumbeat_audit_entry WHERE campaign_id = {}"
        " AND action = 'campaign.send_now'", db_id(campaign))) == 1

    # Tracking works for the ad-hoc deliveries: they are ordinary ledger rows.
    html = first.message.get_body(("html",)).get_content()
    click = next(p.split('"')[0] for p in html.split('href="')[1:] if "/t/c/" in p)
    pixel = html.split('<img src="')[1].split('"')[0]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        redirect = await http.get(urlsplit(click).path)
        assert (redirect.status_code, redirect.headers["location"]) == \
            (302, "https://shop.example/new")
        assert (await http.get(urlsplit(pixel).path)).status_code == 200
    events = await server.call(server.platform.db.fetch(
        "SELECT type FROM drumbeat_delivery_event WHERE delivery = {} ORDER BY id", rows[0]["id"]))
    assert [e["type"] for e in events] == ["SENT", "CLICKED", "OPENED"]


async def test_send_now_runs_while_the_campaign_is_paused(make_server, smtp_sink):
    server = make_server(retry_backoff_seconds=3600)
    api = await _admin(server)
    tag = unique("paused")
    addresses = [f"{tag}-0+busy@example.org", f"{tag}-1@example.org", f"{tag}-2@example.org"]
    campaign, contacts = await _campaign(api, addresses)
    # The busy address is retried in an hour: the campaign keeps running until paused.
    rows = await server.call(server.platform.db.fetch(
        "SELECT state FROM drumbeat_delivery WHERE campaign = {} ORDER BY id", db_id(campaign)))
    deadline = time.monotonic() + 60
    while [r["state"] for r in rows] != ["pending", "done", "done"]:
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.05)
        rows = await server.call(server.platform.db.fetch(
            "SELECT state FROM drumbeat_delivery WHERE campaign = {} ORDER BY id",
            db_id(campaign)))
    paused = (await api.data(PAUSE, {"id": campaign}))["campaignPause"]
    assert paused == {"campaign": {"state": "PAUSED"}, "errors": []}

    result = await _send(api, campaign, contacts[1:], subject="Still here", text="Hi")
    assert (result["errors"], result["queued"]) == ([], 2)
    rows = await _step_rows(server, result["stepId"])
    assert [r["state"] for r in rows] == ["done", "done"]
    assert sorted(m.rcpt_to[0] for m in _of_step(smtp_sink, campaign, result["stepId"])) \
        == addresses[1:]
    data = (await api.data(CAMPAIGN, {"id": campaign}))["campaign"]
    assert data["state"] == "PAUSED" and data["counters"]["pending"] == 1


async def test_refusals_change_nothing(server, smtp_sink):
    api = await _admin(server)
    tag = unique("refused")
    addresses = [f"{tag}-{i}@example.org" for i in range(2)]
    campaign, contacts = await _campaign(api, addresses)
    await _state(api, campaign, "COMPLETED")
    outsider = (await create_contacts(api, [{"email": f"{tag}-x@example.org"}]))[0]
    _, token = await member_token(server, "MARKETER")
    marketer = api.as_(token)

    async def counts():
        db = server.platform.db
        return (await server.call(db.fetchval(
                    "SELECT count(*) FROM drumbeat_delivery WHERE campaign = {}", db_id(campaign))),
                await server.call(db.fetchval(
                    "SELECT count(*) FROM drumbeat_workflow_action WHERE campaign = {}",
                    db_id(campaign))),
                await server.call(db.fetchval(
                    "SELECT count(*) FROM drumbeat_audit_entry WHERE campaign_id = {}",
                    db_id(campaign))),
                len(smtp_sink.messages(db_id(campaign))))

    before = await counts()
    text = {"subject": "S", "text": "T"}
    cases = [
        (marketer, {"contactIds": contacts, **text}, [(None, "FORBIDDEN")]),
        (api.as_(None), {"contactIds": contacts, **text}, [(None, "UNAUTHENTICATED")]),
        (api, {**text}, [(["input"], "NO_RECIPIENTS")]),
        (api, {"contactIds": [contacts[0], outsider], **text},
         [(["input", "contactIds", "1"], "NOT_FOUND")]),
        (api, {"contactIds": [campaign], **text},
         [(["input", "contactIds", "0"], "INVALID")]),
        (api, {"contactIds": contacts, "subject": "Hi\r\nBcc: x@evil.example", "text": "T"},
         [(["input", "subject"], "TEMPLATE_ERROR")]),
        (api, {"contactIds": contacts, "subject": "S", "text": "Hi {{ contact.first_name"},
         [(["input", "text"], "TEMPLATE_ERROR")]),
        (api, {"contactIds": contacts, "text": "T"}, [(["input", "subject"], "REQUIRED")]),
    ]
    for client, given, expected in cases:
        result = await _send(client, campaign, given.pop("contactIds", []), **given)
        assert [(e["field"], e["code"]) for e in result["errors"]] == expected, (given, result)
        assert result["stepId"] is None and result["queued"] == 0
    syntax = await _send(api, campaign, contacts, subject="S", text="{% if %}")
    assert "line 1" in syntax["errors"][0]["message"]

    # Not launched yet, or cancelled: refused.
    draft = await create_campaign(api, unique("Draft"))
    assert (await add_recipients(api, draft, contacts))["added"] == 2
    for _ in range(2):
        refused = await _send(api, draft, contacts, **text)
        assert [(e["field"], e["code"]) for e in refused["errors"]] == \
            [(["input", "campaignId"], "INVALID_STATE")]
        cancelled = (await api.data(CANCEL, {"id": draft}))["campaignCancel"]
    assert cancelled["errors"] == [{"code": "INVALID_TRANSITION"}]  # the second time
    assert await counts() == before
