"""The database: one Piccolo engine per process, bound to every Drumbeat table.

``connect(settings)`` builds the engine from ``DRUMBEAT_DATABASE_URL``:

* SQLite — WAL enabled once at start-up, a 30 s busy timeout, IMMEDIATE transactions
  (DEFERRED ones fail under concurrent writers), a guard around Piccolo's
  transaction so a failed BEGIN/COMMIT never leaks a connection thread, and the SQL
  function ``unicode_lower`` on every connection (SQLite's ``lower`` folds ASCII only).
* PostgreSQL — an asyncpg connection pool.

Hot paths (the deliveries ledger) use raw SQL through :class:`Database`, written with
``{}`` placeholders that are compiled for the active dialect.
"""

from __future__ import annotations

import contextlib

import re
import sqlite3
import warnings
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Iterable, Sequence
from urllib.parse import urlsplit

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType
from piccolo.querystring import QueryString

from drumbeat.settings import Settings, sqlite_path

SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
UNICODE_LOWER = "unicode_lower"


def _unicode_lower(value: Any) -> Any:
    """Python's ``str.lower`` (full Unicode, like PostgreSQL's ``lower`` in a UTF-8 locale);
    NULL and non-text values come back unchanged, so it never raises inside a query."""
    return value.lower() if isinstance(value, str) else value


class DrumbeatSQLiteConnection(sqlite3.Connection):
    """A sqlite3 connection with ``unicode_lower(text)`` registered (deterministic).

    Passed as ``factory`` to every ``sqlite3.connect`` (aiosqlite forwards it), so Piccolo's
    per-query and transaction connections and our own raw ones all have the function.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.create_function(UNICODE_LOWER, 1, _unicode_lower, deterministic=True)


class GuardedSQLiteTransaction(SQLiteTransaction):
    """Closes the aiosqlite connection when BEGIN, COMMIT or ROLLBACK fails.

    Piccolo leaves it open in that case, and its non-daemon thread then keeps the
    process from exiting.
    """

    async def __aenter__(self):
        try:
            return await super().__aenter__()
        except BaseException:
            connection = getattr(self, "connection", None)
            if connection is not None:
                await connection.close()
            raise

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        try:
            return await super().__aexit__(exception_type, exception, traceback)
        except BaseException:
            await self.connection.close()
            self.engine.current_transaction.reset(self.context)
            raise


class DrumbeatSQLiteEngine(SQLiteEngine):
    """SQLite with IMMEDIATE transactions by default and the connection guard."""

    def transaction(
        self,
        transaction_type: TransactionType = TransactionType.immediate,
        allow_nested: bool = True,
    ) -> SQLiteTransaction:
        return GuardedSQLiteTransaction(
            engine=self, transaction_type=transaction_type, allow_nested=allow_nested
        )


def make_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if settings.database_kind == "sqlite":
        return DrumbeatSQLiteEngine(path=sqlite_path(url), timeout=SQLITE_BUSY_TIMEOUT_SECONDS,
                                    factory=DrumbeatSQLiteConnection)
    parts = urlsplit(url)
    config = {
        "host": parts.hostname,
        "port": parts.port or 5432,
        "user": parts.username or "postgres",
        "database": parts.path.lstrip("/") or "postgres",
    }
    if parts.password:
        config["password"] = parts.password
    with warnings.catch_warnings():
        # Piccolo's engine connects once to read the server's version and only warns when
        # it cannot: the pool's start-up then fails with the reason, which the CLI explains
        # (drumbeat.operator_errors). Other warnings (an unsupported version) still show.
        warnings.filterwarnings("ignore", message=_UNREACHABLE_WARNING)
        return PostgresEngine(config=config)


_UNREACHABLE_WARNING = r".*Unable to (connect to database|fetch server version)"


_PLACEHOLDER = re.compile(r"\{\}")


class Database:
    """A thin, dialect-aware layer over the Piccolo engine for hand-written SQL."""

    def __init__(self, engine: Engine, settings: Settings):
        self.engine = engine
        self.settings = settings
        self.dialect = "postgres" if isinstance(engine, PostgresEngine) else "sqlite"

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        if self.dialect == "sqlite":
            # WAL once per database file (it is persistent), not per connection.
            with sqlite3.connect(self.engine.path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS,
                                 factory=DrumbeatSQLiteConnection) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
        else:
            await self.engine.start_connection_pool(
                min_size=1, max_size=self.settings.db_pool_max
            )

    async def stop(self) -> None:
        if self.dialect == "postgres" and self.engine.pool is not None:
            await self.engine.close_connection_pool()

    # -- queries -------------------------------------------------------------------
    async def fetch(self, sql: str, *args: Any) -> list[dict]:
        rows = await self.engine.run_querystring(QueryString(sql, *args))
        return [dict(row) for row in rows or ()]

    async def fetchrow(self, sql: str, *args: Any) -> dict | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return next(iter(row.values())) if row else None

    async def execute(self, sql: str, *args: Any) -> None:
        await self.engine.run_querystring(QueryString(sql, *args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """One statement, many parameter rows, on the database's bulk path."""
        rows = list(rows)
        if not rows:
            return
        compiled = self.compile(sql)
        async with self.transaction() as tx:
            await tx.connection.executemany(compiled, rows)

    async def name_taken(self, table: str, name: str, except_id: int | None = None) -> bool:
        """Does another row of ``table`` (a constant of ours, never input) use ``name``,
        compared case-insensitively like its unique index on ``lower(name)``?"""
        return bool(await self.fetchval(
            f"SELECT count(*) FROM {table} WHERE lower(name) = lower({{}}) AND id <> {{}}",
            name, except_id or 0))

    def transaction(self):
        """A transaction (IMMEDIATE on SQLite); nested calls join the outer one."""
        if self.dialect == "postgres":
            return _PostgresTransaction(self.engine)
        return self.engine.transaction()

    def compile(self, sql: str) -> str:
        if self.dialect == "sqlite":
            return _PLACEHOLDER.sub("?", sql)
        counter = iter(range(1, 1_000_000))
        return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", sql)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A raw driver connection (asyncpg or aiosqlite) for bulk paths such as COPY."""
        if self.dialect == "postgres":
            async with self.engine.pool.acquire() as conn:
                yield conn
        else:
            conn = await self.engine.get_connection()
            try:
                yield conn
            finally:
                await conn.close()


