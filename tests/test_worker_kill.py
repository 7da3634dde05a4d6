"""Scaled mode survives a worker killed with SIGKILL mid-run.

`drumbeat serve` (API only) and two `drumbeat worker` processes run as real subprocesses on
PostgreSQL + Redis. A 250-recipient email campaign is launched over HTTP; once the SMTP sink
has seen part of it, one worker is SIGKILLed while it holds claimed rows. The ledger's leases
and the surviving worker's reconciler must finish the run: every recipient gets the message
(0 lost), and the duplicates are bounded by what the killed worker could have had in flight.
"""

from __future__ import annotations

import asyncio
import email.policy  # noqa: F401 - SmtpSink parses with email.policy; nothing else imports it here
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.conftest import SECRET, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN, LAUNCH, add_recipients, create_campaign, create_contacts, db_id, make_ready,
)
from tests.support.smtp import SmtpSink, free_port

pytestmark = pytest.mark.redis

RECIPIENTS = 250
CHUNK_SIZE = 25
WORKER_THREADS = 2
LEASE_SECONDS = 3
SMTP_DELAY = 0.08        # per message: a chunk (25 over 2 SMTP sessions) takes ~1.2 s < lease
KILL_AFTER = 40          # distinct messages received before the kill
RECOVERY_TIMEOUT = 90.0  # bound on waiting for the run to finish after the kill
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def scaled_backend(request):
    """The session backend, only when it is PostgreSQL + a Redis broker."""
    database = os.environ.get("DRUMBEAT_TEST_DATABASE_URL", "")
    broker = os.environ.get("DRUMBEAT_TEST_BROKER_URL", "")
    if not (database.startswith("postgres") and broker.startswith(("redis:", "rediss:"))):
        pytest.skip("requires PostgreSQL + Redis broker "
                    "(set DRUMBEAT_TEST_DATABASE_URL / DRUMBEAT_TEST_BROKER_URL)")
    return request.getfixturevalue("backend")  # recreated + migrated database, flushed queue


class Proc:
    """A `python -m drumbeat …` subprocess with its output in a file."""

    def __init__(self, name: str, args: list[str], env: dict, log_dir: Path):
        self.name = name
        self.log = log_dir / f"{name}.log"
        self._file = self.log.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "drumbeat", *args], env=env, cwd=log_dir,
            stdout=self._file, stderr=subprocess.STDOUT, start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        if not self._file.closed:
            self._file.flush()
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=15)
        self._file.close()


def _env(backend, smtp_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRUMBEAT_")}
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        DRUMBEAT_DATABASE_URL=backend.database_url,
        DRUMBEAT_BROKER_URL=backend.broker_url,
        DRUMBEAT_EVENTS_URL=backend.events_url,
        DRUMBEAT_QUEUE=backend.queue,  # the session's own Redis namespace
        DRUMBEAT_SECRET_KEY=SECRET,
        DRUMBEAT_SMTP_URL=smtp_url,
        DRUMBEAT_CHUNK_SIZE=str(CHUNK_SIZE),
        DRUMBEAT_WORKER_THREADS=str(WORKER_THREADS),
        DRUMBEAT_LEASE_SECONDS=str(LEASE_SECONDS),
        DRUMBEAT_REDELIVER_AFTER_SECONDS="3",
        DRUMBEAT_RECONCILE_INTERVAL_SECONDS="0.5",
        DRUMBEAT_SMTP_CONNECTIONS="2",
        DRUMBEAT_DB_POOL_MAX="5",
    )
    return env


async def _wait_ready(serve: Proc, workers: list[Proc], base_url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    pending_workers = list(workers)
    serving = False
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
        while not serving or pending_workers:
            for proc in (serve, *workers):
                assert proc.alive(), f"{proc.name} exited with {proc.popen.returncode}"
            assert time.monotonic() < deadline, "the processes did not become ready in time"
            if not serving:
                try:
                    serving = (await client.get("/health")).status_code == 200
                except httpx.HTTPError:
                    pass
            pending_workers = [w for w in pending_workers
                               if "drumbeat worker ready" not in w.output()]
            await asyncio.sleep(0.1)


def _create_token(env: dict, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "drumbeat", "token", "create", f"{unique('killer')}@team.example",
         "--name", "Kill Test", "--role", "ADMIN"],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1].strip()


async def _ledger(database_url: str, campaign: int) -> list[dict]:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT id, address, state, attempts FROM drumbeat_delivery WHERE campaign = $1",
            campaign)
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def test_sigkilled_worker_loses_nothing(scaled_backend, tmp_path):
    backend = scaled_backend
    sink = SmtpSink(delay=SMTP_DELAY).start()
    env = _env(backend, sink.url)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    procs: list[Proc] = []
    timings: dict[str, float] = {}
    try:
        serve = Proc("serve", ["serve", "--port", str(port), "--log-level", "warning"], env, tmp_path)
        procs.append(serve)
        workers = [Proc(f"worker{i}", ["worker"], env, tmp_path) for i in (1, 2)]
        procs += workers
        token = await asyncio.to_thread(_create_token, env, tmp_path)
        await _wait_ready(serve, workers, base_url)
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
                              for r in await _ledger(backend.database_url, campaign))
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

        # A duplicate is a resend of a row the killed worker had claimed (and sent, but not
        # recorded) when it died. Its Dramatiq threads each run one chunk at a time, and a
        # chunk claims at most CHUNK_SIZE rows: it had at most WORKER_THREADS × CHUNK_SIZE
        # rows in flight. (Messages it had only prefetched were never claimed: their rows stay
        # pending and are sent once, by the survivor.)
        duplicates = len(received) - len(ids)
        in_flight_bound = WORKER_THREADS * CHUNK_SIZE
        assert duplicates <= in_flight_bound, f"{duplicates} duplicates > {in_flight_bound}"

        # Cross-check with the ledger: only rows claimed more than once can have been sent
        # twice, and the victim's interrupted claims must have been re-claimed.
        rows = await _ledger(backend.database_url, campaign)
        assert len(rows) == RECIPIENTS and all(r["state"] == "done" for r in rows)
        reclaimed = {r["address"] for r in rows if r["attempts"] > 1}
        duplicated = {address for address, n in by_address.items() if n > 1}
        assert duplicated <= reclaimed, duplicated - reclaimed
        assert 0 < len(reclaimed) <= in_flight_bound, len(reclaimed)
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
