"""Workflow scheduler throughput: N recipients whose delay expires at once move into a state
with an email action — the scheduler's looks, guarded moves, journey rows and the batched
entry of the actions (ledger snapshot) — timed until every enrollment has left the delay.

Baseline in the same run: the same work with one look per transaction (``LOOK_BATCH = 1``,
how the scheduler committed before batching), on an identical campaign. The worker sends
the emails to the test SMTP sink meanwhile (as in production, it competes for the database).

Run (SQLite by default; PostgreSQL with DRUMBEAT_TEST_DATABASE_URL, as the tests):
    .venv/bin/python -m pytest -q -s -p tests.conftest bench/workflow_ticks.py
    BENCH_RECIPIENTS=5000 .venv/bin/python -m pytest -q -s -p tests.conftest bench/workflow_ticks.py
"""

from __future__ import annotations

import os
import time

from drumbeat.platform.workflows import clock, scheduler
from tests.conftest import unique
from tests.support.queries import (
    EMAIL_CONFIG, add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
    make_ready,
)
from tests.test_workflow_definition import SET

RECIPIENTS = int(os.environ.get("BENCH_RECIPIENTS", "2000"))
DAY = 86_400


def _workflow() -> dict:
    return {"states": [
        {"key": "wait", "name": "Wait", "start": True, "actions": [],
         "transitions": [{"afterDelay": {"to": "remind", "delay": {"iso": "P1D"}}}]},
        {"key": "remind", "name": "Remind", "start": False,
         "actions": [{"type": "email", "config": EMAIL_CONFIG}],
         "transitions": [{"onComplete": {"to": "done"}}]},
        {"key": "done", "name": "Done", "start": False, "actions": [], "transitions": []},
    ], "goals": []}


async def _waiting_campaign(server, api) -> int:
    tag = unique("bench-wf")
    contacts = await create_contacts(api, [{"email": f"{tag}-{i}@example.org"}
                                           for i in range(RECIPIENTS)])
    campaign = await create_campaign(api, f"Bench {tag}")
    assert (await api.data(SET, {"c": campaign, "input": _workflow()})
            )["campaignWorkflowSet"]["errors"] == []
    await add_recipients(api, campaign, contacts)
    await make_ready(api, campaign)
    await launch_campaign(api, campaign)
    await server.call(scheduler.run_until_idle(server.platform))
    return db_id(campaign)


async def _time_until_moved(server, campaign_id: int) -> tuple[float, int]:
    """Seconds of ticks until no enrollment of the campaign is in ``wait``; ticks taken."""
    db = server.platform.db
    started, ticks = time.perf_counter(), 0
    while await server.call(db.fetchval(
            "SELECT count(*) FROM drumbeat_enrollment WHERE campaign = {}"
            " AND state_key = 'wait'", campaign_id)):
        await server.call(scheduler.tick(server.platform, campaign_id=campaign_id))
        ticks += 1
    return time.perf_counter() - started, ticks


async def test_bench_workflow_ticks(server, admin_api):
    clock.reset()
    try:
        # One campaign at a time (the other is not due yet while one is timed).
        baseline_campaign = await _waiting_campaign(server, admin_api)
        clock.advance(DAY + 60)
        saved = scheduler.LOOK_BATCH
        scheduler.LOOK_BATCH = 1
        try:
            baseline, baseline_ticks = await _time_until_moved(server, baseline_campaign)
        finally:
            scheduler.LOOK_BATCH = saved
        batched_campaign = await _waiting_campaign(server, admin_api)
        clock.advance(DAY + 60)
        batched, batched_ticks = await _time_until_moved(server, batched_campaign)
    finally:
        clock.reset()
    print(f"\ndatabase: {server.platform.db.dialect}, {RECIPIENTS} enrollments into an email "
          "state")
    print(f"scheduler (LOOK_BATCH={scheduler.LOOK_BATCH}): {RECIPIENTS / batched:,.0f} "
          f"enrollments/s ({batched:.2f} s, {batched_ticks} ticks)")
    print(f"baseline (one look per transaction): {RECIPIENTS / baseline:,.0f} enrollments/s "
          f"({baseline:.2f} s, {baseline_ticks} ticks)")
    print(f"ratio scheduler/baseline: {baseline / batched:.2f}")
