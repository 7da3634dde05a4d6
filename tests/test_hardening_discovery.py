"""Issue 14: production answers neither introspection nor "Did you mean …?" hints (for
fields, arguments, enum values, input fields and types), to a caller with or without a
token; ``DRUMBEAT_INTROSPECTION`` turns both on or off in any environment."""

from __future__ import annotations

import httpx
import pytest

from drumbeat.settings import Settings, SettingsError
from tests.conftest import member_token

INTROSPECTION = ["{ __schema { queryType { name } } }", '{ __type(name: "Query") { name } }']
# Each mistake is one letter away from a real name, so graphql-core would suggest it.
MISTAKES = [
    ("{ campain(id: \"x\") { id } }", None),                          # field
    ("{ campaign(idd: \"x\") { id } }", None),                        # argument
    ("{ csvExport(kind: CONTACT) { csv } }", None),                   # enum literal
    ("query($k: ImportKind!) { csvExport(kind: $k) { csv } }", {"k": "CONTACT"}),  # enum variable
    ("query($f: CampaignFilter) { campaigns(filter: $f) { edges { cursor } } }",
     {"f": {"textt": "x"}}),                                             # input field (variable)
    ("{ campaigns(filter: {textt: \"x\"}) { edges { cursor } } }", None),     # input field (literal)
    ("query($f: CampaignFiltr) { campaigns(filter: $f) { edges { cursor } } }", None),  # type
]


async def _post(server, token: str | None, query: str, variables=None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        response = await http.post("/graphql", json={"query": query, "variables": variables},
                                   headers=headers)
    return response.json()


def _messages(body: dict) -> str:
    return " | ".join(e["message"] for e in body.get("errors") or [])


@pytest.mark.parametrize("environment, setting, open_", [
    ("production", "", False), ("development", "", True), ("production", "on", True),
    ("development", "off", False)])
async def test_introspection_and_hints_follow_the_setting(make_server, environment, setting,
                                                          open_):
    server = make_server(environment=environment, **({"introspection": setting} if setting else {}))
    _, token = await member_token(server, "ADMIN")
    for who in (None, token):
        for query in INTROSPECTION:
            body = await _post(server, who, query)
            if open_:
                assert not body.get("errors") and body["data"], body
            else:
                assert body.get("data") is None and "introspection" in _messages(body), body
        hints = []
        for query, variables in MISTAKES:
            body = await _post(server, who, query, variables)
            assert body.get("errors"), (query, body)
            hints.append("Did you mean" in _messages(body))
        assert hints == [open_] * len(MISTAKES), list(zip(MISTAKES, hints))
    assert (await _post(server, None, "{ __typename }"))["data"] == {"__typename": "Query"}


def test_the_setting_is_on_or_off():
    assert Settings.from_env({"DRUMBEAT_INTROSPECTION": "on", "DRUMBEAT_ENVIRONMENT": "production",
                              "DRUMBEAT_SECRET_KEY": "k" * 40}).introspection_enabled
    with pytest.raises(SettingsError, match="DRUMBEAT_INTROSPECTION must be 'on' or 'off'"):
        Settings.from_env({"DRUMBEAT_INTROSPECTION": "yes"})
