"""The team and its API tokens over the real API: tokens shown once and revocable at once
(HTTP and WebSocket), admin-only member management with the last-admin guard, tokens
visible only to their owner and admins, and ``last_used_at`` written at most once a minute.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import timedelta

import websockets
from strawberry import relay

from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import db_id

SIGN_IN = "Sign in with a bearer token."
ME = """query {
  me { id name role active tokens { id label prefix createdAt lastUsedAt revokedAt } }
}"""
TOKEN_CREATE = """
mutation($label: String!) {
  tokenCreate(label: $label) {
    token apiToken { id label prefix createdAt lastUsedAt revokedAt } errors { field message code }
  }
}"""
TOKEN_REVOKE = """
mutation($id: ID!) {
  tokenRevoke(id: $id) { apiToken { id revokedAt } errors { field message code } }
}"""
MEMBER_CREATE = """
mutation($input: TeamMemberCreateInput!) {
  teamMemberCreate(input: $input) {
    teamMember { id email name role active } errors { field message code }
  }
}"""
MEMBER_UPDATE = """
mutation($id: ID!, $input: TeamMemberUpdateInput!) {
  teamMemberUpdate(id: $id, input: $input) {
    teamMember { id name role active } errors { field message code }
  }
}"""
TEAM = """
query($first: Int, $after: String, $role: Role) {
  teamMembers(first: $first, after: $after, role: $role) {
    edges { node { id email role tokens { id label } } }
    pageInfo { hasNextPage endCursor }
  }
}"""


def _errors(payload: dict) -> list[tuple]:
    return sorted((tuple(e["field"] or ()), e["code"]) for e in payload["errors"])


async def _ws_init(server, token: str) -> dict:
    """The server's reply to ``connection_init`` with ``token``: a message, or the close."""
    async with websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {token}"}}))
        try:
            return json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        except websockets.ConnectionClosed as closed:
            return {"closed": closed.rcvd.code if closed.rcvd else None}


async def _token_row(server, token_gid: str) -> dict:
    return await server.call(server.platform.db.fetchrow(
        "SELECT * FROM drumbeat_api_token WHERE id = {}", db_id(token_gid)))


async def _all_members(api: GraphQLClient, **variables) -> list[dict]:
    nodes, after = [], None
    while True:
        page = (await api.data(TEAM, {"first": 50, "after": after, **variables}))["teamMembers"]
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def test_a_new_token_is_shown_once_stored_as_a_hash_and_works(server):
    member_id, first_token = await member_token(server, "MARKETER")
    api = GraphQLClient(server.url, first_token)
    created = (await api.data(TOKEN_CREATE, {"label": "  CI pipeline "}))["tokenCreate"]
    assert created["errors"] == []
    token, api_token = created["token"], created["apiToken"]
    assert token.startswith("dbt_") and api_token["prefix"] == token[:10]
    assert api_token["label"] == "CI pipeline" and api_token["revokedAt"] is None

    row = await _token_row(server, api_token["id"])
    assert row["member"] == member_id
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps(row, default=str)

    me = (await api.as_(token).data(ME))["me"]
    assert db_id(me["id"]) == member_id
    assert [t["label"] for t in me["tokens"]] == ["CI pipeline", "test"]  # newest first
    assert token not in json.dumps(me)  # listed, never shown again

    for label, code in (("", "REQUIRED"), (" ", "REQUIRED"), ("x" * 101, "TOO_LONG"),
                        ("two\nlines", "INVALID")):
        refused = (await api.data(TOKEN_CREATE, {"label": label}))["tokenCreate"]
        assert (refused["token"], _errors(refused)) == (None, [(("label",), code)]), label
    anonymous = (await api.as_(None).data(TOKEN_CREATE, {"label": "x"}))["tokenCreate"]
    assert _errors(anonymous) == [((), "UNAUTHENTICATED")] and anonymous["token"] is None
    assert len((await api.data(ME))["me"]["tokens"]) == 2


