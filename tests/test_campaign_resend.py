"""``campaignResend`` through the API, a live worker, the real tracking endpoints and the
aiosmtpd sink: a step sent again to exactly the unopened / failed targets (new ledger
entries, new Message-IDs), audience rules applied again, refusals that change nothing."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import httpx

from drumbeat.platform.suppression import suppress
from drumbeat.platform.tables.deliveries import SuppressionReason
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN, add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
)

RESEND = """
mutation($input: CampaignResendInput!) {
  campaignResend(input: $input) {
    campaign { id state } count queued skipped errors { field message code }
  }
}"""
STEPS = "query($id: ID!) { campaign(id: $id) { steps { id actionType } } }"
CONTACT_UPDATE = """
mutation($id: ID!, $input: ContactUpdateInput!) {
  contactUpdate(id: $id, input: $input) { errors { code } } }"""
PAUSE = "mutation($id: ID!) { campaignPause(id: $id) { campaign { state } errors { code } } }"
CANCEL = "mutation($id: ID!) { campaignCancel(id: $id) { campaign { state } errors { code } } }"
EMAIL = {"subject": "News for {{ contact.first_name }}", "text": "Hi {{ contact.first_name }}",
         "html": "<html><body><p>Hi {{ contact.first_name }}</p></body></html>"}
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}


async def _admin(server) -> GraphQLClient:
    return GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])


async def _campaign(api, addresses: list[str], config=EMAIL, action_type="email"
                    ) -> tuple[str, list[str], int]:
    """A launched campaign to one new contact per address: (id, contact ids, step id)."""
    people = [{"email": a, "firstName": f"P{i}", "lastName": "Resend"}
              for i, a in enumerate(addresses)]
    contacts = await create_contacts(api, people)
    campaign = await create_campaign(api, unique("Resend"), config, action_type)
    assert (await add_recipients(api, campaign, contacts))["added"] == len(addresses)
    await launch_campaign(api, campaign)
    [step] = (await api.data(STEPS, {"id": campaign}))["campaign"]["steps"]
    return campaign, contacts, step["id"]


async def _state(api, campaign: str, wanted: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        data = (await api.data(CAMPAIGN, {"id": campaign}))["campaign"]
        if data["state"] == wanted:
            return data
        assert time.monotonic() < deadline, data
        await asyncio.sleep(0.05)


async def _resend(api, campaign: str, step: int, filter: str, dry_run: bool = False) -> dict:
    data = await api.data(RESEND, {"input": {"campaignId": campaign, "stepId": step,
                                             "filter": filter, "dryRun": dry_run}})
    return data["campaignResend"]


def _summary(result: dict) -> tuple:
    return (result["errors"], result["count"], result["queued"], result["skipped"],
            (result["campaign"] or {}).get("state"))


def _codes(result: dict) -> list[tuple]:
    return [(e["field"], e["code"]) for e in result["errors"]]


async def _rows(server, campaign: str) -> list[tuple]:
    """The campaign's ledger rows: (address, entry_no, state, skip_reason), in id order."""
    rows = await server.call(server.platform.db.fetch(
        "SELECT address, entry_no, state, skip_reason FROM drumbeat_delivery"
        " WHERE campaign = {} ORDER BY id", db_id(campaign)))
    return [(r["address"], r["entry_no"], r["state"], r["skip_reason"]) for r in rows]


async def _open(server, message) -> None:
    """Open ``message`` as a person would, long after it was sent (not a suspected bot)."""
    html = message.message.get_body(("html",)).get_content()
    pixel = urlsplit(html.split('<img src="')[1].split('"')[0]).path
    await server.call(server.platform.db.execute(
        "UPDATE drumbeat_delivery SET finished_at = {} WHERE message_id = {}",
        datetime.now(timezone.utc) - timedelta(hours=1), message.message_id))
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=BROWSER) as http:
        assert (await http.get(pixel)).status_code == 200


async def _audit(server, campaign: str) -> list[tuple]:
    rows = await server.call(server.platform.db.fetch(
        "SELECT action, changes FROM drumbeat_audit_entry WHERE campaign_id = {}"
        " AND action IN ('campaign.resend', 'campaign.transition') ORDER BY id",
        db_id(campaign)))
    return [(r["action"], json.loads(r["changes"]) if isinstance(r["changes"], str)
             else r["changes"]) for r in rows]


