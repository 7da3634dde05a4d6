"""Send limits across processes: several separate processes, each with its own platform on
the shared test database, send through the SMTP transport at once; the SMTP server (not the
clients) measures the arrival rate and the most sessions open at the same time."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from drumbeat import transport_for
from drumbeat.platform.mail.rate_limit import RateDeferred, SendLimits
from drumbeat.platform.mail.transport import bind_mail, close_mail
from drumbeat.platform.runtime import open_platform
from tests.support.smtp_sessions import CountingSink
from tests.test_mail_pool import envelopes

ROOT = Path(__file__).resolve().parent.parent
PROCESSES, PER_PROCESS, BATCH = 3, 36, 12
RATE, MAX_CONNECTIONS = 40.0, 2


@pytest.fixture
def sink():
    sink = CountingSink().start()
    yield sink
    sink.stop()


def test_rate_and_connections_hold_across_processes(backend, sink):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.test_rate_limit", backend.database_url, sink.url,
             f"p{k}-", str(k * PER_PROCESS)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for k in range(PROCESSES)
    ]
    reports = []
    for process in processes:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0, out
        reports.append(json.loads(out.strip().splitlines()[-1]))
    total = PROCESSES * PER_PROCESS
    # every message sent once, each process's batches all done
    assert all(r["statuses"] == ["done"] * PER_PROCESS for r in reports), reports
    got = sink.recipients()
    assert len(got) == total and len(set(got)) == total
    # connections: never more open at the server than the limit (3 × 2 lanes without it)
    assert sink.max_open <= MAX_CONNECTIONS
    # rate: over the run and in every one-second window, at most RATE (+ tolerance)
    times = sorted(t for t, _ in sink.arrivals)
    span = times[-1] - times[0]
    assert (total - 1) / span <= RATE * 1.05, (total, span)
    worst = max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))
    assert worst <= RATE + 3, worst


async def test_a_schedule_booked_too_far_ahead_defers_the_batch(backend, sink):
    platform = await open_platform(backend.settings(smtp_url=sink.url))
    try:
        limits = SendLimits(platform.db, f"test:{os.getpid()}:defer", rate=10.0, max_wait=1.0)
        assert await limits.reserve(10) == pytest.approx(0.0, abs=0.5)  # the next second
        ahead = await limits.reserve(5)  # after the 10 booked before it
        assert 0.5 < ahead <= 1.0
        with pytest.raises(RateDeferred) as deferred:
            await limits.reserve(1)  # booked 1.5 s ahead: more than max_wait
        assert deferred.value.after >= 1.0
    finally:
        await platform.close()


async def test_a_deferred_batch_is_retried_later_not_sent(backend, sink):
    settings = backend.settings(smtp_url=sink.url, smtp_rate=5.0, smtp_max_wait_seconds=0.5)
    platform = await open_platform(settings)
    try:
        transport = transport_for(sink.url, 2)
        # another process booked the next 4 seconds of this server's schedule
        other = SendLimits(platform.db, transport.server.key, rate=5.0, max_wait=60)
        await other.reserve(20)
        results = await transport.send(envelopes(0, 12, tag="defer"))
    finally:
        await platform.close()
    assert [r.outcome.status for r in results] == ["retry"] * 12
    assert all("rate limit" in r.outcome.error and r.outcome.retry_after >= 3.0
               for r in results)
    assert not any(r.outcome.counts for r in results), "waiting uses up no attempt"
    assert sink.recipients() == []


async def test_a_server_that_cannot_be_reached_defers_as_an_outage(backend):
    """A server that cannot be reached defers the deliveries as an outage: no attempt is
    used until it lasted DRUMBEAT_OUTAGE_WINDOW_SECONDS (tests/test_outage_deferral.py)."""
    from tests.support.smtp import free_port

    url = f"smtp://127.0.0.1:{free_port()}"  # nobody listens there
    settings = backend.settings(smtp_url=url, smtp_rate=50.0)
    platform = await open_platform(settings)
    try:
        results = await transport_for(url, 2).send(envelopes(0, 4, tag="down"))
    finally:
        await platform.close()
    assert [r.outcome.status for r in results] == ["retry"] * 4
    assert all(r.outcome.outage and not r.outcome.counts and "SMTP connect" in r.outcome.error
               for r in results)


async def test_connection_slots_are_released_when_the_pool_closes(backend, sink):
    settings = backend.settings(smtp_url=sink.url, smtp_max_connections=1)
    platform = await open_platform(settings)
    try:
        transport = transport_for(sink.url, 3)  # wants 3 lanes, may have 1 session
        results = await transport.send(envelopes(0, 9, tag="slot"))
        assert [r.outcome.status for r in results] == ["done"] * 9
        assert sink.max_open == 1
        key = transport.server.key
        held = await platform.db.fetchval(
            "SELECT count(*) FROM drumbeat_send_slot WHERE key = {} AND holder IS NOT NULL", key)
        assert held == 1
        await close_mail(platform.db)
        held = await platform.db.fetchval(
            "SELECT count(*) FROM drumbeat_send_slot WHERE key = {} AND holder IS NOT NULL", key)
        assert held == 0
        bind_mail(platform.db, settings)
    finally:
        await platform.close()


async def _child(database_url: str, smtp_url: str, tag: str, first: int) -> None:
    from drumbeat.settings import Settings

    settings = Settings(database_url=database_url, smtp_url=smtp_url, secret_key="x" * 40,
                        smtp_rate=RATE, smtp_max_connections=MAX_CONNECTIONS,
                        smtp_max_wait_seconds=60)
    platform = await open_platform(settings)
    statuses = []
    try:
        transport = transport_for(smtp_url, 2)
        for start in range(first, first + PER_PROCESS, BATCH):
            results = await transport.send(envelopes(start, BATCH, tag=tag))
            statuses += [r.outcome.status for r in results]
    finally:
        await platform.close()
    print(json.dumps({"statuses": statuses}), flush=True)


if __name__ == "__main__":
    asyncio.run(_child(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
