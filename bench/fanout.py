"""bench/fanout — one campaign's events to N WebSocket subscribers (default 1000) vs. a raw
Starlette WebSocket broadcast of the same payloads, in the same run.

Drumbeat: ``drumbeat serve`` runs as its own process (SQLite or PostgreSQL, Redis events);
N clients subscribe to ``campaignEvents`` over ``graphql-transport-ws``. This process
records each event in the ledger (``store_event``) and publishes it through the platform
(``platform.publish`` → Redis → the API process's bus → each subscription → GraphQL →
WebSocket), the path a worker's events take.

Baseline: a minimal Starlette app (``--raw-server``), also its own uvicorn process, that
subscribes to a Redis channel and sends each message, as the same ``next`` frame, to every
connected WebSocket. The same clients connect to it and the same events are published.

Latency = receive time at a client − the time just before the publish (``time.monotonic``,
system-wide on Linux), over every (client, event). Lost = expected − received per client.

    .venv/bin/python bench/fanout.py                  # 1000 subscribers, 100 events at 2/s
    .venv/bin/python bench/fanout.py --subscribers 200 --events 200 --rate 10 --per-event
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

import httpx

PROTOCOL = "graphql-transport-ws"
EVENTS = """subscription($id: ID!) { campaignEvents(campaignId: $id) {
  id type deliveryId address detail createdAt missed } }"""
IDLE_SECONDS = 20.0  # a client process gives up after this long without any message
NaN = float("nan")


# -- the baseline: a raw Starlette broadcast ------------------------------------------

def next_frame(message: dict) -> str:
    """The frame Drumbeat sends for one event, built once per event."""
    event = {"id": message["id"], "type": message["event"], "deliveryId": message["deliveryId"],
             "address": message.get("address"), "detail": message["detail"],
             "createdAt": message["at"], "missed": 0}
    return json.dumps({"id": "1", "type": "next", "payload": {"data": {"campaignEvents": event}}})


def raw_app(redis_url: str, channel: str):
    from contextlib import asynccontextmanager

    import redis.asyncio as aioredis
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    clients: set[WebSocket] = set()

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        clients.add(ws)
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            clients.discard(ws)

    async def relay() -> None:
        pubsub = aioredis.from_url(redis_url).pubsub()
        await pubsub.subscribe(channel)
        async for message in pubsub.listen():
            if message["type"] == "message":
                frame = next_frame(json.loads(message["data"]))
                for ws in list(clients):
                    try:
                        await ws.send_text(frame)
                    except Exception:
                        clients.discard(ws)

    @asynccontextmanager
    async def lifespan(app):
        task = asyncio.create_task(relay())
        yield
        task.cancel()

    return Starlette(routes=[WebSocketRoute("/ws", endpoint)], lifespan=lifespan)


def serve_raw(port: int, redis_url: str, channel: str) -> None:
    import uvicorn

    uvicorn.run(raw_app(redis_url, channel), host="127.0.0.1", port=port, log_level="warning",
                ws="websockets-sansio", lifespan="on")


# -- clients (run in their own processes) ----------------------------------------------

class Tally:
    def __init__(self) -> None:
        self.live = 0
        self.synced = 0
        self.missed = 0
        self.errors: list[str] = []
        self.last_message = time.monotonic()


async def one_client(kind: str, url: str, token: str, campaign: str, deflate: bool,
                     received: array, tally: Tally, gate: asyncio.Semaphore) -> None:
    from websockets.asyncio.client import connect

    async with gate:  # like browsers, offer permessage-deflate unless --no-deflate
        ws = await connect(url, subprotocols=[PROTOCOL] if kind == "drumbeat" else None,
                           compression="deflate" if deflate else None,
                           open_timeout=120, ping_interval=None, max_size=None)
        if kind == "drumbeat":
            await ws.send(json.dumps({"type": "connection_init",
                                      "payload": {"Authorization": f"Bearer {token}"}}))
            ack = json.loads(await ws.recv())
            assert ack["type"] == "connection_ack", ack
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
                "query": EVENTS, "variables": {"id": campaign}}}))
    live = False
    try:
        async for raw in ws:
            now = time.monotonic()
            tally.last_message = now
            message = json.loads(raw)
            if message["type"] == "ping":
                await ws.send('{"type": "pong"}')
                continue
            if message["type"] != "next":
                tally.errors.append(str(message)[:300])
                return
            event = message["payload"]["data"]["campaignEvents"]
            tally.missed += event["missed"]
            detail = event["detail"]
            if detail == "probe":
                if not live:
                    live = True
                    tally.live += 1
            elif detail == "sync":
                tally.synced += 1
            elif detail == "end":
                return
            else:
                received[int(detail.split(":")[1])] = now
    finally:
        await ws.close()


async def run_clients(kind: str, url: str, token: str, campaign: str, deflate: bool,
                      count: int, events: int, conn) -> None:
    tally, gate = Tally(), asyncio.Semaphore(50)
    received = [array("d", [NaN]) * events for _ in range(count)]
    tasks = [asyncio.create_task(one_client(kind, url, token, campaign, deflate, r, tally, gate))
             for r in received]
    ready = False
    while not all(t.done() for t in tasks):
        await asyncio.sleep(0.1)
        if not ready and tally.live == count:
            ready = True
            conn.send(("ready", count))
        if tally.synced == count:
            tally.synced = -1  # reported once
            conn.send(("synced", count))
        if ready and time.monotonic() - tally.last_message > IDLE_SECONDS:
            break
        failed = [t for t in tasks if t.done() and t.exception()]
        if failed and not ready:
            conn.send(("error", repr(failed[0].exception())))
            break
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    conn.send(("results", [r.tobytes() for r in received], tally.missed, tally.errors))


def client_process(*args) -> None:
    asyncio.run(run_clients(*args))


# -- publishers ---------------------------------------------------------------------------

class PlatformPublisher:
    """Ledger row, then ``platform.publish`` (Redis) — as a worker publishes its events."""

    def __init__(self, platform, campaign_id: int):
        self.platform, self.campaign_id = platform, campaign_id

    async def send(self, detail: str) -> float:
        from drumbeat.platform.tables.tracking import EventType
        from drumbeat.platform.tracking.events import store_event

        message = await store_event(self.platform.db, self.campaign_id, None,
                                    EventType.CONVERTED, detail)
        at = time.monotonic()
        await self.platform.publish(self.campaign_id, message)
        return at


class RawPublisher:
    """The same message shape, straight onto the raw server's Redis channel."""

    def __init__(self, redis_url: str, channel: str):
        import redis.asyncio as aioredis

        self.redis, self.channel, self.next_id = aioredis.from_url(redis_url), channel, 1

    async def send(self, detail: str) -> float:
        from datetime import datetime, timezone

        message = {"type": "event", "id": self.next_id, "event": "CONVERTED", "campaignId": 1,
                   "deliveryId": None, "detail": detail, "suspectedBot": False,
                   "at": datetime.now(timezone.utc).isoformat()}
        self.next_id += 1
        at = time.monotonic()
        await self.redis.publish(self.channel, json.dumps(message))
        return at


