"""Manual control of one enrollment, by the campaign's owner or an admin, audited:

* **move** it to a state of its version (from any status; it becomes ACTIVE there and the
  state's actions run for its recipient) — while the campaign is RUNNING or PAUSED;
* **pause** an ACTIVE / WAITING one (the scheduler leaves it alone; its timer keeps);
* **resume** a PAUSED one (back to what it was; a timer that passed meanwhile fires on
  the next tick; a state it was migrated into while paused runs its actions now).

Each is one guarded UPDATE: a scheduler moving it at the same moment makes the request
fail with ``INVALID_STATE`` ("changed meanwhile") rather than both happening.
"""

from __future__ import annotations

import logging

from drumbeat.platform import audit, ledger
from drumbeat.platform.campaigns import require_campaign
from drumbeat.platform.errors import DomainError, ErrorCode
from drumbeat.platform.permissions import require_campaign_editor, require_member
from drumbeat.platform.team import Member
from drumbeat.platform.workflows import clock
from drumbeat.platform.workflows import enrollments as rows_
from drumbeat.platform.workflows.definitions import Definitions
from drumbeat.platform.workflows.enrollments import Status

log = logging.getLogger(__name__)


async def _editable(platform, member: Member | None, enrollment_id: int) -> dict:
    require_member(member)  # before the lookup: an anonymous caller learns nothing of ids
    row = await rows_.get(platform.db, enrollment_id)
    if row is None:
        raise DomainError.one("No such enrollment.", ErrorCode.NOT_FOUND, ["id"])
    campaign = await require_campaign(member, row["campaign"], "id")
    require_campaign_editor(member, campaign)
    if campaign["state"] not in ("RUNNING", "PAUSED"):
        raise DomainError.one(f"The enrollments of a {campaign['state']} campaign cannot change.",
                              ErrorCode.INVALID_STATE, ["id"])
    return row


def _changed() -> DomainError:
    return DomainError.one("The enrollment changed meanwhile; reload and try again.",
                           ErrorCode.INVALID_STATE, ["id"])


async def move_enrollment(platform, member: Member | None, enrollment_id: int,
                          state_key: str) -> dict:
    row = await _editable(platform, member, enrollment_id)
    definitions = Definitions(platform.db)
    version = await definitions.version(row["campaign"], row["version"])
    if version is None or state_key not in version.states:
        raise DomainError.one(f"Version {row['version']} of the workflow has no state "
                              f"{state_key!r}.", ErrorCode.NOT_FOUND, ["stateKey"])
    async with platform.db.transaction():
        moved = await rows_.move(platform.db, row, state_key, "MANUAL", clock.now(),
                                 statuses=[s.value for s in Status], member_id=member.id)
        if moved is None:
            raise _changed()
        skipped: list[int] = []
        chunks = await rows_.enter_actions(platform.db, platform.plugins, definitions, moved,
                                           platform.settings.redeliver_after_seconds, skipped)
        await audit.record(member, row["campaign"], "enrollment.move", [
            audit.Change("enrollment", None, enrollment_id),
            audit.Change("state", row["state_key"], state_key),
            audit.Change("status", row["status"], Status.ACTIVE.value)])
    await ledger.announce(platform.db, platform.publish, skipped)
    await _dispatch(platform, chunks, enrollment_id)
    await platform.publish(row["campaign"], rows_.ENROLLMENTS_CHANGED)
    return await rows_.get(platform.db, enrollment_id)


async def pause_enrollment(platform, member: Member | None, enrollment_id: int) -> dict:
    row = await _editable(platform, member, enrollment_id)
    async with platform.db.transaction():
        done = await platform.db.fetchval(
            "UPDATE drumbeat_enrollment SET paused_status = status, status = 'PAUSED'"
            " WHERE id = {} AND step_no = {} AND status IN ('ACTIVE', 'WAITING') RETURNING id",
            enrollment_id, row["step_no"])
        if done is None:
            raise (_changed() if row["status"] in rows_.RUNNING else DomainError.one(
                f"A {row['status']} enrollment cannot be paused.", ErrorCode.INVALID_STATE,
                ["id"]))
        await audit.record(member, row["campaign"], "enrollment.pause", [
            audit.Change("enrollment", None, enrollment_id),
            audit.Change("status", row["status"], Status.PAUSED.value)])
    await platform.publish(row["campaign"], rows_.ENROLLMENTS_CHANGED)
    return await rows_.get(platform.db, enrollment_id)


async def resume_enrollment(platform, member: Member | None, enrollment_id: int) -> dict:
    row = await _editable(platform, member, enrollment_id)
    async with platform.db.transaction():
        done = await platform.db.fetchval(
            "UPDATE drumbeat_enrollment SET status = COALESCE(paused_status, 'ACTIVE'),"
            " paused_status = NULL, check_at = {} WHERE id = {} AND status = 'PAUSED'"
            " RETURNING status", clock.now(), enrollment_id)
        if done is None:
            raise DomainError.one(f"A {row['status']} enrollment cannot be resumed.",
                                  ErrorCode.INVALID_STATE, ["id"])
        await audit.record(member, row["campaign"], "enrollment.resume", [
            audit.Change("enrollment", None, enrollment_id),
            audit.Change("status", Status.PAUSED.value, done)])
        resumed = await rows_.get(platform.db, enrollment_id)
        chunks, skipped = [], []
        if done == Status.ACTIVE.value and not await rows_.entered(platform.db, resumed):
            # Moved to another state while paused (a migration): its actions run now.
            chunks = await rows_.enter_actions(platform.db, platform.plugins,
                                               Definitions(platform.db), resumed,
                                               platform.settings.redeliver_after_seconds,
                                               skipped)
    await ledger.announce(platform.db, platform.publish, skipped)
    await _dispatch(platform, chunks, enrollment_id)
    await platform.publish(row["campaign"], rows_.ENROLLMENTS_CHANGED)
    return resumed


async def _dispatch(platform, chunks, enrollment_id: int) -> None:
    try:
        await platform.dispatch(chunks)
    except Exception:  # in the ledger: the reconciler re-sends
        log.exception("enqueueing the actions of enrollment %s failed", enrollment_id)
