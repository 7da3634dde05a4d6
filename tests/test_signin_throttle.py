"""Issue 14: failed sign-ins are throttled per client address — over HTTP (429 with
``Retry-After``) and over WebSocket (``connection_init`` refused with close code 4429)."""

from __future__ import annotations

import json

import httpx
import pytest
import websockets

from drumbeat.sign_in_throttle import SignInThrottle
from tests.conftest import member_token

ME = "{ me { id } }"
BAD = "dbt_not-a-real-token"


async def _post(server, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        return await http.post("/graphql", json={"query": ME}, headers=headers)


async def _ws_init(server, token: str) -> tuple[str, int | None, str]:
    """(first message type or 'closed', close code, close reason) after connection_init."""
    async with websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {token}"}}))
        try:
            return json.loads(await ws.recv())["type"], None, ""
        except websockets.ConnectionClosed as closed:
            return "closed", closed.rcvd.code, closed.rcvd.reason


async def test_http_sign_ins_are_throttled_after_the_limit(make_server):
    server = make_server(sign_in_max_failures=3, sign_in_window_seconds=600)
    _, good = await member_token(server, "ADMIN")
    assert (await _post(server, good)).json()["data"]["me"]["id"]
    for _ in range(3):  # three failures: each answered as usual
        response = await _post(server, BAD)
        assert response.status_code == 200
        assert response.json()["errors"][0]["message"] == "Sign in with a bearer token."
    refused = await _post(server, BAD)
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["retry-after"]) <= 600
    assert "Too many failed sign-ins" in refused.json()["errors"][0]["message"]
    # Blocked means blocked: a right guess from the address is not let through either …
    assert (await _post(server, good)).status_code == 429
    # … while a request without a token (which can do nothing) is answered as ever.
    anonymous = await _post(server, None)
    assert anonymous.status_code == 200 and anonymous.json()["errors"]
    # The WebSocket of the same address is refused too, with 4429.
    kind, code, reason = await _ws_init(server, good)
    assert (kind, code) == ("closed", 4429) and "Too many failed sign-ins" in reason


async def test_websocket_sign_ins_count_and_are_refused_with_4429(make_server):
    server = make_server(sign_in_max_failures=2, sign_in_window_seconds=600)
    _, good = await member_token(server, "ADMIN")
    assert (await _ws_init(server, good))[0] == "connection_ack"
    for _ in range(2):
        kind, code, _reason = await _ws_init(server, BAD)
        assert (kind, code) == ("closed", 4403)  # an ordinary refusal
    kind, code, reason = await _ws_init(server, BAD)
    assert (kind, code) == ("closed", 4429), (kind, code, reason)
    assert (await _post(server, good)).status_code == 429  # and HTTP from that address


def test_the_window_slides_addresses_are_separate_and_memory_is_bounded():
    now = [0.0]
    throttle = SignInThrottle(2, 60, max_addresses=3, clock=lambda: now[0])
    throttle.failed("a")
    now[0] = 30
    throttle.failed("a")
    assert throttle.retry_after("a") == 30 and throttle.retry_after("b") is None
    now[0] = 61  # the first failure left the window
    assert throttle.retry_after("a") is None
    for address in ("b", "c", "d", "e"):
        throttle.failed(address)
    assert len(throttle) == 3  # the least recently failing address was forgotten
    assert SignInThrottle(0, 60).retry_after("a") is None  # 0 = no limit


@pytest.mark.parametrize("value", ["-1", "x"])
def test_bad_settings_stop_start_up(value):
    from drumbeat.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="DRUMBEAT_SIGN_IN_MAX_FAILURES"):
        Settings.from_env({"DRUMBEAT_SIGN_IN_MAX_FAILURES": value})
