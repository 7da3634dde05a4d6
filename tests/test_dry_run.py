"""Dry run (``campaignDryRun``) through the API: the launch's checks and, per start step, its
targets, skips by reason, what it produces and a sample — writing nothing, and equal to
what the launch then writes to the ledger."""

from __future__ import annotations

import asyncio
import time

from drumbeat.platform.suppression import suppress
from drumbeat.platform.tables.deliveries import SuppressionReason
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN, LAUNCH, add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
    make_ready,
)

DRY_RUN = """
query($id: ID!) {
  campaignDryRun(id: $id) {
    canLaunch problems { field message code }
    steps { stepId actionType targets queued skipped { reason count }
            produces { kind count } sample { name value } sampleAddress sampleError }
  }
}"""
UPDATE = """
mutation($id: ID!, $input: CampaignUpdateInput!) {
  campaignUpdate(id: $id, input: $input) { errors { field message code } } }"""


async def _audience(server, api) -> tuple[str, list[str]]:
    """An email campaign whose audience has two targets to send to and three skipped, each
    for another reason."""
    tag = unique("dry")
    people = [{"email": f"{tag}-a@example.org", "firstName": "Ada"},
              {"email": f"{tag}-b@example.org"},
              {"email": f"{tag}-d@example.org", "consent": "DENIED"},
              {"email": f"{tag}-e@example.org"}, {"firstName": "No address"}]
    await server.call(suppress(server.platform.db, f"{tag}-e@example.org",
                               SuppressionReason.MANUAL))
    contacts = await create_contacts(api, people)
    campaign = await create_campaign(api, unique("DryRun"))
    assert (await add_recipients(api, campaign, contacts))["added"] == len(people)
    return campaign, contacts


async def _dry_run(api, campaign: str) -> dict:
    return (await api.data(DRY_RUN, {"id": campaign}))["campaignDryRun"]


async def _snapshot(server, campaign: str) -> tuple:
    """Everything a dry run could write to."""
    db, cid = server.platform.db, db_id(campaign)
    return tuple([
        dict(await server.call(db.fetchrow("SELECT * FROM drumbeat_campaign WHERE id = {}", cid))),
        *[await server.call(db.fetchval(f"SELECT count(*) FROM {table}"))
          for table in ("drumbeat_delivery", "drumbeat_audit_entry", "drumbeat_workflow_action",
                        "drumbeat_tracked_link", "drumbeat_delivery_event")]])


async def _ledger_after_launch(server, api, campaign: str) -> tuple[int, dict[str, int]]:
    """(done, {skip reason: n}) once the launched campaign completed."""
    deadline = time.monotonic() + 60
    while (await api.data(CAMPAIGN, {"id": campaign}))["campaign"]["state"] != "COMPLETED":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    rows = await server.call(server.platform.db.fetch(
        "SELECT state, skip_reason, count(*) AS n FROM drumbeat_delivery WHERE campaign = {}"
        " GROUP BY state, skip_reason", db_id(campaign)))
    done = sum(int(r["n"]) for r in rows if r["state"] == "done")
    return done, {r["skip_reason"]: int(r["n"]) for r in rows if r["state"] == "skipped"}


def _skipped(step: dict) -> dict[str, int]:
    return {s["reason"]: s["count"] for s in step["skipped"]}


async def test_dry_run_writes_nothing_and_equals_the_launch(server, smtp_sink):
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    campaign, _ = await _audience(server, api)

    draft = await _dry_run(api, campaign)  # PROPOSED: the launch would refuse it
    assert draft["canLaunch"] is False
    assert [(p["field"], p["code"]) for p in draft["problems"]] == [(["id"], "INVALID_TRANSITION")]
    await make_ready(api, campaign)
    before = await _snapshot(server, campaign)
    _, token = await member_token(server, "SALES")  # anyone who may read the campaign
    plan = await _dry_run(api.as_(token), campaign)
    assert await _snapshot(server, campaign) == before

    assert (plan["canLaunch"], plan["problems"]) == (True, [])
    [step] = plan["steps"]
    assert (step["actionType"], step["targets"], step["queued"]) == ("email", 5, 2)
    assert _skipped(step) == {"NO_CONSENT": 1, "SUPPRESSED": 1, "NO_ADDRESS_FOR_STRATEGY": 1}
    assert step["produces"] == {"kind": "email", "count": 2}
    assert {p["name"]: p["value"] for p in step["sample"]}["subject"] == "Hello Ada"
    assert step["sampleAddress"].endswith("-a@example.org") and step["sampleError"] is None
    assert draft["steps"] == plan["steps"]  # the same computation in any state

    await api.data(LAUNCH, {"id": campaign})
    assert await _ledger_after_launch(server, api, campaign) == (step["queued"], _skipped(step))


async def test_send_emails_off_skips_the_email_step(server, smtp_sink):
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    campaign, _ = await _audience(server, api)
    updated = await api.data(UPDATE, {"id": campaign, "input": {"sendEmails": False}})
    assert updated["campaignUpdate"]["errors"] == []
    [step] = (await _dry_run(api, campaign))["steps"]
    assert step["queued"] == 0 and step["produces"] == {"kind": "email", "count": 0}
    assert _skipped(step) == {"SEND_EMAILS_OFF": 2, "NO_CONSENT": 1,
                              "SUPPRESSED": 1, "NO_ADDRESS_FOR_STRATEGY": 1}
    assert step["sample"] is None
    await launch_campaign(api, campaign)
    assert await _ledger_after_launch(server, api, campaign) == (0, _skipped(step))


async def test_problems_are_those_the_launch_reports(server):
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    campaign = await create_campaign(api, unique("Nothing"), {"text": "Only a body"})
    await make_ready(api, campaign)
    plan = await _dry_run(api, campaign)
    launch = (await api.data(LAUNCH, {"id": campaign}))["campaignLaunch"]
    assert launch["campaign"] is None
    assert plan["problems"] == launch["errors"]
    assert {p["code"] for p in plan["problems"]} == {"NO_RECIPIENTS", "INVALID_CONFIG"}
    assert plan["canLaunch"] is False and plan["steps"][0]["targets"] == 0

    broken = await create_campaign(api, unique("Broken"), {"subject": "Hi", "text": "{{ 1 / 0 }}"})
    contact = await create_contacts(api, [{"email": f"{unique('broken')}@example.org"}])
    assert (await add_recipients(api, broken, contact))["added"] == 1
    [step] = (await _dry_run(api, broken))["steps"]
    assert step["sample"] is None and "ZeroDivisionError" in step["sampleError"]
    assert await _dry_run(api, "Q2FtcGFpZ246OTk5OTk5OQ==") is None  # Campaign:9999999
    anonymous = await api.as_(None).execute(DRY_RUN, {"id": campaign})
    assert anonymous["data"] is None or anonymous["data"]["campaignDryRun"] is None
    assert "Sign in" in anonymous["errors"][0]["message"]