def bind_tables(engine: Engine, extra: Iterable[type] = ()) -> None:
    """Point every Drumbeat table, the plugins' (``extra``) and Piccolo's migration table
    at ``engine``."""
    from piccolo.apps.migrations.tables import Migration

    from drumbeat.platform import piccolo_conf
    from drumbeat.platform.tables import ALL_TABLES

    for table in (*ALL_TABLES, *extra, Migration):
        table._meta.db = engine
    piccolo_conf.DB = engine


async def connect(settings: Settings, extra_tables: Iterable[type] = ()) -> Database:
    """Build the engine for ``settings``, bind the tables (the core's and ``extra_tables``,
    the plugins') and start it."""
    engine = make_engine(settings)
    bind_tables(engine, extra_tables)
    database = Database(engine, settings)
    await database.start()
    return database


class _PostgresTransaction:
    """Piccolo's PostgreSQL transaction, made safe against a lost connection.

    When its ROLLBACK or COMMIT fails — the server restarted, the session was terminated —
    Piccolo leaves the dead transaction current in the task's context and its connection
    out of the pool: every later query of that task (a worker's recorder, the reconciler)
    then fails with "connection has been released back to the pool". Here the transaction
    stops being current and its connection goes back to the pool (which replaces a closed
    one) whatever happens, so the next attempt gets a fresh connection."""

    def __init__(self, engine):
        self._engine = engine
        self._inner = engine.transaction()

    async def __aenter__(self):
        return await self._inner.__aenter__()

    async def __aexit__(self, *exc) -> bool:
        try:
            return await self._inner.__aexit__(*exc)
        except BaseException:
            inner = self._inner
            if getattr(inner, "_parent", None) is None and hasattr(inner, "context"):
                if self._engine.current_transaction.get() is inner:
                    self._engine.current_transaction.reset(inner.context)
                connection = getattr(inner, "connection", None)
                if connection is not None and self._engine.pool is not None:
                    with contextlib.suppress(Exception):
                        await self._engine.pool.release(connection)
            raise
