"""Operator errors: what a CLI command says when its database is unreachable or unmigrated.

Every command that uses the database first runs :func:`preflight`: it connects, and checks
that no migration is pending (except for ``migrate`` and ``demo``, which migrate, and
``serve`` on SQLite, which migrates at start-up). A failure becomes an :class:`OperatorError`
whose message says, in one or two lines, what is wrong and what to run. ``drumbeat.cli.main``
prints it on stderr and exits 1, without a traceback; it also maps, through :func:`explain`,
the same driver errors when they happen later in a command (the database went away).

A worker that is running keeps retrying when its database goes away: only its start-up
goes through :func:`preflight`.
"""

from __future__ import annotations

import socket
import sqlite3
from typing import Iterator
from urllib.parse import urlsplit

from drumbeat.settings import Settings, sqlite_path

URL_VARIABLE = "DRUMBEAT_DATABASE_URL"


class OperatorError(Exception):
    """A failure the operator fixes; ``str()`` says what is wrong and what to run."""


def database_label(url: str) -> str:
    """The database as an operator knows it, never with its password."""
    if url.startswith("sqlite"):
        return f"the SQLite database {sqlite_path(url)}"
    parts = urlsplit(url)
    database = parts.path.lstrip("/") or "postgres"
    return f"PostgreSQL database {database!r} at {parts.hostname}:{parts.port or 5432}"


def not_migrated(url: str, pending: int | None = None) -> str:
    what = "has no Drumbeat tables" if pending is None else (
        f"is not up to date ({pending} migration{'s' if pending != 1 else ''} pending)")
    return f"{database_label(url)} {what}: run `drumbeat migrate` first."


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, its causes and contexts, and the members of exception groups."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(getattr(current, "exceptions", ()))
        todo.extend((current.__cause__, current.__context__))


def explain(exc: BaseException, url: str, connecting: bool = False) -> str | None:
    """The operator's message for ``exc`` met with the database of ``url``, or ``None``
    when it is not a database failure the operator fixes. ``connecting``: ``exc`` was
    raised while connecting, so a plain OSError is about reaching the database (elsewhere
    it may be a file the command writes)."""
    import asyncpg

    label = database_label(url)
    parts = urlsplit(url)
    for error in _chain(exc):
        if isinstance(error, OperatorError):
            return str(error)
        if isinstance(error, asyncpg.UndefinedTableError):
            return not_migrated(url)
        if isinstance(error, sqlite3.OperationalError):
            text = str(error)
            if text.startswith("no such table"):
                return not_migrated(url)
            if "unable to open database file" in text:
                return (f"cannot open {label}: check that its folder exists and is writable, "
                        f"or fix {URL_VARIABLE}.")
        if isinstance(error, sqlite3.DatabaseError) and "not a database" in str(error):
            return f"{label} is not an SQLite database file: fix {URL_VARIABLE}."
        if isinstance(error, asyncpg.InvalidCatalogNameError):
            database = parts.path.lstrip("/") or "postgres"
            return (f"{label} does not exist: create it (`createdb -h {parts.hostname} "
                    f"-U {parts.username or 'postgres'} {database}`), then run `drumbeat migrate`.")
        if isinstance(error, asyncpg.InvalidAuthorizationSpecificationError):
            return (f"{label} refused the connection: {error}. "
                    f"Fix the user or password in {URL_VARIABLE}.")
        if isinstance(error, (asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)):
            return f"{label} does not accept connections now ({error}): try again shortly."
        if isinstance(error, asyncpg.PostgresConnectionError):
            return f"the connection to {label} failed ({error}): check that it is running, then retry."
        if not connecting:
            continue
        if isinstance(error, socket.gaierror):
            return f"cannot resolve the database host {parts.hostname!r}: fix the host in {URL_VARIABLE}."
        if isinstance(error, ConnectionRefusedError):
            return (f"cannot connect to {label}: connection refused. "
                    f"Start PostgreSQL there, or fix {URL_VARIABLE}.")
        if isinstance(error, TimeoutError):
            return (f"cannot connect to {label}: no answer in time. "
                    f"Check that it is running and reachable, or fix {URL_VARIABLE}.")
        if isinstance(error, OSError):
            reason = error.strerror or str(error)
            return (f"cannot connect to {label}: {reason}. "
                    f"Check that it is running and reachable, or fix {URL_VARIABLE}.")
    return None


async def preflight(settings: Settings, migrated: bool = True) -> None:
    """Connect to the settings' database and, with ``migrated``, check that every migration
    (the core's and the enabled plugins') has run. Raises :class:`OperatorError`."""
    from drumbeat.platform.database import connect
    from drumbeat.platform.migrate import pending_migrations
    from drumbeat.platform.plugins import PluginError, build_plugins

    try:
        plugins = build_plugins(settings.plugins_allow, settings.plugins_block)
    except PluginError as exc:
        raise OperatorError(f"plugin error: {exc}") from None
    url = settings.database_url
    try:
        db = await connect(settings, plugins.tables())
    except Exception as exc:
        message = explain(exc, url, connecting=True)
        if message is None:
            raise
        raise OperatorError(message) from None
    try:
        pending, total = await pending_migrations(plugins.piccolo_apps) if migrated else (0, 0)
    except Exception as exc:
        message = explain(exc, url, connecting=True)
        if message is None:
            raise
        raise OperatorError(message) from None
    finally:
        await db.stop()
    if pending:
        raise OperatorError(not_migrated(url, None if pending == total else pending))
