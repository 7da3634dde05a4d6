"""bench/campaign_stats — a campaign's counters and metrics over 1M ledger rows vs. count(*).

A fresh PostgreSQL database gets a campaign whose two-state workflow (an email step, then a
call task, a work item) was set through the GraphQL API of a real ``drumbeat serve``, and
R = rows // 2 recipients with one delivery per step each (mostly done; some failed,
skipped, pending, deferred, in progress; A/B variants on the email step) plus ``events``
opens, clicks, replies, bounces, unsubscribes and conversions, loaded with asyncpg COPY
through the database's triggers (bench/_stats_data.py). After a warm-up it times
``requests`` GraphQL queries of the campaign's ``counters`` and ``metrics`` over HTTP,
each followed by the baseline: ``SELECT count(*) FROM drumbeat_delivery WHERE campaign =
$1`` through asyncpg on the same ledger. It prints the load times, p50 / p95 of both, the
p95 ratio and the machine's load (goal: the query's p95 ≤ 50 ms). The first read folds the
tally's deltas; on a server with autovacuum off the tally is vacuumed after the warm-up.

    .venv/bin/python bench/campaign_stats.py \\
        --database-url postgresql://postgres@127.0.0.1:5432/drumbeat_bench_stats

The database is dropped and created for the run, and dropped at the end unless ``--keep``.
Fields of QUERY that the server's schema lacks are left out (and named) before timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import math
import os
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from _stats_data import load  # bench/, the script's folder, is on sys.path
from graphql import (
    REMOVE,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_client_schema,
    get_introspection_query,
    parse,
    print_ast,
    validate,
    visit,
)
from strawberry import relay

from drumbeat.platform.migrate import migrate
from drumbeat.platform.runtime import open_platform
from drumbeat.platform.tables import Role
from drumbeat.platform.team import create_member, issue_token
from drumbeat.settings import Settings

QUERY = """query($id: ID!) { campaign(id: $id) {
  counters { total pending waiting inProgress done failed skipped }
  metrics {
    totals { sent delivered uniqueOpens uniqueClicks replies bounces unsubscribes reached
             conversions openRate clickRate conversionRate medianReactionSeconds }
    workItems { total created failed skipped }
    byStep { stepId deliveryKind metrics { sent uniqueOpens conversionRate medianReactionSeconds }
             workItems { created } }
    byActionType { actionType metrics { sent } }
  } } }"""
BASELINE = "SELECT count(*) FROM drumbeat_delivery WHERE campaign = $1"
EMAIL = {"subject": "Hello {{ contact.first_name }}", "text": "News for you.",
         "variants": [{"name": "A", "subject": "Hello A"}, {"name": "B", "subject": "Hello B"}]}
WORKFLOW = {"states": [
    {"key": "mail", "name": "Email", "start": True, "actions": [{"type": "email", "config": EMAIL}],
     "transitions": [{"onComplete": {"to": "call"}}]},
    {"key": "call", "name": "Call", "start": False,
     "actions": [{"type": "phone_call", "config": {"script": "Ask how it went."}}],
     "transitions": []}], "goals": [{"event": "CONVERTED"}]}
WARM_UP = 20


async def fresh_database(url: str, keep_only: bool = False) -> None:
    """Drop the database of ``url`` and (unless ``keep_only``) create it empty."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not keep_only:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def prepare(url: str) -> str:
    """Migrated database with an admin; returns the admin's token."""
    await fresh_database(url)
    platform = await open_platform(Settings(database_url=url, secret_key="bench-" * 8))
    try:
        with contextlib.redirect_stdout(io.StringIO()) as said:  # Piccolo's progress lines
            try:
                await migrate(platform.plugins.piccolo_apps)
            except BaseException:
                print(said.getvalue(), file=sys.stderr)
                raise
        member = await create_member("admin@bench.example", "Bench", Role.ADMIN)
        return await issue_token(member, "bench")
    finally:
        await platform.close()


async def gql(api: httpx.AsyncClient, query: str, variables: dict | None = None) -> dict:
    reply = (await api.post("/graphql", json={"query": query, "variables": variables or {}})).json()
    assert "errors" not in reply, reply
    payload = next(iter(reply["data"].values()))
    assert not (isinstance(payload, dict) and payload.get("errors")), payload
    return reply["data"]


class _Trim(Visitor):
    """Removes fields the schema lacks, then fields whose selection that left empty."""

    def __init__(self, info: TypeInfo, dropped: list[str]) -> None:
        super().__init__()
        self.info, self.dropped = info, dropped

    def enter_field(self, node, *_):
        if self.info.get_field_def() is None:
            self.dropped.append(f"{self.info.get_parent_type()}.{node.name.value}")
            return REMOVE
        return None

    def leave_field(self, node, *_):
        if node.selection_set is not None and not node.selection_set.selections:
            self.dropped.append(f"{node.name.value} (nothing left)")
            return REMOVE
        return None


def trim(query: str, introspection: dict) -> tuple[str, list[str]]:
    """``query`` without the fields the schema lacks (and selections left empty by that)."""
    schema, dropped = build_client_schema(introspection), []
    document, before = parse(query), -1
    while len(dropped) != before:
        before, info = len(dropped), TypeInfo(schema)
        document = visit(document, TypeInfoVisitor(info, _Trim(info, dropped)))
    assert not validate(schema, document), validate(schema, document)
    return print_ast(document), dropped


