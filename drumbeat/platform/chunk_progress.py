"""A running chunk: its lease kept alive, its outcomes recorded as they come.

``execution.run_chunk`` runs each claim inside a :class:`ChunkProgress`:

- **Heartbeat.** The claim's lease is renewed every third of ``DRUMBEAT_LEASE_SECONDS``
  (``ledger.renew``) and in between, every ``CHECK_SECONDS``, the campaign is checked to be
  still allowed to run. Once it stopped (paused, cancelled), a renewal found rows taken
  by another worker, or renewals kept failing until the lease's end came near (the
  database away), nothing more is handed out.
- **Gate.** An action asks :meth:`ChunkProgress.may_send` before it hands a target's message
  out (``ctx.progress``); on ``False`` it leaves the target unsent (the platform retries it
  without using an attempt). The gate also *waits* while ``DRUMBEAT_MAX_UNRECORDED``
  reported outcomes are not recorded yet, or while the database does not answer: sending
  pauses while the database is away and resumes when it is back.
- **Recorder.** Each outcome the action :meth:`reports <ChunkProgress.report>` is written
  by a background task in small groups (what came while the previous group was being
  written), through ``ledger.record``; a write that fails is retried with backoff until the
  lease nearly ends.

So after a crash (kill -9, a database restart longer than the lease) what the SMTP server
accepted but the ledger did not record — and so is sent again — is at most
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

Record = Callable[[list[Outcome]], Awaitable[None]]


class ChunkProgress:
    """The lease, the send gate and the outcome recorder of one claim (see the module)."""

    def __init__(self, db: Database, claim: ledger.Claim, record: Record, *,
                 campaign_id: int, step_id: int, lease_seconds: float, max_unrecorded: int):
        self._db, self._claim, self._record = db, claim, record
        self._campaign_id, self._step_id = campaign_id, step_id
        self._lease_seconds = lease_seconds
        self._max_unrecorded = max(1, max_unrecorded)
        #: Stop sending this long before the lease ends (a message under way may take it).
        self._margin = lease_seconds / 4
        self._until = claim.until or time.time() + lease_seconds
        self._held = {row["id"] for row in claim.rows}
        self._stopped: str | None = None
        self._trouble = False  # the last database call of the heartbeat or recorder failed
        self._queued: list[Outcome] = []  # reported, not yet being written
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
        """Record ``outcome`` soon (in the next group); its delivery is handled."""
        if outcome.delivery_id in self._handled:
            return
        self._handled.add(outcome.delivery_id)
        self._queued.append(outcome)
        self._more.set()

    # -- what ``run_chunk`` uses --------------------------------------------------------

    async def finish(self, outcomes: Sequence[Outcome]) -> None:
        """Record the outcomes not reported yet, wait until every group is written, stop
        the heartbeat. Raises if the recorder gave up (the database stayed away)."""
        for outcome in outcomes:
            self.report(outcome)
        self._closing = True
        self._more.set()
        recorder = self._tasks[1]
        await asyncio.shield(recorder)  # raises what made it give up

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
        while True:
            if not self._queued:
                if self._closing:
                    return
                self._more.clear()
                await self._more.wait()
                continue
            group, self._queued = self._queued, []
            self._writing = len(group)
            try:
                await self._write(group)
            finally:
                self._writing = 0
                self._changed.set()

    async def _write(self, group: list[Outcome]) -> None:
        delay = RETRY_FIRST
        while True:
            try:
                await self._record(group)
                self._trouble = False
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._trouble = True
                self._changed.set()
                if time.time() + delay >= self._until:
                    self._stop(f"could not record outcomes: {exc}")
                    raise
                log.warning("recording %d outcome(s) of step %s failed, retrying in %.1f s: %s",
                            len(group), self._step_id, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
