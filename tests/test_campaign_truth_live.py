"""Issue 13's live = replay acceptance: ``campaignEvents`` frames read over a real WebSocket
while a campaign runs equal, field by field, the replay of the same events (``after: 0``)
and ``Campaign.recentEvents`` — with a FAILED frame carrying the SMTP server's 550 text, a
DEFERRED one with its retry time, a SKIPPED one (UNSUBSCRIBED), and OPENED, CLICKED and
REPLIED frames (real tracking and inbound endpoints) that name the recipient and address."""

from __future__ import annotations

import asyncio
import contextlib
import time
from contextlib import aclosing

import httpx

from drumbeat.platform.tables.tracking import EventType
from drumbeat.platform.tracking.events import record_event
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient, subscribe
from tests.support.queries import (
    add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
)
from tests.test_campaign_truth import (
    AFTER_SCANNER_WINDOW, BROWSER, CONTACT_UPDATE, FRAME, INTRO, KEY, METRICS, RECENT, at,
    campaign_state, counts, hit, links, received, reply,
)

LIVE = f"""subscription($id: ID!, $after: Int) {{
  campaignEvents(campaignId: $id, after: $after) {{ {FRAME} missed }} }}"""
BY_STATE = """query($id: ID!, $filter: DeliveryFilter) { campaign(id: $id) {
  deliveries(filter: $filter) { edges { node {
    deliveryId state attempts reason doneAt actionType recipient { name address } step { id }
  } } } } }"""


class Frames:
    """Every frame of one ``campaignEvents`` subscription, read in the background."""

    def __init__(self, server, token: str, campaign: str, after: int | None = None):
        self.frames: list[dict] = []
        self.task = asyncio.create_task(self._read(server.ws_url, token, {
            "id": campaign, "after": after}))

    async def _read(self, ws_url: str, token: str, variables: dict) -> None:
        stream = subscribe(ws_url, token, LIVE, variables)
        async with aclosing(stream):
            async for payload in stream:
                assert "errors" not in payload, payload
                self.frames.append(payload["data"]["campaignEvents"])

    async def until_live(self, server, campaign: str) -> None:
        """Record probe events (of no delivery) until one arrives: subscribed by then."""
        while not self.frames:
            assert not self.task.done(), self.task
            await server.call(record_event(server.platform, db_id(campaign), None,
                                           EventType.CONVERTED, "probe"))
            await asyncio.sleep(0.1)

    async def until(self, ids: set[int], timeout: float = 30) -> list[dict]:
        """Wait until the events ``ids`` arrived, stop reading; every frame read."""
        deadline = time.monotonic() + timeout
        while not ids <= {f["id"] for f in self.frames}:
            assert not self.task.done(), self.task
            assert time.monotonic() < deadline, sorted(ids - {f["id"] for f in self.frames})
            await asyncio.sleep(0.05)
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        return self.frames


