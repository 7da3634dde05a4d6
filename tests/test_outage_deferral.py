"""An SMTP outage defers deliveries without using their attempts (issue 14).

With the real SMTP server (aiosmtpd) stopped mid-run for longer than the retry backoff, no
delivery fails, the campaign stays RUNNING while anything is deferred, and once the server
is back every recipient gets the message exactly once. An outage longer than
``DRUMBEAT_OUTAGE_WINDOW_SECONDS`` uses attempts again, so a server that never comes back
fails the deliveries in the end. Each delivery deferred by an outage gets one DEFERRED event
for it, not one per retry.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from drumbeat.platform import ledger
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import CAMPAIGN, db_id, launch_to_new_contacts
from tests.support.smtp import SmtpSink, free_port

RECIPIENTS = 40
MAX_ATTEMPTS = 2
BACKOFF = 0.2  # seconds: the outage below outlasts several backoffs and MAX_ATTEMPTS of them


async def _campaign(server, size: int) -> tuple[GraphQLClient, str, list[str]]:
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    campaign, addresses = await launch_to_new_contacts(api, unique("outage"), size)
    return api, campaign, addresses


async def _rows(server, campaign: str) -> list[dict]:
    return [dict(r) for r in await server.call(server.platform.db.fetch(
        "SELECT id, address, state, attempts, last_error, deferred_since FROM drumbeat_delivery"
        " WHERE campaign = {} ORDER BY id", db_id(campaign)))]


async def _state(api, campaign: str) -> dict:
    return (await api.data(CAMPAIGN, {"id": campaign}))["campaign"]


async def test_an_smtp_outage_mid_run_defers_and_fails_nothing(make_server):
    sink = SmtpSink(delay=0.02).start()
    try:
        server = make_server(smtp_url=sink.url, chunk_size=10, max_attempts=MAX_ATTEMPTS,
                             retry_backoff_seconds=BACKOFF, retry_backoff_max_seconds=1.0,
                             reconcile_interval_seconds=0.2, redeliver_after_seconds=1.0)
        api, campaign, addresses = await _campaign(server, RECIPIENTS)
        deadline = time.monotonic() + 60
        while len(sink.messages(db_id(campaign))) < 5:
            assert time.monotonic() < deadline, "the run did not start"
            await asyncio.sleep(0.01)
        sink.stop()  # the outage begins mid-run
        outage_started = time.monotonic()
        deferred: list[dict] = []
        while time.monotonic() - outage_started < 8 * BACKOFF * MAX_ATTEMPTS + 2:
            rows = await _rows(server, campaign)
            assert not [r for r in rows if r["state"] == "failed"], "an outage failed deliveries"
            deferred = [r for r in rows if r["deferred_since"] is not None]
            assert (await _state(api, campaign))["state"] == "RUNNING"
            await asyncio.sleep(0.2)
        assert deferred, "nothing was deferred: the outage did not hit the run"
        assert all(r["state"] in ("pending", "claimed") for r in deferred)
        assert all("SMTP" in (r["last_error"] or "") for r in deferred if r["state"] == "pending")
        sink.start()  # the server is back

        while (state := await _state(api, campaign))["state"] != "COMPLETED":
            assert time.monotonic() < deadline + 60, f"not completed after the outage: {state}"
            await asyncio.sleep(0.1)
        assert state["counters"]["done"] == RECIPIENTS and state["counters"]["failed"] == 0
        received = Counter(m.rcpt_to[0] for m in sink.messages(db_id(campaign)))
        assert received == Counter(addresses), "every recipient exactly once"
        rows = await _rows(server, campaign)
        assert all((r["state"], r["attempts"]) == ("done", 1) for r in rows), \
            "a deferral used no attempt"
        events = await server.call(server.platform.db.fetch(
            "SELECT delivery, count(*) AS n FROM drumbeat_delivery_event"
            " WHERE campaign = {} AND type = 'DEFERRED' GROUP BY delivery", db_id(campaign)))
        assert events and all(e["n"] == 1 for e in events), "one DEFERRED event per outage"
    finally:
        sink.stop()


async def test_an_outage_longer_than_the_window_uses_attempts(make_server):
    unreachable = f"smtp://127.0.0.1:{free_port()}"  # nobody ever listens there
    server = make_server(smtp_url=unreachable, chunk_size=10, max_attempts=MAX_ATTEMPTS,
                         retry_backoff_seconds=BACKOFF, retry_backoff_max_seconds=0.5,
                         outage_window_seconds=0.5, reconcile_interval_seconds=0.2)
    api, campaign, _ = await _campaign(server, 3)
    deadline = time.monotonic() + 60
    while (state := await _state(api, campaign))["state"] != "COMPLETED":
        assert time.monotonic() < deadline, f"not given up on: {state}"
        await asyncio.sleep(0.1)
    assert state["counters"]["failed"] == 3
    rows = await _rows(server, campaign)
    assert all(r["state"] == "failed" and "SMTP connect" in r["last_error"]
               and f"gave up after {MAX_ATTEMPTS} attempts" in r["last_error"] for r in rows)


def test_the_outage_backoff_grows_with_the_outage_up_to_the_cap():
    backoff = ledger.Backoff(base=1.0, cap=8.0, outage_window=100.0)
    for elapsed, full in ((0.0, 1.0), (0.5, 1.0), (3.0, 3.0), (7.0, 7.0), (50.0, 8.0)):
        delays = [backoff.outage_delay(elapsed) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays), (elapsed, min(delays), max(delays))
