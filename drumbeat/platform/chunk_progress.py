"""A running chunk: its lease kept alive, each accepted message written down at once.

``execution.run_chunk`` runs each claim inside a :class:`ChunkProgress`:

- **Heartbeat.** The claim's lease is renewed every third of ``DRUMBEAT_LEASE_SECONDS``
  (``ledger.renew``) and in between, every ``CHECK_SECONDS``, the campaign is checked to be
  still allowed to run. Once it stopped (paused, cancelled), a renewal found rows taken
  by another worker, or renewals kept failing until the lease's end came near (the
  database away), nothing more is handed out.
- **Gate.** An action asks :meth:`ChunkProgress.may_send` before it hands a target's message
  out (``ctx.progress``); on ``False`` it leaves the target unsent (the platform retries it
  without using an attempt). The gate also *waits* while ``DRUMBEAT_MAX_UNRECORDED``
  accepted messages are not written down yet, or while the database does not answer:
  sending pauses while the database is away and resumes when it is back.
- **Accepted marks.** Each message the server accepted, once the action
  :meth:`reports <ChunkProgress.report>` it, gets a note with its Message-ID
  (``ledger.mark_accepted``: one small INSERT per group, no lock — a group is what came
  within ``LINGER_SECONDS`` or half the allowance), retried with backoff until the lease
  nearly ends. A delivery claimed again after a crash with such a note is recorded done
  without being sent again (``execution.run_chunk``).
- **Record.** The chunk's outcomes are recorded at the end (:meth:`finish`), in one
  ``ledger.record`` with their events — retried the same way.

So after a crash (kill -9, a database away for longer than the lease) what the SMTP server
accepted but the ledger does not show — and so is sent again — is at most
``max_unrecorded`` plus the messages on the chunk's SMTP sessions at that moment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Sequence

from drumbeat.platform import ledger
from drumbeat.platform.actions import Outcome, Target
from drumbeat.platform.database import Database

log = logging.getLogger(__name__)

#: Seconds between checks that the campaign may still run (and at most between renewals).
CHECK_SECONDS = 2.0
#: Backoff of a failed write of outcomes: first and longest wait, in seconds.
RETRY_FIRST, RETRY_MAX = 0.1, 2.0
#: Longest an accepted message waits for more to join its group before it is marked.
LINGER_SECONDS = 0.05

Record = Callable[[list[Outcome]], Awaitable[None]]
#: Writes (delivery id, Message-ID) pairs of accepted messages (``ledger.mark_accepted``).
Accept = Callable[[list[tuple[int, str]]], Awaitable[None]]


class ChunkProgress:
    """The lease, the send gate and the outcome recorder of one claim (see the module)."""

    def __init__(self, db: Database, claim: ledger.Claim, record: Record, *,
                 campaign_id: int, step_id: int, lease_seconds: float, max_unrecorded: int,
                 accept: Accept | None = None):
        self._db, self._claim, self._record = db, claim, record
        self._accept = accept or (lambda pairs: ledger.mark_accepted(db, claim, pairs))
        self._campaign_id, self._step_id = campaign_id, step_id
        self._lease_seconds = lease_seconds
        self._max_unrecorded = max(1, max_unrecorded)
        #: Stop sending this long before the lease ends (a message under way may take it).
        self._margin = lease_seconds / 4
        self._until = claim.until or time.time() + lease_seconds
        self._held = {row["id"] for row in claim.rows}
        self._stopped: str | None = None
        self._trouble = False  # the last database call of the heartbeat or recorder failed
        self._queued: list[tuple[int, str]] = []  # accepted, not yet being marked
        self._writing = 0  # outcomes of the group being written
        self._handled: set[int] = set()  # delivery ids reported
        self._closing = False
        self._changed = asyncio.Event()  # wakes the gate's waiters
        self._more = asyncio.Event()  # wakes the recorder
        self._tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> "ChunkProgress":
        self._tasks = [asyncio.create_task(self._heartbeat()),
                       asyncio.create_task(self._recorder())]
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- what an action uses (``ctx.progress``) ------------------------------------------

    @property
    def stopped(self) -> str | None:
        """Why nothing more may be sent (``None`` while sending may go on)."""
        return self._stopped

    async def may_send(self, target: Target) -> bool:
        """Whether ``target``'s message may be handed out now: waits while too many outcomes
        are unrecorded or the database is away; ``False`` once the lease of the target is
        lost or about to run out, or the campaign stopped running."""
        while True:
            if self._stopped is not None or target.delivery_id not in self._held:
                return False
            if time.time() >= self._until - self._margin:
                self._stop("the lease ran out before the worker could renew it "
                           "(the database did not answer)")
                return False
            if not self._trouble and len(self._queued) + self._writing < self._max_unrecorded:
                return True
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), 0.25)
            except asyncio.TimeoutError:
                pass

    def not_sent(self, target: Target) -> Outcome:
        """The outcome of a target :meth:`may_send` refused: retried later, no attempt used
        (due at once: the reconciler takes it back when its campaign runs again)."""
        why = self._stopped or "another worker holds this delivery now"
        return Outcome.retry(target, f"not sent: {why}", after=0, counts=False)

    def report(self, outcome: Outcome) -> None:
        """``outcome`` is final (the chunk records it at the end); a sent message's
        acceptance is written down soon, in the next group."""
        if outcome.delivery_id in self._handled:
            return
        self._handled.add(outcome.delivery_id)
        if outcome.status == "done" and outcome.message_id:
            self._queued.append((outcome.delivery_id, outcome.message_id))
            self._more.set()

    # -- what ``run_chunk`` uses --------------------------------------------------------

    async def finish(self, outcomes: Sequence[Outcome]) -> None:
        """Wait until every accepted message is marked, then record ``outcomes`` (all of
        the chunk's). Raises if the database stayed away until the lease nearly ended."""
        self._closing = True
        self._more.set()
        await asyncio.shield(self._tasks[1])  # raises what made the marking give up
        if outcomes:
            await self._retried(self._record, list(outcomes), "recording")

    # -- background tasks ---------------------------------------------------------------

    def _stop(self, why: str) -> None:
        if self._stopped is None:
            self._stopped = why
            log.warning("chunk of step %s stops sending: %s", self._step_id, why)
        self._changed.set()

    async def _heartbeat(self) -> None:
        period = min(CHECK_SECONDS, self._lease_seconds / 3)
        renewed = time.time()
        while True:
            await asyncio.sleep(period)
            try:
                if time.time() - renewed >= self._lease_seconds / 3 - period / 2:
                    held, until = await ledger.renew(self._db, self._claim, self._lease_seconds)
                    renewed = time.time()
                    self._until = until
                    if not held and not self._closing:
                        self._stop(await self._why_gone())
                    self._held &= held | self._handled
                elif not await self._campaign_runs():
                    self._stop(await self._why_gone())
                self._trouble = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database away: sending pauses (see may_send)
                self._trouble = True
                log.warning("lease heartbeat of step %s failed: %s", self._step_id, exc)
            self._changed.set()

    async def _campaign_runs(self) -> bool:
        row = await self._db.fetchrow(
            f"SELECT 1 AS ok FROM drumbeat_campaign c WHERE c.id = {{}} AND {ledger.RUNS}",
            self._campaign_id, self._step_id)
        return row is not None

    async def _why_gone(self) -> str:
        if not await self._campaign_runs():
            return "the campaign is not running any more"
        return "the lease was lost"

    async def _recorder(self) -> None:
        """Mark accepted messages a group at a time — a group goes once it holds half
        the allowance, ``LINGER_SECONDS`` after its first message, or at once when the
        chunk finishes — several groups in flight at once, so that a slow
        answer of the database holds sending back only when the allowance is used up."""
        loop = asyncio.get_running_loop()
        flush_at = max(1, self._max_unrecorded // 2)
        writes: set[asyncio.Task] = set()
        try:
            while True:
                if not self._queued:
                    if self._closing:
                        break
                    self._more.clear()
                    await self._more.wait()
                    continue
                deadline = loop.time() + LINGER_SECONDS
                while (len(self._queued) < flush_at and not self._closing
                       and (left := deadline - loop.time()) > 0):
                    self._more.clear()
                    try:
                        await asyncio.wait_for(self._more.wait(), left)
                    except asyncio.TimeoutError:
                        break
                group, self._queued = self._queued, []
                self._writing += len(group)
                write = asyncio.create_task(self._mark(group))
                writes.add(write)
                self._prune(writes)
            while writes:
                await asyncio.wait(writes, return_when=asyncio.FIRST_COMPLETED)
                self._prune(writes)
        finally:
            for write in writes:
                write.cancel()

    @staticmethod
    def _prune(writes: set[asyncio.Task]) -> None:
        """Forget the finished writes; raise what made one give up."""
        for write in [w for w in writes if w.done()]:
            writes.discard(write)
            if write.exception() is not None:
                raise write.exception()

    async def _mark(self, group: list[tuple[int, str]]) -> None:
        try:
            await self._retried(self._accept, group, "marking accepted messages")
        finally:
            self._writing -= len(group)
            self._changed.set()

    async def _retried(self, write: Callable[[list], Awaitable[None]], items: list,
                       what: str) -> None:
        """``await write(items)``, retried with backoff while the database fails, until the
        lease nearly ends (then the last error is raised)."""
        delay = RETRY_FIRST
        while True:
            try:
                await write(items)
                self._trouble = False
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._trouble = True
                self._changed.set()
                if time.time() + delay >= self._until:
                    self._stop(f"{what} failed: {exc}")
                    raise
                log.warning("%s (%d) of step %s failed, retrying in %.1f s: %s",
                            what, len(items), self._step_id, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
