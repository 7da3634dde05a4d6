"""bench/hostile_inputs — seconds a hostile input costs its service call (issue 14).

Times, on a temporary SQLite database, the calls the issue found quadratic:
``import_csv`` of a header repeating one column N times, of N unknown columns, and
``set_tags`` of N tags on a contact. Each call is refused; what matters is how long it takes
to say so (on the old code the whole event loop stood still meanwhile).

    .venv/bin/python bench/hostile_inputs.py
    .venv/bin/python bench/hostile_inputs.py --columns 20000 40000 --tags 30000 100000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from drumbeat.platform import contacts
from drumbeat.platform.errors import DomainError
from drumbeat.platform.importing import ImportKind, import_csv
from drumbeat.platform.migrate import migrate
from drumbeat.platform.runtime import open_platform
from drumbeat.platform.tables import Role
from drumbeat.platform.team import create_member
from drumbeat.settings import Settings


async def _timed(work) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        await work
        outcome = "accepted"
    except DomainError as exc:
        outcome = f"refused: {len(exc.problems)} problem(s), {len(str(exc)):,} chars"
    return time.perf_counter() - started, outcome


async def run(url: str, columns: list[int], tags: list[int]) -> None:
    settings = Settings(database_url=url, broker_url="memory://", events_url="memory://",
                        secret_key="bench-secret-key-" * 4)
    platform = await open_platform(settings)
    try:
        await migrate(platform.plugins.piccolo_apps)
        member = await create_member("bench@bench.example", "Bench", Role.ADMIN)
        contact = (await contacts.create_contacts(platform, member, [{"email": "x@bench.example"}]))[0]
        for n in columns:
            text = ",".join(["email"] * n) + "\n" + ",".join(["a@b.example"] * n) + "\n"
            took, outcome = await _timed(import_csv(platform, member, ImportKind.CONTACTS, text))
            print(f"CSV header, 'email' × {n:>7,}: {took:7.3f} s  ({outcome})")
            text = ",".join(["email", *(f"c{i}" for i in range(n))]) + "\n"
            took, outcome = await _timed(import_csv(platform, member, ImportKind.CONTACTS, text))
            print(f"CSV header, {n:>7,} unknown:  {took:7.3f} s  ({outcome})")
        for n in tags:
            values = [f"tag-{i}" for i in range(n)]
            took, outcome = await _timed(contacts.set_tags(platform, member, contact["id"], values))
            print(f"contact tags, {n:>7,} tags:    {took:7.3f} s  ({outcome})")
    finally:
        await platform.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, nargs="*", default=[20_000, 40_000])
    parser.add_argument("--tags", type=int, nargs="*", default=[30_000, 100_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(f"sqlite:///{folder}/bench.db", args.columns, args.tags))


if __name__ == "__main__":
    main()
