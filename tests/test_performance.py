"""Objectives, outcomes and performance over the live API: a small email campaign runs to
completion, outcomes are recorded, and the performance matches hand-computed figures."""

from __future__ import annotations

import asyncio

from tests.conftest import member_token, unique
from tests.support.graphql import subscribe
from tests.support.queries import (
    PROGRESS, add_recipients, create_campaign, create_contacts, launch_campaign,
)
from tests.test_budget import add_cost, audit_entries

OBJECTIVES_SET = """
mutation($c: ID!, $input: ObjectivesInput!) {
  campaignObjectivesSet(campaignId: $c, input: $input) {
    campaign { objectives { leads conversionRate roi revenue } }
    errors { field message code }
  }
}"""

OUTCOME_RECORD = """
mutation($input: CampaignOutcomeRecordInput!) {
  campaignOutcomeRecord(input: $input) {
    outcome { id kind value note contact { id } recordedBy { id } }
    errors { field message code }
  }
}"""

PERFORMANCE = """
query($id: ID!) {
  campaign(id: $id) {
    objectives { leads conversionRate roi revenue }
    performance {
      currency opportunities sales deliveriesDone reached converted cost costPerLead
      leads { target actual met }
      revenue { target actual met }
      conversionRate { target actual met }
      roi { target actual met }
    }
    outcomes(first: 10) { edges { node { kind value } } }
  }
}"""


async def launched_campaign(server, api, contacts: int = 3) -> tuple[str, list[str]]:
    """A quick email campaign run to completion for ``contacts`` new contacts."""
    tag = unique("perf")
    contact_ids = await create_contacts(api, [
        {"email": f"{tag}-{i}@example.org", "firstName": f"P{i}", "lastName": "Erf"}
        for i in range(contacts)])
    campaign_id = await create_campaign(api, f"Performance {tag}")
    assert (await add_recipients(api, campaign_id, contact_ids))["added"] == contacts
    await launch_campaign(api, campaign_id)

    async def until_over():
        async for message in subscribe(server.ws_url, api.token, PROGRESS, {"id": campaign_id}):
            last = message["data"]["campaignProgress"]
        return last

    last = await asyncio.wait_for(until_over(), 90)
    assert last["state"] == "COMPLETED" and last["counters"]["done"] == contacts
    return campaign_id, contact_ids


async def record(api, campaign_id: str, kind: str, **extra) -> dict:
    data = await api.data(OUTCOME_RECORD, {"input": {"campaignId": campaign_id, "kind": kind,
                                                     **extra}})
    return data["campaignOutcomeRecord"]


async def test_performance_matches_hand_computed_figures(server, admin_api):
    campaign_id, (c1, c2, c3) = await launched_campaign(server, admin_api)
    _, sales_token = await member_token(server, "SALES")
    sales = admin_api.as_(sales_token)
    objectives = await admin_api.data(OBJECTIVES_SET, {"c": campaign_id, "input": {
        "leads": 3, "conversionRate": "33.34", "roi": "0.5", "revenue": "200"}})
    assert objectives["campaignObjectivesSet"] == {"campaign": {"objectives": {
        "leads": 3, "conversionRate": "33.34", "roi": "0.5", "revenue": "200.00"}}, "errors": []}
    for amount in ("0.10", "0.20", "74.70"):  # cost 75.00
        assert (await add_cost(admin_api, campaign_id, amount))["errors"] == []

    outcomes = [
        await record(sales, campaign_id, "LEAD", contactId=c1, note="called back"),
        await record(admin_api, campaign_id, "LEAD"),  # a lead from the campaign, no contact
        await record(sales, campaign_id, "OPPORTUNITY", contactId=c2, value="500"),
        await record(sales, campaign_id, "SALE", contactId=c1, value="249.99"),
        await record(admin_api, campaign_id, "SALE", value="0.01"),
    ]
    assert all(o["errors"] == [] for o in outcomes), outcomes
    assert outcomes[0]["outcome"]["contact"]["id"] == c1
    assert outcomes[3]["outcome"]["value"] == "249.99"

    data = (await admin_api.data(PERFORMANCE, {"id": campaign_id}))["campaign"]
    assert data["performance"] == {
        "currency": "EUR", "opportunities": 1, "sales": 2,
        "deliveriesDone": 3, "reached": 3,
        "converted": 1,  # c1 only: c2's opportunity is not a conversion
        "cost": "75.00", "costPerLead": "37.50",  # 75.00 / 2 leads
        "leads": {"target": 3, "actual": 2, "met": False},
        "revenue": {"target": "200.00", "actual": "250.00", "met": True},
        # 1 / 3 = 33.333… % → 33.33, below the 33.34 target
        "conversionRate": {"target": "33.34", "actual": "33.33", "met": False},
        # (250.00 − 75.00) / 75.00 = 2.3333…
        "roi": {"target": "0.5", "actual": "2.3333", "met": True},
    }
    assert [e["node"]["kind"] for e in data["outcomes"]["edges"]] == [
        "SALE", "SALE", "OPPORTUNITY", "LEAD", "LEAD"]
    recorded = await audit_entries(server, campaign_id, "outcome.record", "objectives.set")
    assert [e["action"] for e in recorded] == ["objectives.set"] + ["outcome.record"] * 5

    # An exact comparison: 1 of 3 reached meets a 33.33 % target (33.333… ≥ 33.33).
    await admin_api.data(OBJECTIVES_SET, {"c": campaign_id, "input": {"conversionRate": "33.33"}})
    data = (await admin_api.data(PERFORMANCE, {"id": campaign_id}))["campaign"]
    assert data["performance"]["conversionRate"] == {"target": "33.33", "actual": "33.33",
                                                     "met": True}
    assert data["objectives"] == {"leads": None, "conversionRate": "33.33", "roi": None,
                                  "revenue": None}
    assert data["performance"]["leads"]["met"] is None


