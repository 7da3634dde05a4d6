"""Scaled mode survives a worker killed with SIGKILL mid-run.

`drumbeat serve` (API only) and two `drumbeat worker` processes run as real subprocesses on
PostgreSQL + Redis. A 250-recipient email campaign is launched over HTTP; once the SMTP sink
has seen part of it, one worker is SIGKILLed while it holds claimed rows. The ledger's leases
and the surviving worker's reconciler must finish the run: every recipient gets the message
(0 lost), and the duplicates are bounded by what the killed worker really had in flight:
each of its chunks records outcomes as the server accepts them (``chunk_progress``), so at
most ``MAX_UNRECORDED`` accepted-but-unrecorded messages plus one message per SMTP session
per chunk — not its whole claims.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter

import pytest

from tests.conftest import unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN, LAUNCH, add_recipients, create_campaign, create_contacts, db_id, make_ready,
)
from tests.support.processes import Proc, create_token, ledger_rows, wait_ready, worker_env
from tests.support.smtp import SmtpSink, free_port

pytestmark = pytest.mark.redis

RECIPIENTS = 250
CHUNK_SIZE = 25
WORKER_THREADS = 2
LEASE_SECONDS = 3
SMTP_DELAY = 0.08        # per message: a chunk (25 over 2 SMTP sessions) takes ~1.2 s < lease
KILL_AFTER = 40          # distinct messages received before the kill
RECOVERY_TIMEOUT = 90.0  # bound on waiting for the run to finish after the kill
SMTP_CONNECTIONS = 2
MAX_UNRECORDED = 4


async def test_sigkilled_worker_loses_nothing(scaled_backend, tmp_path):
    backend = scaled_backend
    sink = SmtpSink(delay=SMTP_DELAY).start()
    env = worker_env(backend, sink.url, chunk_size=CHUNK_SIZE, worker_threads=WORKER_THREADS,
                     lease_seconds=LEASE_SECONDS, redeliver_after_seconds=3,
                     reconcile_interval_seconds=0.5, smtp_connections=SMTP_CONNECTIONS,
                     max_unrecorded=MAX_UNRECORDED, db_pool_max=5)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    procs: list[Proc] = []
    timings: dict[str, float] = {}
    try:
        serve = Proc("serve", ["serve", "--port", str(port), "--log-level", "warning"], env, tmp_path)
        procs.append(serve)
        workers = [Proc(f"worker{i}", ["worker"], env, tmp_path) for i in (1, 2)]
        procs += workers
        token = await asyncio.to_thread(create_token, env, tmp_path)
        await wait_ready(serve, workers, base_url)
        api = GraphQLClient(base_url, token)

        tag = unique("kill")
        people = [{"email": f"{tag}-{i}@example.org", "firstName": f"First{i:03d}x",
                   "lastName": "Tester"} for i in range(RECIPIENTS)]
        contact_ids = await create_contacts(api, people)
        campaign_gid = await create_campaign(api, f"Campaign {tag}")
        campaign = db_id(campaign_gid)
        added = await add_recipients(api, campaign_gid, contact_ids)
        assert (added["added"], added["alreadyPresent"], added["errors"]) == (RECIPIENTS, 0, [])

        await make_ready(api, campaign_gid)
        started = time.monotonic()
        launched = await api.data(LAUNCH, {"id": campaign_gid})
        assert launched["campaignLaunch"]["errors"] == [], launched

        # Kill once part of the campaign arrived and more rows are claimed than one worker
        # can hold (WORKER_THREADS × CHUNK_SIZE): then the victim surely holds claimed rows.
        victim = workers[0]
        while True:
            distinct = len({m.message_id for m in sink.messages(campaign)})
            assert distinct < RECIPIENTS, "the run finished before the kill: slow the sink down"
            assert time.monotonic() - started < 30, f"only {distinct} messages after 30 s"
            if distinct >= KILL_AFTER:
                claimed = sum(r["state"] == "claimed"
                              for r in await ledger_rows(backend.database_url, campaign))
                if claimed > WORKER_THREADS * CHUNK_SIZE:
                    break
            await asyncio.sleep(0.02)
        os.kill(victim.pid, signal.SIGKILL)
        at_kill = len({m.message_id for m in sink.messages(campaign)})
        timings["kill"] = time.monotonic() - started
        assert await asyncio.to_thread(victim.popen.wait, 10) == -signal.SIGKILL
        assert at_kill < RECIPIENTS, "the kill did not happen mid-run"

        # The survivor's reconciler takes the victim's rows back once their leases expire.
        deadline = time.monotonic() + RECOVERY_TIMEOUT
        while True:
            assert workers[1].alive() and serve.alive(), "a surviving process died"
            distinct = len({m.message_id for m in sink.messages(campaign)})
            state = (await api.data(CAMPAIGN, {"id": campaign_gid}))["campaign"]
            if distinct >= RECIPIENTS and state["state"] == "COMPLETED":
                break
            assert time.monotonic() < deadline, (
                f"not finished {RECOVERY_TIMEOUT} s after the kill: {distinct} distinct "
                f"messages, campaign {state}")
            await asyncio.sleep(0.1)
        timings["done"] = time.monotonic() - started
        await asyncio.sleep(1)  # let any straggling resend arrive before counting

        assert state["counters"] == {"total": RECIPIENTS, "pending": 0, "inProgress": 0,
                                     "done": RECIPIENTS, "failed": 0, "skipped": 0}

        received = sink.messages(campaign)
        ids = Counter(m.message_id for m in received)
        by_address = Counter(m.rcpt_to[0] for m in received)
        lost = [p["email"] for p in people if by_address[p["email"]] == 0]
        assert lost == [], f"{len(lost)} recipients got nothing: {lost[:5]}"
        assert len(ids) == RECIPIENTS

        # A duplicate is a resend of a row the killed worker had sent but not recorded when
        # it died. Its Dramatiq threads each run one chunk at a time; a chunk hands a message
        # out only while fewer than MAX_UNRECORDED of its outcomes wait to be recorded, on
        # at most SMTP_CONNECTIONS sessions: at most WORKER_THREADS × (MAX_UNRECORDED +
        # SMTP_CONNECTIONS) messages were in flight. (Its claims could hold WORKER_THREADS ×
        # CHUNK_SIZE rows: the ones never sent are sent once, by the survivor.)
        duplicates = len(received) - len(ids)
        in_flight_bound = WORKER_THREADS * (MAX_UNRECORDED + SMTP_CONNECTIONS)
        assert duplicates <= in_flight_bound, f"{duplicates} duplicates > {in_flight_bound}"

        # Cross-check with the ledger: only rows claimed more than once can have been sent
        # twice, and the victim's interrupted claims must have been re-claimed.
        rows = await ledger_rows(backend.database_url, campaign)
        assert len(rows) == RECIPIENTS and all(r["state"] == "done" for r in rows)
        reclaimed = {r["address"] for r in rows if r["attempts"] > 1}
        duplicated = {address for address, n in by_address.items() if n > 1}
        assert duplicated <= reclaimed, duplicated - reclaimed
        assert 0 < len(reclaimed) <= WORKER_THREADS * CHUNK_SIZE, len(reclaimed)
        print(f"kill after {timings['kill']:.1f} s with {at_kill}/{RECIPIENTS} received; "
              f"completed after {timings['done']:.1f} s; {len(received)} messages, "
              f"{duplicates} duplicate(s), {len(reclaimed)} row(s) re-claimed "
              f"(bound {in_flight_bound})")
    finally:
        for proc in procs:
            proc.stop()
        sink.stop()
        for proc in procs:
            print(f"----- {proc.name} (exit {proc.popen.returncode}) -----\n{proc.output()}")
