"""bench/bulk_email — N recipients end to end (API → workers → SMTP) vs. a raw SMTP client.

A live ``drumbeat serve`` and ``--workers`` ``drumbeat worker`` processes (PostgreSQL +
Redis broker) send one campaign to N contacts into postfix's ``smtp-sink`` on loopback: the
campaign is created, filled, moved to READY and launched through the GraphQL API, and
timed from the launch until it is COMPLETED. The baseline, in the same run, is aiosmtplib
with the same number of connections (smtp_connections × worker_threads × workers) sending
pre-built messages of the same size to the same sink. It also times the MIME builder
against ``EmailMessage``, and prints the machine's load average before and after.

    .venv/bin/python bench/bulk_email.py --recipients 20000 \\
        --database postgresql://postgres@127.0.0.1:5432/drumbeat_bench --broker redis://127.0.0.1:6379/0

The database named in the URL gets a ``_email`` suffix; it is created and dropped by the run.
Needs ``smtp-sink`` (Debian: ``apt-get install postfix``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import date
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate
from urllib.parse import urlsplit, urlunsplit

import aiosmtplib
import asyncpg
import httpx
from strawberry import relay

from drumbeat import Sender
from drumbeat.platform.migrate import migrate
from drumbeat.platform.runtime import open_platform
from drumbeat.platform.tables import Role
from drumbeat.platform.team import create_member, issue_token
from drumbeat.platform.mail.message import build_message
from drumbeat.settings import Settings

SINK_PORT, API_PORT = 2526, 8765
CONNECTIONS, THREADS = 2, 4  # DRUMBEAT_SMTP_CONNECTIONS, DRUMBEAT_WORKER_THREADS
CONFIG = {"subject": "Hello {{ contact.first_name }}",
          "text": "Dear {{ contact.first_name }} {{ contact.last_name }},\n"
                  "news from {{ campaign.name }}.\n" + "Our offer, line by line.\n" * 20,
          "html": "<p>Dear {{ contact.first_name }},</p>" + "<p>Our offer.</p>" * 20}
COLUMNS = ("first_name", "last_name", "email", "phone", "country", "city", "birth_date",
           "language", "consent")


def gql(client: httpx.Client, query: str, variables: dict) -> dict:
    reply = client.post("/graphql", json={"query": query, "variables": variables}).json()
    assert "errors" not in reply, reply
    payload = next(iter(reply["data"].values()))
    assert not (payload or {}).get("errors"), payload
    return reply["data"]


def reference_message(**kw) -> bytes:
    """The previous builder, on ``EmailMessage``."""
    message = EmailMessage(policy=SMTP)
    message["From"] = message["Reply-To"] = formataddr((kw["sender"].name, kw["sender"].email))
    message["To"] = formataddr((kw["to_name"], kw["to_address"]))
    message["Subject"] = kw["subject"]
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = kw["message_id"]
    message["List-Unsubscribe"] = f"<{kw['unsubscribe_url']}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(kw["text"])
    message.add_alternative(kw["html"], subtype="html")
    return message.as_bytes()


def sample(i: int, text_extra: str = "") -> dict:
    return dict(sender=Sender("Drumbeat Bench", "bench@bench.example"), to_name=f"First{i} Last{i}",
                to_address=f"person{i}@bench.example", subject=f"Hello First{i} — Čestitamo",
                text=f"Dear First{i} Last{i},\nnews from Bench.\n" + "Our offer, line by line.\n" * 20
                + text_extra, html="<p>Dear First{i},</p>" + "<p>Our offer.</p>" * 20,
                message_id=f"<{i}.abc@bench.example>",
                unsubscribe_url=f"https://bench.example/u/{uuid.uuid4().hex}{'x' * 60}")


def time_builders(n: int = 5000) -> None:
    rates = {}
    for name, builder in (("EmailMessage", reference_message), ("build_message", build_message)):
        started = time.perf_counter()
        for i in range(n):
            builder(**sample(i))
        rates[name] = n / (time.perf_counter() - started)
    print(f"MIME builder: EmailMessage {rates['EmailMessage']:,.0f} msg/s, "
          f"build_message {rates['build_message']:,.0f} msg/s, "
          f"ratio {rates['build_message'] / rates['EmailMessage']:.1f}×")


async def prepare(url: str, n: int) -> str:
    """Fresh database with n contacts and an admin; returns the admin's token."""
    parts = urlsplit(url)
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{parts.path.lstrip("/")}"')
    finally:
        await conn.close()
    platform = await open_platform(Settings(database_url=url, secret_key="bench-" * 8))
    try:
        await migrate(platform.plugins.piccolo_apps)
        member = await create_member("admin@bench.example", "Bench", Role.ADMIN)
        rows = [(f"First{i}", f"Last{i}", f"person{i}@bench.example", f"+385 1 {i:07d}", "HR",
                 "Zagreb", date(1980, 1, 1), "hr", "GRANTED") for i in range(n)]
        async with platform.db.connection() as c:
            await c.copy_records_to_table("drumbeat_contact", records=rows, columns=COLUMNS)
        return await issue_token(member, "bench")
    finally:
        await platform.close()


async def drop(url: str) -> None:
    parts = urlsplit(url)
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')
    finally:
        await conn.close()


