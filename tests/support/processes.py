"""Drumbeat as real subprocesses (`drumbeat serve`, `drumbeat worker`) on PostgreSQL +
Redis, for the fault tests: killed workers, an SMTP outage, the database away."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import SECRET, unique

ROOT = Path(__file__).resolve().parent.parent.parent


class Proc:
    """A `python -m drumbeat …` subprocess with its output in a file."""

    def __init__(self, name: str, args: list[str], env: dict, log_dir: Path):
        self.name = name
        self.log = log_dir / f"{name}.log"
        self._file = self.log.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "drumbeat", *args], env=env, cwd=log_dir,
            stdout=self._file, stderr=subprocess.STDOUT, start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        if not self._file.closed:
            self._file.flush()
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=15)
        self._file.close()


def worker_env(backend, smtp_url: str, **settings) -> dict:
    """The environment of `python -m drumbeat …` subprocesses on ``backend``; ``settings``
    become DRUMBEAT_<NAME> variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRUMBEAT_")}
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        DRUMBEAT_DATABASE_URL=backend.database_url,
        DRUMBEAT_BROKER_URL=backend.broker_url,
        DRUMBEAT_EVENTS_URL=backend.events_url,
        DRUMBEAT_QUEUE=backend.queue,  # the session's own Redis namespace
        DRUMBEAT_SECRET_KEY=SECRET,
        DRUMBEAT_SMTP_URL=smtp_url,
    )
    env.update({f"DRUMBEAT_{name.upper()}": str(value) for name, value in settings.items()})
    return env


async def wait_ready(serve: Proc, workers: list[Proc], base_url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    pending_workers = list(workers)
    serving = False
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
        while not serving or pending_workers:
            for proc in (serve, *workers):
                assert proc.alive(), f"{proc.name} exited with {proc.popen.returncode}"
            assert time.monotonic() < deadline, "the processes did not become ready in time"
            if not serving:
                try:
                    serving = (await client.get("/health")).status_code == 200
                except httpx.HTTPError:
                    pass
            pending_workers = [w for w in pending_workers
                               if "drumbeat worker ready" not in w.output()]
            await asyncio.sleep(0.1)


def create_token(env: dict, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "drumbeat", "token", "create", f"{unique('killer')}@team.example",
         "--name", "Kill Test", "--role", "ADMIN"],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1].strip()


async def ledger_rows(database_url: str, campaign: int) -> list[dict]:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT id, address, state, attempts FROM drumbeat_delivery WHERE campaign = $1",
            campaign)
    finally:
        await conn.close()
    return [dict(r) for r in rows]
