"""Email execution guarantees against a real SMTP server (aiosmtpd), through the API:
retries with backoff, permanent failures, hard bounces → suppression (also checked at send
time), and chunk messages delivered twice without a duplicate email."""

from __future__ import annotations

import asyncio
import time

from strawberry import relay

from drumbeat.platform import ledger
from drumbeat.platform.execution import run_chunk
from drumbeat.platform.suppression import suppress
from drumbeat.platform.tables.deliveries import SuppressionReason
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN, add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
)
from tests.support.smtp import SmtpSink

FINAL = ("done", "failed", "skipped")


async def _launch(api, addresses: list[str]) -> str:
    """An email campaign to one new contact per address, launched; returns its global id."""
    people = [{"email": a, "firstName": f"P{i}", "lastName": "Tester"}
              for i, a in enumerate(addresses)]
    campaign = await create_campaign(api, unique("Delivery"))
    added = await add_recipients(api, campaign, await create_contacts(api, people))
    assert added["errors"] == [] and added["added"] == len(addresses)
    await launch_campaign(api, campaign)
    return campaign


async def _completed(api, campaign: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = (await api.data(CAMPAIGN, {"id": campaign}))["campaign"]
        if state["state"] == "COMPLETED":
            return state["counters"]
        assert time.monotonic() < deadline, f"not completed in {timeout} s: {state}"
        await asyncio.sleep(0.05)


async def _ledger(server, campaign: str) -> dict[str, dict]:
    rows = await server.call(server.platform.db.fetch(
        "SELECT id, campaign, step, address, state, attempts, last_error, skip_reason,"
        " lease_until FROM drumbeat_delivery WHERE campaign = {} ORDER BY id", db_id(campaign)))
    return {r["address"]: dict(r) for r in rows}


def _addresses(tag: str, *kinds: str) -> list[str]:
    return [f"{tag}-{i}{'+' + kind if kind else ''}@example.org" for i, kind in enumerate(kinds)]


def _received_by(sink: SmtpSink, campaign: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for message in sink.messages(db_id(campaign)):
        counts[message.rcpt_to[0]] = counts.get(message.rcpt_to[0], 0) + 1
    return counts


def test_backoff_doubles_per_attempt_up_to_the_cap():
    backoff = ledger.Backoff(base=1.0, cap=5.0)
    for attempt, full in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (40, 5.0), (5000, 5.0)):
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays), (attempt, min(delays), max(delays))
        assert len(set(delays)) > 1, "jittered"


async def test_temporary_failure_is_retried_then_done(make_server, smtp_sink):
    server = make_server(retry_backoff_seconds=0.1)
    api = await _admin(server)
    addresses = _addresses(unique("temp"), "", "tempfail", "")
    campaign = await _launch(api, addresses)

    counters = await _completed(api, campaign)
    assert (counters["done"], counters["failed"], counters["total"]) == (3, 0, 3)
    rows = await _ledger(server, campaign)
    assert [rows[a]["attempts"] for a in addresses] == [1, 2, 1]
    assert all(r["state"] == "done" and r["last_error"] is None for r in rows.values())
    assert _received_by(smtp_sink, campaign) == {a: 1 for a in addresses}


async def test_retries_stop_after_max_attempts_with_the_last_reason(make_server, smtp_sink):
    server = make_server(retry_backoff_seconds=0.05, max_attempts=3)
    api = await _admin(server)
    addresses = _addresses(unique("busy"), "busy", "")
    campaign = await _launch(api, addresses)

    counters = await _completed(api, campaign)
    assert (counters["done"], counters["failed"]) == (1, 1)
    busy = (await _ledger(server, campaign))[addresses[0]]
    assert (busy["state"], busy["attempts"]) == ("failed", 3)
    assert "451" in busy["last_error"] and "busy, try again later" in busy["last_error"]
    assert "gave up after 3 attempts" in busy["last_error"]
    assert _received_by(smtp_sink, campaign) == {addresses[1]: 1}


async def test_permanent_refusal_fails_that_delivery_and_the_chunk_goes_on(server, admin_api,
                                                                          smtp_sink):
    addresses = _addresses(unique("perm"), "", "", "policy", "", "")
    campaign = await _launch(admin_api, addresses)

    counters = await _completed(admin_api, campaign)
    assert (counters["done"], counters["failed"], counters["total"]) == (4, 1, 5)
    rows = await _ledger(server, campaign)
    assert len({r["step"] for r in rows.values()}) == 1 and len(rows) == 5  # one chunk
    refused = rows[addresses[2]]
    assert (refused["state"], refused["attempts"]) == ("failed", 1)
    assert "554" in refused["last_error"] and "refused by policy" in refused["last_error"]
    others = [a for a in addresses if a != addresses[2]]
    assert all((rows[a]["state"], rows[a]["attempts"]) == ("done", 1) for a in others)
    assert _received_by(smtp_sink, campaign) == {a: 1 for a in others}
    # A 554 is not about the mailbox: nothing is suppressed.
    assert await _suppression(server, addresses[2]) is None
    assert await _bounced(server, addresses[2]) is False