def end_to_end(url: str, token: str, n: int) -> float:
    """Create, fill, ready and launch the campaign through the API; seconds to COMPLETED."""
    with httpx.Client(base_url=f"http://127.0.0.1:{API_PORT}", timeout=300,
                      headers={"Authorization": f"Bearer {token}"}) as api:
        for _ in range(100):
            try:
                api.get("/graphql")
                break
            except httpx.TransportError:
                time.sleep(0.2)
        data = gql(api, """mutation($input: CampaignCreateInput!) { campaignCreate(input: $input) {
            campaign { id } errors { message } } }""",
                   {"input": {"name": "Bench", "action": {"type": "email", "config": CONFIG}}})
        campaign = data["campaignCreate"]["campaign"]["id"]
        ids = asyncio.run(contact_ids(url))
        for start in range(0, n, 5000):
            gql(api, """mutation($c: ID!, $ids: [ID!]!) { campaignRecipientsAdd(campaignId: $c,
                contactIds: $ids) { added errors { message } } }""",
                {"c": campaign, "ids": ids[start:start + 5000]})
        for state in ("IN_PREPARATION", "READY"):
            gql(api, """mutation($id: ID!, $to: CampaignState!) { campaignTransition(id: $id,
                to: $to) { campaign { state } errors { message } } }""", {"id": campaign, "to": state})
        started = time.perf_counter()
        gql(api, """mutation($id: ID!) { campaignLaunch(id: $id) { campaign { state }
            errors { message } } }""", {"id": campaign})
        progress = [(time.perf_counter() - started, 0)]  # (seconds since launch, done)
        while True:
            row = gql(api, """query($id: ID!) { campaign(id: $id) { state
                counters { total done failed skipped } } }""", {"id": campaign})["campaign"]
            progress.append((time.perf_counter() - started, row["counters"]["done"]))
            if row["state"] == "COMPLETED":
                took = time.perf_counter() - started
                counters = row["counters"]
                assert counters["done"] == n, counters
                TIMELINE.extend(progress)
                return took
            time.sleep(0.2)


#: The last run's progress: the launch mutation's duration, then (seconds, done) polls.
TIMELINE: list[tuple[float, int]] = []


def phases(n: int) -> str:
    """When the launch returned and when 10 %, 50 %, 90 % of the messages were done."""
    marks = [f"launch returned {TIMELINE[0][0]:.1f} s"]
    for share in (0.1, 0.5, 0.9):
        at = next((t for t, done in TIMELINE if done >= share * n), None)
        if at is not None:
            marks.append(f"{share:.0%} done {at:.1f} s")
    return ", ".join(marks)


async def contact_ids(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT id FROM drumbeat_contact ORDER BY id")
    finally:
        await conn.close()
    return [str(relay.GlobalID("Contact", str(r["id"]))) for r in rows]


async def baseline(n: int, connections: int) -> float:
    """aiosmtplib, ``connections`` sessions, pre-built messages of the same size."""
    messages = [build_message(**sample(i)) for i in range(min(n, 1000))]

    async def lane(k: int) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=SINK_PORT, timeout=30)
        await client.connect()
        for i in range(k, n, connections):
            await client.sendmail("bench@bench.example", [f"person{i}@bench.example"],
                                  messages[i % len(messages)])
        await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(lane(k) for k in range(connections)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/drumbeat_bench")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=200, help="DRUMBEAT_CHUNK_SIZE")
    args = parser.parse_args()
    sink = shutil.which("smtp-sink") or next(
        (p for p in ("/usr/sbin/smtp-sink",) if os.path.exists(p)), None)
    if sink is None:
        sys.exit("smtp-sink not found: install it with "
                 "`DEBIAN_FRONTEND=noninteractive apt-get install -y postfix`")
    n = args.recipients
    parts = urlsplit(args.database)
    url = urlunsplit(parts._replace(path=f"/{parts.path.lstrip('/') or 'drumbeat_bench'}_email"))
    connections = CONNECTIONS * THREADS * args.workers
    time_builders()
    token = asyncio.run(prepare(url, n))
    env = {**os.environ, "DRUMBEAT_DATABASE_URL": url, "DRUMBEAT_BROKER_URL": args.broker,
           "DRUMBEAT_EVENTS_URL": args.broker, "DRUMBEAT_SMTP_URL": f"smtp://127.0.0.1:{SINK_PORT}",
           "DRUMBEAT_SECRET_KEY": "bench-" * 8, "DRUMBEAT_QUEUE": f"bench{uuid.uuid4().hex[:8]}",
           "DRUMBEAT_SMTP_CONNECTIONS": str(CONNECTIONS), "DRUMBEAT_WORKER_THREADS": str(THREADS),
           "DRUMBEAT_CHUNK_SIZE": str(args.chunk_size)}
    drumbeat = [sys.executable, "-m", "drumbeat"]
    load_before = load_average()
    processes = [subprocess.Popen([sink, "-u", "nobody", f"127.0.0.1:{SINK_PORT}", "1024"])]
    try:
        processes.append(subprocess.Popen([*drumbeat, "serve", "--port", str(API_PORT),
                                           "--log-level", "warning"], env=env))
        processes += [subprocess.Popen([*drumbeat, "worker", "--log-level", "warning"], env=env)
                      for _ in range(args.workers)]
        took = end_to_end(url, token, n)
        raw = asyncio.run(baseline(n, connections))
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        asyncio.run(drop(url))
    print(f"database: postgres, broker: {args.broker}, {n} recipients, {args.workers} workers × "
          f"{THREADS} threads × {CONNECTIONS} SMTP connections = {connections}")
    print(f"end to end (launch → COMPLETED): {n / took:>8,.0f} msg/s ({took:.1f} s; {phases(n)})")
    print(f"baseline (aiosmtplib, {connections} connections): {n / raw:>8,.0f} msg/s ({raw:.1f} s)")
    print(f"ratio end-to-end/baseline: {raw / took:.2f}")
    print(f"load average (1, 5, 15 min): {load_before} before, {load_average()} after "
          f"({os.cpu_count()} CPUs)")


def load_average() -> str:
    """The machine's load (other work on it slows both rates unevenly)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
