"""Long-lived connections end when their API token stops being valid.

An HTTP request is authenticated once, and that is enough: the next request asks again. A
GraphQL WebSocket is authenticated once at ``connection_init`` and then may stream campaign
events for days, so revoking its token (or deactivating its member) must reach it too.

Each process keeps one :class:`TokenWatch` (per event loop). Every watched connection is
registered under the SHA-256 of its token (never the token itself). A single background
task re-validates all the distinct tokens of the process's open connections in one indexed
query every ``ws_token_recheck_seconds``, and at once when a *revocation notice* arrives
on the event bus (:data:`CHANNEL`). Several ``drumbeat serve`` processes share the database
and, in production, the Redis event bus, so a revocation made through any of them reaches
the sockets of all of them within moments; the periodic check bounds the delay when a
notice is lost or cannot be sent (``memory://`` events across processes, Redis down,
a revocation written by another tool).

The notice carries no authority: it only asks for an early check, and the database decides.
Whoever can publish on the bus can therefore make processes run one query, never close a
valid connection. A connection whose token is revoked, whose member is deactivated, or
whose member's role changed (its subscriptions were authorised for the old role) is
closed through the callback it registered.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable

from drumbeat.platform.tables import Role

if TYPE_CHECKING:
    from drumbeat.platform.runtime import Platform

log = logging.getLogger(__name__)

CHANNEL = "team:token-revoked"
BATCH = 500  # token hashes per query (well under every driver's parameter limit)

# graphql-transport-ws: 4403 is what a connection_init with this token gets now.
REVOKED = (4403, "Forbidden: the API token was revoked or its team member deactivated")
ROLE_CHANGED = (4403, "Forbidden: the team member's role changed; reconnect")

Close = Callable[[int, str], Awaitable[None]]


@dataclass(eq=False)
class Watched:
    """One open connection: whose token it uses, with which role, how to close it."""

    token_hash: str
    role: Role
    close: Close = field(repr=False)


class TokenWatch:
    """The open connections of one process, re-validated in batches (see the module doc)."""

    def __init__(self, platform: "Platform") -> None:
        self.platform = platform
        self._by_token: dict[str, set[Watched]] = {}
        self._nudge = asyncio.Event()
        self._running = False
        self._task: asyncio.Task | None = None

    @property
    def interval(self) -> float:
        return self.platform.settings.ws_token_recheck_seconds

    def watch(self, token_hash: str, role: Role, close: Close) -> Watched:
        """Watch a connection until :meth:`forget`; ``close(code, reason)`` ends it."""
        watched = Watched(token_hash, role, close)
        self._by_token.setdefault(token_hash, set()).add(watched)
        if not self._running:  # decided and flipped with no await between: no lost start
            self._running = True
            self._task = asyncio.create_task(self._run(), name="token-watch")
        return watched

    def forget(self, watched: Watched) -> None:
        """The connection ended; the last one to go stops the background task."""
        peers = self._by_token.get(watched.token_hash)
        if peers is None:
            return
        peers.discard(watched)
        if not peers:
            del self._by_token[watched.token_hash]
        if not self._by_token:
            self._nudge.set()

    def recheck_soon(self) -> None:
        self._nudge.set()

    async def _run(self) -> None:
        """Check on every nudge or interval while any connection is watched; listen to
        revocation notices meanwhile (polling alone when the bus cannot be reached)."""
        events = self.platform.events
        notices = listener = None
        try:
            notices = await events.subscribe(CHANNEL)
            listener = asyncio.create_task(self._listen(notices), name="token-watch-notices")
        except Exception:
            log.exception("revocation notices unavailable; re-checking tokens by polling only")
        try:
            while True:
                try:
                    await asyncio.wait_for(self._nudge.wait(), self.interval)
                except asyncio.TimeoutError:
                    pass
                self._nudge.clear()
                if not self._by_token:
                    self._running = False
                    return
                await self.check()
        finally:
            if self._task is asyncio.current_task():  # not a successor started meanwhile
                self._running = False
            if listener is not None:
                listener.cancel()
            if notices is not None:
                try:
                    await events.unsubscribe(CHANNEL, notices)
                except Exception:
                    log.exception("unsubscribing from revocation notices failed")

    async def _listen(self, notices) -> None:
        async for _ in notices:  # the content is informative only: the database decides
            self._nudge.set()

    async def check(self) -> int:
        """Close the connections whose token is no longer valid; return how many.

        A database error keeps the connections (logged, retried at the next interval):
        one failed query must not disconnect every client of the process.
        """
        hashes = list(self._by_token)
        try:
            valid = await self._valid_roles(hashes)
        except Exception:
            log.exception("re-checking the tokens of %d open connection(s) failed", len(hashes))
            return 0
        ending: list[tuple[Watched, tuple[int, str]]] = []
        for token_hash in hashes:
            role = valid.get(token_hash)
            for watched in list(self._by_token.get(token_hash, ())):
                if role is None:
                    ending.append((watched, REVOKED))
                elif role is not watched.role:
                    ending.append((watched, ROLE_CHANGED))
        for watched, _ in ending:
            self.forget(watched)
        await asyncio.gather(*(_close(w, code, reason) for w, (code, reason) in ending))
        return len(ending)

    async def _valid_roles(self, hashes: list[str]) -> dict[str, Role]:
        """The role behind each still-valid token among ``hashes`` (by the unique index)."""
        db = self.platform.db
        valid: dict[str, Role] = {}
        for start in range(0, len(hashes), BATCH):
            batch = hashes[start:start + BATCH]
            rows = await db.fetch(
                "SELECT t.token_hash, m.role FROM drumbeat_api_token t"
                " JOIN drumbeat_team_member m ON m.id = t.member"
                " WHERE t.revoked_at IS NULL AND m.active = {}"
                f" AND t.token_hash IN ({', '.join(['{}'] * len(batch))})",
                True, *batch)
            valid.update((row["token_hash"], Role(row["role"])) for row in rows)
        return valid


async def _close(watched: Watched, code: int, reason: str) -> None:
    try:
        await watched.close(code, reason)
    except Exception:  # the peer may be gone already; its handler cleans up on its own
        log.debug("closing a connection of a revoked token failed", exc_info=True)


_watches: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TokenWatch]" = (
    weakref.WeakKeyDictionary())


def token_watch(platform: "Platform") -> TokenWatch:
    """The running loop's watch over ``platform`` (created on first use). Calling it also
    lets :func:`announce_revocation` publish from this loop."""
    loop = asyncio.get_running_loop()
    watch = _watches.get(loop)
    if watch is None or watch.platform is not platform:
        watch = _watches[loop] = TokenWatch(platform)
    return watch


async def announce_revocation(platform: "Platform | None" = None, **detail: object) -> None:
    """Tell every process (through the event bus) that a token or member stopped being
    valid, so their connections are re-checked now rather than at the next interval.

    Advisory, like progress: a failure is logged and the revocation stands (the periodic
    check still ends the connections). ``detail`` (ids, never secrets) is for logs.
    """
    if platform is None:
        watch = _watches.get(asyncio.get_running_loop())
        if watch is None:
            return  # no platform on this loop (a script): the periodic check will do
        platform = watch.platform
    try:
        await platform.events.publish(CHANNEL, {"type": "revoked", **detail})
    except Exception:
        log.exception("publishing a revocation notice failed")
