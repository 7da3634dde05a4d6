"""A campaign with ``sendEmails`` off sends no email: its email steps' deliveries are
skipped at launch with ``SEND_EMAILS_OFF`` (other exclusions keep their own reason)."""

from __future__ import annotations

import asyncio
import time

from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN,
    CAMPAIGN_CREATE,
    EMAIL_CONFIG,
    add_recipients,
    create_contacts,
    db_id,
    launch_campaign,
)


async def test_email_steps_are_skipped_and_nothing_is_sent(server, smtp_sink):
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("quiet")
    people = [{"email": f"{tag}-{i}@example.org", "firstName": f"Q{i}"} for i in range(4)]
    people.append({"firstName": "No address", "phone": "+385 1 2345678"})
    data = await api.data(CAMPAIGN_CREATE, {"input": {
        "name": tag, "sendEmails": False, "action": {"type": "email", "config": EMAIL_CONFIG}}})
    assert data["campaignCreate"]["errors"] == [], data
    campaign = data["campaignCreate"]["campaign"]["id"]
    await add_recipients(api, campaign, await create_contacts(api, people))
    await launch_campaign(api, campaign)

    deadline = time.monotonic() + 30
    while (state := (await api.data(CAMPAIGN, {"id": campaign}))["campaign"])["state"] != "COMPLETED":
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.05)
    assert state["counters"]["skipped"] == 5 and state["counters"]["done"] == 0
    reasons = await server.call(server.platform.db.fetch(
        "SELECT skip_reason, count(*) AS n FROM drumbeat_delivery WHERE campaign = {}"
        " GROUP BY skip_reason", db_id(campaign)))
    assert {r["skip_reason"]: r["n"] for r in reasons} == {"SEND_EMAILS_OFF": 4, "NO_ADDRESS_FOR_STRATEGY": 1}
    assert smtp_sink.messages(db_id(campaign)) == []


async def test_require_consent_is_set_through_the_api_and_honoured(server, smtp_sink):
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("consent")
    people = [{"email": f"{tag}-yes@example.org", "consent": "GRANTED"},
              {"email": f"{tag}-unknown@example.org"}]
    data = await api.data(CAMPAIGN_CREATE.replace("id name state", "id name state requireConsent"), {
        "input": {"name": tag, "requireConsent": True,
                  "action": {"type": "email", "config": EMAIL_CONFIG}}})
    assert data["campaignCreate"]["campaign"]["requireConsent"] is True
    campaign = data["campaignCreate"]["campaign"]["id"]
    await add_recipients(api, campaign, await create_contacts(api, people))
    await launch_campaign(api, campaign)
    rows = await server.call(server.platform.db.fetch(
        "SELECT address, skip_reason FROM drumbeat_delivery WHERE campaign = {}",
        db_id(campaign)))
    assert {r["address"]: r["skip_reason"] for r in rows} == {
        people[0]["email"]: None, people[1]["email"]: "NO_CONSENT"}
    # Fixed once launched, like the other fields that shape the execution.
    update = await api.data(
        "mutation($id: ID!) { campaignUpdate(id: $id, input: {requireConsent: false}) {"
        " errors { field code } } }", {"id": campaign})
    assert update["campaignUpdate"]["errors"] == [{"field": ["input", "requireConsent"],
                                                   "code": "INVALID_STATE"}]


async def test_an_evergreen_campaign_stays_running_until_turned_off(server, smtp_sink):
    """Triggers can only enrol into a RUNNING campaign: an evergreen one does not complete
    when everything has finished; turned off, it completes by itself."""
    from drumbeat.platform.campaigns import complete_finished

    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("evergreen")
    data = await api.data(CAMPAIGN_CREATE.replace("id name state", "id name state evergreen"), {
        "input": {"name": tag, "evergreen": True,
                  "action": {"type": "email", "config": EMAIL_CONFIG}}})
    assert data["campaignCreate"]["campaign"]["evergreen"] is True
    campaign = data["campaignCreate"]["campaign"]["id"]
    await add_recipients(api, campaign, await create_contacts(
        api, [{"email": f"{tag}-{i}@example.org"} for i in range(2)]))
    await launch_campaign(api, campaign)
    await asyncio.to_thread(smtp_sink.wait_for, db_id(campaign), 2, 30)
    deadline = time.monotonic() + 30
    while (state := (await api.data(CAMPAIGN, {"id": campaign}))["campaign"])[
            "counters"]["done"] < 2:
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.05)
    assert await server.call(complete_finished(server.platform, db_id(campaign))) == []
    assert (await api.data(CAMPAIGN, {"id": campaign}))["campaign"]["state"] == "RUNNING"

    update = await api.data(
        "mutation($id: ID!) { campaignUpdate(id: $id, input: {evergreen: false}) {"
        " errors { field code } } }", {"id": campaign})
    assert update["campaignUpdate"]["errors"] == []
    deadline = time.monotonic() + 30
    while (await api.data(CAMPAIGN, {"id": campaign}))["campaign"]["state"] != "COMPLETED":
        assert time.monotonic() < deadline  # the reconciler completes it
        await asyncio.sleep(0.05)
