"""bench/import — 100k contacts through the CSV import path vs. a raw bulk load.

The import path (parse, validate, merge by email, stage, set-based merge) loads a generated
CSV of N contacts into an empty ``drumbeat_contact``; the baseline loads the same rows,
already as tuples, into the same (emptied) table with the driver's bulk path alone:
asyncpg ``copy_records_to_table`` on PostgreSQL, sqlite3 ``executemany`` on SQLite. It
prints both rates and their ratio (goal on PostgreSQL: ≥ 0.25).

    .venv/bin/python bench/import.py --database postgresql://postgres@127.0.0.1:5432/drumbeat_bench
    .venv/bin/python bench/import.py --database sqlite

The database named in the URL gets a ``_import`` suffix and is dropped and created for the
run (SQLite: a temporary file). The URL may also come from ``DRUMBEAT_BENCH_DATABASE_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import sqlite3
import tempfile
import time
from datetime import date, datetime, timezone
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from drumbeat.platform.importing import ImportKind, import_csv
from drumbeat.platform.migrate import migrate
from drumbeat.platform.runtime import open_platform
from drumbeat.platform.tables import Role
from drumbeat.platform.team import create_member
from drumbeat.settings import Settings

COUNTRIES = ("HR", "IT", "ES", "DE", "FR", "AT", "SI")
COLUMNS = ("first_name", "last_name", "email", "phone", "country", "city", "birth_date",
           "language", "consent")


def generate(n: int) -> tuple[str, list[tuple]]:
    """The CSV text and the same contacts as tuples of COLUMNS."""
    rows = []
    for i in range(n):
        rows.append((f"First{i}", f"Last{i % 997}", f"person{i}@bench.example", f"+385 1 {i:07d}",
                     COUNTRIES[i % len(COUNTRIES)], f"City {i % 311}",
                     date(1950 + i % 50, 1 + i % 12, 1 + i % 28), ("hr", "it", "es-ES")[i % 3],
                     ("GRANTED", "UNKNOWN")[i % 2]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows([*r[:6], r[6].isoformat(), *r[7:]] for r in rows)
    return out.getvalue(), rows


async def fresh_postgres(url: str) -> str:
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'drumbeat_bench'}_import"
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(parts._replace(path=f"/{name}"))


async def baseline(platform, rows: list[tuple]) -> float:
    """Seconds to bulk-load ``rows`` with the bare driver into drumbeat_contact."""
    stamp = datetime.now(timezone.utc)
    records = [(*r, stamp) for r in rows]
    columns = [*COLUMNS, "created_at"]
    if platform.db.dialect == "postgres":
        async with platform.db.connection() as conn:
            started = time.perf_counter()
            await conn.copy_records_to_table("drumbeat_contact", records=records, columns=columns)
            return time.perf_counter() - started
    started = time.perf_counter()
    with sqlite3.connect(platform.db.engine.path) as conn:
        conn.executemany(f"INSERT INTO drumbeat_contact ({', '.join(columns)}) VALUES"
                         f" ({', '.join('?' for _ in columns)})", records)
    return time.perf_counter() - started


async def run(url: str, n: int) -> None:
    settings = Settings(database_url=url, broker_url="memory://", events_url="memory://",
                        secret_key="bench-secret-key-" * 4)
    platform = await open_platform(settings)
    try:
        await migrate(platform.plugins.piccolo_apps)
        member = await create_member("bench@bench.example", "Bench", Role.ADMIN)
        text, rows = generate(n)
        raw = await baseline(platform, rows)
        assert await platform.db.fetchval("SELECT count(*) FROM drumbeat_contact") == n
        await platform.db.execute("DELETE FROM drumbeat_contact")
        started = time.perf_counter()
        result = await import_csv(platform, member, ImportKind.CONTACTS, text)
        took = time.perf_counter() - started
        assert result.inserted == n and not result.errors, result
        assert await platform.db.fetchval("SELECT count(*) FROM drumbeat_contact") == n
    finally:
        await platform.close()
    kind = platform.db.dialect
    base_name = "asyncpg copy_records_to_table" if kind == "postgres" else "sqlite3 executemany"
    print(f"database: {kind}, {n} contacts")
    print(f"import path (CSV → validate → stage → merge): {n / took:>10,.0f} rows/s ({took:.2f} s)")
    print(f"baseline ({base_name}): {n / raw:>10,.0f} rows/s ({raw:.2f} s)")
    print(f"ratio import/baseline: {raw / took:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=os.environ.get("DRUMBEAT_BENCH_DATABASE_URL", "sqlite"),
                        help="a postgresql:// URL, or 'sqlite' for a temporary file")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    if args.database.startswith("postgres"):
        asyncio.run(run(asyncio.run(fresh_postgres(args.database)), args.rows))
        return
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(f"sqlite:///{folder}/bench.db", args.rows))


if __name__ == "__main__":
    main()
