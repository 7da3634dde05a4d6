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
from drumbeat.platform.tables import CampaignTag
from drumbeat.platform.tables import DispatchStrategy as DispatchStrategyEnum
from drumbeat.platform.tables import SenderStrategy as SenderStrategyEnum
from drumbeat.platform.tables import WorkflowAction
from drumbeat.platform.tables import AuditEntry as AuditEntryTable
from drumbeat.schema.audience_fields import CampaignAudienceFields
from drumbeat.schema.audit import AuditEntry
from drumbeat.schema.budget import CampaignMoneyFields
from drumbeat.schema.campaign_workflow_fields import CampaignWorkflowFields
from drumbeat.schema.context import Info
from drumbeat.schema.deliveries import CampaignDeliveryFields
from drumbeat.schema.events import CampaignEventFields
from drumbeat.schema.ids import id_of
from drumbeat.schema.metrics import CampaignMetricsFields
from drumbeat.schema.pagination import keyset_connection
from drumbeat.schema.team import TeamMember
from drumbeat.schema.templates import CampaignTemplateFields

CampaignState = strawberry.enum(CampaignStateEnum, name="CampaignState")
SenderStrategy = strawberry.enum(
    SenderStrategyEnum, name="SenderStrategy",
    description="Who appears as the sender and receives replies.")
DispatchStrategy = strawberry.enum(
    DispatchStrategyEnum, name="DispatchStrategy",
    description="Who is addressed: the contact person, their company's general address, or both.")


async def _steps(campaign_ids) -> list[list["WorkflowStep"]]:
    rows = await WorkflowAction.select().where(
        WorkflowAction.campaign.is_in(list(campaign_ids))).order_by(WorkflowAction.position)
    by_campaign: dict[int, list[WorkflowStep]] = {}
    for r in rows:
        config = json.loads(r["config"]) if isinstance(r["config"], str) else r["config"]
        by_campaign.setdefault(r["campaign"], []).append(
            WorkflowStep(id=r["id"], action_type=r["action_type"], config=config))
    return [by_campaign.get(i, []) for i in campaign_ids]


async def _tags(campaign_ids) -> list[list[str]]:
    rows = await CampaignTag.select(CampaignTag.campaign, CampaignTag.tag).where(
        CampaignTag.campaign.is_in(list(campaign_ids))).order_by(CampaignTag.tag)
    by_campaign: dict[int, list[str]] = {}
    for row in rows:
        by_campaign.setdefault(row["campaign"], []).append(row["tag"])
    return [by_campaign.get(i, []) for i in campaign_ids]


@strawberry.type
class DeliveryCounters:
    total: int = strawberry.field(description="waiting + inProgress + done + failed + skipped.")
    pending: int = strawberry.field(description="Not yet final: waiting or being executed.")
    waiting: int = strawberry.field(
        description="Not yet final and not being executed (pending minus inProgress).")
    in_progress: int = strawberry.field(description="Claimed by a worker right now.")
    done: int
    failed: int
    skipped: int

    @classmethod
    def from_counts(cls, counts: dict[str, int]) -> "DeliveryCounters":
        return cls(total=counts["total"], pending=counts["pending"] + counts["claimed"],
                   waiting=counts["pending"],
                   in_progress=counts["claimed"], done=counts["done"], failed=counts["failed"],
                   skipped=counts["skipped"])


@strawberry.type
class WorkflowStep:
    id: int
    action_type: str
    config: JSON


@strawberry.type
class Campaign(CampaignMoneyFields, CampaignTemplateFields, CampaignAudienceFields,
               CampaignMetricsFields, CampaignWorkflowFields, CampaignEventFields,
               CampaignDeliveryFields, relay.Node):
    id: relay.NodeID[int]
    name: str
    goal: str
    description: str
    results: str = strawberry.field(description="What came of it, written back after the run.")
    state: CampaignState
    sender_strategy: SenderStrategy
    dispatch_strategy: DispatchStrategy
    send_emails: bool = strawberry.field(
        description="Off: actions create their documents and activities without emailing them.")
    evergreen: bool = strawberry.field(
        description="Stays RUNNING when every delivery and enrollment has finished, so "
                    "triggers can keep enrolling people; ends when cancelled.")
    require_consent: bool = strawberry.field(
        description="Only contacts whose consent is GRANTED are addressed (NO_CONSENT skips).")
    scheduled_start: datetime | None
    created_at: datetime
    updated_at: datetime
    launched_at: datetime | None
    completed_at: datetime | None
    row: strawberry.Private[dict]  # the campaign's table row, for the fields below

    @classmethod
    def from_row(cls, row: dict) -> "Campaign":
        return cls(id=row["id"], name=row["name"], goal=row["goal"],
                   description=row["description"], results=row["results"],
                   state=CampaignStateEnum(row["state"]),
                   sender_strategy=SenderStrategyEnum(row["sender_strategy"]),
                   dispatch_strategy=DispatchStrategyEnum(row["dispatch_strategy"]),
                   send_emails=bool(row["send_emails"]),
                   require_consent=bool(row["require_consent"]),
                   evergreen=bool(row["evergreen"]),
                   scheduled_start=row["scheduled_start"],
                   created_at=row["created_at"], updated_at=row["updated_at"],
                   launched_at=row["launched_at"], completed_at=row["completed_at"], row=row)

    @strawberry.field
    async def owner(self, info: Info) -> TeamMember:
        return TeamMember.from_row(await info.context.loaders.member.load(self.row["owner"]))

    @strawberry.field
    async def created_by(self, info: Info) -> TeamMember:
        return TeamMember.from_row(await info.context.loaders.member.load(self.row["created_by"]))

    @strawberry.field(description="Labels to group and filter campaigns by (sorted).")
    async def tags(self, info: Info) -> list[str]:
        return await info.context.loader("campaign_tags", _tags).load(self.id)

    @strawberry.field(description="The workflow's steps (a quick campaign has one).")
    async def steps(self, info: Info) -> list[WorkflowStep]:
        return await info.context.loader("campaign_steps", _steps).load(self.id)

    @strawberry.field(description="Every change to the campaign, newest first.")
    async def audit_log(self, info: Info, first: int | None = None, after: str | None = None,
                        last: int | None = None, before: str | None = None
                        ) -> relay.Connection[AuditEntry]:
        return await keyset_connection(
            AuditEntryTable, AuditEntry.from_row, first=first, after=after, last=last,
            before=before, max_page_size=info.context.platform.settings.max_page_size,
            where=[AuditEntryTable.campaign_id == self.id],
        )

    @strawberry.field(description="Deliveries by state, from the ledger.")
    async def counters(self, info: Info) -> DeliveryCounters:
        db = info.context.platform.db

        async def load(ids):
            return await ledger.counters_many(db, list(ids))

        return DeliveryCounters.from_counts(await info.context.loader("counters", load).load(self.id))

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
        if (cid := id_of(id, "Campaign")) is None:
            return None
        row = await CampaignTable.select().where(CampaignTable.id == cid).first()
        return Campaign.from_row(row) if row else None