async def test_a_revoked_token_stops_working_at_once_over_http_and_websocket(server, admin_api):
    _, token = await member_token(server, "MARKETER")
    _, other_token = await member_token(server, "MARKETER")
    api = GraphQLClient(server.url, token)
    created = (await api.data(TOKEN_CREATE, {"label": "laptop"}))["tokenCreate"]
    laptop, laptop_id = created["token"], created["apiToken"]["id"]
    assert (await api.as_(laptop).data(ME))["me"]["role"] == "MARKETER"
    assert (await _ws_init(server, laptop))["type"] == "connection_ack"

    # Someone else's token is not theirs to revoke (nor to know of); it keeps working.
    foreign = (await api.as_(other_token).data(TOKEN_REVOKE, {"id": laptop_id}))["tokenRevoke"]
    assert _errors(foreign) == [(("id",), "NOT_FOUND")] and foreign["apiToken"] is None
    assert (await api.as_(laptop).data(ME))["me"]["role"] == "MARKETER"

    revoked = (await api.data(TOKEN_REVOKE, {"id": laptop_id}))["tokenRevoke"]
    assert revoked["errors"] == [] and revoked["apiToken"]["revokedAt"] is not None
    body = await api.as_(laptop).execute(ME)
    assert body["data"] is None and body["errors"][0]["message"] == SIGN_IN
    assert await _ws_init(server, laptop) == {"closed": 4403}
    again = (await api.data(TOKEN_REVOKE, {"id": laptop_id}))["tokenRevoke"]
    assert again["apiToken"]["revokedAt"] == revoked["apiToken"]["revokedAt"]  # unchanged
    assert (await api.data(ME))["me"]["role"] == "MARKETER"  # the other token still works

    # An admin may revoke anyone's token.
    mine = (await api.data(ME))["me"]["tokens"]
    active = [t for t in mine if t["revokedAt"] is None]
    assert len(active) == 1
    by_admin = (await admin_api.data(TOKEN_REVOKE, {"id": active[0]["id"]}))["tokenRevoke"]
    assert by_admin["errors"] == []
    assert (await api.execute(ME))["errors"][0]["message"] == SIGN_IN
    wrong_type = (await admin_api.data(TOKEN_REVOKE, {"id": relay.to_base64("Campaign", 1)})
                  )["tokenRevoke"]
    assert _errors(wrong_type) == [(("id",), "INVALID")]


async def test_only_admins_manage_members_and_every_problem_is_reported(server, admin_api):
    member_id, marketer_token = await member_token(server, "MARKETER")
    marketer = admin_api.as_(marketer_token)
    email = f"{unique('new')}@team.example"
    new = {"email": email, "name": "Nora New", "role": "SALES"}

    refused = (await marketer.data(MEMBER_CREATE, {"input": new}))["teamMemberCreate"]
    assert _errors(refused) == [((), "FORBIDDEN")] and refused["teamMember"] is None
    count = "SELECT count(*) FROM drumbeat_team_member WHERE email = {}"
    assert await server.call(server.platform.db.fetchval(count, email)) == 0

    created = (await admin_api.data(MEMBER_CREATE, {"input": {
        **new, "email": f" {email.upper()} "}}))["teamMemberCreate"]
    assert created["errors"] == []
    assert {k: created["teamMember"][k] for k in ("email", "name", "role", "active")} == {
        "email": email, "name": "Nora New", "role": "SALES", "active": True}

    for value, expected in (
        ({"email": "not-an-address", "name": " ", "role": "SALES"},
         [(("input", "email"), "INVALID"), (("input", "name"), "REQUIRED")]),
        ({"email": email.upper(), "name": "", "role": "MARKETER"},
         [(("input", "email"), "DUPLICATE"), (("input", "name"), "REQUIRED")]),
        ({"email": "", "name": "x" * 201, "role": "ADMIN"},
         [(("input", "email"), "REQUIRED"), (("input", "name"), "TOO_LONG")]),
    ):
        payload = (await admin_api.data(MEMBER_CREATE, {"input": value}))["teamMemberCreate"]
        assert _errors(payload) == expected, value
    assert await server.call(server.platform.db.fetchval(count, email)) == 1

    new_id = created["teamMember"]["id"]
    refused = (await marketer.data(MEMBER_UPDATE, {"id": new_id, "input": {"role": "ADMIN"}})
               )["teamMemberUpdate"]
    assert _errors(refused) == [((), "FORBIDDEN")]
    bad = (await admin_api.data(MEMBER_UPDATE, {"id": new_id, "input": {"name": "", "role": None}})
           )["teamMemberUpdate"]
    assert _errors(bad) == [(("input", "name"), "REQUIRED"), (("input", "role"), "REQUIRED")]
    updated = (await admin_api.data(MEMBER_UPDATE, {"id": new_id, "input": {
        "name": "Nora Renamed", "role": "MARKETER"}}))["teamMemberUpdate"]
    assert updated["errors"] == []
    assert (updated["teamMember"]["name"], updated["teamMember"]["role"]) == (
        "Nora Renamed", "MARKETER")

    # Deactivating a member refuses their token at once; reactivating restores it.
    marketer_gid = relay.to_base64("TeamMember", member_id)
    off = (await admin_api.data(MEMBER_UPDATE, {"id": marketer_gid, "input": {"active": False}})
           )["teamMemberUpdate"]
    assert off["teamMember"]["active"] is False
    assert (await marketer.execute(ME))["errors"][0]["message"] == SIGN_IN
    await admin_api.data(MEMBER_UPDATE, {"id": marketer_gid, "input": {"active": True}})
    assert (await marketer.data(ME))["me"]["active"] is True
    missing = (await admin_api.data(MEMBER_UPDATE, {
        "id": relay.to_base64("TeamMember", 987_654), "input": {"name": "x"}}))["teamMemberUpdate"]
    assert _errors(missing) == [(("id",), "NOT_FOUND")]


