"""Budget and costs over the live API: exact decimals, alerts raised once each (also under
concurrency), re-arming, the ``campaignAlerts`` subscription, permissions, validation."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import ConnectionClosedError

from tests.conftest import member_token, unique
from tests.support.graphql import subscribe
from tests.support.queries import create_campaign, db_id

BUDGET_SET = """
mutation($c: ID!, $total: Decimal, $currency: String) {
  campaignBudgetSet(campaignId: $c, total: $total, currency: $currency) {
    campaign { id }
    budget { total currency spent remaining utilisation overBudget alerts { threshold at } }
    errors { field message code }
  }
}"""

COST_ADD = """
mutation($input: CampaignCostAddInput!) {
  campaignCostAdd(input: $input) {
    cost { id amount category incurredOn note stepId createdBy { id } }
    budget { spent remaining overBudget alerts { threshold } }
    overBudget alertsRaised { threshold at }
    errors { field message code }
  }
}"""

COST_REMOVE = """
mutation($id: ID!) {
  campaignCostRemove(id: $id) {
    removedId budget { spent alerts { threshold } } errors { field message code }
  }
}"""

MONEY = """
query($id: ID!) {
  campaign(id: $id) {
    budget { total currency spent remaining utilisation overBudget alerts { threshold at } }
    costsByCategory { category total entries }
    costs(first: 10) { edges { node { id amount category note } } }
    steps { id }
  }
}"""

ALERTS = """
subscription($id: ID!) {
  campaignAlerts(campaignId: $id) { threshold replayed budget { spent total overBudget } }
}"""


async def new_campaign(api, budget: str | None = "100.00", currency: str = "EUR") -> str:
    campaign_id = await create_campaign(api, unique("Budget"))
    if budget is not None:
        data = await api.data(BUDGET_SET, {"c": campaign_id, "total": budget, "currency": currency})
        assert data["campaignBudgetSet"]["errors"] == [], data
    return campaign_id


async def add_cost(api, campaign_id: str, amount: str, category: str = "MEDIA", **extra) -> dict:
    data = await api.data(COST_ADD, {"input": {
        "campaignId": campaign_id, "amount": amount, "category": category,
        "incurredOn": "2026-11-20", **extra}})
    return data["campaignCostAdd"]


async def money_of(api, campaign_id: str) -> dict:
    return (await api.data(MONEY, {"id": campaign_id}))["campaign"]


async def audit_entries(server, campaign_id: str, *actions: str) -> list[dict]:
    rows = await server.call(server.platform.db.fetch(
        "SELECT action, changes, member FROM drumbeat_audit_entry WHERE campaign_id = {}"
        " ORDER BY id", db_id(campaign_id)))
    for row in rows:
        if isinstance(row["changes"], (str, bytes)):
            row["changes"] = json.loads(row["changes"])
    return [r for r in rows if not actions or r["action"] in actions]


def thresholds(entries: list[dict]) -> list[int]:
    return [next(c["new"] for c in e["changes"] if c["field"] == "threshold") for e in entries]


async def test_cost_amounts_add_up_exactly(server, admin_api):
    campaign_id = await new_campaign(admin_api, budget="1.00")
    first = await add_cost(admin_api, campaign_id, "0.10", note="list")
    second = await add_cost(admin_api, campaign_id, "0.20", category="CONTACT_LIST")
    third = await add_cost(admin_api, campaign_id, "0.20")
    assert [first["errors"], second["errors"], third["errors"]] == [[], [], []]
    assert first["cost"]["amount"] == "0.10" and first["cost"]["note"] == "list"
    assert second["budget"]["spent"] == "0.30" and second["budget"]["remaining"] == "0.70"

    money = await money_of(admin_api, campaign_id)
    assert money["budget"] == {"total": "1.00", "currency": "EUR", "spent": "0.50",
                               "remaining": "0.50", "utilisation": "50.00", "overBudget": False,
                               "alerts": []}
    by_category = {c["category"]: (c["total"], c["entries"]) for c in money["costsByCategory"]}
    assert by_category == {"CONTACT_LIST": ("0.20", 1), "EMAIL_DESIGN": ("0.00", 0),
                           "MEDIA": ("0.30", 2), "STAFF": ("0.00", 0), "OTHER": ("0.00", 0)}
    assert [e["node"]["id"] for e in money["costs"]["edges"]] == [
        third["cost"]["id"], second["cost"]["id"], first["cost"]["id"]]  # newest first
    stored = await server.call(server.platform.db.fetchval(
        "SELECT SUM(amount_cents) FROM drumbeat_campaign_cost WHERE campaign = {}",
        db_id(campaign_id)))
    assert int(stored) == 50


async def test_utilisation_is_rounded_and_over_budget_is_flagged_not_refused(server, admin_api):
    campaign_id = await new_campaign(admin_api, budget="3.00")
    assert (await add_cost(admin_api, campaign_id, "1.00"))["budget"]["overBudget"] is False
    assert (await money_of(admin_api, campaign_id))["budget"]["utilisation"] == "33.33"
    over = await add_cost(admin_api, campaign_id, "2.01")
    assert over["errors"] == [] and over["overBudget"] is True
    assert over["budget"]["remaining"] == "-0.01"
    assert (await money_of(admin_api, campaign_id))["budget"]["utilisation"] == "100.33"


async def test_alerts_are_raised_once_each_under_concurrent_adds(server, admin_api):
    campaign_id = await new_campaign(admin_api, budget="100.00")
    results = await asyncio.gather(*(add_cost(admin_api, campaign_id, "12.50") for _ in range(10)))
    assert all(r["errors"] == [] for r in results)
    raised = sorted(a["threshold"] for r in results for a in r["alertsRaised"])
    assert raised == [80, 100]

    money = await money_of(admin_api, campaign_id)
    assert money["budget"]["spent"] == "125.00" and money["budget"]["overBudget"] is True
    assert [a["threshold"] for a in money["budget"]["alerts"]] == [80, 100]
    alerts = await audit_entries(server, campaign_id, "budget.alert")
    assert thresholds(alerts) == [80, 100]
    spent_at = {t: next(c["new"] for c in a["changes"] if c["field"] == "spent")
                for t, a in zip((80, 100), alerts)}
    assert spent_at == {80: "87.50", 100: "100.00"}  # the cost that crossed each threshold
    assert len(await audit_entries(server, campaign_id, "cost.add")) == 10


async def test_raising_the_budget_rearms_and_lowering_it_alerts_at_once(server, admin_api):
    campaign_id = await new_campaign(admin_api, budget="100.00")
    crossed = await add_cost(admin_api, campaign_id, "85.00")
    assert [a["threshold"] for a in crossed["alertsRaised"]] == [80]

    raised = await admin_api.data(BUDGET_SET, {"c": campaign_id, "total": "200.00",
                                               "currency": "EUR"})
    assert raised["campaignBudgetSet"]["budget"]["alerts"] == []
    assert thresholds(await audit_entries(server, campaign_id, "budget.alert")) == [80]
    rearm = await audit_entries(server, campaign_id, "budget.rearm")
    assert [e["changes"] for e in rearm] == [[{"field": "threshold", "old": 80, "new": None}]]

    lowered = await admin_api.data(BUDGET_SET, {"c": campaign_id, "total": "85.00",
                                                "currency": "EUR"})
    budget = lowered["campaignBudgetSet"]["budget"]
    assert [a["threshold"] for a in budget["alerts"]] == [80, 100]
    assert budget["utilisation"] == "100.00" and budget["overBudget"] is False
    assert thresholds(await audit_entries(server, campaign_id, "budget.alert")) == [80, 80, 100]

    removed = await admin_api.data(BUDGET_SET, {"c": campaign_id, "total": None,
                                                "currency": "EUR"})
    budget = removed["campaignBudgetSet"]["budget"]
    assert budget["total"] is None and budget["utilisation"] is None and budget["alerts"] == []


async def test_alerts_stream_over_the_subscription(server, admin_api):
    _, sales_token = await member_token(server, "SALES")  # readers may watch
    campaign_id = await new_campaign(admin_api, budget="100.00")
    assert [a["threshold"] for a in
            (await add_cost(admin_api, campaign_id, "80.00"))["alertsRaised"]] == [80]

    received: list[dict] = []
    arrived = asyncio.Event()

    async def watch():
        async for message in subscribe(server.ws_url, sales_token, ALERTS, {"id": campaign_id}):
            assert "errors" not in message, message
            received.append(message["data"]["campaignAlerts"])
            arrived.set()

    watcher = asyncio.create_task(watch())
    try:
        async def next_alert() -> dict:
            await asyncio.wait_for(arrived.wait(), 30)
            arrived.clear()
            return received[-1]

        first = await next_alert()  # the replay also proves the subscription is live
        assert first == {"threshold": 80, "replayed": True,
                         "budget": {"spent": "80.00", "total": "100.00", "overBudget": False}}
        costs = await asyncio.gather(*(add_cost(admin_api, campaign_id, "10.00") for _ in range(4)))
        assert (await next_alert())["threshold"] == 100
        for cost in costs[:3]:  # 120 → 90: the 100 % alert re-arms, the 80 % one stays
            data = await admin_api.data(COST_REMOVE, {"id": cost["cost"]["id"]})
            assert data["campaignCostRemove"]["errors"] == []
        assert [a["threshold"] for a in data["campaignCostRemove"]["budget"]["alerts"]] == [80]
        await add_cost(admin_api, campaign_id, "15.00")
        last = await next_alert()
        assert last["threshold"] == 100 and last["replayed"] is False
        assert last["budget"] == {"spent": "105.00", "total": "100.00", "overBudget": True}
        # Channel order is kept: a duplicate of the first 100 % alert would precede this one.
        assert [(a["threshold"], a["replayed"]) for a in received] == [
            (80, True), (100, False), (100, False)]
    finally:
        watcher.cancel()
    assert thresholds(await audit_entries(server, campaign_id, "budget.alert")) == [80, 100, 100]


async def test_only_the_owner_or_an_admin_manage_budget_and_costs(server, admin_api):
    campaign_id = await new_campaign(admin_api, budget="50.00")
    cost = (await add_cost(admin_api, campaign_id, "5.00"))["cost"]
    before = await money_of(admin_api, campaign_id)
    entries = len(await audit_entries(server, campaign_id))
    _, marketer = await member_token(server, "MARKETER")
    _, sales = await member_token(server, "SALES")
    for token, code in ((marketer, "FORBIDDEN"), (sales, "FORBIDDEN"), (None, "UNAUTHENTICATED")):
        api = admin_api.as_(token)
        set_ = (await api.data(BUDGET_SET, {"c": campaign_id, "total": "1.00",
                                            "currency": "EUR"}))["campaignBudgetSet"]
        added = (await api.data(COST_ADD, {"input": {
            "campaignId": campaign_id, "amount": "1.00", "category": "STAFF",
            "incurredOn": "2026-11-20"}}))["campaignCostAdd"]
        removed = (await api.data(COST_REMOVE, {"id": cost["id"]}))["campaignCostRemove"]
        for result in (set_, added, removed):
            assert [e["code"] for e in result["errors"]] == [code], result
        assert set_["budget"] is None and added["cost"] is None and removed["removedId"] is None
    assert await money_of(admin_api, campaign_id) == before
    assert len(await audit_entries(server, campaign_id)) == entries

    owner_id, owner = await member_token(server, "MARKETER")
    own = await new_campaign(admin_api.as_(owner), budget=None)
    assert (await add_cost(admin_api.as_(owner), own, "2.50"))["errors"] == []
    anonymous = await admin_api.as_(None).execute(MONEY, {"id": own})
    assert anonymous["data"] is None or anonymous["data"]["campaign"] is None


async def test_validation_reports_every_problem_at_once(server, admin_api):
    campaign_id = await new_campaign(admin_api)
    other = await new_campaign(admin_api)
    other_step = (await money_of(admin_api, other))["steps"][0]["id"]
    result = await add_cost(admin_api, campaign_id, "12.345", incurredOn="2099-01-01",
                            note="x" * 2001, stepId=other_step)
    assert result["cost"] is None
    assert sorted((tuple(e["field"]), e["code"]) for e in result["errors"]) == [
        (("input", "amount"), "INVALID"), (("input", "incurredOn"), "INVALID"),
        (("input", "note"), "TOO_LONG"), (("input", "stepId"), "NOT_FOUND")]
    negative = await add_cost(admin_api, campaign_id, "-1.00")
    assert [(e["field"], e["code"]) for e in negative["errors"]] == [
        (["input", "amount"], "INVALID")]

    bad = (await admin_api.data(BUDGET_SET, {"c": campaign_id, "total": "-5",
                                             "currency": "EURO"}))["campaignBudgetSet"]
    assert sorted((tuple(e["field"]), e["code"]) for e in bad["errors"]) == [
        (("currency",), "INVALID"), (("total",), "INVALID")]
    money = await money_of(admin_api, campaign_id)
    assert money["budget"]["total"] == "100.00" and money["costs"]["edges"] == []

    own_step = (await money_of(admin_api, campaign_id))["steps"][0]["id"]
    ok = await add_cost(admin_api, campaign_id, "1", stepId=own_step)
    assert ok["errors"] == [] and ok["cost"]["stepId"] == own_step


async def test_currency_is_fixed_once_costs_exist(server, admin_api):
    campaign_id = await new_campaign(admin_api, budget="10.00", currency="usd")
    money = await money_of(admin_api, campaign_id)
    assert money["budget"]["currency"] == "USD"
    await add_cost(admin_api, campaign_id, "1.00")
    refused = (await admin_api.data(BUDGET_SET, {"c": campaign_id, "total": "10.00",
                                                 "currency": "EUR"}))["campaignBudgetSet"]
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [(["currency"], "INVALID_STATE")]
    same = (await admin_api.data(BUDGET_SET, {"c": campaign_id, "total": "20.00"})
            )["campaignBudgetSet"]  # no currency: keep it
    assert same["errors"] == [] and same["budget"]["total"] == "20.00"
    assert (await money_of(admin_api, campaign_id))["budget"]["currency"] == "USD"


async def test_removing_a_cost_twice_is_not_found(server, admin_api):
    campaign_id = await new_campaign(admin_api)
    cost = (await add_cost(admin_api, campaign_id, "4.00"))["cost"]
    first = (await admin_api.data(COST_REMOVE, {"id": cost["id"]}))["campaignCostRemove"]
    assert first["errors"] == [] and first["removedId"] == cost["id"]
    assert first["budget"]["spent"] == "0.00"
    again = (await admin_api.data(COST_REMOVE, {"id": cost["id"]}))["campaignCostRemove"]
    assert [e["code"] for e in again["errors"]] == ["NOT_FOUND"]
    removal = await audit_entries(server, campaign_id, "cost.remove")
    assert {c["field"]: c["old"] for c in removal[0]["changes"]}["amount"] == "4.00"


async def test_alerts_are_for_signed_in_members_only(server, admin_api):
    campaign_id = await new_campaign(admin_api)
    with pytest.raises(ConnectionClosedError) as refused:
        async for _ in subscribe(server.ws_url, None, ALERTS, {"id": campaign_id}):
            pass
    assert refused.value.rcvd.code == 4403