# -- one phase: connect, probe until every client is live, publish, collect -------------

async def phase(kind: str, url: str, publisher, args, token: str = "", campaign: str = ""):
    ctx = multiprocessing.get_context("spawn")
    shares = [args.subscribers // args.client_processes + (i < args.subscribers % args.client_processes)
              for i in range(args.client_processes)]
    procs = []
    for share in shares:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=client_process,
                           args=(kind, url, token, campaign, args.deflate, share, args.events, child))
        proc.start()
        procs.append((proc, parent))

    async def until(state: str, probe: str | None) -> None:
        count, deadline = 0, time.monotonic() + 300
        while count < len(procs):
            assert time.monotonic() < deadline, f"subscribers not {state} in 300 s"
            if probe:
                await publisher.send(probe)
            await asyncio.sleep(0.3)
            for _, conn in procs:
                while conn.poll():
                    what, value = conn.recv()
                    if what == "error":
                        raise SystemExit(f"{kind} client failed: {value}")
                    count += what == state

    await until("ready", "probe")  # every client subscribed: each has seen a probe
    await publisher.send("sync")
    await until("synced", None)  # and the backlog of probes is delivered

    published, start = [], time.monotonic()
    for seq in range(args.events):
        await asyncio.sleep(max(0.0, start + seq / args.rate - time.monotonic()))
        published.append(await publisher.send(f"bench:{seq}"))
    await publisher.send("end")

    latencies, lost, missed, errors = [], 0, 0, []
    per_event = [[] for _ in published]
    for proc, conn in procs:
        while (reply := await asyncio.to_thread(conn.recv))[0] != "results":
            pass
        _, clients, proc_missed, proc_errors = reply
        missed, errors = missed + proc_missed, errors + proc_errors
        for raw in clients:
            received = array("d")
            received.frombytes(raw)
            for i, (at, got) in enumerate(zip(published, received)):
                if got != got:  # NaN: never arrived
                    lost += 1
                else:
                    latencies.append(got - at)
                    per_event[i].append(got - at)
        proc.join(timeout=30)
    if args.per_event:  # stalls show up as runs of events late for every client
        for seq, values in enumerate(per_event):
            values.sort()
            print(f"{kind} event {seq}: min/median/max "
                  + "/".join(f"{values[i] * 1000:.0f}" for i in (0, len(values) // 2, -1)) + " ms")
    return summary(latencies, lost, missed, errors, args)


def summary(latencies: list[float], lost: int, missed: int, errors: list[str], args) -> dict:
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else NaN

    return {"p50": pct(0.50), "p99": pct(0.99), "max": latencies[-1] * 1000 if latencies else NaN,
            "received": len(latencies), "expected": args.subscribers * args.events,
            "lost": lost, "missed": missed, "errors": errors}


# -- setup ---------------------------------------------------------------------------------

def start(cmd: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL)


def wait_http(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, f"{proc.args} exited"
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"{url} did not come up"
            time.sleep(0.2)


async def prepare(settings):
    """Migrate, an admin with a token; returns (platform, token) — the platform stays open
    to publish."""
    from drumbeat.platform.migrate import migrate
    from drumbeat.platform.runtime import open_platform
    from drumbeat.platform.tables import Role
    from drumbeat.platform.team import create_member, issue_token

    platform = await open_platform(settings)
    with contextlib.redirect_stdout(io.StringIO()):  # Piccolo's progress report
        await migrate(platform.plugins.piccolo_apps)
    member = await create_member(f"fanout-{os.getpid()}@bench.example", "Fanout", Role.ADMIN)
    return platform, await issue_token(member, "bench")


def create_campaign(base: str, token: str) -> str:
    reply = httpx.post(f"{base}/graphql", headers={"Authorization": f"Bearer {token}"}, json={
        "query": """mutation($input: CampaignCreateInput!) { campaignCreate(input: $input) {
                      campaign { id } errors { message } } }""",
        "variables": {"input": {"name": "Fanout", "action": {"type": "email", "config": {
            "subject": "Hi", "text": "Hello"}}}}}, timeout=60).json()
    assert not reply.get("errors") and not reply["data"]["campaignCreate"]["errors"], reply
    return reply["data"]["campaignCreate"]["campaign"]["id"]


async def main(args) -> None:
    from strawberry import relay

    from drumbeat.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="drumbeat-fanout-"))
    database = args.database if args.database != "sqlite" else f"sqlite:///{tmp / 'fanout.db'}"
    queue = f"fanout_{os.getpid()}"
    env = {"DRUMBEAT_DATABASE_URL": database, "DRUMBEAT_EVENTS_URL": args.redis,
           "DRUMBEAT_QUEUE": queue, "DRUMBEAT_SECRET_KEY": "fanout-bench-" * 4,
           "DRUMBEAT_SMTP_URL": f"outbox://{tmp / 'outbox'}"}
    settings = Settings(database_url=database, events_url=args.redis, queue=queue,
                        secret_key=env["DRUMBEAT_SECRET_KEY"])
    platform, token = await prepare(settings)
    load_before = load_average()
    raw_channel = f"{queue}:raw"
    api = start([sys.executable, "-m", "drumbeat", "serve", "--port", str(args.port),
                 "--log-level", "warning"], env)
    raw = start([sys.executable, __file__, "--raw-server", str(args.port + 1),
                 "--redis", args.redis, "--channel", raw_channel])
    try:
        wait_http(f"http://127.0.0.1:{args.port}/health", api)
        campaign = create_campaign(f"http://127.0.0.1:{args.port}", token)
        cid = int(relay.GlobalID.from_id(campaign).node_id)
        print(f"fanout: {args.subscribers} subscribers in {args.client_processes} client "
              f"processes, {args.events} events at {args.rate:g}/s; database "
              f"{settings.database_kind}, events {args.redis}, permessage-deflate "
              f"{'offered' if args.deflate else 'off'}", flush=True)
        results = {}
        results["drumbeat"] = await phase(
            "drumbeat", f"ws://127.0.0.1:{args.port}/graphql",
            PlatformPublisher(platform, cid), args, token, campaign)
        wait_http(f"http://127.0.0.1:{args.port + 1}/", raw)
        results["raw"] = await phase("raw", f"ws://127.0.0.1:{args.port + 1}/ws",
                                     RawPublisher(args.redis, raw_channel), args)
    finally:
        for proc in (api, raw):
            proc.terminate()
            proc.wait(timeout=30)
        await platform.close()
    report(results)
    print(f"load average (1, 5, 15 min): {load_before} before, {load_average()} after "
          f"({os.cpu_count()} CPUs)")


def load_average() -> str:
    """Other work on the machine moves both phases, unevenly: print it with the result."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def report(results: dict) -> None:
    labels = {"drumbeat": "drumbeat campaignEvents", "raw": "raw Starlette broadcast"}
    for kind, r in results.items():
        print(f"{labels[kind]:>24}: p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  "
              f"max {r['max']:7.1f} ms  received {r['received']:,}/{r['expected']:,} "
              f"(lost {r['lost']}, missed {r['missed']})")
        for error in r["errors"][:3]:
            print(f"{'':>26}error: {error}")
    d, b = results["drumbeat"], results["raw"]
    print(f"ratio p99 drumbeat/raw: {d['p99'] / b['p99']:.2f} (goal ≤ 3); "
          f"events lost: {d['lost']} (goal 0)")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--events", type=int, default=100, help="events per phase")
    p.add_argument("--rate", type=float, default=2.0, help="events published per second")
    p.add_argument("--client-processes", type=int, default=2)
    p.add_argument("--no-deflate", dest="deflate", action="store_false",
                   help="clients do not offer permessage-deflate (browsers do)")
    p.add_argument("--per-event", action="store_true",
                   help="also print each event's min/median/max latency over the clients")
    p.add_argument("--database", default="sqlite",
                   help="sqlite (a temporary file) or a postgresql:// URL of an existing database")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--port", type=int, default=8775, help="drumbeat's port; the raw server +1")
    p.add_argument("--raw-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    p.add_argument("--channel", help=argparse.SUPPRESS)
    return p.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.raw_server:
        serve_raw(arguments.raw_server, arguments.redis, arguments.channel)
    else:
        asyncio.run(main(arguments))
