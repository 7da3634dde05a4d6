"""A live Drumbeat (with this plugin loaded from its entry point) and a live receiver.

The database is a temporary SQLite file, or a private PostgreSQL database
(``<name>_webhook_<pid>``, dropped at the end) when ``DRUMBEAT_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlsplit, urlunsplit

import pytest
from support_api import Api, unique
from support_servers import Receiver, Served

from drumbeat.settings import Settings

SECRET_NAME = "TESTS"
SECRET = "webhook-test-secret-0123456789abcdef0123456789"
ENVIRONMENT = {"DRUMBEAT_WEBHOOK_SECRET_TESTS": SECRET,
               "DRUMBEAT_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1"}


def pytest_report_header(config):
    url = os.environ.get("DRUMBEAT_TEST_DATABASE_URL")
    return f"drumbeat-webhook tests: database={url or 'sqlite (temporary)'}"


async def _postgres(url: str, create: bool) -> None:
    import asyncpg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _migrate(settings: Settings) -> None:
    from drumbeat.platform.migrate import migrate_database

    await migrate_database(settings)


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    url = os.environ.get("DRUMBEAT_TEST_DATABASE_URL")
    if url and url.startswith("postgres"):
        parts = urlsplit(url)
        url = urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}_webhook_{os.getpid()}"))
        asyncio.run(_postgres(url, create=True))
    elif not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'drumbeat.db'}"
    settings = Settings(database_url=url, secret_key="x" * 40, chunk_size=10,
                        reconcile_interval_seconds=0.3, lease_seconds=30,
                        smtp_url=f"outbox://{tmp_path_factory.mktemp('outbox')}",
                        queue=f"drumbeat_webhook_test_{os.getpid()}")
    settings.validate()
    asyncio.run(_migrate(settings))
    yield settings
    if url.startswith("postgres"):
        asyncio.run(_postgres(url, create=False))


@pytest.fixture(scope="session")
def drumbeat(settings):
    """Drumbeat's API and embedded worker; the environment holds the plugin's secret."""
    from drumbeat.app import create_app

    saved = {name: os.environ.get(name) for name in ENVIRONMENT}
    os.environ.update(ENVIRONMENT)
    server = Served(create_app(settings, auto_migrate=False, run_worker=True)).start()
    yield server
    server.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def receiver():
    receiver = Receiver()
    receiver.served.start()
    yield receiver
    receiver.served.stop()


@pytest.fixture
async def api(drumbeat) -> Api:
    from drumbeat.platform.tables import Role
    from drumbeat.platform.team import create_member, issue_token

    async def admin_token() -> str:
        member = await create_member(f"{unique('admin')}@team.example", "Admin", Role.ADMIN)
        return await issue_token(member, "tests")

    return Api(drumbeat.url, await drumbeat.call(admin_token()))
