"""The workflow engine: looks at one enrollment and takes the transitions that are due.

* ``ACTIVE``: once every delivery of the state's actions for the recipient is final, an
  instant transition (``onComplete``, ``condition``, ``randomSplit``) moves it on at once;
  a state without transitions completes it; otherwise it starts ``WAITING`` with its timer
  (the earliest ``afterDelay``, aligned to its send window, or ``onEvent`` timeout —
  counted from entering the state).
* ``WAITING``: an ``onEvent`` fires on the first event of its type on one of the
  recipient's deliveries in this campaign not consumed by an earlier ``onEvent`` (the
  enrollment's ``event_cursor``; suspected bots do not count). An event wins over a timer
  that expired by the same look. When the timer is due, its transition is taken.
* Goals are checked on every look: a ``CONVERTED`` event since the recipient was
  (re-)enrolled or the contact matching the goal's segment filter → ``EXITED``.
* Entering a state with actions ends the look; the tick snapshots the actions' ledger
  rows of all the enrollments it moved, grouped by state (:meth:`Engine.enter_batch`), for
  each recipient and entry (each entry — a loop, a re-entry, a manual move — acts anew;
  see ``entry_no``), and dispatches the chunks after commit. An entry left without rows
  by a process that died in between is entered by its next look. One look follows instant
  transitions through action-less states (validation forbids cycles without a delay or an
  event).

Every change is guarded (:mod:`.enrollments`): a look that lost a race stops quietly.
"""

from __future__ import annotations

import hashlib
import logging

from drumbeat.platform import ledger
from drumbeat.platform.segments.query import where_sql
from drumbeat.platform.workflows import enrollments as rows_
from drumbeat.platform.workflows.definitions import Definitions, Version
from drumbeat.platform.workflows.enrollments import Status
from drumbeat.platform.workflows.windows import align

log = logging.getLogger(__name__)

#: An ACTIVE enrollment whose actions are still running is looked at again this soon.
ACTIVE_RECHECK_SECONDS = 1.0
#: A WAITING enrollment is looked at (events, goals) at least this often.
EVENT_POLL_SECONDS = 30.0
MAX_HOPS = 200


def split_path(enrollment_id: int, version: int, state_key: str, paths: list[dict]) -> str:
    """The path of a random split: deterministic per enrollment, version and state, so a
    repeated look picks the same one; proportional to the weights."""
    digest = hashlib.sha256(f"{enrollment_id}:{version}:{state_key}".encode()).digest()
    total = sum(int(p["weight"]) for p in paths)
    point = int.from_bytes(digest[:8], "big") % total
    for path in paths:
        point -= int(path["weight"])
        if point < 0:
            return path["to"]
    return paths[-1]["to"]


