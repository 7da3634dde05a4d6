"""Working on tasks: who sees them, recording a call's outcome, completing, cancelling
and reassigning — each change audited on the task's campaign and, once committed,
announced to the assignees it concerns.

Who may do what: admins and the campaign's owner see and change every task of the
campaign; the assignee sees theirs and records outcomes, completes them; reassigning and
cancelling are for the campaign's owner and admins.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from piccolo.columns.combination import WhereRaw

from drumbeat import record_call_outcome_event
from drumbeat.plugins.tasks import notify
from drumbeat.plugins.tasks.tables import CallOutcome, Task, TaskKind, TaskStatus
from drumbeat.schema_kit import (
    DomainError,
    ErrorCode,
    Member,
    Problems,
    audit,
    can_edit_campaign,
    require_campaign,
    require_member,
)

MAX_NOTES_CHARS = 10_000
MAX_ALL_NOTES_CHARS = 100_000


def now() -> datetime:
    return datetime.now(timezone.utc)


def visibility(member: Member) -> list[Any]:
    """Where-clauses limiting a task query to what ``member`` may see."""
    if member.is_admin:
        return []
    return [WhereRaw("(assignee = {} OR campaign IN"
                     " (SELECT id FROM drumbeat_campaign WHERE owner = {}))",
                     member.id, member.id)]


async def visible_tasks(member: Member | None, ids: list[int]) -> dict[int, dict]:
    """The tasks of ``ids`` that ``member`` may see, by id."""
    member = require_member(member)
    if not ids:
        return {}
    rows = await Task.select().where(Task.id.is_in(ids), *visibility(member))
    return {r["id"]: r for r in rows}


async def _task(member: Member | None, task_id: int, field: list[str]) -> tuple[dict, dict]:
    """(task, campaign) when ``member`` may see the task; else NOT_FOUND (an outsider
    learns nothing, not even that it exists)."""
    rows = await visible_tasks(member, [task_id])
    if task_id not in rows:
        raise DomainError.one("No such task.", ErrorCode.NOT_FOUND, field)
    task = rows[task_id]
    return task, await require_campaign(member, task["campaign"], field[-1])


def _require_worker(member: Member, task: dict, campaign: dict) -> None:
    """The assignee, the campaign's owner or an admin."""
    if task["assignee"] != member.id and not can_edit_campaign(member, campaign):
        raise DomainError.one("Only the task's assignee, the campaign's owner or an admin "
                              "may do this.", ErrorCode.FORBIDDEN)


def _require_editor(member: Member, campaign: dict) -> None:
    if not can_edit_campaign(member, campaign):
        raise DomainError.one("Only the campaign's owner or an admin may do this.",
                              ErrorCode.FORBIDDEN)


def _require_open(task: dict, field: list[str]) -> None:
    if task["status"] != TaskStatus.OPEN.value:
        raise DomainError.one(f"The task is {task['status']}, no longer open.",
                              ErrorCode.INVALID_STATE, field)


def _notes(problems: Problems, task: dict, notes: str | None, *field: str) -> str:
    """The task's notes with ``notes`` added (on a line of their own)."""
    notes = (notes or "").strip()
    if len(notes) > MAX_NOTES_CHARS:
        problems.add(f"At most {MAX_NOTES_CHARS} characters.", ErrorCode.TOO_LONG, *field)
    if not notes:
        return task["notes"]
    combined = f"{task['notes']}\n{notes}" if task["notes"] else notes
    if len(combined) > MAX_ALL_NOTES_CHARS:
        problems.add("The task's notes are full.", ErrorCode.TOO_LONG, *field)
    return combined


async def _change(platform, member: Member, task: dict, values: dict[Any, Any], action: str,
                  field: list[str]) -> dict:
    """Write ``values`` if the task is still open, audited; returns the new row."""
    stamp = now()
    async with platform.db.transaction():
        rows = await Task.update({**values, Task.updated_at: stamp}).where(
            Task.id == task["id"], Task.status == TaskStatus.OPEN.value,
        ).returning(*Task.all_columns())
        if not rows:
            raise DomainError.one("The task was closed meanwhile.", ErrorCode.INVALID_STATE,
                                  field)
        new = rows[0]
        changes = audit.diff({k._meta.name: task[k._meta.name] for k in values},
                             {k._meta.name: new[k._meta.name] for k in values})
        await audit.record(member, task["campaign"], action,
                           [audit.Change("task", None, task["id"]), *changes])
    return new


