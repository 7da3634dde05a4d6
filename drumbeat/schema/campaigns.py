"""Campaigns in the API: the ``Campaign`` node and the ``campaign`` / ``campaigns`` queries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Iterable

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from drumbeat.platform import ledger
from drumbeat.platform.tables import Campaign as CampaignTable
from drumbeat.platform.tables import CampaignState as CampaignStateEnum
from drumbeat.platform.tables import WorkflowAction
from drumbeat.schema.context import Info
from drumbeat.schema.pagination import keyset_connection
from drumbeat.schema.team import TeamMember

CampaignState = strawberry.enum(CampaignStateEnum, name="CampaignState")


@strawberry.type
class DeliveryCounters:
    total: int
    pending: int = strawberry.field(description="Not yet final: waiting or being executed.")
    in_progress: int = strawberry.field(description="Claimed by a worker right now.")
    done: int
    failed: int
    skipped: int

    @classmethod
    def from_counts(cls, counts: dict[str, int]) -> "DeliveryCounters":
        return cls(total=counts["total"], pending=counts["pending"] + counts["claimed"],
                   in_progress=counts["claimed"], done=counts["done"], failed=counts["failed"],
                   skipped=counts["skipped"])


@strawberry.type
class WorkflowStep:
    id: int
    action_type: str
    config: JSON


@strawberry.type
class Campaign(relay.Node):
    id: relay.NodeID[int]
    name: str
    description: str
    state: CampaignState
    created_at: datetime
    updated_at: datetime
    launched_at: datetime | None
    completed_at: datetime | None
    owner_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: dict) -> "Campaign":
        return cls(id=row["id"], name=row["name"], description=row["description"],
                   state=CampaignStateEnum(row["state"]), created_at=row["created_at"],
                   updated_at=row["updated_at"], launched_at=row["launched_at"],
                   completed_at=row["completed_at"], owner_id=row["owner"])

    @strawberry.field
    async def owner(self, info: Info) -> TeamMember:
        return TeamMember.from_row(await info.context.loaders.member.load(self.owner_id))

    @strawberry.field(description="The workflow's steps (a quick campaign has one).")
    async def steps(self) -> list[WorkflowStep]:
        rows = await WorkflowAction.select().where(WorkflowAction.campaign == self.id).order_by(
            WorkflowAction.position)
        return [WorkflowStep(id=r["id"], action_type=r["action_type"],
                             config=json.loads(r["config"]) if isinstance(r["config"], str)
                             else r["config"]) for r in rows]

    @strawberry.field(description="Deliveries by state, from the ledger.")
    async def counters(self, info: Info) -> DeliveryCounters:
        return DeliveryCounters.from_counts(await ledger.counters(info.context.platform.db, self.id))

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require_member()
        ids = [int(i) for i in node_ids]
        rows = {r["id"]: r for r in await CampaignTable.select().where(CampaignTable.id.is_in(ids))}
        return [cls.from_row(rows[i]) if i in rows else None for i in ids]


@strawberry.type
class CampaignQueries:
    @strawberry.field
    async def campaign(self, info: Info, id: relay.GlobalID) -> Campaign | None:
        info.context.require_member()
        if id.type_name != "Campaign" or not id.node_id.isdigit():
            return None
        row = await CampaignTable.select().where(CampaignTable.id == int(id.node_id)).first()
        return Campaign.from_row(row) if row else None

    @strawberry.field(description="Campaigns, newest first.")
    async def campaigns(self, info: Info, first: int | None = None, after: str | None = None,
                        last: int | None = None, before: str | None = None
                        ) -> relay.Connection[Campaign]:
        info.context.require_member()
        return await keyset_connection(
            CampaignTable, Campaign.from_row, first=first, after=after, last=last, before=before,
            max_page_size=info.context.platform.settings.max_page_size,
        )