class Engine:
    """Looks at enrollments with one set of loaded definitions (one tick)."""

    def __init__(self, platform, definitions: Definitions | None = None):
        self.platform = platform
        self.db = platform.db
        self.definitions = definitions or Definitions(platform.db)
        self.chunks: list[ledger.Chunk] = []
        self.skipped: list[int] = []  # SKIPPED events written on entering states, to announce
        self.entering: list[dict] = []  # moved into a state with actions, to enter
        self.transitions = 0
        self.changed: set[int] = set()  # campaigns whose enrollments moved or changed status

    def mark(self) -> tuple[int, int, int]:
        """Where the tick's results stand (see :meth:`rollback_to`)."""
        return len(self.chunks), len(self.entering), self.transitions

    def rollback_to(self, mark: tuple[int, int, int]) -> None:
        """Forget what looks since ``mark`` did: their transaction was rolled back."""
        del self.chunks[mark[0]:]
        del self.entering[mark[1]:]
        self.transitions = mark[2]

    async def look(self, row: dict, now: float) -> None:
        """Take what is due for ``row`` (each step in its own transaction)."""
        for _ in range(MAX_HOPS):
            version = await self.definitions.version(row["campaign"], row["version"])
            state = version.states.get(row["state_key"]) if version else None
            if state is None:  # a version or state that no longer exists: leave it be
                log.warning("enrollment %s: no state %r in version %s", row["id"],
                            row["state_key"], row["version"])
                await rows_.look_again(self.db, row, now + EVENT_POLL_SECONDS)
                return
            if await self._goal_met(version, row):
                if await rows_.finish(self.db, row, Status.EXITED, now):
                    self.changed.add(row["campaign"])
                return
            if row["status"] == Status.ACTIVE.value:
                if not await self._actions_finished(version, row):
                    await rows_.look_again(self.db, row, now + ACTIVE_RECHECK_SECONDS)
                    return
                instant = await self._instant(version, state, row)
                if instant is not None:
                    row = await self._move(row, instant[0], instant[1], now)
                    if row is None:
                        return
                    continue
                if not state.get("transitions"):
                    if await rows_.finish(self.db, row, Status.COMPLETED, now):
                        self.changed.add(row["campaign"])
                    return
                due = self._timer(state, row)
                row = await rows_.wait(self.db, row, due and due[0],
                                       _next_look(due and due[0], now))
                if row is None:
                    return
                self.changed.add(row["campaign"])
            # WAITING: an event, else a due timer, else look again later.
            event = await self._event(state, row)
            if event is not None:
                row = await self._move(row, event[0], "ON_EVENT", now, cursor=event[1])
            else:
                due = self._timer(state, row)
                if due is None or due[0] > now:
                    await rows_.look_again(self.db, row, _next_look(due and due[0], now))
                    return
                row = await self._move(row, due[1], due[2], now)
            if row is None:
                return
        log.error("enrollment %s: more than %s transitions in one look", row["id"], MAX_HOPS)

    async def _move(self, row: dict, to_key: str, via: str, now: float,
                    cursor: int | None = None) -> dict | None:
        """Take a transition; returns the row to go on looking at, or None to stop (lost
        the race, or entered a state with actions: they are entered in the tick's batch —
        :meth:`enter_batch` — and the next tick looks again)."""
        async with self.db.transaction():  # the guarded UPDATE and its journey row
            moved = await rows_.move(self.db, row, to_key, via, now, cursor=cursor)
        if moved is None:
            return None
        self.transitions += 1
        self.changed.add(moved["campaign"])
        version = await self.definitions.version(moved["campaign"], moved["version"])
        if version is not None and version.steps.get(to_key):
            self.entering.append(moved)
            return None
        return moved

    async def enter_batch(self) -> None:
        """Snapshot the actions of every state this tick's looks entered, grouped by
        campaign, version and state (one audience resolution and one insert per action
        for each group), in one transaction; the chunks join :attr:`chunks`."""
        if not self.entering:
            return
        rows, self.entering = self.entering, []
        async with self.db.transaction():
            self.chunks += await rows_.enter_actions_many(
                self.db, self.platform.plugins, self.definitions, rows,
                self.platform.settings.redeliver_after_seconds, self.skipped)

    async def _actions_finished(self, version: Version, row: dict) -> bool:
        """Whether the actions of the enrollment's current entry are all final. An entry
        with actions but no ledger rows (its batch was lost with its process before it
        committed) is entered now — a no-op for rows that exist, so never twice."""
        total, unfinished = await rows_.entry_progress(self.db, row)
        if unfinished:
            return False
        if total == 0 and version.steps.get(row["state_key"]):
            async with self.db.transaction():
                chunks = await rows_.enter_actions(
                    self.db, self.platform.plugins, self.definitions, row,
                    self.platform.settings.redeliver_after_seconds, self.skipped)
            if chunks:
                self.chunks += chunks
                return False
        return True

    async def _instant(self, version: Version, state: dict, row: dict
                       ) -> tuple[str, str] | None:
        for transition in state.get("transitions") or []:
            if "onComplete" in transition:
                return transition["onComplete"]["to"], "ON_COMPLETE"
            if "randomSplit" in transition:
                return split_path(row["id"], version.number, row["state_key"],
                                  transition["randomSplit"]["paths"]), "RANDOM_SPLIT"
            if "condition" in transition:
                body = transition["condition"]
                matched = await self.matches(row, body["if"])
                return body["then"] if matched else body["else"], "CONDITION"
        return None

    def _timer(self, state: dict, row: dict) -> tuple[float, str, str] | None:
        """The earliest timer of the state: (when, to, via)."""
        timers = []
        for transition in state.get("transitions") or []:
            if "afterDelay" in transition:
                body = transition["afterDelay"]
                at = align(row["entered_at"] + body["delay"]["seconds"], body.get("window"),
                           row.get("timezone"))
                timers.append((at, body["to"], "AFTER_DELAY"))
            elif "onEvent" in transition and transition["onEvent"].get("timeout"):
                timeout = transition["onEvent"]["timeout"]
                timers.append((row["entered_at"] + timeout["after"]["seconds"], timeout["to"],
                               "TIMEOUT"))
        return min(timers, key=lambda t: t[0]) if timers else None

    async def _event(self, state: dict, row: dict) -> tuple[str, int] | None:
        """(to, event id) of the first unconsumed event an ``onEvent`` waits for."""
        wanted = [t["onEvent"] for t in state.get("transitions") or [] if "onEvent" in t]
        if not wanted:
            return None
        types = sorted({w["event"] for w in wanted})
        events = await self._events(row, types)
        for event in events:
            for body in wanted:
                if body["event"] == event["type"] and (
                        not body.get("outcome") or body["outcome"] == event["detail"]):
                    return body["to"], event["id"]
        return None

    async def _events(self, row: dict, types: list[str], limit: int = 20) -> list[dict]:
        marks = ", ".join("{}" for _ in types)
        return await self.db.fetch(
            "SELECT e.id, e.type, e.detail FROM drumbeat_delivery_event e"
            " JOIN drumbeat_delivery d ON d.id = e.delivery"
            f" WHERE d.recipient = {{}} AND e.id > {{}} AND e.type IN ({marks})"
            f" AND e.suspected_bot = {{}} ORDER BY e.id LIMIT {int(limit)}",
            row["recipient"], row["event_cursor"], *types, False)

    async def _goal_met(self, version: Version, row: dict) -> bool:
        for goal in version.goals:
            if goal.get("event"):
                if await self._any_event(row, goal["event"]):
                    return True
            elif goal.get("if") is not None and await self.matches(row, goal["if"]):
                return True
        return False

    async def _any_event(self, row: dict, kind: str) -> bool:
        """Whether the recipient had such an event since it was (re-)enrolled."""
        return bool(await self.db.fetchval(
            "SELECT count(*) FROM drumbeat_delivery_event e"
            " JOIN drumbeat_delivery d ON d.id = e.delivery"
            " WHERE d.recipient = {} AND e.type = {} AND e.suspected_bot = {} AND e.id > {}",
            row["recipient"], kind, False, int(row.get("since_event") or 0)))

    async def matches(self, row: dict, filter: dict) -> bool:
        """Whether the enrollment's contact matches a segment filter (never for a company
        or lead recipient)."""
        if row.get("contact") is None:
            return False
        where, params = where_sql(self.platform, filter)
        return bool(await self.db.fetchval(
            f"SELECT count(*) FROM drumbeat_contact c WHERE c.id = {{}} AND ({where})",
            row["contact"], *params))


def _next_look(due: float | None, now: float) -> float:
    poll = now + EVENT_POLL_SECONDS
    return poll if due is None else min(due, poll)