async def record_call_outcome(platform, member: Member | None, task_id: int,
                              outcome: CallOutcome, call_back_at: datetime | None,
                              notes: str | None) -> dict:
    """Record how a call went. It closes the task, except ``CALL_BACK``, which keeps it
    open and due at ``call_back_at`` (required, in the future)."""
    task, campaign = await _task(member, task_id, ["input", "id"])
    _require_worker(member, task, campaign)
    if task["kind"] != TaskKind.CALL.value:
        raise DomainError.one("Only call tasks have a call outcome; complete this one.",
                              ErrorCode.INVALID, ["input", "id"])
    _require_open(task, ["input", "id"])
    problems = Problems()
    outcome = CallOutcome(outcome)
    if outcome is CallOutcome.CALL_BACK:
        if call_back_at is None:
            problems.add("When should the call be made again?", ErrorCode.REQUIRED,
                         "input", "callBackAt")
        elif call_back_at.tzinfo is None:
            problems.add("Give a timezone, e.g. 2027-01-31T09:00:00Z.", ErrorCode.INVALID,
                         "input", "callBackAt")
        elif call_back_at <= now():
            problems.add("The call back time must be in the future.", ErrorCode.INVALID,
                         "input", "callBackAt")
    elif call_back_at is not None:
        problems.add("Only a CALL_BACK outcome takes a call back time.", ErrorCode.INVALID,
                     "input", "callBackAt")
    all_notes = _notes(problems, task, notes, "input", "notes")
    problems.raise_if_any()
    values: dict[Any, Any] = {Task.outcome: outcome.value, Task.notes: all_notes,
                              Task.calls: task["calls"] + 1}
    if outcome is CallOutcome.CALL_BACK:
        back = call_back_at.astimezone(timezone.utc)
        values.update({Task.call_back_at: back, Task.due_at: back})
    else:
        values.update({Task.status: TaskStatus.DONE.value, Task.completed_at: now(),
                       Task.completed_by: member.id, Task.call_back_at: None})
    new = await _change(platform, member, task, values, "task.call_outcome", ["input", "id"])
    # The outcome as an event of the call's delivery: a workflow waiting for CALL_OUTCOME
    # moves on (the scheduler polls the event ledger).
    await record_call_outcome_event(platform.db, task["campaign"], task["delivery"],
                                    outcome.value)
    await notify.announce(platform.events.publish, [new], notify.UPDATED)
    return new


async def close(platform, member: Member | None, task_id: int, notes: str | None,
                status: TaskStatus) -> dict:
    """Mark the task DONE (assignee, campaign owner, admin) or CANCELLED (campaign owner,
    admin)."""
    task, campaign = await _task(member, task_id, ["id"])
    if status is TaskStatus.CANCELLED:
        _require_editor(member, campaign)
    else:
        _require_worker(member, task, campaign)
    _require_open(task, ["id"])
    problems = Problems()
    all_notes = _notes(problems, task, notes, "notes")
    problems.raise_if_any()
    action = "task.complete" if status is TaskStatus.DONE else "task.cancel"
    new = await _change(platform, member, task, {
        Task.status: status.value, Task.notes: all_notes, Task.completed_at: now(),
        Task.completed_by: member.id}, action, ["id"])
    await notify.announce(platform.events.publish, [new], notify.UPDATED)
    return new


async def reassign(platform, member: Member | None, task_id: int, assignee_id: int) -> dict:
    """Give an open task to another active team member (campaign owner, admin)."""
    task, campaign = await _task(member, task_id, ["id"])
    _require_editor(member, campaign)
    _require_open(task, ["id"])
    active = await Task.raw("SELECT id FROM drumbeat_team_member WHERE id = {} AND active = {}",
                            assignee_id, True)
    if not active:
        raise DomainError.one("No such active team member.", ErrorCode.NOT_FOUND,
                              ["assigneeId"])
    if task["assignee"] == assignee_id:
        return task
    new = await _change(platform, member, task, {Task.assignee: assignee_id}, "task.reassign",
                        ["id"])
    await notify.announce(platform.events.publish, [task], notify.UNASSIGNED)
    await notify.announce(platform.events.publish, [new], notify.ASSIGNED)
    return new
