"""Who may do what, over real HTTP and WebSocket against a live server.

Owner-only edits and role rules are enforced in the services: a refused launch changes
nothing (the campaign stays PROPOSED, the ledger stays empty, no email leaves), while the
owner and an admin can launch. Missing, bogus, revoked and deactivated tokens are
unauthenticated everywhere: mutations report it in their payload, queries as a GraphQL
error, subscriptions at ``connection_init`` (close code 4403).
"""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from strawberry import relay

from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN, CAMPAIGN_CREATE, EMAIL_CONFIG, LAUNCH, RECIPIENTS_ADD, add_recipients,
    create_campaign, create_contacts, db_id, make_ready,
)

ME = "query { me { id email role } }"
SIGN_IN = "Sign in with a bearer token."
QUIET_SECONDS = 1.0  # two reconciler ticks (0.5 s): long enough for a wrongly started run


async def _count(server, sql: str, *args) -> int:
    return int(await server.call(server.platform.db.fetchval(sql, *args)))


async def _deliveries(server, campaign_gid: str) -> int:
    return await _count(server, "SELECT count(*) FROM drumbeat_delivery WHERE campaign = {}",
                        db_id(campaign_gid))


async def _recipients(server, campaign_gid: str) -> int:
    return await _count(
        server, "SELECT count(*) FROM drumbeat_campaign_recipient WHERE campaign = {}",
        db_id(campaign_gid))


def _codes(payload: dict) -> list[str]:
    return [e["code"] for e in payload["errors"]]


async def _wait_completed(api: GraphQLClient, campaign_gid: str, timeout: float = 30) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        campaign = (await api.data(CAMPAIGN, {"id": campaign_gid}))["campaign"]
        if campaign["state"] == "COMPLETED" or asyncio.get_running_loop().time() > deadline:
            return campaign
        await asyncio.sleep(0.05)


async def test_only_the_owner_or_an_admin_launches(server, smtp_sink):
    _, owner_token = await member_token(server, "MARKETER")
    _, other_token = await member_token(server, "MARKETER")
    _, sales_token = await member_token(server, "SALES")
    _, admin_token = await member_token(server, "ADMIN")
    owner = GraphQLClient(server.url, owner_token)
    tag = unique("perm")
    contacts = await create_contacts(
        owner, [{"email": f"{tag}-{i}@example.org", "firstName": f"P{i}"} for i in range(3)])
    first = await create_campaign(owner, f"Owned {tag}")
    second = await create_campaign(owner, f"Owned too {tag}")
    for campaign in (first, second):
        added = await add_recipients(owner, campaign, contacts)
        assert (added["added"], added["errors"]) == (3, [])
        await make_ready(owner, campaign)

    for token, code in ((other_token, "FORBIDDEN"), (sales_token, "FORBIDDEN"),
                        (None, "UNAUTHENTICATED")):
        payload = (await owner.as_(token).data(LAUNCH, {"id": first}))["campaignLaunch"]
        assert payload["campaign"] is None
        assert _codes(payload) == [code], payload

    state = (await owner.data(CAMPAIGN, {"id": first}))["campaign"]
    assert state["state"] == "READY" and state["counters"]["total"] == 0
    await asyncio.sleep(QUIET_SECONDS)
    assert await _deliveries(server, first) == 0
    assert smtp_sink.messages(db_id(first)) == []

    # The owner launches the first campaign, an admin the second: both reach everyone.
    launched = (await owner.data(LAUNCH, {"id": first}))["campaignLaunch"]
    assert launched["errors"] == [] and launched["campaign"]["state"] in ("RUNNING", "COMPLETED")
    by_admin = (await owner.as_(admin_token).data(LAUNCH, {"id": second}))["campaignLaunch"]
    assert by_admin["errors"] == [], by_admin
    assert by_admin["campaign"]["state"] in ("RUNNING", "COMPLETED")
    for campaign in (first, second):
        received = await asyncio.to_thread(smtp_sink.wait_for, db_id(campaign), 3, 30)
        assert sorted(m.rcpt_to[0] for m in received) == sorted(
            f"{tag}-{i}@example.org" for i in range(3))
        assert (await _wait_completed(owner, campaign))["counters"]["done"] == 3


async def test_recipients_add_by_a_non_owner_is_refused_and_adds_nothing(server):
    _, owner_token = await member_token(server, "MARKETER")
    _, other_token = await member_token(server, "MARKETER")
    _, sales_token = await member_token(server, "SALES")
    owner = GraphQLClient(server.url, owner_token)
    tag = unique("perm-add")
    contacts = await create_contacts(owner, [{"email": f"{tag}@example.org"}])
    campaign = await create_campaign(owner, f"Audience {tag}")

    for token, code in ((other_token, "FORBIDDEN"), (sales_token, "FORBIDDEN"),
                        (None, "UNAUTHENTICATED")):
        payload = (await owner.as_(token).data(RECIPIENTS_ADD, {"c": campaign, "ids": contacts})
                   )["campaignRecipientsAdd"]
        assert _codes(payload) == [code], payload
        assert payload["added"] == 0
    assert await _recipients(server, campaign) == 0

    assert (await add_recipients(owner, campaign, contacts))["added"] == 1
    assert await _recipients(server, campaign) == 1


