"""Revoking a token ends its open GraphQL WebSockets, not only its next request.

Real WebSocket clients subscribe to ``campaignEvents``; probes (CONVERTED events recorded on
the campaign) show which sockets still receive. With a re-check interval far longer than the
bounds asserted here, only the revocation notice on the event bus can close a socket in
time; with a short interval and no notice, the periodic re-check does. With Redis events, a
second ``drumbeat serve`` process revokes and the socket of this one closes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import httpx
import pytest
import websockets
from strawberry import relay

from drumbeat.platform.tables import ApiToken
from drumbeat.platform.tables.tracking import EventType
from drumbeat.platform.team import hash_token, now
from drumbeat.platform.token_watch import REVOKED, ROLE_CHANGED
from drumbeat.platform.tracking.events import record_event
from tests.conftest import SECRET, member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import create_campaign, db_id
from tests.support.smtp import free_port
from tests.test_team import ME, MEMBER_UPDATE, TOKEN_CREATE, TOKEN_REVOKE

EVENTS = """
subscription($id: ID!) { campaignEvents(campaignId: $id) { id type detail } }"""
LONG = 600.0  # a re-check interval no test waits for: only a notice closes sockets in time
BOUND = 10.0  # how long a revoked socket may stay open in these tests


class Socket:
    """One connection subscribed to a campaign's events (graphql-transport-ws, or the
    legacy graphql-ws protocol, which Strawberry serves too)."""

    def __init__(self, server, token: str, campaign: str, protocol: str = "graphql-transport-ws"):
        self.server, self.token, self.campaign = server, token, campaign
        legacy = protocol == "graphql-ws"
        self.protocol = protocol
        self.start, self.data = ("start", "data") if legacy else ("subscribe", "next")
        self.idle = {"ka"} if legacy else {"ping"}
        # Strawberry's legacy handler completes each operation it ends; the modern one
        # ends them silently before the close.
        self.last_words = [{"type": "complete", "id": "1"}] if legacy else []
        self.probes: list[str] = []
        self.errors: list[dict] = []
        self.closed: tuple[int, str] | None = None
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async with websockets.connect(self.server.ws_url,
                                      subprotocols=[self.protocol]) as ws:
            await ws.send(json.dumps({"type": "connection_init",
                                      "payload": {"Authorization": f"Bearer {self.token}"}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(json.dumps({"id": "1", "type": self.start, "payload": {
                "query": EVENTS, "variables": {"id": self.campaign}}}))
            try:
                async for raw in ws:
                    message = json.loads(raw)
                    if message["type"] == self.data:
                        assert "errors" not in message["payload"], message
                        self.probes.append(message["payload"]["data"]["campaignEvents"]["detail"])
                    elif message["type"] not in self.idle:
                        self.errors.append(message)
            except websockets.ConnectionClosed:
                pass
            self.closed = (ws.close_code, ws.close_reason)

    async def sees(self, probe: str, timeout: float = 30) -> None:
        """Wait until this socket has received ``probe`` (re-recorded until it does)."""
        deadline = time.monotonic() + timeout
        while probe not in self.probes:
            assert not self.task.done(), (self.closed, self.errors)
            assert time.monotonic() < deadline, f"{probe} never arrived: {self.probes}"
            await self.server.call(record_event(self.server.platform, db_id(self.campaign),
                                                None, EventType.CONVERTED, probe))
            await asyncio.sleep(0.05)

    async def closes(self, timeout: float = BOUND) -> tuple[int, str]:
        await asyncio.wait_for(asyncio.shield(self.task), timeout)
        assert self.errors == self.last_words, self.errors  # closed, not errored
        return self.closed

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def _token_id(api: GraphQLClient, label: str) -> str:
    tokens = (await api.data(ME))["me"]["tokens"]
    return next(t["id"] for t in tokens if t["label"] == label)


def _member_gid(member_id: int) -> str:
    return str(relay.GlobalID("TeamMember", str(member_id)))


async def _campaign(admin_api: GraphQLClient) -> str:
    return await create_campaign(admin_api, f"Campaign {unique('revocation')}")


async def test_a_revoked_token_loses_its_open_socket_at_once_and_nothing_else(make_server):
    server = make_server(ws_token_recheck_seconds=LONG)
    _, admin = await member_token(server, "ADMIN")
    admin_api = GraphQLClient(server.url, admin)
    campaign = await _campaign(admin_api)
    _, laptop = await member_token(server, "MARKETER")
    api = GraphQLClient(server.url, laptop)
    phone = (await api.data(TOKEN_CREATE, {"label": "phone"}))["tokenCreate"]["token"]
    _, other = await member_token(server, "MARKETER")
    revoked, same_member, other_member = (Socket(server, t, campaign)
                                          for t in (laptop, phone, other))
    try:
        for socket in (revoked, same_member, other_member):
            await socket.sees("before")

        started = time.monotonic()
        payload = (await api.data(TOKEN_REVOKE, {"id": await _token_id(api, "test")})
                   )["tokenRevoke"]
        assert payload["errors"] == [] and payload["apiToken"]["revokedAt"]
        assert await revoked.closes() == REVOKED
        assert time.monotonic() - started < BOUND < LONG  # the notice did it, not a re-check

        await same_member.sees("after")  # the member's other token still streams
        await other_member.sees("after")
        assert "after" not in revoked.probes
        again = Socket(server, laptop, campaign)
        with pytest.raises(websockets.ConnectionClosed) as refused:
            await again.task
        assert refused.value.rcvd.code == 4403
    finally:
        for socket in (revoked, same_member, other_member):
            await socket.close()


async def test_deactivating_or_demoting_a_member_closes_their_sockets(make_server):
    server = make_server(ws_token_recheck_seconds=LONG)
    _, admin = await member_token(server, "ADMIN")
    admin_api = GraphQLClient(server.url, admin)
    campaign = await _campaign(admin_api)
    leaver_id, leaver = await member_token(server, "MARKETER")
    mover_id, mover = await member_token(server, "ADMIN")
    _, stayer = await member_token(server, "MARKETER")
    leaving, moving, staying = (Socket(server, t, campaign) for t in (leaver, mover, stayer))
    admins_own = Socket(server, admin, campaign)
    try:
        for socket in (leaving, moving, staying, admins_own):
            await socket.sees("before")

        done = (await admin_api.data(MEMBER_UPDATE, {"id": _member_gid(leaver_id),
                                                     "input": {"active": False}}))
        assert done["teamMemberUpdate"]["errors"] == []
        assert await leaving.closes() == REVOKED

        done = (await admin_api.data(MEMBER_UPDATE, {"id": _member_gid(mover_id),
                                                     "input": {"role": "MARKETER"}}))
        assert done["teamMemberUpdate"]["errors"] == []
        assert await moving.closes() == ROLE_CHANGED

        renamed = (await admin_api.data(MEMBER_UPDATE, {"id": _member_gid(mover_id),
                                                        "input": {"name": "Renamed"}}))
        assert renamed["teamMemberUpdate"]["errors"] == []
        await staying.sees("after")  # neither the changes of others nor a rename end these
        await admins_own.sees("after")
    finally:
        for socket in (leaving, moving, staying, admins_own):
            await socket.close()


async def test_a_revocation_without_a_notice_is_found_by_the_periodic_check(make_server):
    """A revocation written without a notice (another tool, a lost message) still ends
    the socket, within about one interval; valid sockets live through many checks."""
    server = make_server(ws_token_recheck_seconds=0.2)
    _, admin = await member_token(server, "ADMIN")
    campaign = await _campaign(GraphQLClient(server.url, admin))
    _, valid = await member_token(server, "MARKETER")
    staying = Socket(server, valid, campaign)
    try:
        await staying.sees("first")
        for round_ in range(3):
            _, doomed = await member_token(server, "MARKETER")
            revoked = Socket(server, doomed, campaign)
            await revoked.sees(f"round {round_}")
            await server.call(ApiToken.update({ApiToken.revoked_at: now()}).where(
                ApiToken.token_hash == hash_token(doomed)))
            assert await revoked.closes() == REVOKED
        await staying.sees("last")  # checked at least three times meanwhile, still open
        assert staying.closed is None
    finally:
        await staying.close()


async def test_a_legacy_graphql_ws_socket_is_closed_too(make_server):
    server = make_server(ws_token_recheck_seconds=LONG)
    _, admin = await member_token(server, "ADMIN")
    campaign = await _campaign(GraphQLClient(server.url, admin))
    _, token = await member_token(server, "MARKETER")
    legacy = Socket(server, token, campaign, protocol="graphql-ws")
    try:
        await legacy.sees("before")
        api = GraphQLClient(server.url, token)
        payload = (await api.data(TOKEN_REVOKE, {"id": await _token_id(api, "test")})
                   )["tokenRevoke"]
        assert payload["errors"] == []
        assert await legacy.closes() == REVOKED
    finally:
        await legacy.close()


def _serve(backend, port: int, log_path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRUMBEAT_")}
    env.update(PYTHONUNBUFFERED="1", DRUMBEAT_DATABASE_URL=backend.database_url,
               DRUMBEAT_BROKER_URL=backend.broker_url, DRUMBEAT_EVENTS_URL=backend.events_url,
               DRUMBEAT_QUEUE=backend.queue, DRUMBEAT_SECRET_KEY=SECRET,
               DRUMBEAT_WS_TOKEN_RECHECK_SECONDS=str(LONG),
               PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return subprocess.Popen(
        [sys.executable, "-m", "drumbeat", "serve", "--port", str(port), "--log-level", "warning"],
        env=env, cwd=log_path.parent, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True)


async def test_a_revocation_through_another_process_closes_this_ones_socket(
        make_server, backend, tmp_path):
    if not backend.events_url.startswith(("redis:", "rediss:")):
        pytest.skip("notices cross processes through Redis events (DRUMBEAT_TEST_EVENTS_URL)")
    server = make_server(ws_token_recheck_seconds=LONG)
    _, admin = await member_token(server, "ADMIN")
    campaign = await _campaign(GraphQLClient(server.url, admin))
    _, token = await member_token(server, "MARKETER")
    _, other = await member_token(server, "MARKETER")
    revoked, staying = Socket(server, token, campaign), Socket(server, other, campaign)
    port = free_port()
    log = tmp_path / "serve.log"
    serve = _serve(backend, port, log)
    try:
        await revoked.sees("before")
        await staying.sees("before")
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(base_url=base, timeout=2) as client:
            while True:
                assert serve.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        elsewhere = GraphQLClient(base, token)
        payload = (await elsewhere.data(TOKEN_REVOKE, {"id": await _token_id(elsewhere, "test")})
                   )["tokenRevoke"]
        assert payload["errors"] == []
        assert await revoked.closes() == REVOKED
        await staying.sees("after")
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=15)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait(timeout=15)
        await revoked.close()
        await staying.close()
