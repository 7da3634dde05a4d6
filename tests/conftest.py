"""Test backends and live components.

The suite runs on SQLite + the in-process broker by default. Set the service URLs to run
the same tests against real services (CI does, for each backend):

    DRUMBEAT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/drumbeat_test
    DRUMBEAT_TEST_BROKER_URL=redis://127.0.0.1:6379/0      (or amqp://guest:guest@127.0.0.1:5672/)
    DRUMBEAT_TEST_EVENTS_URL=redis://127.0.0.1:6379/0

A configured service that cannot be reached fails the run; it is never skipped.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pytest

from drumbeat.settings import Settings
from tests.support.graphql import GraphQLClient
from tests.support.server import LiveServer
from tests.support.smtp import SmtpSink

SECRET = "test-secret-key-that-is-long-enough-for-production-0123456789"


@dataclass(frozen=True)
class Backend:
    database_url: str
    broker_url: str
    events_url: str

    @property
    def name(self) -> str:
        db = "postgres" if self.database_url.startswith("postgres") else "sqlite"
        return f"{db}+{self.broker_url.split(':', 1)[0]}"

    @property
    def embedded(self) -> bool:
        return self.broker_url.startswith("memory")

    def settings(self, **overrides) -> Settings:
        values = dict(
            database_url=self.database_url, broker_url=self.broker_url,
            events_url=self.events_url, secret_key=SECRET, chunk_size=50,
            reconcile_interval_seconds=0.5, lease_seconds=30, redeliver_after_seconds=10,
            worker_threads=4,
        )
        values.update(overrides)
        settings = Settings(**values)
        settings.validate()
        return settings


def _configured() -> tuple[str | None, str, str]:
    broker = os.environ.get("DRUMBEAT_TEST_BROKER_URL") or "memory://"
    default_events = "memory://" if broker.startswith("memory") else "redis://127.0.0.1:6379/0"
    events = os.environ.get("DRUMBEAT_TEST_EVENTS_URL") or default_events
    return os.environ.get("DRUMBEAT_TEST_DATABASE_URL"), broker, events


def pytest_report_header(config):
    db, broker, events = _configured()
    return f"drumbeat backend: database={db or 'sqlite (temporary)'} broker={broker} events={events}"


async def _recreate_postgres(url: str) -> None:
    import asyncpg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    assert name and name.replace("_", "").isalnum(), f"unusable test database name {name!r}"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _migrate(settings: Settings) -> None:
    from drumbeat.platform.database import connect
    from drumbeat.platform.migrate import migrate

    db = await connect(settings)
    try:
        await migrate()
    finally:
        await db.stop()


def _flush_broker(settings: Settings) -> None:
    from drumbeat.worker.broker import QUEUE, make_broker

    broker = make_broker(settings)
    try:
        broker.declare_queue(QUEUE)
        broker.flush_all()
    finally:
        broker.close()


@pytest.fixture(scope="session")
def backend(tmp_path_factory) -> Backend:
    db, broker, events = _configured()
    if db is None:
        db = f"sqlite:///{tmp_path_factory.mktemp('db') / 'drumbeat.db'}"
    elif db.startswith("postgres"):
        asyncio.run(_recreate_postgres(db))
    backend = Backend(db, broker, events)
    asyncio.run(_migrate(backend.settings()))
    if not backend.embedded:
        _flush_broker(backend.settings())
    return backend


@pytest.fixture(scope="session")
def smtp_sink():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def make_server(backend, smtp_sink):
    """Start a live server with the backend's settings plus ``overrides``."""
    servers: list[LiveServer] = []

    def start(extra_plugins=(), **overrides) -> LiveServer:
        assert not servers, "one live server at a time: Piccolo binds tables per process"
        overrides.setdefault("smtp_url", smtp_sink.url)
        server = LiveServer(backend.settings(**overrides), run_worker=True,
                            extra_plugins=extra_plugins).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server) -> LiveServer:
    return make_server()


_unique = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other test of this run (or earlier run on the same database) uses."""
    return f"{prefix}-{os.getpid()}-{next(_unique)}"


async def member_token(server: LiveServer, role: str = "MARKETER", name: str | None = None) -> tuple[int, str]:
    """Create a team member with ``role``; return (member id, API token)."""
    from drumbeat.platform.tables import Role
    from drumbeat.platform.team import create_member, issue_token

    async def work():
        member = await create_member(f"{unique(role.lower())}@team.example", name or role.title(),
                                     Role(role))
        return member.id, await issue_token(member, "test")

    return await server.call(work())


@pytest.fixture
async def admin_api(server) -> GraphQLClient:
    _, token = await member_token(server, "ADMIN")
    return GraphQLClient(server.url, token)
