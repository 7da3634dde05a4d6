"""The ledger agrees with the SMTP server through faults, with real worker processes
(issue 14): `drumbeat serve` and two `drumbeat worker` processes on PostgreSQL + Redis send
one campaign into a real SMTP server (aiosmtpd) while

- the SMTP server is stopped mid-run for longer than the retry backoff (and long enough for
  MAX_ATTEMPTS counted retries): nothing fails, no message reaches the server after the
  campaign is COMPLETED, every recipient gets the message exactly once;
- the campaign's database refuses every connection for a few seconds mid-run (its sessions
  terminated): the workers pause sending (at most what was in flight reaches the server
  meanwhile), record what they sent once it is back, and nothing fails or is lost.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.conftest import unique
from tests.support.graphql import GraphQLClient
from tests.support.processes import Proc, create_token, ledger_rows, wait_ready, worker_env
from tests.support.queries import (
    CAMPAIGN, LAUNCH, add_recipients, create_campaign, create_contacts, db_id, make_ready,
)
from tests.support.smtp import SmtpSink, free_port

pytestmark = pytest.mark.redis

RECIPIENTS = 300
WORKERS = 2
WORKER_THREADS = 2
SMTP_CONNECTIONS = 2
MAX_UNRECORDED = 4
MAX_ATTEMPTS = 2
BACKOFF = 0.3        # seconds; the SMTP outage below lasts many backoffs
OUTAGE = 5.0         # seconds the SMTP server / the database is away
LEASE_SECONDS = 15   # longer than the database outage: the chunks keep their rows
#: What the workers can have handed to SMTP and not recorded at any moment.
IN_FLIGHT = WORKERS * WORKER_THREADS * (MAX_UNRECORDED + SMTP_CONNECTIONS)


class Run:
    """The processes, the sink and one launched campaign."""

    def __init__(self, backend, tmp_path):
        self.backend, self.tmp_path = backend, tmp_path
        self.sink = SmtpSink(delay=0.01).start()
        self.env = worker_env(
            backend, self.sink.url, chunk_size=25, worker_threads=WORKER_THREADS,
            lease_seconds=LEASE_SECONDS, redeliver_after_seconds=3,
            reconcile_interval_seconds=0.5, smtp_connections=SMTP_CONNECTIONS,
            max_unrecorded=MAX_UNRECORDED, max_attempts=MAX_ATTEMPTS,
            retry_backoff_seconds=BACKOFF, retry_backoff_max_seconds=1, db_pool_max=5)
        self.port = free_port()
        self.procs: list[Proc] = []

    async def start(self) -> None:
        base_url = f"http://127.0.0.1:{self.port}"
        serve = Proc("serve", ["serve", "--port", str(self.port), "--log-level", "warning"],
                     self.env, self.tmp_path)
        workers = [Proc(f"worker{i}", ["worker"], self.env, self.tmp_path)
                   for i in range(WORKERS)]
        self.procs = [serve, *workers]
        token = await asyncio.to_thread(create_token, self.env, self.tmp_path)
        await wait_ready(serve, workers, base_url)
        self.api = GraphQLClient(base_url, token)
        tag = unique("fault")
        self.addresses = [f"{tag}-{i}@example.org" for i in range(RECIPIENTS)]
        people = [{"email": a, "firstName": f"F{i}", "lastName": "Fault"}
                  for i, a in enumerate(self.addresses)]
        self.gid = await create_campaign(self.api, f"Campaign {tag}")
        self.campaign = db_id(self.gid)
        added = await add_recipients(self.api, self.gid, await create_contacts(self.api, people))
        assert added["added"] == RECIPIENTS
        await make_ready(self.api, self.gid)
        launched = await self.api.data(LAUNCH, {"id": self.gid})
        assert launched["campaignLaunch"]["errors"] == [], launched

    def received(self) -> list:
        return self.sink.messages(self.campaign)

    async def until_received(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received()) < count:
            assert time.monotonic() < deadline, f"only {len(self.received())} received"
            await asyncio.sleep(0.01)
        assert len({m.message_id for m in self.received()}) < RECIPIENTS, "finished too soon"

    async def completed(self, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            assert all(p.alive() for p in self.procs), "a process died"
            try:
                state = (await self.api.data(CAMPAIGN, {"id": self.gid}))["campaign"]
            except Exception:  # the API's database may still be coming back
                state = {"state": "?"}
            if state["state"] == "COMPLETED":
                return state
            assert time.monotonic() < deadline, f"not completed: {state}"
            await asyncio.sleep(0.1)

    async def completed_at(self) -> float:
        conn = await asyncpg.connect(self.backend.database_url)
        try:
            return (await conn.fetchval(
                "SELECT completed_at FROM drumbeat_campaign WHERE id = $1", self.campaign
            )).timestamp()
        finally:
            await conn.close()

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()
        self.sink.stop()
        for proc in self.procs:
            print(f"----- {proc.name} (exit {proc.popen.returncode}) -----\n"
                  f"{proc.output()[-4000:]}")


async def test_an_smtp_outage_fails_nothing_and_sends_nothing_after_completion(
        scaled_backend, tmp_path):
    run = Run(scaled_backend, tmp_path)
    try:
        await run.start()
        await run.until_received(60)
        run.sink.stop()  # the SMTP server goes away mid-run
        stopped = time.monotonic()
        while time.monotonic() - stopped < OUTAGE:
            rows = await ledger_rows(run.backend.database_url, run.campaign)
            assert not [r for r in rows if r["state"] == "failed"], "the outage failed deliveries"
            await asyncio.sleep(0.25)
        run.sink.start()

        state = await run.completed()
        finished = await run.completed_at()
        await asyncio.sleep(2)  # anything still under way would arrive now
        assert state["counters"]["failed"] == 0 and state["counters"]["done"] == RECIPIENTS
        received = run.received()
        late = [m for m in received if m.at > finished]
        assert late == [], f"{len(late)} message(s) reached the server after COMPLETED"
        assert Counter(m.rcpt_to[0] for m in received) == Counter(run.addresses), \
            "every recipient exactly once"
        rows = await ledger_rows(run.backend.database_url, run.campaign)
        assert all(r["state"] == "done" for r in rows)
    finally:
        run.stop()


async def _database_away(database_url: str, seconds: float) -> None:
    """The database refuses connections for ``seconds`` and its sessions are cut."""
    name = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(database_url.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()", name)
            await asyncio.sleep(seconds)
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    finally:
        await admin.close()


async def test_a_database_outage_pauses_sending_and_loses_nothing(scaled_backend, tmp_path):
    run = Run(scaled_backend, tmp_path)
    try:
        await run.start()
        await run.until_received(60)
        outage = asyncio.create_task(_database_away(run.backend.database_url, OUTAGE))
        await asyncio.sleep(0.5)  # the sessions are cut by now
        at_cut = len(run.received())
        await outage
        during = len(run.received()) - at_cut
        assert during <= IN_FLIGHT, f"{during} messages sent while the database was away"

        state = await run.completed()
        await asyncio.sleep(1)
        assert state["counters"]["failed"] == 0 and state["counters"]["done"] == RECIPIENTS
        received = run.received()
        by_address = Counter(m.rcpt_to[0] for m in received)
        assert set(by_address) == set(run.addresses), "nobody lost"
        duplicates = len(received) - RECIPIENTS
        assert duplicates <= IN_FLIGHT, f"{duplicates} duplicates > {IN_FLIGHT}"
        print(f"database away {OUTAGE} s: {during} message(s) sent meanwhile, "
              f"{duplicates} duplicate(s) (bound {IN_FLIGHT})")
    finally:
        run.stop()