async def test_an_anonymous_caller_cannot_probe_for_campaigns(server):
    """Without a token, an unknown campaign id is UNAUTHENTICATED too, never NOT_FOUND."""
    missing = relay.to_base64("Campaign", 987_654_321)
    anonymous = GraphQLClient(server.url)
    launch = (await anonymous.data(LAUNCH, {"id": missing}))["campaignLaunch"]
    assert _codes(launch) == ["UNAUTHENTICATED"], launch
    add = (await anonymous.data(RECIPIENTS_ADD, {"c": missing, "ids": []}))["campaignRecipientsAdd"]
    assert _codes(add) == ["UNAUTHENTICATED"], add


async def test_sales_cannot_create_campaigns(server, admin_api):
    _, sales_token = await member_token(server, "SALES")
    name = f"Sales {unique('perm-sales')}"
    before = await _count(server, "SELECT count(*) FROM drumbeat_campaign")
    payload = (await admin_api.as_(sales_token).data(CAMPAIGN_CREATE, {"input": {
        "name": name, "action": {"type": "email", "config": EMAIL_CONFIG}}}))["campaignCreate"]
    assert payload["campaign"] is None
    assert _codes(payload) == ["FORBIDDEN"]
    assert await _count(server, "SELECT count(*) FROM drumbeat_campaign") == before
    # The same input from a marketer is fine: the refusal was about the role.
    _, marketer_token = await member_token(server, "MARKETER")
    created = (await admin_api.as_(marketer_token).data(CAMPAIGN_CREATE, {"input": {
        "name": name, "action": {"type": "email", "config": EMAIL_CONFIG}}}))["campaignCreate"]
    assert created["errors"] == [] and created["campaign"]["name"] == name


async def test_revoked_and_deactivated_tokens_are_unauthenticated(server):
    from drumbeat.platform.tables import TeamMember
    from drumbeat.platform.team import revoke_token

    member_id, token = await member_token(server, "MARKETER")
    api = GraphQLClient(server.url, token)
    me = (await api.data(ME))["me"]
    assert db_id(me["id"]) == member_id and me["role"] == "MARKETER"

    assert await server.call(revoke_token(token)) is True
    body = await api.execute(ME)
    assert body["data"] is None and body["errors"][0]["message"] == SIGN_IN
    create = (await api.data(CAMPAIGN_CREATE, {"input": {
        "name": f"Revoked {unique('perm')}", "action": {"type": "email", "config": EMAIL_CONFIG}}})
    )["campaignCreate"]
    assert _codes(create) == ["UNAUTHENTICATED"]
    assert await server.call(revoke_token(token)) is False  # already revoked

    # A deactivated member's still-valid token is refused as well.
    member_id, token = await member_token(server, "ADMIN")
    api = GraphQLClient(server.url, token)
    assert (await api.data(ME))["me"]["role"] == "ADMIN"
    await server.call(TeamMember.update({TeamMember.active: False}).where(
        TeamMember.id == member_id))
    assert (await api.execute(ME))["errors"][0]["message"] == SIGN_IN


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer dbt_not-a-real-token",
                                           "Basic dXNlcjpwYXNz"])
async def test_queries_without_a_valid_token_get_an_error_not_data(server, admin_api,
                                                                  authorization):
    import httpx

    campaign = await create_campaign(admin_api, f"Hidden {unique('perm')}")
    me_id = (await admin_api.data(ME))["me"]["id"]
    headers = {"Authorization": authorization} if authorization else {}
    queries = {
        "me": ME,
        "campaigns": "query { campaigns(first: 5) { edges { node { id name } } } }",
        "campaign": "query($id: ID!) { campaign(id: $id) { id name } }",
        "node": "query($id: ID!) { node(id: $id) { id } }",
        "member": "query($m: ID!) { node(id: $m) { id } }",
        "contacts": "query { contacts(first: 5) { edges { node { id email } } } }",
        "actionTypes": "query { actionTypes { key } }",
    }
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for name, query in queries.items():
            response = await client.post("/graphql", headers=headers, json={
                "query": query, "variables": {"id": campaign, "m": me_id}})
            body = response.json()
            assert body.get("errors"), (name, body)
            assert body["errors"][0]["message"] == SIGN_IN, (name, body)
            data = body.get("data") or {}
            assert all(value is None for value in data.values()), (name, body)


async def _connection_init(server, payload: dict) -> dict:
    """Open a graphql-transport-ws connection, send ``connection_init``, return the reply
    (the next message, or a ``closed`` record with the close code)."""
    async with websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        try:
            return json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        except websockets.ConnectionClosed as closed:
            return {"closed": closed.rcvd.code if closed.rcvd else None,
                    "reason": closed.rcvd.reason if closed.rcvd else None}


async def test_a_subscription_without_a_valid_token_is_refused_at_connection_init(server,
                                                                                admin_api):
    from drumbeat.platform.team import revoke_token

    _, revoked = await member_token(server, "MARKETER")
    await server.call(revoke_token(revoked))
    for payload in ({}, {"Authorization": "Bearer dbt_bogus"}, {"token": "nonsense"},
                    {"Authorization": f"Bearer {revoked}"}):
        reply = await _connection_init(server, payload)
        # The server closes the socket with 4403 Forbidden; the client never gets an ack.
        assert reply == {"closed": 4403, "reason": "Forbidden"}, (payload, reply)
    # The same handshake with a valid token is acknowledged (either key works).
    assert (await _connection_init(server, {"Authorization": f"Bearer {admin_api.token}"})
            )["type"] == "connection_ack"
    assert (await _connection_init(server, {"token": admin_api.token}))["type"] == "connection_ack"
