"""The mail provider's signed events cannot be replayed either: the signature covers the
method and the path, ids are bounded, five identical events at once record one, and the
reconciler forgets ids after their retention — on a live server."""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from drumbeat.platform.tracking import inbound, inbound_ids, signed_requests
from drumbeat.platform.tracking.tokens import parse_keys
from drumbeat.worker.reconciler import reconcile_once
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN, add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
)

KEY = "k4:" + "w" * 32
KEYRING = parse_keys((KEY,), "")


async def _sent_message(api: GraphQLClient, server, tag: str) -> tuple[str, str]:
    """(campaign id, Message-ID) of one message sent to a new contact."""
    campaign = await create_campaign(api, tag)
    await add_recipients(api, campaign, await create_contacts(
        api, [{"email": f"{tag}@example.org"}]))
    await launch_campaign(api, campaign)
    deadline = time.monotonic() + 60
    while (await api.data(CAMPAIGN, {"id": campaign}))["campaign"]["state"] != "COMPLETED":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    message_id = await server.call(server.platform.db.fetchval(
        "SELECT message_id FROM drumbeat_delivery WHERE campaign = {}", db_id(campaign)))
    return campaign, message_id


async def _replies(server, campaign: str) -> int:
    return await server.call(server.platform.db.fetchval(
        "SELECT count(*) FROM drumbeat_delivery_event WHERE campaign = {} AND type = 'REPLIED'",
        db_id(campaign)))


async def test_webhook_signatures_name_the_method_and_path_and_ids_are_bounded(make_server):
    server = make_server(secret_keys=(KEY,))
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("hooks")
    campaign, message_id = await _sent_message(api, server, tag)

    def reply(event_id: str) -> bytes:
        return json.dumps({"id": event_id, "type": "REPLIED", "messageId": message_id}).encode()

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        async def post(raw: bytes, header: str, path: str = "/webhooks/inbound"):
            return await http.post(path, content=raw, headers={"Drumbeat-Signature": header})

        raw = reply(f"{tag}-1")
        refused = [
            await post(raw, inbound.sign(KEYRING, raw, path="/webhooks/other")),
            await post(raw, inbound.sign(KEYRING, raw, path="/webhooks/inbound?x=1")),
            await post(raw, signed_requests.sign(KEYRING, "inbound", "PUT",
                                                 "/webhooks/inbound", raw)),
            await post(raw, signed_requests.sign(KEYRING, "trigger", "POST",
                                                 "/webhooks/inbound", raw)),
            await post(raw, inbound.sign(KEYRING, raw), path="/webhooks/inbound?x=1"),
        ]
        assert [r.status_code for r in refused] == [401] * 5, [r.text for r in refused]
        for bad in ("", "x" * 201, "evt 1", "evt\n1", "évènement"):
            body = reply(bad)
            answer = await post(body, inbound.sign(KEYRING, body))
            assert answer.status_code == 400 and answer.json()["error"].startswith("id:"), bad
        assert await _replies(server, campaign) == 0

        first = await post(raw, inbound.sign(KEYRING, raw))
        assert first.json() == {"status": "recorded"}
        assert (await post(raw, inbound.sign(KEYRING, raw))).json() == {"status": "duplicate"}
    assert await _replies(server, campaign) == 1


async def test_five_identical_events_at_once_record_one_and_old_ids_are_forgotten(make_server):
    server = make_server(secret_keys=(KEY,))
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("burst")
    campaign, message_id = await _sent_message(api, server, tag)
    raw = json.dumps({"id": f"{tag}-evt", "type": "REPLIED", "messageId": message_id}).encode()
    header = inbound.sign(KEYRING, raw)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        answers = await asyncio.gather(*(http.post("/webhooks/inbound", content=raw, headers={
            "Drumbeat-Signature": header}) for _ in range(5)))
    assert sorted(a.json()["status"] for a in answers) == ["duplicate"] * 4 + ["recorded"]
    assert await _replies(server, campaign) == 1

    db = server.platform.db
    old = time.time() - inbound_ids.RETENTION_SECONDS - 60

    async def age(event_id: str, received_at: float) -> None:
        await db.execute("UPDATE drumbeat_inbound_id SET received_at = {} WHERE scope = {}"
                         " AND event_id = {}", received_at, inbound_ids.INBOUND_SCOPE, event_id)

    async def kept() -> set[str]:
        rows = await db.fetch("SELECT event_id FROM drumbeat_inbound_id WHERE event_id IN"
                              " ({}, {})", f"{tag}-evt", f"{tag}-young")
        return {r["event_id"] for r in rows}

    async def claim_young() -> None:
        async with db.transaction():
            assert await inbound_ids.claim(db, inbound_ids.INBOUND_SCOPE, f"{tag}-young",
                                           time.time())

    await server.call(claim_young())
    await server.call(age(f"{tag}-evt", old))
    await server.call(age(f"{tag}-young", old + 120))  # a minute within the retention
    assert await server.call(kept()) == {f"{tag}-evt", f"{tag}-young"}
    await server.call(reconcile_once(server.platform))
    assert await server.call(kept()) == {f"{tag}-young"}
