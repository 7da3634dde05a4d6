"""Inbound webhooks (replies, deliveries, bounces, complaints): HMAC signatures with key
rotation and a replay window, 10k tampered requests refused, each provider event once,
and what a hard bounce or a complaint does to pending deliveries — on a live server."""

from __future__ import annotations

import asyncio
import json
import random
import time

import httpx
import pytest

from drumbeat.platform.tracking import inbound
from drumbeat.platform.tracking.links import EmailTracking
from drumbeat.platform.tracking.tokens import parse_keys
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN, add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
)

NEW = "k2:" + "n" * 32
OLD = "k1:" + "o" * 32
BODY = b'{"id": "evt-1", "type": "REPLIED", "messageId": "<a@b>"}'


def test_ten_thousand_tampered_webhook_requests_are_refused():
    keyring = parse_keys((NEW, OLD + ":2999-01-01"), "")
    now = time.time()
    header = inbound.sign(keyring, BODY, int(now))
    inbound.verify(keyring, header, BODY, now)  # the genuine one passes
    rng = random.Random(8)
    refused = 0
    for _ in range(5000):
        i = rng.randrange(len(header))
        forged_header = header[:i] + rng.choice("abcXYZ019-_=,") + header[i + 1:]
        j = rng.randrange(len(BODY))
        forged_body = BODY[:j] + bytes([rng.randrange(32, 127)]) + BODY[j + 1:]
        for h, b in ((forged_header, BODY), (header, forged_body)):
            if h == header and b == BODY:
                refused += 1  # the mutation changed nothing
                continue
            with pytest.raises(inbound.InboundError) as exc:
                inbound.verify(keyring, h, b, now)
            assert exc.value.status == 401
            refused += 1
    assert refused == 10_000


def test_rotated_keys_verify_during_their_grace_period_and_old_signatures_expire():
    body, now = b"{}", time.time()
    old_signer = parse_keys((OLD,), "")
    inbound.verify(parse_keys((NEW, OLD + ":2999-01-01"), ""), inbound.sign(old_signer, body), body)
    for keys, at in (((NEW, OLD + ":2000-01-01"), now),  # rotated out, grace over
                     ((NEW,), now),  # unknown kid
                     ((OLD,), now - inbound.TOLERANCE_SECONDS - 5),  # a replay
                     ((OLD,), now + inbound.TOLERANCE_SECONDS + 5)):
        with pytest.raises(inbound.InboundError):
            inbound.verify(parse_keys(keys, ""), inbound.sign(old_signer, body, int(at)), body)


async def _completed(api, campaign: str) -> None:
    deadline = time.monotonic() + 60
    while (await api.data(CAMPAIGN, {"id": campaign}))["campaign"]["state"] != "COMPLETED":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def _rows(server, campaign: str) -> dict[str, dict]:
    rows = await server.call(server.platform.db.fetch(
        "SELECT id, address, state, skip_reason, message_id FROM drumbeat_delivery"
        " WHERE campaign = {}", db_id(campaign)))
    return {r["address"]: dict(r) for r in rows}


async def _events(server, campaign: str) -> list[tuple[str, str, str]]:
    rows = await server.call(server.platform.db.fetch(
        "SELECT d.address, e.type, e.detail FROM drumbeat_delivery_event e"
        " JOIN drumbeat_delivery d ON d.id = e.delivery"
        " WHERE e.campaign = {} AND e.type <> 'SENT' ORDER BY e.id", db_id(campaign)))
    return [(r["address"], r["type"], r["detail"]) for r in rows]