async def test_hard_bounce_suppresses_the_address(server, admin_api, smtp_sink):
    addresses = _addresses(unique("bounce"), "", "reject")
    campaign = await _launch(admin_api, addresses)

    counters = await _completed(admin_api, campaign)
    assert (counters["done"], counters["failed"]) == (1, 1)
    bounced = (await _ledger(server, campaign))[addresses[1]]
    assert bounced["state"] == "failed"
    assert "550" in bounced["last_error"] and "mailbox unavailable" in bounced["last_error"]
    entry = await _suppression(server, addresses[1])
    assert entry is not None and entry["reason"] == "HARD_BOUNCE" and "550" in entry["note"]
    assert await _bounced(server, addresses[1]) is True
    assert await _bounced(server, addresses[0]) is False

    # The next campaign to the same contacts skips the bounced one at launch.
    again = await create_campaign(admin_api, unique("Again"))
    contacts = await server.call(server.platform.db.fetch(
        "SELECT id FROM drumbeat_contact WHERE email IN ({}, {}) ORDER BY id", *addresses))
    ids = [str(relay.GlobalID("Contact", str(r["id"]))) for r in contacts]
    assert (await add_recipients(admin_api, again, ids))["added"] == 2
    await launch_campaign(admin_api, again)
    counters = await _completed(admin_api, again)
    assert (counters["done"], counters["skipped"], counters["failed"]) == (1, 1, 0)
    assert (await _ledger(server, again))[addresses[1]]["skip_reason"] == "BOUNCED"


async def test_address_suppressed_after_launch_is_not_sent(make_server, smtp_sink):
    """The first attempt gets a 451 and backs off for an hour; meanwhile the address is
    suppressed; when the retry comes (fast-forwarded) it fails with SUPPRESSED unsent."""
    server = make_server(retry_backoff_seconds=3600, retry_backoff_max_seconds=7200)
    api = await _admin(server)
    addresses = _addresses(unique("late"), "tempfail", "")
    campaign = await _launch(api, addresses)

    deadline = time.monotonic() + 30
    while True:
        rows = await _ledger(server, campaign)
        row = rows[addresses[0]]
        if row["state"] == "pending" and row["attempts"] == 1 and row["last_error"]:
            break
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.05)
    assert "451" in row["last_error"]
    assert time.time() + 1700 < row["lease_until"] <= time.time() + 3600  # backoff: 1800–3600 s

    # A stray message for the same chunk cannot cut the backoff short.
    from drumbeat.platform.execution import run_chunk
    from drumbeat.platform.ledger import Chunk

    handled = await server.call(run_chunk(server.platform, Chunk(
        row["campaign"], row["step"], row["id"], row["id"])))
    assert handled == 0
    assert (await _ledger(server, campaign))[addresses[0]]["attempts"] == 1

    await server.call(suppress(server.platform.db, addresses[0], SuppressionReason.MANUAL))
    await server.call(server.platform.db.execute(  # fast-forward the backoff
        "UPDATE drumbeat_delivery SET lease_until = 0, retry_at = 0 WHERE id = {}", row["id"]))

    counters = await _completed(api, campaign)
    assert (counters["done"], counters["failed"], counters["skipped"]) == (1, 1, 0)
    final = (await _ledger(server, campaign))[addresses[0]]
    assert (final["state"], final["attempts"]) == ("failed", 2)
    assert final["last_error"].startswith("SUPPRESSED (MANUAL)")
    assert _received_by(smtp_sink, campaign) == {addresses[1]: 1}
    assert await _bounced(server, addresses[0]) is False  # only a hard bounce marks contacts


async def test_chunk_messages_delivered_twice_send_each_email_once(make_server):
    sink = SmtpSink(delay=0.02).start()
    try:
        server = make_server(smtp_url=sink.url, chunk_size=10)
        api = await _admin(server)
        addresses = _addresses(unique("twice"), *[""] * 60)
        campaign = await _launch(api, addresses)

        rows = list((await _ledger(server, campaign)).values())
        assert sum(r["state"] not in FINAL for r in rows) > 0, "duplicates must overlap the run"
        chunks = ledger.chunks_of(rows, 10)
        assert len(chunks) == 6
        await server.call(server.platform.dispatch(chunks))

        counters = await _completed(api, campaign)
        assert (counters["done"], counters["total"]) == (60, 60)
        rows = await _ledger(server, campaign)
        assert all((r["state"], r["attempts"]) == ("done", 1) for r in rows.values())
        assert _received_by(sink, campaign) == {a: 1 for a in addresses}

        # Once COMPLETED, a chunk delivered again sends nothing.
        await server.call(server.platform.dispatch(chunks))
        broker = server.platform.dispatcher.__self__.process_chunk.broker
        await asyncio.to_thread(broker.join, server.settings.queue, timeout=30_000)
        for chunk in chunks:
            assert await server.call(run_chunk(server.platform, chunk)) == 0
        assert len(sink.messages(db_id(campaign))) == 60
        assert await _ledger(server, campaign) == rows
    finally:
        sink.stop()


async def _admin(server) -> GraphQLClient:
    return GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])


async def _suppression(server, address: str) -> dict | None:
    row = await server.call(server.platform.db.fetchrow(
        "SELECT reason, note FROM drumbeat_suppression WHERE address = {}", address.lower()))
    return dict(row) if row else None


async def _bounced(server, address: str) -> bool:
    return bool(await server.call(server.platform.db.fetchval(
        "SELECT bounced FROM drumbeat_contact WHERE email = {}", address.lower())))
