"""A per-process pool of SMTP sessions, one pool per event loop and SMTP server.

Sessions stay open across batches (no connect + EHLO + QUIT per chunk). A session taken
from the pool is marked ``reused``: if it turns out dead before DATA, the sender reconnects
and sends that message again in place. Idle sessions are closed after ``idle_seconds``;
``close_pools()`` (``Platform.close``) closes the rest. Under a connection limit every open
session holds a slot of :class:`~drumbeat.platform.mail.rate_limit.SendLimits`, renewed
while it is open and released when it closes; a session older than ``SLOT_TURN_SECONDS``
is closed when given back, so that waiting processes get slots in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aiosmtplib

from drumbeat.platform.mail.rate_limit import SLOT_LEASE_SECONDS, SendLimits
from drumbeat.platform.mail.session import SmtpSession

#: Under a connection limit, a session is closed when given back after this many seconds
#: (so that the limit's slots go round the processes that want them).
SLOT_TURN_SECONDS = 5.0


@dataclass(frozen=True)
class SmtpServer:
    hostname: str
    port: int
    use_tls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> "SmtpServer":
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or (465 if parts.scheme == "smtps" else 25),
                   parts.scheme == "smtps", unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)

    @property
    def key(self) -> str:
        """The transport key of the limits (no password)."""
        user = f"{self.username}@" if self.username else ""
        return f"{'smtps' if self.use_tls else 'smtp'}://{user}{self.hostname}:{self.port}"

    def client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(hostname=self.hostname, port=self.port, use_tls=self.use_tls,
                               username=self.username, password=self.password, timeout=30)


@dataclass(eq=False)
class Session:
    connection: SmtpSession | None = None
    slot: int | None = None
    reused: bool = False
    idle_since: float = 0.0
    opened: float = 0.0


class SmtpPool:
    def __init__(self, server: SmtpServer, idle_seconds: float = 30.0,
                 limits: SendLimits | None = None):
        self.server = server
        self.idle_seconds = idle_seconds
        self.limits = limits
        self._idle: list[Session] = []
        self._open: set[Session] = set()
        self._keeper: asyncio.Task | None = None
        self._closed = False
        self.connects = 0  # sessions opened so far (for tests and the benchmark)

    @property
    def open_sessions(self) -> int:
        return len(self._open)

    async def take(self, wait: bool = True) -> Session | None:
        """An open session: an idle one, else a new one (under a connection limit, only
        with a free slot — waited for when ``wait``; ``None`` without one). Raises
        ``aiosmtplib.SMTPException``/``OSError`` when connecting fails."""
        while self._idle:
            session = self._idle.pop()
            if (session.connection.usable
                    and time.monotonic() - session.idle_since < self.idle_seconds):
                session.reused = True
                return session
            await self.discard(session)
        slot = None
        if self.limits is not None and self.limits.max_connections:
            slot = await self.limits.acquire_slot(wait)
            if slot is None:
                return None
        session = Session(None, slot, opened=time.monotonic())
        self._open.add(session)
        try:
            session.connection = await SmtpSession.open(self.server.client())
        except BaseException:
            await self.discard(session)
            raise
        self.connects += 1
        self._keep()
        return session

    def give_back(self, session: Session) -> None:
        if self._closed:  # closed meanwhile: this session goes too
            asyncio.get_running_loop().create_task(self._quit(session))
            return
        now = time.monotonic()
        if session.slot is not None and now - session.opened > SLOT_TURN_SECONDS:
            # under a connection limit, a slot changes hands now and then: another
            # process waiting for one gets its turn
            asyncio.get_running_loop().create_task(self._quit(session))
            return
        session.idle_since = now
        self._idle.append(session)

    async def discard(self, session: Session) -> None:
        """Close a session that is broken or no longer wanted, and free its slot."""
        self._open.discard(session)
        if session.connection is not None:
            session.connection.close()
        await self._release(session)

    def drop(self, session: Session) -> None:
        """:meth:`discard` without waiting (e.g. while being cancelled)."""
        self._open.discard(session)
        if session.connection is not None:
            session.connection.close()
        if session.slot is not None:
            asyncio.get_running_loop().create_task(self._release(session))

    async def close(self) -> None:
        self._closed = True
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._keeper
            self._keeper = None
        idle, self._idle = self._idle, []
        for session in idle:
            await self._quit(session)

    async def _quit(self, session: Session) -> None:
        self._open.discard(session)
        if session.connection is not None:
            await session.connection.quit()
        await self._release(session)

    async def _release(self, session: Session) -> None:
        if session.slot is not None and self.limits is not None:
            slot, session.slot = session.slot, None
            with contextlib.suppress(Exception):  # the lease runs out by itself anyway
                await self.limits.release_slot(slot)

    def _keep(self) -> None:
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self._keep_loop())

    async def _keep_loop(self) -> None:
        """Close sessions idle for ``idle_seconds``; renew the slots of open ones."""
        period = min(self.idle_seconds / 2, SLOT_LEASE_SECONDS / 3)
        while self._open:
            await asyncio.sleep(period)
            cutoff = time.monotonic() - self.idle_seconds
            stale = [s for s in self._idle if s.idle_since <= cutoff]
            self._idle = [s for s in self._idle if s.idle_since > cutoff]
            for session in stale:
                await self._quit(session)
            slots = [s.slot for s in self._open if s.slot is not None]
            if slots and self.limits is not None:
                with contextlib.suppress(Exception):
                    await self.limits.renew_slots(slots)


_pools: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, SmtpPool]]" = (
    weakref.WeakKeyDictionary())


def pool_for(server: SmtpServer, idle_seconds: float, limits: SendLimits | None) -> SmtpPool:
    """This event loop's pool for ``server`` (made on first use)."""
    pools = _pools.setdefault(asyncio.get_running_loop(), {})
    pool = pools.get(server.key)
    if pool is None or pool.limits is not limits or pool.idle_seconds != idle_seconds:
        if pool is not None:  # the platform's settings or database changed: start afresh
            asyncio.get_running_loop().create_task(pool.close())
        pool = pools[server.key] = SmtpPool(server, idle_seconds, limits)
    return pool


async def close_pools() -> None:
    """Close this event loop's pools (their idle sessions QUIT)."""
    pools = _pools.pop(asyncio.get_running_loop(), {})
    for pool in pools.values():
        await pool.close()
