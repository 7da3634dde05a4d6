"""The ``Task`` node and its enums, as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

import strawberry
from strawberry import relay

from drumbeat.plugins.tasks import service
from drumbeat.plugins.tasks.tables import (
    ActivityType,
    CallOutcome,
    TaskKind,
    TaskStatus,
)
from drumbeat.schema_kit import Campaign, Info, TeamMember

TaskKindEnum = strawberry.enum(TaskKind, name="TaskKind", description="A call or an activity.")
TaskStatusEnum = strawberry.enum(TaskStatus, name="TaskStatus")
CallOutcomeEnum = strawberry.enum(CallOutcome, name="CallOutcome",
                                  description="How a call went (CALL_BACK keeps the task open).")
TaskActivityTypeEnum = strawberry.enum(ActivityType, name="TaskActivityType")

TARGET_TYPES = {"contact": "Contact", "company": "Company", "lead": "Lead"}


@strawberry.type(description="Whom a task is about: the contact, company or lead addressed.")
class TaskTarget:
    kind: str = strawberry.field(description="contact, company or lead")
    id: relay.GlobalID = strawberry.field(description="The Contact, Company or Lead id.")
    name: str
    phone: str = strawberry.field(description="The number to call, when known at creation.")


@strawberry.type(description="A call or activity task made by a campaign step for one target.")
class Task(relay.Node):
    id: relay.NodeID[int]
    kind: TaskKindEnum
    title: str
    activity_type: TaskActivityTypeEnum | None = strawberry.field(
        description="The kind of activity (ACTIVITY tasks).")
    script: str | None = strawberry.field(description="The rendered call script (CALL tasks).")
    description: str | None = strawberry.field(
        description="The rendered instructions (ACTIVITY tasks).")
    status: TaskStatusEnum
    outcome: CallOutcomeEnum | None = strawberry.field(description="The last call's outcome.")
    call_back_at: datetime | None
    calls: int = strawberry.field(description="How many call outcomes were recorded.")
    notes: str
    due_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    campaign_id: relay.GlobalID
    target: TaskTarget
    row: strawberry.Private[dict]

    @classmethod
    def from_row(cls, row: dict) -> "Task":
        call = row["kind"] == TaskKind.CALL.value
        return cls(
            id=row["id"], kind=TaskKind(row["kind"]), title=row["title"],
            activity_type=ActivityType(row["activity_type"]) if row["activity_type"] else None,
            script=row["body"] if call else None, description=None if call else row["body"],
            status=TaskStatus(row["status"]),
            outcome=CallOutcome(row["outcome"]) if row["outcome"] else None,
            call_back_at=row["call_back_at"], calls=row["calls"], notes=row["notes"],
            due_at=row["due_at"], completed_at=row["completed_at"],
            created_at=row["created_at"], updated_at=row["updated_at"],
            campaign_id=relay.GlobalID("Campaign", str(row["campaign"])),
            target=TaskTarget(kind=row["target_kind"], id=relay.GlobalID(
                TARGET_TYPES.get(row["target_kind"], "Contact"), str(row["target_id"])),
                name=row["target_name"], phone=row["phone"]),
            row=row,
        )

    @strawberry.field(description="Who works on it.")
    async def assignee(self, info: Info) -> TeamMember | None:
        return await TeamMember.load(info, self.row["assignee"])

    @strawberry.field(description="Who closed it.")
    async def completed_by(self, info: Info) -> TeamMember | None:
        return await TeamMember.load(info, self.row["completed_by"])

    @strawberry.field
    async def campaign(self, info: Info) -> Campaign | None:
        async def load(ids):
            return await Campaign.resolve_nodes(info=info, node_ids=[str(i) for i in ids])

        return await info.context.loader("task_campaigns", load).load(self.row["campaign"])

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        node_ids = list(node_ids)
        rows = await service.visible_tasks(
            info.context.member, [int(i) for i in node_ids if i.isdigit()])
        return [cls.from_row(rows[int(i)]) if i.isdigit() and int(i) in rows else None
                for i in node_ids]