async def test_resend_to_unopened_sends_one_new_message_to_each_unopened_recipient(
        server, smtp_sink):
    api = await _admin(server)
    tag = unique("unopened")
    addresses = [f"{tag}-{i}@example.org" for i in range(5)]
    campaign, _, step = await _campaign(api, addresses)
    await _state(api, campaign, "COMPLETED")
    first = {m.rcpt_to[0]: m for m in smtp_sink.wait_for(db_id(campaign), 5)}
    assert sorted(first) == addresses
    await _open(server, first[addresses[0]])
    await _open(server, first[addresses[3]])
    unopened = [addresses[1], addresses[2], addresses[4]]

    # Only the campaign's owner or an admin: a sales member and another marketer are refused.
    for role in ("SALES", "MARKETER"):
        other = api.as_((await member_token(server, role))[1])
        refused = await _resend(other, campaign, step, "UNOPENED")
        assert _summary(refused) == (refused["errors"], 0, 0, 0, None)
        assert _codes(refused) == [(None, "FORBIDDEN")]

    dry = await _resend(api, campaign, step, "UNOPENED", dry_run=True)
    assert _summary(dry) == ([], 3, 3, 0, "COMPLETED")
    assert len(await _rows(server, campaign)) == 5  # a dry run writes nothing

    smtp_sink.delay = 1.5  # keep the resend in flight while the second one is asked for
    try:
        result = await _resend(api, campaign, step, "UNOPENED")
        again = await _resend(api, campaign, step, "UNOPENED")
    finally:
        smtp_sink.delay = 0.0
    assert _summary(result) == ([], 3, 3, 0, "RUNNING")
    assert _codes(again) == [(["input", "stepId"], "INVALID_STATE")]
    assert "in flight" in again["errors"][0]["message"]

    await _state(api, campaign, "COMPLETED")
    messages = smtp_sink.wait_for(db_id(campaign), 8)
    new = [m for m in messages if m.message_id not in {f.message_id for f in first.values()}]
    assert len(messages) == 8 and len(new) == 3  # none to the openers, nothing twice
    assert sorted(m.rcpt_to[0] for m in new) == unopened
    assert all(m.message_id.startswith(f"<c{db_id(campaign)}.s{step}.contact")
               and ".e-1." in m.message_id for m in new)
    rows = await _rows(server, campaign)
    assert rows[:5] == [(a, 0, "done", None) for a in addresses]
    assert rows[5:] == [(a, -1, "done", None) for a in unopened]
    audit = await _audit(server, campaign)
    audit = audit[[a for a, _ in audit].index("campaign.resend"):]
    assert [a for a, _ in audit] == ["campaign.resend", "campaign.transition",
                                     "campaign.transition"]
    assert {c["field"]: c["new"] for c in audit[0][1]} == {
        "step": step, "filter": "UNOPENED", "selected": 3, "queued": 3, "skipped": {}}
    assert [(c["old"], c["new"]) for _, changes in audit[1:] for c in changes] == [
        ("COMPLETED", "RUNNING"), ("RUNNING", "COMPLETED")]

    # A resent message opened: that target is not unopened any more. The others get their
    # second resend (entry -2); one suppressed meanwhile is skipped with the reason.
    resent = {m.rcpt_to[0]: m for m in new}
    await _open(server, resent[addresses[1]])
    await server.call(suppress(server.platform.db, addresses[4], SuppressionReason.MANUAL))
    second = await _resend(api, campaign, step, "UNOPENED")
    assert _summary(second) == ([], 2, 1, 1, "RUNNING")
    await _state(api, campaign, "COMPLETED")
    messages = smtp_sink.wait_for(db_id(campaign), 9)
    latest = [m for m in messages if ".e-2." in m.message_id]
    assert len(messages) == 9 and [m.rcpt_to[0] for m in latest] == [addresses[2]]
    assert (await _rows(server, campaign))[8:] == [
        (addresses[2], -2, "done", None), (addresses[4], -2, "skipped", "SUPPRESSED")]
    assert _summary(await _resend(api, campaign, step, "UNOPENED", dry_run=True)) == \
        ([], 1, 1, 0, "COMPLETED")  # addresses[2]: the -2 message is not opened either


