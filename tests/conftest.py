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
    queue: str

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
            worker_threads=4, queue=self.queue,
        )
        values.update(overrides)
        settings = Settings(**values)
        settings.validate()
        return settings


def _configured() -> tuple[str | None, str, str]:
    broker = os.environ.get("DRUMBEAT_TEST_BROKER_URL") or "memory://"
    default_events = "memory://" if broker.startswith("memory") else "redis://127.0.0.1:6379/0"
    events = os.environ.get("DRUMBEAT_TEST_EVENTS_URL") or default_events
    return os.environ.get("DRUMBEAT_TEST_DATABASE_URL") or None, broker, events


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
    from drumbeat.platform.migrate import migrate_database

    await migrate_database(settings)


async def _drop_postgres(url: str) -> None:
    import asyncpg

    parts = urlsplit(url)
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')
    finally:
        await conn.close()


def _flush_broker(settings: Settings, delete: bool = False) -> None:
    """Empty the session's queue; at the end also delete RabbitMQ's queues of it."""
    from drumbeat.worker.broker import make_broker

    broker = make_broker(settings)
    try:
        broker.declare_queue(settings.queue)
        broker.flush_all()
        if delete and settings.broker_url.startswith("amqp"):
            for name in (settings.queue, f"{settings.queue}.DQ", f"{settings.queue}.XQ"):
                broker.channel.queue_delete(name)
    finally:
        broker.close()


@pytest.fixture(scope="session")
def backend(tmp_path_factory):
    """The configured backend, private to this test session: its own PostgreSQL database
    (the configured name plus the pid) and its own broker queue, so parallel runs on one
    machine never see each other's data or messages."""
    db, broker, events = _configured()
    session = f"{os.getpid()}"
    if db is None:
        db = f"sqlite:///{tmp_path_factory.mktemp('db') / 'drumbeat.db'}"
    elif db.startswith("postgres"):
        parts = urlsplit(db)
        db = urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}_{session}"))
        asyncio.run(_recreate_postgres(db))
    backend = Backend(db, broker, events, queue=f"drumbeat_test_{session}")
    asyncio.run(_migrate(backend.settings()))
    if not backend.embedded:
        _flush_broker(backend.settings())
    yield backend
    if not backend.embedded:
        _flush_broker(backend.settings(), delete=True)
    if db.startswith("postgres"):
        asyncio.run(_drop_postgres(db))


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


@pytest.fixture
def scaled_backend(request):
    """The session backend, only when it is PostgreSQL + a Redis broker."""
    database = os.environ.get("DRUMBEAT_TEST_DATABASE_URL", "")
    broker = os.environ.get("DRUMBEAT_TEST_BROKER_URL", "")
    if not (database.startswith("postgres") and broker.startswith(("redis:", "rediss:"))):
        pytest.skip("requires PostgreSQL + Redis broker "
                    "(set DRUMBEAT_TEST_DATABASE_URL / DRUMBEAT_TEST_BROKER_URL)")
    return request.getfixturevalue("backend")  # recreated + migrated database, flushed queue
