"""Operator errors: every CLI command that uses the database, run as a real subprocess
against a database that is unmigrated, unreachable or missing, says what is wrong and what
to run in at most two lines on stderr, exits non-zero, and prints no traceback.

The PostgreSQL cases that need a server (a missing database, an unmigrated one) run when
DRUMBEAT_TEST_DATABASE_URL is a PostgreSQL URL (CI's PostgreSQL legs); the others always.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import SECRET

ROOT = Path(__file__).resolve().parent.parent
CLOSED_PORT_URL = "postgresql://postgres@127.0.0.1:1/drumbeat"  # nothing listens on port 1
DATABASE_COMMANDS = ["serve", "worker", "migrate", "demo", "token create", "import", "export"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _commands(tmp: Path) -> dict[str, list[str]]:
    """The arguments of each of :data:`DATABASE_COMMANDS`: every command that uses the
    database (``schema export``, ``plugins`` and ``watch`` do not)."""
    source = tmp / "contacts.csv"
    source.write_text("email,first_name\nann@example.org,Ann\n", encoding="utf-8")
    return {
        "serve": ["serve", "--port", str(_free_port())],
        "worker": ["worker"],
        "migrate": ["migrate"],
        "demo": ["demo"],
        "token create": ["token", "create", "ops@example.org", "--name", "Ops", "--role", "ADMIN"],
        "import": ["import", "contacts", str(source)],
        "export": ["export", "contacts", str(tmp / "out.csv")],
    }


def run_cli(tmp: Path, database_url: str, command: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRUMBEAT_")}
    # A worker needs a broker of its own; it is never reached when the database check fails.
    broker = "redis://127.0.0.1:1/0" if command == "worker" else "memory://"
    env.update(PYTHONPATH=str(ROOT), DRUMBEAT_DATABASE_URL=database_url,
               DRUMBEAT_SECRET_KEY=SECRET, DRUMBEAT_BROKER_URL=broker, DRUMBEAT_EVENTS_URL=broker,
               DRUMBEAT_SMTP_URL=f"outbox://{tmp / 'outbox'}")
    return subprocess.run([sys.executable, "-m", "drumbeat", *_commands(tmp)[command]],
                          env=env, cwd=tmp, capture_output=True, text=True, timeout=90)


def assert_operator_error(result: subprocess.CompletedProcess, *fix: str) -> None:
    shown = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode != 0, shown
    assert "Traceback" not in result.stderr + result.stdout, shown
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, shown
    for words in fix:
        assert words in result.stderr, shown


# -- SQLite: an empty file ---------------------------------------------------------------

@pytest.mark.parametrize("command", ["worker", "token create", "import", "export"])
def test_an_unmigrated_sqlite_file_asks_for_migrate(tmp_path, command):
    """(``serve`` migrates SQLite itself; ``migrate`` and ``demo`` migrate.)"""
    empty = tmp_path / "empty.db"
    empty.touch()
    result = run_cli(tmp_path, f"sqlite:///{empty}", command)
    assert_operator_error(result, str(empty), "no Drumbeat tables", "`drumbeat migrate`")


def test_a_sqlite_file_in_a_missing_folder_is_named(tmp_path):
    result = run_cli(tmp_path, f"sqlite:///{tmp_path}/nowhere/x.db", "token create")
    assert_operator_error(result, "cannot open", "nowhere/x.db", "DRUMBEAT_DATABASE_URL")


# -- a malformed URL ------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "postgresql://ops:hunter2-secret@127.0.0.1:54x2/drumbeat_with_a_rather_long_database_name",
    "mysql://ops:hunter2-secret@db.example.org/drumbeat_with_a_rather_long_database_name",
])
def test_a_malformed_database_url_is_one_line_without_its_password(tmp_path, url):
    result = run_cli(tmp_path, url, "token create")
    assert_operator_error(result, "DRUMBEAT_DATABASE_URL")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "hunter2" not in result.stderr, result.stderr


# -- PostgreSQL: nothing listening -------------------------------------------------------

@pytest.mark.parametrize("command", DATABASE_COMMANDS)
def test_an_unreachable_postgresql_is_one_line(tmp_path, command):
    result = run_cli(tmp_path, CLOSED_PORT_URL, command)
    assert_operator_error(result, "127.0.0.1:1", "connection refused", "DRUMBEAT_DATABASE_URL")


def test_commands_without_the_database_work_when_it_is_unreachable(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRUMBEAT_")}
    env.update(PYTHONPATH=str(ROOT), DRUMBEAT_DATABASE_URL=CLOSED_PORT_URL,
               DRUMBEAT_SECRET_KEY=SECRET)
    for args in (["schema", "export", str(tmp_path / "s.graphql")], ["plugins"]):
        result = subprocess.run([sys.executable, "-m", "drumbeat", *args], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=90)
        assert result.returncode == 0, result.stderr
    assert "type Query" in (tmp_path / "s.graphql").read_text()


# -- PostgreSQL: a server, but a missing or an unmigrated database -----------------------

def _server_url() -> str:
    url = os.environ.get("DRUMBEAT_TEST_DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("needs a PostgreSQL server (DRUMBEAT_TEST_DATABASE_URL=postgresql://…)")
    return url


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _admin(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_with_database(url, "postgres"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def unmigrated_postgres():
    url = _server_url()
    name = f"{urlsplit(url).path.strip('/')}_unmigrated_{os.getpid()}"
    asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
    yield _with_database(url, name)
    asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def missing_postgres():
    url = _server_url()
    name = f"{urlsplit(url).path.strip('/')}_missing_{os.getpid()}"
    asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{name}"'))
    return _with_database(url, name)


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
def test_a_missing_postgresql_database_asks_for_createdb(tmp_path, missing_postgres, command):
    result = run_cli(tmp_path, missing_postgres, command)
    name = urlsplit(missing_postgres).path.strip("/")
    assert_operator_error(result, name, "does not exist", "createdb", "`drumbeat migrate`")


@pytest.mark.parametrize("command", ["serve", "worker", "token create", "import", "export"])
def test_an_unmigrated_postgresql_database_asks_for_migrate(tmp_path, unmigrated_postgres,
                                                           command):
    """(``migrate`` and ``demo`` migrate it.)"""
    result = run_cli(tmp_path, unmigrated_postgres, command)
    assert_operator_error(result, "no Drumbeat tables", "`drumbeat migrate`")