async def test_resend_failed_sends_only_the_failed_targets(server, smtp_sink):
    api = await _admin(server)
    tag = unique("failed")
    addresses = [f"{tag}-0@example.org", f"{tag}-1+policy@example.org",
                 f"{tag}-2+reject@example.org", f"{tag}-3@example.org"]
    campaign, contacts, step = await _campaign(api, addresses)
    await _state(api, campaign, "COMPLETED")
    assert [r[2] for r in await _rows(server, campaign)] == ["done", "failed", "failed", "done"]
    assert len(smtp_sink.wait_for(db_id(campaign), 2)) == 2

    # The 554 was the address's fault: corrected, it is sent again. The 550 bounced hard:
    # that address is suppressed and its contact bounced, so it is skipped with the reason.
    fixed = f"{tag}-1@example.org"
    assert (await api.data(CONTACT_UPDATE, {"id": contacts[1], "input": {"email": fixed}})
            )["contactUpdate"]["errors"] == []
    assert _summary(await _resend(api, campaign, step, "FAILED", dry_run=True)) == \
        ([], 2, 1, 1, "COMPLETED")
    result = await _resend(api, campaign, step, "FAILED")
    assert _summary(result) == ([], 2, 1, 1, "RUNNING")
    await _state(api, campaign, "COMPLETED")
    messages = smtp_sink.wait_for(db_id(campaign), 3)
    assert len(messages) == 3
    [new] = [m for m in messages if ".e-1." in m.message_id]
    assert new.rcpt_to == (fixed,)
    assert (await _rows(server, campaign))[4:] == [
        (fixed, -1, "done", None), (addresses[2], -1, "skipped", "BOUNCED")]
    [resend] = [changes for action, changes in await _audit(server, campaign)
                if action == "campaign.resend"]
    assert {c["field"]: c["new"] for c in resend} == {
        "step": step, "filter": "FAILED", "selected": 2, "queued": 1,
        "skipped": {"BOUNCED": 1}}
    # Nothing failed last time: nothing to resend, and the campaign stays COMPLETED.
    assert _summary(await _resend(api, campaign, step, "FAILED")) == ([], 0, 0, 0, "COMPLETED")
    assert len(await _rows(server, campaign)) == 6


async def test_refusals_change_nothing(make_server, smtp_sink):
    server = make_server(retry_backoff_seconds=3600)
    api = await _admin(server)
    tag = unique("refused")
    # A busy address is retried in an hour: its delivery stays in flight.
    busy, busy_contacts, busy_step = await _campaign(
        api, [f"{tag}-0+busy@example.org", f"{tag}-1@example.org"])
    deadline = time.monotonic() + 60
    while [r[2] for r in await _rows(server, busy)] != ["pending", "done"]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    tags, _, tags_step = await _campaign(api, [f"{tag}-2@example.org"],
                                         {"add": ["resent"]}, "contact_status")
    await _state(api, tags, "COMPLETED")
    draft = await create_campaign(api, unique("Draft"), EMAIL)
    [draft_step] = (await api.data(STEPS, {"id": draft}))["campaign"]["steps"]

    async def counts():
        db = server.platform.db
        return (await server.call(db.fetchval("SELECT count(*) FROM drumbeat_delivery")),
                await server.call(db.fetchval("SELECT count(*) FROM drumbeat_audit_entry")),
                len(smtp_sink.messages()))

    before = await counts()
    in_flight = [(["input", "stepId"], "INVALID_STATE")]
    cases = [
        (api, busy, busy_step, "UNOPENED", in_flight),
        (api, busy, busy_step, "FAILED", in_flight),
        (api, busy, tags_step, "FAILED", [(["input", "stepId"], "NOT_FOUND")]),
        (api, tags, tags_step, "UNOPENED", [(["input", "filter"], "INVALID")]),
        (api, tags, tags_step, "UNCLICKED", [(["input", "filter"], "INVALID")]),
        (api, draft, draft_step["id"], "FAILED", [(["input", "campaignId"], "INVALID_STATE")]),
        (api.as_(None), busy, busy_step, "FAILED", [(None, "UNAUTHENTICATED")]),
    ]
    for client, campaign, step, filter, expected in cases:
        for dry_run in (True, False):
            result = await _resend(client, campaign, step, filter, dry_run)
            assert _codes(result) == expected, (campaign, step, filter, dry_run, result)
            assert (result["count"], result["queued"], result["skipped"]) == (0, 0, 0)
    assert "in flight" in (await _resend(api, busy, busy_step, "FAILED"))["errors"][0]["message"]

    # Paused, the step is still in flight; cancelled, the campaign cannot resend.
    assert (await api.data(PAUSE, {"id": busy}))["campaignPause"]["errors"] == []
    assert _codes(await _resend(api, busy, busy_step, "FAILED")) == in_flight
    assert (await api.data(CANCEL, {"id": busy}))["campaignCancel"]["errors"] == []
    assert _codes(await _resend(api, busy, busy_step, "FAILED")) == \
        [(["input", "campaignId"], "INVALID_STATE")]
    # A work-item step takes FAILED (nothing failed here).
    assert _summary(await _resend(api, tags, tags_step, "FAILED")) == ([], 0, 0, 0, "COMPLETED")
    after = await counts()
    assert (after[0], after[2]) == (before[0], before[2])
    assert after[1] == before[1] + 2  # the pause and the cancel; no resend wrote anything
