"""Migrating in-flight enrollments to another workflow version (``enrollmentsMigrate``).

Editing a running campaign's workflow publishes a new version; recipients already in flight
stay on theirs until the campaign's owner (or an admin) migrates them explicitly, naming
where each state of the old version goes in the new one (a state not named goes to the
state of the same key, when the new version has one; otherwise the request is refused with
``UNMAPPED_STATE`` and nothing changes). Only unfinished enrollments (ACTIVE, WAITING,
PAUSED) move — all of the version's, or the ones listed.

For each enrollment, its state in the new version:

* **the same key** — it keeps its place: its entry (the actions it got there are not
  repeated; those still running are waited for), its ``entered_at`` (delays and timeouts
  count from when it entered), and it is looked at again at once under the new
  definition (an instant transition the new version added is taken, a new timer set);
* **another state** — it enters it now, as a manual move would: that state's actions
  run for it (a PAUSED one keeps paused; they run when it is resumed).

Each enrollment's transition number goes up and its journey shows ``MIGRATE v1->v2``, so
a scheduler deciding on the old version at the same moment loses its guarded UPDATE.
Everything is one transaction, audited (on PostgreSQL it locks the enrollments in id order
first, and runs again when chosen as a deadlock's victim); the new entries' actions are
dispatched after it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Sequence

from drumbeat.platform import audit
from drumbeat.platform.campaigns import require_campaign
from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.permissions import require_campaign_editor
from drumbeat.platform.team import Member
from drumbeat.platform.workflows import clock
from drumbeat.platform.workflows import enrollments as rows_
from drumbeat.platform.workflows.definitions import Definitions, Version

log = logging.getLogger(__name__)

MAX_IDS = 10_000
#: Runs of the migration's transaction when PostgreSQL aborts it for a deadlock with a
#: scheduler batch that holds some of the same enrollments.
LOCK_CONFLICT_ATTEMPTS = 3


@dataclass(frozen=True)
class StateMapping:
    from_key: str
    to_key: str


@dataclass(frozen=True)
class Moved:
    from_key: str
    to_key: str
    count: int


@dataclass(frozen=True)
class MigrationResult:
    migrated: int
    states: list[Moved]


async def migrate_enrollments(platform, member: Member | None, campaign_id: int,
                              from_version: int, to_version: int,
                              mapping: Sequence[StateMapping] = (),
                              enrollment_ids: Sequence[int] | None = None,
                              dry_run: bool = False) -> MigrationResult:
    """Migrate (see the module doc); with ``dry_run``, only check the request and tell how
    many enrollments would go from which state to which — nothing changes."""
    db = platform.db
    campaign = await require_campaign(member, campaign_id, "campaignId")
    require_campaign_editor(member, campaign)
    if campaign["state"] not in ("RUNNING", "PAUSED"):
        raise DomainError.one(f"The enrollments of a {campaign['state']} campaign cannot "
                              "change.", ErrorCode.INVALID_STATE, ["campaignId"])
    definitions = Definitions(db)
    source, target = await _versions(definitions, campaign_id, from_version, to_version)
    ids = await _checked_ids(db, campaign_id, from_version, enrollment_ids)
    if dry_run:
        counts = await _counts(db, campaign_id, from_version, ids)
        plan = _plan(source, target, mapping, counts)
        return MigrationResult(sum(counts[k] for k in plan),
                               [Moved(k, v, counts[k]) for k, v in plan.items()])
    for attempt in range(1, LOCK_CONFLICT_ATTEMPTS + 1):
        try:
            results, chunks = await _apply(platform, member, campaign_id, source, target,
                                           mapping, ids, definitions)
            break
        except Exception as exc:
            if attempt == LOCK_CONFLICT_ATTEMPTS or not _lock_conflict(exc):
                raise
            log.warning("migrating the enrollments of campaign %s met a lock conflict "
                        "(%s); trying again", campaign_id, exc)
    total = sum(r.count for r in results)
    if chunks:
        try:
            await platform.dispatch(chunks)
        except Exception:  # in the ledger: the reconciler re-sends
            log.exception("enqueueing the actions of migrated enrollments failed")
    if total:
        await platform.publish(campaign_id, rows_.ENROLLMENTS_CHANGED)
    return MigrationResult(total, results)


async def _apply(platform, member: Member | None, campaign_id: int, source: Version,
                 target: Version, mapping: Sequence[StateMapping], ids: list[int] | None,
                 definitions: Definitions) -> tuple[list[Moved], list]:
    """The migration's one transaction: (what moved where, the chunks to dispatch). The
    plan is made from the enrollments as they are once locked."""
    db = platform.db
    from_version, to_version = source.number, target.number
    now = clock.now()
    via = f"MIGRATE v{from_version}->v{to_version}"
    moved_rows: list[dict] = []
    results: list[Moved] = []
    async with db.transaction():
        await _lock(db, campaign_id, from_version, ids)
        plan = _plan(source, target, mapping,
                     await _counts(db, campaign_id, from_version, ids))
        for from_key, to_key in plan.items():
            rows = await _update(db, campaign_id, from_version, to_version, from_key, to_key,
                                 ids, now)
            if not rows:
                continue
            await db.executemany(
                "INSERT INTO drumbeat_enrollment_step (campaign, enrollment, step_no,"
                " from_state, to_state, via, at, member) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
                [(campaign_id, r["id"], r["step_no"], from_key, to_key, via, now,
                  member.id if member else None) for r in rows])
            results.append(Moved(from_key, to_key, len(rows)))
            if to_key != from_key:
                moved_rows += [r for r in rows if r["status"] != rows_.Status.PAUSED.value]
        chunks = await rows_.enter_actions_many(db, platform.plugins, definitions, moved_rows,
                                                platform.settings.redeliver_after_seconds)
        total = sum(r.count for r in results)
        if total:
            await audit.record(member, campaign_id, "enrollments.migrate", [
                audit.Change("version", from_version, to_version),
                audit.Change("enrollments", None, total),
                audit.Change("states", None, json.dumps(
                    {r.from_key: r.to_key for r in results}, sort_keys=True))])
    return results, chunks


async def _lock(db, campaign_id: int, version: int, ids: list[int] | None) -> None:
    """PostgreSQL: lock the enrollments to migrate up front, in id order (SQLite's
    transaction holds the whole database already)."""
    if db.dialect != "postgres":
        return
    only, args = _only(ids)
    marks = ", ".join("{}" for _ in rows_.UNFINISHED)
    await db.fetch(
        "SELECT id FROM drumbeat_enrollment WHERE campaign = {} AND version = {}"
        f" AND status IN ({marks}) {only} ORDER BY id FOR UPDATE",
        campaign_id, version, *rows_.UNFINISHED, *args)


def _lock_conflict(exc: BaseException) -> bool:
    """A deadlock (PostgreSQL chose this transaction to abort) or a serialization failure:
    the whole transaction can simply run again."""
    return getattr(exc, "sqlstate", None) in ("40P01", "40001")


async def _versions(definitions: Definitions, campaign_id: int, from_version: int,
                    to_version: int) -> tuple[Version, Version]:
    problems = Problems()
    source = await definitions.version(campaign_id, from_version)
    target = await definitions.version(campaign_id, to_version)
    if source is None:
        problems.add(f"The workflow has no version {from_version}.", ErrorCode.NOT_FOUND,
                     "fromVersion")
    if target is None:
        problems.add(f"The workflow has no version {to_version}.", ErrorCode.NOT_FOUND,
                     "toVersion")
    elif from_version == to_version:
        problems.add("Migrate to another version.", ErrorCode.INVALID, "toVersion")
    problems.raise_if_any()
    return source, target


async def _checked_ids(db, campaign_id: int, from_version: int,
                       enrollment_ids: Sequence[int] | None) -> list[int] | None:
    """The listed enrollments, each of the campaign, on ``from_version`` and unfinished."""
    if enrollment_ids is None:
        return None
    problems = Problems()
    if len(enrollment_ids) > MAX_IDS:
        raise DomainError.one(f"At most {MAX_IDS} ids per call.", ErrorCode.TOO_LONG,
                              ["enrollmentIds"])
    if not enrollment_ids:
        raise DomainError.one("Name at least one enrollment, or leave enrollmentIds out to "
                              "migrate all.", ErrorCode.REQUIRED, ["enrollmentIds"])
    unique = list(dict.fromkeys(enrollment_ids))
    rows = {r["id"]: r for r in await db.fetch(
        "SELECT id, version, status FROM drumbeat_enrollment WHERE campaign = {}"
        f" AND id IN ({', '.join('{}' for _ in unique)})", campaign_id, *unique)}
    for index, enrollment_id in enumerate(enrollment_ids):
        row = rows.get(enrollment_id)
        if row is None:
            problems.add("No such enrollment in this campaign.", ErrorCode.NOT_FOUND,
                         "enrollmentIds", index)
        elif row["version"] != from_version:
            problems.add(f"It follows version {row['version']}, not {from_version}.",
                         ErrorCode.INVALID_STATE, "enrollmentIds", index)
        elif row["status"] not in rows_.UNFINISHED:
            problems.add(f"A {row['status']} enrollment is not migrated.",
                         ErrorCode.INVALID_STATE, "enrollmentIds", index)
    problems.raise_if_any()
    return unique


async def _counts(db, campaign_id: int, version: int, ids: list[int] | None) -> dict[str, int]:
    """Unfinished enrollments of the version (or of ``ids``) per state key."""
    only, args = _only(ids)
    marks = ", ".join("{}" for _ in rows_.UNFINISHED)
    rows = await db.fetch(
        "SELECT state_key, count(*) AS n FROM drumbeat_enrollment WHERE campaign = {}"
        f" AND version = {{}} AND status IN ({marks}) {only} GROUP BY state_key",
        campaign_id, version, *rows_.UNFINISHED, *args)
    return {r["state_key"]: r["n"] for r in rows}


def _plan(source: Version, target: Version, mapping: Sequence[StateMapping],
          counts: dict[str, int]) -> dict[str, str]:
    """from key → to key for every state with enrollments to migrate."""
    problems = Problems()
    plan: dict[str, str] = {}
    for index, item in enumerate(mapping):
        if item.from_key not in source.states:
            problems.add(f"Version {source.number} has no state {item.from_key!r}.",
                         ErrorCode.NOT_FOUND, "states", index, "from")
        elif item.from_key in plan:
            problems.add(f"State {item.from_key!r} is mapped twice.", ErrorCode.DUPLICATE,
                         "states", index, "from")
        if item.to_key not in target.states:
            problems.add(f"Version {target.number} has no state {item.to_key!r}.",
                         ErrorCode.NOT_FOUND, "states", index, "to")
        plan.setdefault(item.from_key, item.to_key)
    for key, count in sorted(counts.items()):
        if key in plan:
            continue
        if key in target.states:
            plan[key] = key
        else:
            problems.add(f"{count} enrollment(s) are in state {key!r}, which version "
                         f"{target.number} does not have: map it to one of its states.",
                         ErrorCode.UNMAPPED_STATE, "states")
    problems.raise_if_any()
    return {k: v for k, v in plan.items() if counts.get(k)}


def _only(ids: list[int] | None) -> tuple[str, list[int]]:
    if ids is None:
        return "", []
    return f"AND id IN ({', '.join('{}' for _ in ids)})", list(ids)


async def _update(db, campaign_id: int, from_version: int, to_version: int, from_key: str,
                  to_key: str, ids: list[int] | None, now: float) -> list[dict]:
    """One guarded UPDATE for the state's enrollments; returns them as they are now."""
    only, args = _only(ids)
    marks = ", ".join("{}" for _ in rows_.UNFINISHED)
    enter = "" if to_key == from_key else ", entry_no = step_no + 1, entered_at = {}"
    enter_args = [] if to_key == from_key else [now]
    rows = await db.fetch(
        "UPDATE drumbeat_enrollment SET version = {}, state_key = {}, step_no = step_no + 1,"
        " status = CASE WHEN status = 'PAUSED' THEN 'PAUSED' ELSE 'ACTIVE' END,"
        " paused_status = CASE WHEN status = 'PAUSED' THEN 'ACTIVE' ELSE NULL END,"
        f" due_at = NULL, check_at = {{}}{enter}"
        f" WHERE campaign = {{}} AND version = {{}} AND state_key = {{}} AND status IN ({marks})"
        f" {only} RETURNING id",
        to_version, to_key, now, *enter_args, campaign_id, from_version, from_key,
        *rows_.UNFINISHED, *args)
    return await _rows(db, [r["id"] for r in rows])


async def _rows(db, ids: list[int]) -> list[dict]:
    result = []
    for start in range(0, len(ids), rows_.ENTER_BATCH):
        result += [r for r in await rows_.by_ids(db, ids[start:start + rows_.ENTER_BATCH]) if r]
    return result
