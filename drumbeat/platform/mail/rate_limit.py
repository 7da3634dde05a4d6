"""Per-transport send limits shared by every process: messages per second and concurrent
SMTP sessions, kept in the database (which every process reaches in every mode, with or
without Redis).

* **Rate** — a virtual schedule per transport key (``drumbeat_send_rate.next_at``): a
  batch reserves ``n`` messages with one upsert that moves ``next_at`` on by ``n / rate``
  seconds and returns where its interval starts; its messages then go out no earlier than
  ``start + i / rate``. Intervals never overlap, so the arrival rate at the server stays at
  or under ``rate`` whatever the number of processes. Time is the database's clock.
* **Connections** — leased slot rows (``drumbeat_send_slot``), ``0 … limit-1`` per key. An
  open SMTP session holds one slot; the pool renews the leases of its sessions and a slot
  whose holder died frees itself when its lease runs out.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from dataclasses import dataclass, field

from drumbeat.platform.database import Database

#: Seconds a connection slot stays held without a renewal (the pool renews every third).
SLOT_LEASE_SECONDS = 30.0

_NOW = {
    "postgres": "CAST(extract(epoch FROM clock_timestamp()) AS DOUBLE PRECISION)",
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
}
_MAX = {"postgres": "GREATEST", "sqlite": "MAX"}


class RateDeferred(Exception):
    """The transport's schedule is booked beyond the wait a batch may spend on it."""

    def __init__(self, after: float):
        super().__init__(f"rate limit: the send schedule is booked for {after:.0f} s")
        self.after = after


@dataclass
class SendLimits:
    """The limits of one transport key (e.g. ``smtp://user@host:25``) on one database."""

    db: Database
    key: str
    rate: float = 0.0  # messages per second, 0 = unlimited
    max_connections: int = 0  # SMTP sessions across all processes, 0 = unlimited
    max_wait: float = 30.0  # seconds a batch may wait for its turn or a slot
    holder: str = field(default_factory=lambda: (
        f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"))
    _slots_made: bool = False

    # -- rate ---------------------------------------------------------------------------

    async def reserve(self, n: int) -> float:
        """Book ``n`` messages; returns the seconds from now until the first may go (the
        i-th then waits ``i / rate`` more). Raises :class:`RateDeferred` when the schedule
        is booked further ahead than ``max_wait``."""
        cost = n / self.rate
        now, greatest = _NOW[self.db.dialect], _MAX[self.db.dialect]
        row = await self.db.fetchrow(
            f"""
            INSERT INTO drumbeat_send_rate (key, next_at) VALUES ({{}}, {now} + {{}})
            ON CONFLICT (key) DO UPDATE
              SET next_at = {greatest}(drumbeat_send_rate.next_at, {now}) + {{}}
              WHERE drumbeat_send_rate.next_at <= {now} + {{}}
            RETURNING next_at - {now} AS ahead
            """,
            self.key, float(cost), float(cost), float(self.max_wait),
        )
        if row is None:
            ahead = await self.db.fetchval(
                f"SELECT next_at - {now} FROM drumbeat_send_rate WHERE key = {{}}", self.key)
            raise RateDeferred(max(float(ahead or 0.0), 1.0))
        return max(float(row["ahead"]) - cost, 0.0)

    # -- connection slots ---------------------------------------------------------------

    async def acquire_slot(self, wait: bool) -> int | None:
        """A free connection slot, leased to this process; ``None`` when none is free
        (after up to ``max_wait`` seconds when ``wait``)."""
        await self._make_slots()
        delay, waited = 0.02, 0.0
        while True:
            slot = await self._try_slot()
            if slot is not None or not wait or waited >= self.max_wait:
                return slot
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.5)

    async def _make_slots(self) -> None:
        if self._slots_made:
            return
        await self.db.executemany(
            "INSERT INTO drumbeat_send_slot (key, slot, holder, lease_until)"
            " VALUES ({}, {}, NULL, 0) ON CONFLICT DO NOTHING",
            [(self.key, i) for i in range(self.max_connections)],
        )
        self._slots_made = True

    async def _try_slot(self) -> int | None:
        now = _NOW[self.db.dialect]
        lock = "FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgres" else ""
        free = f"(holder IS NULL OR lease_until < {now})"
        return await self.db.fetchval(
            f"""
            UPDATE drumbeat_send_slot SET holder = {{}}, lease_until = {now} + {{}}
            WHERE key = {{}} AND {free} AND slot = (
                SELECT slot FROM drumbeat_send_slot
                WHERE key = {{}} AND slot < {{}} AND {free}
                ORDER BY slot LIMIT 1 {lock})
            RETURNING slot
            """,
            self.holder, SLOT_LEASE_SECONDS, self.key, self.key, self.max_connections,
        )

    async def renew_slots(self, slots: list[int]) -> None:
        """Extend the leases of ``slots`` (held by this process's open sessions)."""
        if not slots:
            return
        now = _NOW[self.db.dialect]
        await self.db.execute(
            f"UPDATE drumbeat_send_slot SET lease_until = {now} + {{}}"
            f" WHERE key = {{}} AND holder = {{}} AND slot IN ({', '.join('{}' for _ in slots)})",
            SLOT_LEASE_SECONDS, self.key, self.holder, *slots,
        )

    async def release_slot(self, slot: int) -> None:
        await self.db.execute(
            "UPDATE drumbeat_send_slot SET holder = NULL, lease_until = 0"
            " WHERE key = {} AND slot = {} AND holder = {}",
            self.key, slot, self.holder,
        )


class Pacer:
    """One batch's turns under a rate: books ``min(left, one second's worth)`` messages at
    a time (one database round-trip per second of sending) and spaces them ``1 / rate``
    apart. Shared by the batch's SMTP lanes."""

    def __init__(self, limits: SendLimits, total: int):
        self.limits = limits
        self.left = total
        self._lock = asyncio.Lock()
        self._loop = asyncio.get_running_loop()
        self._times: list[float] = []

    async def turn(self) -> None:
        """Wait until the next message may go (raises :class:`RateDeferred`)."""
        async with self._lock:
            if not self._times:
                n = max(1, min(self.left, int(self.limits.rate) or 1))
                ahead = await self.limits.reserve(n)
                start = self._loop.time() + ahead
                self._times = [start + i / self.limits.rate for i in range(n)][::-1]
                self.left -= n
            at = self._times.pop()
        delay = at - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