async def test_the_last_active_admin_can_be_neither_demoted_nor_deactivated(server, admin_api):
    db = server.platform.db
    me = (await admin_api.data(ME))["me"]
    # Make this test's admin the only active one; the others are restored afterwards.
    others = [r["id"] for r in await server.call(db.fetch(
        "SELECT id FROM drumbeat_team_member WHERE role = 'ADMIN' AND active = {} AND id <> {}",
        True, db_id(me["id"])))]
    for other in others:
        await server.call(db.execute(
            "UPDATE drumbeat_team_member SET active = {} WHERE id = {}", False, other))
    try:
        for change in ({"role": "MARKETER"}, {"active": False}, {"role": "SALES", "active": False}):
            payload = (await admin_api.data(MEMBER_UPDATE, {"id": me["id"], "input": change})
                       )["teamMemberUpdate"]
            assert [e["code"] for e in payload["errors"]] == ["LAST_ADMIN"], change
        assert (await admin_api.data(ME))["me"]["role"] == "ADMIN"
        renamed = (await admin_api.data(MEMBER_UPDATE, {"id": me["id"], "input": {
            "name": "Still Admin"}}))["teamMemberUpdate"]
        assert renamed["errors"] == [] and renamed["teamMember"]["role"] == "ADMIN"

        # With a second active admin, the first may step down; then the second is the last.
        second_id, second_token = await member_token(server, "ADMIN")
        second = admin_api.as_(second_token)
        down = (await admin_api.data(MEMBER_UPDATE, {"id": me["id"], "input": {"role": "MARKETER"}})
                )["teamMemberUpdate"]
        assert down["errors"] == [] and down["teamMember"]["role"] == "MARKETER"
        assert _errors((await admin_api.data(MEMBER_CREATE, {"input": {
            "email": f"{unique('x')}@team.example", "name": "X", "role": "SALES"}})
        )["teamMemberCreate"]) == [((), "FORBIDDEN")]  # the new role applies at once
        second_gid = relay.to_base64("TeamMember", second_id)
        last = (await second.data(MEMBER_UPDATE, {"id": second_gid, "input": {"active": False}})
                )["teamMemberUpdate"]
        assert _errors(last) == [(("input", "active"), "LAST_ADMIN")]
        back = (await second.data(MEMBER_UPDATE, {"id": me["id"], "input": {"role": "ADMIN"}})
                )["teamMemberUpdate"]
        assert back["teamMember"]["role"] == "ADMIN"
        off = (await second.data(MEMBER_UPDATE, {"id": second_gid, "input": {"active": False}})
               )["teamMemberUpdate"]
        assert off["errors"] == [] and off["teamMember"]["active"] is False
    finally:
        for other in others:
            await server.call(db.execute(
                "UPDATE drumbeat_team_member SET active = {} WHERE id = {}", True, other))


async def test_tokens_of_others_are_hidden_from_non_admins(server, admin_api):
    first_id, first_token = await member_token(server, "SALES")
    second_id, second_token = await member_token(server, "SALES")
    first = admin_api.as_(first_token)
    second_token_gid = (await first.as_(second_token).data(ME))["me"]["tokens"][0]["id"]

    seen_by_first = {db_id(n["id"]): n for n in await _all_members(first, role="SALES")}
    assert {first_id, second_id} <= set(seen_by_first)
    assert all(n["role"] == "SALES" for n in seen_by_first.values())
    assert [t["label"] for t in seen_by_first[first_id]["tokens"]] == ["test"]
    assert all(n["tokens"] is None for i, n in seen_by_first.items() if i != first_id)
    node = "query($id: ID!) { node(id: $id) { id ... on ApiToken { label } } }"
    assert (await first.data(node, {"id": second_token_gid}))["node"] is None

    seen_by_admin = {db_id(n["id"]): n for n in await _all_members(admin_api)}
    assert [t["id"] for t in seen_by_admin[second_id]["tokens"]] == [second_token_gid]
    assert all(n["tokens"] is not None for n in seen_by_admin.values())
    assert (await admin_api.data(node, {"id": second_token_gid}))["node"]["label"] == "test"


async def test_last_used_at_is_written_at_most_once_a_minute(server):
    db = server.platform.db
    _, token = await member_token(server, "MARKETER")
    api = GraphQLClient(server.url, token)
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    sql = "SELECT last_used_at FROM drumbeat_api_token WHERE token_hash = {}"
    assert await server.call(db.fetchval(sql, token_hash)) is None

    await api.data(ME)
    first_use = await server.call(db.fetchval(sql, token_hash))
    assert first_use is not None
    await api.data(ME)
    await api.data(ME)
    assert await server.call(db.fetchval(sql, token_hash)) == first_use  # no write per request

    for age, rewritten in ((timedelta(seconds=30), False), (timedelta(minutes=2), True)):
        earlier = first_use - age
        await server.call(db.execute(
            "UPDATE drumbeat_api_token SET last_used_at = {} WHERE token_hash = {}",
            earlier, token_hash))
        await api.data(ME)
        after = await server.call(db.fetchval(sql, token_hash))
        assert (after != earlier) is rewritten, age
        if rewritten:
            assert after > first_use