async def test_live_frames_equal_their_replay_with_failures_and_skips(make_server, smtp_sink):
    server = make_server(secret_keys=(KEY,), retry_backoff_seconds=0.2)
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("live")
    # Bob's server answers 550, Cat's 451 once (deferred, then sent); Uma unsubscribed.
    people = {"Ann": "", "Bob": "+reject", "Cat": "+tempfail", "Uma": ""}
    address = {n: f"{tag}-{n.lower()}{kind}@example.org" for n, kind in people.items()}
    contacts = dict(zip(people, await create_contacts(api, [
        {"email": address[n], "firstName": n, "lastName": "Live"} for n in people])))
    assert (await api.data(CONTACT_UPDATE, {"id": contacts["Uma"], "input": {
        "unsubscribed": True}}))["contactUpdate"]["errors"] == []
    campaign = await create_campaign(api, f"Live {tag}", INTRO)
    assert (await add_recipients(api, campaign, list(contacts.values())))["added"] == 4

    live = Frames(server, api.token, campaign)
    await live.until_live(server, campaign)
    first_live = live.frames[0]["id"]  # earlier probes were recorded before it subscribed
    await launch_campaign(api, campaign)
    await campaign_state(api, campaign, "COMPLETED")
    await asyncio.sleep(AFTER_SCANNER_WINDOW)
    sent = received(smtp_sink, campaign, "Hello")
    assert sorted(sent) == [address["Ann"], address["Cat"]]
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=BROWSER) as http:
        pixel, link = links(sent[address["Ann"]])
        await hit(http, pixel)
        await hit(http, link)
        await reply(http, sent[address["Cat"]].message_id, f"{tag}-reply")

    recent = (await api.data(RECENT, {"id": campaign}))["campaign"]["recentEvents"]
    ids = {e["id"] for e in recent}
    live_frames = await live.until({i for i in ids if i >= first_live})
    replay = await Frames(server, api.token, campaign, after=0).until(ids)
    assert all(f.pop("missed") == 0 for f in live_frames + replay)
    assert [f["id"] for f in replay] == [f["id"] for f in recent] == sorted(ids), \
        "every event once, in id order"
    assert replay == recent, "replayed = recent, field by field"
    assert live_frames == [f for f in replay if f["id"] >= first_live], \
        "live = replayed, field by field"

    # What the frames say: who, which step, why.
    [step] = (await api.data("query($id: ID!) { campaign(id: $id) { steps { id } } }",
                             {"id": campaign}))["campaign"]["steps"]
    probes = [f for f in recent if f["recipient"] is None]
    assert probes, "the probes that told us the subscription was live"
    assert {(f["type"], f["deliveryId"], f["step"], f["actionType"], f["address"])
            for f in probes} == {("CONVERTED", None, None, None, None)}
    assert sorted((f["recipient"]["name"], f["type"]) for f in recent if f["recipient"]) == [
        ("Ann Live", "CLICKED"), ("Ann Live", "OPENED"), ("Ann Live", "SENT"),
        ("Bob Live", "FAILED"), ("Cat Live", "DEFERRED"), ("Cat Live", "REPLIED"),
        ("Cat Live", "SENT"), ("Uma Live", "SKIPPED")]
    frame = {}
    for f in recent:
        if f["recipient"] is None:
            continue
        name = f["recipient"]["name"].split()[0]
        frame[name, f["type"]] = f
        assert f["recipient"] == {"id": contacts[name], "kind": "contact",
                                  "name": f"{name} Live", "address": address[name]}, f
        assert (f["address"], f["actionType"], f["step"]["id"], f["step"]["actionType"]) == (
            address[name], "email", step["id"], "email"), f
        assert f["deliveryId"] is not None
        assert (f["reason"] is not None) == (f["type"] in ("FAILED", "SKIPPED", "DEFERRED")), f
        assert (f["retryAt"] is not None) == (f["type"] == "DEFERRED"), f
    failed = frame["Bob", "FAILED"]
    assert "550" in failed["reason"] and "mailbox unavailable" in failed["reason"], failed
    assert frame["Uma", "SKIPPED"]["reason"] == "UNSUBSCRIBED"
    deferred = frame["Cat", "DEFERRED"]
    assert "451" in deferred["reason"] and "try again later" in deferred["reason"], deferred
    assert at(deferred["retryAt"]) > at(deferred["createdAt"])
    assert frame["Cat", "DEFERRED"]["deliveryId"] == frame["Cat", "SENT"]["deliveryId"]
    assert frame["Ann", "CLICKED"]["detail"] == "https://shop.example/intro"
    assert frame["Cat", "REPLIED"]["detail"] == "Yes, call me"

    data = (await api.data(METRICS, {"id": campaign}))["campaign"]
    assert data["counters"] == {"total": 4, "pending": 0, "waiting": 0, "inProgress": 0,
                                "done": 2, "failed": 1, "skipped": 1}
    totals = data["metrics"]["totals"]
    assert totals.pop("medianReactionSeconds") is not None
    assert totals == counts(2, 1, opens=1, clicks=1, replies=1, reached=2, failed=1)

    # The failure and the skip in the deliveries list, with their reasons.
    found = {}
    for state, reason in (("FAILED", None), ("FAILED", "MAILBOX"), ("SKIPPED", "UNSUBSCRIBED")):
        data = await api.data(BY_STATE, {"id": campaign, "filter": {"state": state,
                                                                    "reason": reason}})
        found[state, reason] = [e["node"] for e in data["campaign"]["deliveries"]["edges"]]
    [bob] = found["FAILED", None]
    assert found["FAILED", "MAILBOX"] == [bob], "a part of the error, in any letter case"
    assert (bob["deliveryId"], bob["state"], bob["attempts"], bob["actionType"],
            bob["recipient"], bob["step"]) == (
        failed["deliveryId"], "FAILED", 1, "email",
        {"name": "Bob Live", "address": address["Bob"]}, {"id": step["id"]})
    assert bob["reason"] == failed["reason"] and bob["doneAt"] is not None
    [uma] = found["SKIPPED", "UNSUBSCRIBED"]
    assert (uma["deliveryId"], uma["state"], uma["reason"], uma["doneAt"]) == (
        frame["Uma", "SKIPPED"]["deliveryId"], "SKIPPED", "UNSUBSCRIBED", None)