async def test_a_campaign_that_never_ran_has_no_rates(server, admin_api):
    campaign_id = await create_campaign(admin_api, unique("Idle"))
    data = await admin_api.data(PERFORMANCE, {"id": campaign_id})
    performance = data["campaign"]["performance"]
    assert performance["reached"] == 0 and performance["cost"] == "0.00"
    assert performance["conversionRate"] == {"target": None, "actual": None, "met": None}
    assert performance["roi"]["actual"] is None and performance["costPerLead"] is None
    early = await record(admin_api, campaign_id, "LEAD")
    assert [(e["field"], e["code"]) for e in early["errors"]] == [
        (["input", "campaignId"], "INVALID_STATE")]


async def test_outcome_rules_and_permissions(server, admin_api):
    campaign_id, (c1,) = await launched_campaign(server, admin_api, contacts=1)
    stranger = (await create_contacts(admin_api, [
        {"email": f"{unique('stranger')}@example.org", "firstName": "S", "lastName": "T"}]))[0]
    bad = await record(admin_api, campaign_id, "SALE", contactId=stranger, note="n" * 2001)
    assert bad["outcome"] is None
    assert sorted((tuple(e["field"]), e["code"]) for e in bad["errors"]) == [
        (("input", "contactId"), "NOT_FOUND"), (("input", "note"), "TOO_LONG"),
        (("input", "value"), "REQUIRED")]
    negative = await record(admin_api, campaign_id, "LEAD", value="-1")
    assert [e["code"] for e in negative["errors"]] == ["INVALID"]

    _, other_marketer = await member_token(server, "MARKETER")
    refused = await record(admin_api.as_(other_marketer), campaign_id, "LEAD", contactId=c1)
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    anonymous = await record(admin_api.as_(None), campaign_id, "LEAD")
    assert [e["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]
    performance = (await admin_api.data(PERFORMANCE, {"id": campaign_id}))["campaign"]
    assert performance["outcomes"]["edges"] == []
    assert await audit_entries(server, campaign_id, "outcome.record") == []


async def test_objectives_are_validated_together_and_owner_only(server, admin_api):
    campaign_id = await create_campaign(admin_api, unique("Objectives"))
    bad = (await admin_api.data(OBJECTIVES_SET, {"c": campaign_id, "input": {
        "leads": -1, "conversionRate": "100.5", "roi": "0.12345", "revenue": "-3"}}
    ))["campaignObjectivesSet"]
    assert sorted((tuple(e["field"]), e["code"]) for e in bad["errors"]) == [
        (("input", "conversionRate"), "INVALID"), (("input", "leads"), "INVALID"),
        (("input", "revenue"), "INVALID"), (("input", "roi"), "INVALID")]
    _, marketer = await member_token(server, "MARKETER")
    _, sales = await member_token(server, "SALES")
    for token in (marketer, sales):
        refused = (await admin_api.as_(token).data(OBJECTIVES_SET, {"c": campaign_id, "input": {
            "leads": 5}}))["campaignObjectivesSet"]
        assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    data = (await admin_api.data(PERFORMANCE, {"id": campaign_id}))["campaign"]
    assert data["objectives"] == {"leads": None, "conversionRate": None, "roi": None,
                                  "revenue": None}
    assert await audit_entries(server, campaign_id, "objectives.set") == []

    ok = (await admin_api.data(OBJECTIVES_SET, {"c": campaign_id, "input": {
        "leads": 10, "conversionRate": "2.50", "roi": "1.25", "revenue": "1000.5"}}
    ))["campaignObjectivesSet"]
    assert ok["campaign"]["objectives"] == {"leads": 10, "conversionRate": "2.5", "roi": "1.25",
                                            "revenue": "1000.50"}
    changes = (await audit_entries(server, campaign_id, "objectives.set"))[0]["changes"]
    assert {c["field"]: (c["old"], c["new"]) for c in changes} == {
        "leads": (None, 10), "conversion_rate": (None, "2.5"), "roi": (None, "1.25"),
        "revenue": (None, "1000.50")}
