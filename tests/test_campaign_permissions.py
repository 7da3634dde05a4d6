"""The permission matrix: every campaign mutation × owner / admin / other marketer / sales /
no token. Refusals change nothing (the campaign row and its audit log stay as they were)."""

from __future__ import annotations

from typing import Callable

import pytest

from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import create_campaign, create_contacts, db_id

ACTORS = ("owner", "admin", "other", "sales", "anonymous")
REFUSED = {"other": "FORBIDDEN", "sales": "FORBIDDEN", "anonymous": "UNAUTHENTICATED"}


def _doc(name: str, args: str, params: str, fields: str = "errors { code }") -> str:
    return f"mutation({params}) {{ {name}({args}) {{ {fields} }} }}"


ID = ("id: $id", "$id: ID!")
# name → (document, extra variables, the state the campaign must be in for the mutation to work)
MUTATIONS: dict[str, tuple[str, Callable[[dict], dict], str]] = {
    "campaignUpdate": (_doc("campaignUpdate", "id: $id, input: {goal: \"g2\"}", "$id: ID!"),
                       lambda ctx: {}, "PROPOSED"),
    "campaignTransition": (_doc("campaignTransition", "id: $id, to: IN_PREPARATION", "$id: ID!"),
                           lambda ctx: {}, "PROPOSED"),
    "campaignLaunch": (_doc("campaignLaunch", *ID), lambda ctx: {}, "READY"),
    "campaignPause": (_doc("campaignPause", *ID), lambda ctx: {}, "RUNNING"),
    "campaignResume": (_doc("campaignResume", *ID), lambda ctx: {}, "PAUSED"),
    "campaignCancel": (_doc("campaignCancel", *ID), lambda ctx: {}, "PROPOSED"),
    "campaignDelete": (_doc("campaignDelete", *ID), lambda ctx: {}, "PROPOSED"),
    "campaignRecipientsAdd": (
        _doc("campaignRecipientsAdd", "campaignId: $id, contactIds: $c", "$id: ID!, $c: [ID!]!"),
        lambda ctx: {"c": ctx["contacts"]}, "PROPOSED"),
    "campaignRecipientsRemove": (
        _doc("campaignRecipientsRemove", "campaignId: $id, contactIds: $c", "$id: ID!, $c: [ID!]!"),
        lambda ctx: {"c": ctx["first"]}, "PROPOSED"),
    "campaignBudgetSet": (
        _doc("campaignBudgetSet", 'campaignId: $id, total: "1000.00", currency: "EUR"', "$id: ID!"),
        lambda ctx: {}, "RUNNING"),
    "campaignCostAdd": (
        _doc("campaignCostAdd", 'input: {campaignId: $id, amount: "12.50", category: MEDIA, '
                                'incurredOn: "2026-11-01"}', "$id: ID!"),
        lambda ctx: {}, "COMPLETED"),
    "campaignObjectivesSet": (
        _doc("campaignObjectivesSet", 'campaignId: $id, input: {leads: 50, roi: "0.5"}', "$id: ID!"),
        lambda ctx: {}, "PROPOSED"),
}


async def _snapshot(server, campaign: str) -> tuple:
    db, cid = server.platform.db, db_id(campaign)
    row = await server.call(db.fetchrow(
        "SELECT state, goal, updated_at, budget_cents, target_leads FROM drumbeat_campaign"
        " WHERE id = {}", cid))
    costs = await server.call(db.fetchval(
        "SELECT count(*) FROM drumbeat_campaign_cost WHERE campaign = {}", cid))
    audit = await server.call(db.fetchval(
        "SELECT count(*) FROM drumbeat_audit_entry WHERE campaign_id = {}", cid))
    recipients = await server.call(db.fetchval(
        "SELECT count(*) FROM drumbeat_campaign_recipient WHERE campaign = {}", cid))
    return row, audit, recipients, costs


async def _prepare(server, api: GraphQLClient, tag: str, state: str, contacts: list[str]) -> str:
    campaign = await create_campaign(api, f"Matrix {tag} {unique('m')}")
    await api.data(_doc("campaignRecipientsAdd", "campaignId: $id, contactIds: $c",
                        "$id: ID!, $c: [ID!]!"), {"id": campaign, "c": contacts[:1]})
    db = server.platform.db
    if state in ("RUNNING", "PAUSED"):  # a worker holds a delivery: it cannot complete meanwhile
        import time
        from datetime import datetime, timezone
        await server.call(db.execute(
            """INSERT INTO drumbeat_delivery (campaign, step, recipient, target_kind, target_id,
                   state, attempts, lease_until, claim_token, created_at)
               SELECT a.campaign, a.id, r.id, 'contact', r.contact, 'claimed', 1, {}, 'held', {}
               FROM drumbeat_workflow_action a
               JOIN drumbeat_campaign_recipient r ON r.campaign = a.campaign
               WHERE a.campaign = {}""",
            time.time() + 3600, datetime.now(timezone.utc), db_id(campaign)))
    await server.call(db.execute("UPDATE drumbeat_campaign SET state = {} WHERE id = {}",
                                 state, db_id(campaign)))
    return campaign


@pytest.fixture
async def actors(server):
    _, owner = await member_token(server, "MARKETER")
    _, admin = await member_token(server, "ADMIN")
    _, other = await member_token(server, "MARKETER")
    _, sales = await member_token(server, "SALES")
    tokens = {"owner": owner, "admin": admin, "other": other, "sales": sales, "anonymous": None}
    return {name: GraphQLClient(server.url, token) for name, token in tokens.items()}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
async def test_only_the_owner_or_an_admin_may(server, actors, mutation):
    document, variables, state = MUTATIONS[mutation]
    owner = actors["owner"]
    tag = unique(mutation)
    contacts = await create_contacts(owner, [{"email": f"{tag}-{i}@example.org"} for i in range(2)])
    ctx = {"contacts": contacts[1:], "first": contacts[:1]}
    target = await _prepare(server, owner, tag, state, contacts)
    for actor, code in REFUSED.items():
        before = await _snapshot(server, target)
        result = (await actors[actor].data(document, {"id": target, **variables(ctx)}))[mutation]
        assert [e["code"] for e in result["errors"]] == [code], (actor, result)
        assert await _snapshot(server, target) == before, f"{actor}'s refused {mutation} changed it"
    for actor in ("owner", "admin"):
        campaign = await _prepare(server, owner, tag, state, contacts)
        result = (await actors[actor].data(document, {"id": campaign, **variables(ctx)}))[mutation]
        assert result["errors"] == [], (actor, result)


async def test_campaign_create_is_for_marketers_and_admins(server, actors):
    document = """mutation($input: CampaignCreateInput!) { campaignCreate(input: $input) {
      campaign { id } errors { code } } }"""
    for actor in ACTORS:
        result = (await actors[actor].data(document, {"input": {
            "name": f"Create {actor} {unique('c')}",
            "action": {"type": "email", "config": {"subject": "s", "text": "t"}}}}))["campaignCreate"]
        expected = {"sales": ["FORBIDDEN"], "anonymous": ["UNAUTHENTICATED"]}.get(actor, [])
        assert [e["code"] for e in result["errors"]] == expected, (actor, result)
        assert (result["campaign"] is not None) == (expected == []), actor
