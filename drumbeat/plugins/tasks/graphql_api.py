"""The tasks API: ``task``, ``tasks``, the task mutations and the ``myTasks`` subscription."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import AsyncGenerator

import strawberry
from strawberry import relay

from drumbeat.plugins.tasks import notify, service
from drumbeat.plugins.tasks.graphql_types import (
    CallOutcomeEnum,
    Task,
    TaskKindEnum,
    TaskStatusEnum,
)
from drumbeat.plugins.tasks.tables import Task as TaskTable
from drumbeat.plugins.tasks.tables import TaskKind, TaskStatus
from drumbeat.schema_kit import (
    Info,
    UserError,
    id_of,
    keyset_connection,
    node_id,
    payload,
    require_member,
)


@strawberry.input(description="Every given condition must hold.")
class TaskFilter:
    campaign_id: relay.GlobalID | None = None
    assignee_id: relay.GlobalID | None = None
    mine: bool = strawberry.field(default=False, description="Only tasks assigned to me.")
    status: TaskStatusEnum | None = None
    kind: TaskKindEnum | None = None
    due_before: datetime | None = strawberry.field(
        default=None, description="Only tasks due before this time (e.g. now: overdue ones).")


@strawberry.type
class TaskQueries:
    @strawberry.field(description="A task you may see (admins, the campaign's owner, its "
                                  "assignee), else null.")
    async def task(self, info: Info, id: relay.GlobalID) -> Task | None:
        task_id = id_of(id, "Task")
        rows = await service.visible_tasks(info.context.member, [task_id] if task_id else [])
        return Task.from_row(rows[task_id]) if task_id in rows else None

    @strawberry.field(description="Tasks, newest first: all for admins; else those assigned "
                                  "to you and those of the campaigns you own.")
    async def tasks(self, info: Info, filter: TaskFilter | None = None,
                    first: int | None = None, after: str | None = None,
                    last: int | None = None, before: str | None = None
                    ) -> relay.Connection[Task]:
        member = require_member(info.context.member)
        where = service.visibility(member)
        f = filter or TaskFilter()
        if f.campaign_id is not None:
            where.append(TaskTable.campaign == (id_of(f.campaign_id, "Campaign") or 0))
        if f.assignee_id is not None:
            where.append(TaskTable.assignee == (id_of(f.assignee_id, "TeamMember") or 0))
        if f.mine:
            where.append(TaskTable.assignee == member.id)
        if f.status is not None:
            where.append(TaskTable.status == TaskStatus(f.status).value)
        if f.kind is not None:
            where.append(TaskTable.kind == TaskKind(f.kind).value)
        if f.due_before is not None:
            where.append(TaskTable.due_at < f.due_before)
        return await keyset_connection(
            TaskTable, Task.from_row, first=first, after=after, last=last, before=before,
            max_page_size=info.context.platform.settings.max_page_size, where=where)


@strawberry.input
class TaskCallOutcomeInput:
    id: relay.GlobalID
    outcome: CallOutcomeEnum
    call_back_at: datetime | None = strawberry.field(
        default=None, description="Required for CALL_BACK: when to call again (future).")
    notes: str | None = strawberry.field(default=None, description="Added to the task's notes.")


@strawberry.type
class TaskPayload:
    task: Task | None
    errors: list[UserError]


def _task_payload(row: dict) -> dict:
    return {"task": Task.from_row(row)}


@strawberry.type
class TaskMutations:
    @strawberry.mutation(description="Record how a call went (assignee, campaign owner, "
                                     "admin). It closes the task, except CALL_BACK: the task "
                                     "stays open, due at callBackAt.")
    async def task_record_call_outcome(self, info: Info, input: TaskCallOutcomeInput
                                       ) -> TaskPayload:
        async def work():
            return _task_payload(await service.record_call_outcome(
                info.context.platform, info.context.member, node_id(input.id, "Task", "input", "id"),
                input.outcome, input.call_back_at, input.notes))
        return await payload(TaskPayload, work, task=None)

    @strawberry.mutation(description="Mark a task done (assignee, campaign owner, admin).")
    async def task_complete(self, info: Info, id: relay.GlobalID, notes: str | None = None
                            ) -> TaskPayload:
        async def work():
            return _task_payload(await service.close(
                info.context.platform, info.context.member, node_id(id, "Task", "id"), notes,
                TaskStatus.DONE))
        return await payload(TaskPayload, work, task=None)

    @strawberry.mutation(description="Cancel a task (campaign owner, admin).")
    async def task_cancel(self, info: Info, id: relay.GlobalID, notes: str | None = None
                          ) -> TaskPayload:
        async def work():
            return _task_payload(await service.close(
                info.context.platform, info.context.member, node_id(id, "Task", "id"), notes,
                TaskStatus.CANCELLED))
        return await payload(TaskPayload, work, task=None)

    @strawberry.mutation(description="Give an open task to another team member (campaign "
                                     "owner, admin).")
    async def task_reassign(self, info: Info, id: relay.GlobalID, assignee_id: relay.GlobalID
                            ) -> TaskPayload:
        async def work():
            return _task_payload(await service.reassign(
                info.context.platform, info.context.member, node_id(id, "Task", "id"),
                node_id(assignee_id, "TeamMember", "assigneeId")))
        return await payload(TaskPayload, work, task=None)


@strawberry.enum(description="What happened to a task of yours.")
class TaskChange(Enum):
    ASSIGNED = notify.ASSIGNED
    UPDATED = notify.UPDATED
    UNASSIGNED = notify.UNASSIGNED


@strawberry.type
class TaskUpdate:
    change: TaskChange
    task_id: relay.GlobalID
    task: Task | None = strawberry.field(
        description="The task now (null when it was taken from you and you may no longer see it).")
    missed: int = strawberry.field(
        description="Updates dropped just before this one because the client fell behind.")


@strawberry.type
class TaskSubscriptions:
    @strawberry.subscription(description="Your tasks as they are assigned to you, change or "
                                         "are taken from you.")
    async def my_tasks(self, info: Info) -> AsyncGenerator[TaskUpdate, None]:
        member = require_member(info.context.member)
        events = info.context.platform.events
        channel = notify.channel(member.id)
        subscription = await events.subscribe(channel)
        try:
            async for message in subscription:
                if message.get("type") != "tasks":
                    continue
                missed = message.get("missed", 0)
                rows = await service.visible_tasks(member, list(message["ids"]))
                for task_id in message["ids"]:
                    row = rows.get(task_id)
                    yield TaskUpdate(change=TaskChange(message["change"]),
                                     task_id=relay.GlobalID("Task", str(task_id)),
                                     task=Task.from_row(row) if row else None, missed=missed)
                    missed = 0
        finally:
            await events.unsubscribe(channel, subscription)