async def test_replies_bounces_and_complaints_reach_the_ledger_once(make_server):
    server = make_server(secret_keys=(NEW,), retry_backoff_seconds=3600,
                         retry_backoff_max_seconds=7200)
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("inbound")
    replier, bouncer, complainer, waiting = (f"{tag}-{n}@example.org" for n in
                                             ("r", "b", "c", "w+tempfail"))
    first = await create_campaign(api, f"{tag}-1")
    await add_recipients(api, first, await create_contacts(
        api, [{"email": a} for a in (replier, bouncer, complainer)]))
    await launch_campaign(api, first)
    await _completed(api, first)
    sent = await _rows(server, first)
    # A second campaign still has a pending delivery to the bouncing address (its first
    # attempt to the other address is refused with a 4xx and backs off for an hour).
    second = await create_campaign(api, f"{tag}-2")
    await add_recipients(api, second, await create_contacts(api, [{"email": waiting}]))
    await launch_campaign(api, second)
    deadline = time.monotonic() + 30
    while (await _rows(server, second))[waiting]["state"] != "pending" or \
            not await server.call(server.platform.db.fetchval(
                "SELECT attempts FROM drumbeat_delivery WHERE campaign = {}", db_id(second))):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    waiting_id = (await _rows(server, second))[waiting]["id"]
    keyring = parse_keys((NEW,), "")

    async def post(payload, http, signer=keyring) -> httpx.Response:
        body = json.dumps(payload).encode()
        return await http.post("/webhooks/inbound", content=body, headers={
            "Drumbeat-Signature": inbound.sign(signer, body),
            "Content-Type": "application/json"})

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        reply = {"id": f"{tag}-r", "type": "REPLIED", "messageId": sent[replier]["message_id"],
                 "detail": "Thanks, call me"}
        assert (await post(reply, http)).json() == {"status": "recorded"}
        assert (await post(reply, http)).json() == {"status": "duplicate"}  # a provider retry
        delivered = {"id": f"{tag}-d", "type": "DELIVERED",
                     "messageId": sent[replier]["message_id"].strip("<>")}
        assert (await post(delivered, http)).status_code == 200
        # A VERP-style token names the delivery instead of its Message-ID.
        token = EmailTracking(server.settings).webhook_token(sent[bouncer]["id"])
        assert (await post({"id": f"{tag}-b", "type": "BOUNCED", "bounce": "HARD",
                            "token": token, "detail": "550 no such user"}, http)).status_code == 200
        assert (await post({"id": f"{tag}-c", "type": "COMPLAINED",
                            "messageId": sent[complainer]["message_id"]}, http)).status_code == 200
        # The pending delivery in the other campaign is to an address that now bounces.
        await server.call(server.platform.db.execute(
            "UPDATE drumbeat_delivery SET address = {} WHERE id = {}", bouncer, waiting_id))
        assert (await post({"id": f"{tag}-b2", "type": "BOUNCED", "token": token}, http)
                ).status_code == 200

        refused = [
            (await post({**reply, "id": f"{tag}-x"}, http, parse_keys(("zz:" + "z" * 32,), ""))),
            (await http.post("/webhooks/inbound", content=b"{}")),
            (await post({"id": f"{tag}-y", "type": "REPLIED", "messageId": "<nope@x>"}, http)),
            (await post({"id": f"{tag}-z", "type": "OPENED", "messageId": "<a@b>"}, http)),
            (await post({"type": "REPLIED", "messageId": "<a@b>"}, http)),
        ]
        assert [r.status_code for r in refused] == [401, 401, 404, 400, 400]
        assert "id" in refused[-1].json()["error"]

    assert await _events(server, first) == [
        (replier, "REPLIED", "Thanks, call me"), (replier, "DELIVERED", ""),
        (bouncer, "BOUNCED", "hard: 550 no such user"), (complainer, "UNSUBSCRIBED", "complaint"),
        (bouncer, "BOUNCED", "hard")]
    db = server.platform.db
    reasons = await server.call(db.fetch(
        "SELECT address, reason FROM drumbeat_suppression WHERE address IN ({}, {})",
        bouncer, complainer))
    assert {r["address"]: r["reason"] for r in reasons} == {bouncer: "HARD_BOUNCE",
                                                            complainer: "COMPLAINT"}
    flags = await server.call(db.fetch(
        "SELECT email, bounced, unsubscribed FROM drumbeat_contact WHERE email IN ({}, {})",
        bouncer, complainer))
    assert {r["email"]: (bool(r["bounced"]), bool(r["unsubscribed"])) for r in flags} == {
        bouncer: (True, False), complainer: (False, True)}
    skipped = (await _rows(server, second))[bouncer]
    assert (skipped["state"], skipped["skip_reason"]) == ("skipped", "BOUNCED")
    await _completed(api, second)
    metrics = await api.data("query($id: ID!) { campaign(id: $id) { metrics {"
                             " totals { delivered replies bounces unsubscribes } } } }", {"id": first})
    assert metrics["campaign"]["metrics"]["totals"] == {
        "delivered": 2, "replies": 1, "bounces": 1, "unsubscribes": 1}  # sent − bounces
