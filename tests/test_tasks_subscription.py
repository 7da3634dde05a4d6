"""``myTasks`` over a real WebSocket: a member gets their tasks as a worker makes them
(after commit), as they change, and when they are taken away — and nobody else's."""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing

import pytest
import websockets

from tests.conftest import member_token
from tests.support.graphql import subscribe
from tests.support.queries import launch_campaign
from tests.test_tasks_plugin import REASSIGN, RECORD, campaign_with, completed, member_gid, people

MY_TASKS = """
subscription { myTasks { change taskId missed task { id title status assignee { id } } } }
"""
PROBE = "VGFzazow"  # Task:0, which never exists


class Reader:
    """Reads ``myTasks`` as one member into ``updates``."""

    def __init__(self, server, member_id: int, token: str):
        self.server, self.member_id = server, member_id
        self.updates: list[dict] = []
        self.task = asyncio.create_task(self._read(server.ws_url, token))

    async def _read(self, ws_url: str, token: str) -> None:
        stream = subscribe(ws_url, token, MY_TASKS)
        async with aclosing(stream):
            async for payload in stream:
                assert "errors" not in payload, payload
                self.updates.append(payload["data"]["myTasks"])

    def real(self) -> list[dict]:
        return [u for u in self.updates if u["taskId"] != PROBE]

    async def until(self, predicate, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            assert not self.task.done(), self.task
            assert time.monotonic() < deadline, self.updates
            await asyncio.sleep(0.02)

    async def until_live(self) -> None:
        """Publish probes on the member's channel until this client sees one."""
        while not any(u["taskId"] == PROBE for u in self.updates):
            assert not self.task.done(), self.task
            await self.server.call(self.server.platform.events.publish(
                f"member:{self.member_id}", {"type": "tasks", "change": "UPDATED", "ids": [0]}))
            await asyncio.sleep(0.05)


async def test_my_tasks_streams_the_members_own_tasks(server, admin_api):
    a_id, a_token = await member_token(server, "SALES")
    b_id, b_token = await member_token(server, "SALES")
    a, b = Reader(server, a_id, a_token), Reader(server, b_id, b_token)
    try:
        await a.until_live()
        await b.until_live()
        config = {"title": "Call {{ contact.first_name }}", "script": "Hi",
                  "assignment": {"strategy": "MEMBER", "members": [member_gid(a_id)]}}
        campaign = await campaign_with(admin_api, "phone_call", config, people("mine", 5))
        await launch_campaign(admin_api, campaign)
        await a.until(lambda r: len(r.real()) == 5)
        assert {u["change"] for u in a.real()} == {"ASSIGNED"}
        assert sorted(u["task"]["title"] for u in a.real()) == [f"Call P{i:02d}" for i in range(5)]
        assert all(u["task"]["assignee"]["id"] == member_gid(a_id) for u in a.real())
        await completed(admin_api, campaign)

        first, second = a.real()[0]["taskId"], a.real()[1]["taskId"]
        moved = (await admin_api.data(REASSIGN, {"id": first, "a": member_gid(b_id)}))
        assert moved["taskReassign"]["errors"] == []
        await b.until(lambda r: len(r.real()) == 1)
        assert (b.real()[0]["change"], b.real()[0]["taskId"]) == ("ASSIGNED", first)
        await a.until(lambda r: len(r.real()) == 6)
        assert a.real()[5] == {"change": "UNASSIGNED", "taskId": first, "missed": 0,
                               "task": None}

        recorded = await admin_api.as_(a_token).data(
            RECORD, {"input": {"id": second, "outcome": "REACHED"}})
        assert recorded["taskRecordCallOutcome"]["errors"] == []
        await a.until(lambda r: len(r.real()) == 7)
        assert a.real()[6]["change"] == "UPDATED"
        assert a.real()[6]["task"]["status"] == "DONE"
        assert len(b.real()) == 1, "b got only the task given to b"
    finally:
        for reader in (a, b):
            reader.task.cancel()
        await asyncio.gather(a.task, b.task, return_exceptions=True)


async def test_an_anonymous_connection_gets_no_tasks(server):
    payloads = []
    with pytest.raises(websockets.ConnectionClosedError) as refused:
        async for payload in subscribe(server.ws_url, None, MY_TASKS):
            payloads.append(payload)
    assert refused.value.rcvd.code == 4403 and payloads == []