async def setup_campaign(api: httpx.AsyncClient) -> tuple[str, int, int, int]:
    """The campaign (global id, id) and its email and call steps, through the API."""
    data = await gql(api, """mutation($input: CampaignCreateInput!) { campaignCreate(input:
        $input) { campaign { id } errors { message } } }""",
                     {"input": {"name": "Bench stats", "action": {"type": "email", "config": EMAIL}}})
    gid = data["campaignCreate"]["campaign"]["id"]
    data = await gql(api, """mutation($c: ID!, $input: WorkflowInput!) { campaignWorkflowSet(
        campaignId: $c, input: $input) { workflow { states { key actions { stepId } } }
        errors { message } } }""", {"c": gid, "input": WORKFLOW})
    states = data["campaignWorkflowSet"]["workflow"]["states"]
    steps = {s["key"]: int(s["actions"][0]["stepId"]) for s in states}
    return gid, int(relay.GlobalID.from_id(gid).node_id), steps["mail"], steps["call"]


def quantile(samples: list[float], q: float) -> float:
    """Nearest-rank quantile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def run(args, url: str, token: str, port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120,
                                 headers={"Authorization": f"Bearer {token}"}) as api:
        for _ in range(300):
            try:
                await api.get("/graphql")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        gid, campaign, email_step, call_step = await setup_campaign(api)
        conn = await asyncpg.connect(url)
        try:
            took = await load(conn, campaign, email_step, call_step, args.rows, args.events)
            await conn.execute("UPDATE drumbeat_campaign SET state = 'RUNNING', launched_at ="
                               " now() - interval '7 days' WHERE id = $1", campaign)
            rows = await conn.fetchval(BASELINE, campaign)
            events = await conn.fetchval("SELECT count(*) FROM drumbeat_delivery_event"
                                         " WHERE campaign = $1", campaign)
            tally, cells = await conn.fetchrow("SELECT SUM(n), count(*) FROM"
                                               " drumbeat_delivery_tally WHERE campaign = $1", campaign)
            tally = int(tally)
            assert tally == rows, f"tally {tally} ≠ ledger {rows}"
            introspection = (await api.post("/graphql", json={"query": get_introspection_query()})
                             ).json()["data"]
            query, dropped = trim(QUERY, introspection)
            load_before = load_average()
            started = time.perf_counter()
            await gql(api, query, {"id": gid})  # the first read folds the tally's deltas
            first = time.perf_counter() - started
            for _ in range(WARM_UP):
                await gql(api, query, {"id": gid})
                await conn.fetchval(BASELINE, campaign)
            # The fold deleted the deltas; autovacuum (the default) would clear them soon.
            autovacuum = await conn.fetchval("SHOW autovacuum")
            if autovacuum == "off":
                await conn.execute("VACUUM drumbeat_delivery_tally")
            timed_gql, timed_sql = [], []
            for _ in range(args.requests):  # interleaved: both see the same machine
                started = time.perf_counter()
                await gql(api, query, {"id": gid})
                timed_gql.append(time.perf_counter() - started)
                started = time.perf_counter()
                await conn.fetchval(BASELINE, campaign)
                timed_sql.append(time.perf_counter() - started)
            tally_after = await conn.fetchval("SELECT count(*) FROM drumbeat_delivery_tally"
                                              " WHERE campaign = $1", campaign)
        finally:
            await conn.close()
    rates = took.pop("event chunk rates")
    print(f"database: postgres, {rows:,} ledger rows ({args.rows // 2:,} recipients × 2 steps),"
          f" {events:,} events")
    print("load: " + ", ".join(f"{k} {v:.1f} s" for k, v in took.items())
          + f" (events {events / took['events']:,.0f}/s through the row trigger; per chunk of"
          f" 50k: {', '.join(f'{r:,.0f}' for r in rates)}/s)")
    print(f"tally: SUM(n) = {tally:,} = ledger rows; {cells:,} tally rows after loading,"
          f" {tally_after:,} after timing; the first query (which folds them) took"
          f" {first * 1000:.0f} ms")
    if autovacuum == "off":
        print("autovacuum is off on this server: VACUUM drumbeat_delivery_tally after the"
              " warm-up, as autovacuum would after the fold")
    if dropped:
        print(f"query trimmed (the schema lacks): {', '.join(dropped)}")
    else:
        print("query: the full campaign { counters metrics { … } } query")
    g50, g95 = quantile(timed_gql, .5) * 1000, quantile(timed_gql, .95) * 1000
    s50, s95 = quantile(timed_sql, .5) * 1000, quantile(timed_sql, .95) * 1000
    print(f"GraphQL campaign {{ counters metrics }} over HTTP: p50 {g50:7.1f} ms  p95 {g95:7.1f} ms"
          f"  ({args.requests} sequential requests; goal p95 ≤ 50 ms)")
    print(f"baseline {BASELINE} (asyncpg): p50 {s50:7.1f} ms  p95 {s95:7.1f} ms")
    print(f"ratio p95 GraphQL/count(*): {g95 / s95:.2f}")
    print(f"load average (1, 5, 15 min): {load_before} before, {load_average()} after "
          f"({os.cpu_count()} CPUs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url",
                        default="postgresql://postgres@127.0.0.1:5432/drumbeat_bench_stats")
    parser.add_argument("--rows", type=int, default=1_000_000, help="ledger rows (2 per recipient)")
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args()
    url = args.database_url
    token = asyncio.run(prepare(url))
    port = free_port()
    env = {**os.environ, "DRUMBEAT_DATABASE_URL": url, "DRUMBEAT_SECRET_KEY": "bench-" * 8}
    server = subprocess.Popen([sys.executable, "-m", "drumbeat", "serve", "--port", str(port),
                               "--log-level", "warning"], env=env)
    try:
        asyncio.run(run(args, url, token, port))
    finally:
        server.terminate()
        server.wait(timeout=30)
        if not args.keep:
            asyncio.run(fresh_database(url, keep_only=True))


if __name__ == "__main__":
    main()
