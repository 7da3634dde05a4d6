"""The workflow scheduler: two scheduler processes over the same due timers take every
transition exactly once; send windows; the clock. No sleeping for time: the processes get
the engine's clock moved ahead."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from drumbeat.platform.workflows import clock, scheduler
from drumbeat.platform.workflows.windows import align
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN, add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
    make_ready,
)
from tests.test_workflow_engine import _set_workflow

DAY = 86_400

# One scheduler process: its own platform (connections), the clock moved ahead, small
# batches so the two interleave; waits for the go file so both start together; prints how
# many transitions it took.
SCHEDULER = """
import asyncio, os, sys, time
from drumbeat.platform.runtime import open_platform
from drumbeat.platform.workflows import clock, scheduler
from drumbeat.settings import Settings

async def main(offset, go):
    platform = await open_platform(Settings.from_env())
    clock.advance(offset)
    print("ready", flush=True)
    while not os.path.exists(go):
        await asyncio.sleep(0.01)
    total, idle = 0, 0
    try:
        while idle < 3:
            moved = await scheduler.tick(platform, limit=20)
            total += moved
            idle = idle + 1 if not moved else 0
    finally:
        await platform.close()
    print(total, flush=True)

asyncio.run(main(float(sys.argv[1]), sys.argv[2]))
"""


def _chain() -> dict:
    """a —1 day→ b —done→ c (end)."""
    return {"states": [
        {"key": "a", "name": "A", "start": True, "actions": [],
         "transitions": [{"afterDelay": {"to": "b", "delay": {"iso": "P1D"}}}]},
        {"key": "b", "name": "B", "start": False, "actions": [],
         "transitions": [{"onComplete": {"to": "c"}}]},
        {"key": "c", "name": "C", "start": False, "actions": [], "transitions": []},
    ], "goals": []}


def _run_two(settings, offset: float) -> list[int]:
    env = {**os.environ, "DRUMBEAT_DATABASE_URL": settings.database_url,
           "DRUMBEAT_BROKER_URL": "memory://", "DRUMBEAT_EVENTS_URL": "memory://",
           "DRUMBEAT_SECRET_KEY": settings.secret_key}
    with tempfile.TemporaryDirectory() as folder:
        go = Path(folder) / "go"
        procs = [subprocess.Popen([sys.executable, "-c", SCHEDULER, str(offset), str(go)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env, cwd=Path(__file__).parent.parent) for _ in range(2)]
        for proc in procs:  # both connected and waiting
            line = proc.stdout.readline()
            assert line.strip() == "ready", proc.stderr.read()
        go.touch()
        counts = []
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            counts.append(int(out.strip().splitlines()[-1]))
    return counts


async def test_two_scheduler_processes_take_each_transition_once(server, admin_api):
    tag = unique("two-schedulers")
    campaign = await create_campaign(admin_api, f"Two {tag}")
    await _set_workflow(admin_api, campaign, _chain())
    await add_recipients(admin_api, campaign, await create_contacts(admin_api, [
        {"email": f"{tag}-{i}@example.org"} for i in range(300)]))
    await make_ready(admin_api, campaign)
    await launch_campaign(admin_api, campaign)
    cid = db_id(campaign)
    db = server.platform.db
    await server.call(scheduler.run_until_idle(server.platform, campaign_id=cid))
    assert await server.call(db.fetchval(
        "SELECT count(*) FROM drumbeat_enrollment WHERE campaign = {} AND status = 'WAITING'"
        " AND state_key = 'a'", cid)) == 300, "all wait a day (real time: not due here)"

    counts = await asyncio.to_thread(_run_two, server.settings, 2 * DAY)
    print("transitions per process:", counts)
    assert sum(counts) == 300 * 2, counts  # a → b and b → c for each, once in all
    steps = await server.call(db.fetch(
        "SELECT enrollment, to_state, via, count(*) AS n FROM drumbeat_enrollment_step"
        " WHERE campaign = {} GROUP BY enrollment, to_state, via", cid))
    assert len(steps) == 300 * 3 and {s["n"] for s in steps} == {1}
    assert sorted({(s["to_state"], s["via"]) for s in steps}) == [
        ("a", "START"), ("b", "AFTER_DELAY"), ("c", "ON_COMPLETE")]
    assert await server.call(db.fetchval(
        "SELECT count(*) FROM drumbeat_enrollment WHERE campaign = {} AND status = 'COMPLETED'"
        " AND state_key = 'c' AND step_no = 2", cid)) == 300
    state = (await admin_api.data(CAMPAIGN, {"id": campaign}))["campaign"]["state"]
    assert state == "COMPLETED"


def test_send_windows_align_in_the_named_or_the_recipients_timezone():
    berlin = ZoneInfo("Europe/Berlin")
    window = {"days": ["MON", "TUE", "WED"], "fromHour": 9, "toHour": 17,
              "timezone": "Europe/Berlin"}

    def at(*parts, tz=berlin) -> float:
        return datetime(*parts, tzinfo=tz).timestamp()

    # Inside the window: unchanged. Before opening: that day's 9:00. After closing on a
    # Wednesday: next Monday 9:00 (Thursday–Sunday are not in it).
    assert align(at(2026, 11, 23, 10, 30), window, None) == at(2026, 11, 23, 10, 30)
    assert align(at(2026, 11, 24, 6, 0), window, None) == at(2026, 11, 24, 9, 0)
    assert align(at(2026, 11, 25, 17, 0), window, None) == at(2026, 11, 30, 9, 0)
    # The recipient's timezone: 10:00 in Tokyo is before 9:00 in Berlin is irrelevant.
    recipient = {**window, "timezone": "RECIPIENT"}
    tokyo = ZoneInfo("Asia/Tokyo")
    assert align(at(2026, 11, 23, 8, 0, tz=tokyo), recipient, "Asia/Tokyo") == \
        at(2026, 11, 23, 9, 0, tz=tokyo)
    # An unknown or missing recipient timezone falls back to UTC.
    assert align(at(2026, 11, 23, 8, 0, tz=timezone.utc), recipient, "Nowhere/Else") == \
        at(2026, 11, 23, 9, 0, tz=timezone.utc)
    # Across the autumn DST change: 9:00 local on both sides.
    assert align(at(2026, 10, 24, 18, 0), {**window, "days": ["MON"]}, None) == \
        at(2026, 10, 26, 9, 0)
    assert align(0.0 + at(2026, 11, 23, 10, 0), None, None) == at(2026, 11, 23, 10, 0)


def test_the_engine_clock_moves_without_sleeping():
    clock.reset()
    start = clock.now()
    clock.advance(3 * DAY)
    try:
        assert 3 * DAY <= clock.now() - start < 3 * DAY + 5
        assert clock.as_datetime(clock.now()).tzinfo is timezone.utc
    finally:
        clock.reset()
    assert clock.now() - start < 5


async def test_a_reconciler_pass_drains_every_due_batch(make_server, monkeypatch):
    """Delays that expire for more recipients than one batch: one pass takes them all
    (not one batch per reconciler interval)."""
    server = make_server(reconcile_interval_seconds=3600)
    _, token = await member_token(server, "ADMIN")
    api = GraphQLClient(server.url, token)
    monkeypatch.setattr(scheduler, "BATCH", 10)
    tag = unique("drain")
    campaign = await create_campaign(api, f"Drain {tag}")
    await _set_workflow(api, campaign, _chain())
    await add_recipients(api, campaign, await create_contacts(api, [
        {"email": f"{tag}-{i}@example.org"} for i in range(35)]))
    await make_ready(api, campaign)
    await launch_campaign(api, campaign)
    cid = db_id(campaign)
    db = server.platform.db
    await server.call(scheduler.run_until_idle(server.platform, campaign_id=cid))
    try:
        clock.advance(2 * DAY)
        moved = await server.call(scheduler.drain(server.platform))
    finally:
        clock.reset()
    assert moved == 35 * 2
    assert await server.call(db.fetchval(
        "SELECT count(*) FROM drumbeat_enrollment WHERE campaign = {} AND state_key = 'c'",
        cid)) == 35
