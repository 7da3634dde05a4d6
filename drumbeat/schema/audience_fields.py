"""Fields of ``Campaign`` about its audience: ``recipientCounts`` and ``audiencePreview``
(mixed into the ``Campaign`` type)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Union

import strawberry

from drumbeat.platform import recipients
from drumbeat.platform.audience import resolve_audience
from drumbeat.platform.campaign_info import load_campaign_info
from drumbeat.platform.dispatch import TargetRow, reasons_count, sender_for
from drumbeat.platform.tables import Company as CompanyTable
from drumbeat.platform.tables import Contact as ContactTable
from drumbeat.platform.tables import Lead as LeadTable
from drumbeat.platform.tables import SenderStrategy, SkipReason, WorkflowAction
from drumbeat.schema.companies import Company
from drumbeat.schema.contacts import Contact
from drumbeat.schema.context import Info
from drumbeat.schema.leads import Lead

MAX_PREVIEW = 1000
Reason = strawberry.enum(SkipReason, name="SkipReason",
                         description="Why a recipient (or one of its targets) is not addressed.")


@strawberry.enum(description="What a campaign recipient or a dispatch target is.")
class PartyKind(Enum):
    CONTACT = "contact"
    COMPANY = "company"
    LEAD = "lead"


RecipientParty = Annotated[Union[Contact, Company, Lead], strawberry.union("RecipientParty")]
PARTY_TYPES = {"contact": (Contact, ContactTable), "company": (Company, CompanyTable),
               "lead": (Lead, LeadTable)}


@strawberry.type
class RecipientCounts:
    contacts: int
    companies: int
    leads: int

    @strawberry.field
    def total(self) -> int:
        return self.contacts + self.companies + self.leads


@strawberry.type
class SenderInfo:
    name: str
    email: str


@strawberry.type
class ReasonCount:
    reason: Reason
    count: int


@strawberry.type
class AudienceTarget:
    kind: PartyKind = strawberry.field(description="Who is addressed: a contact, a company, a lead.")
    party_id: strawberry.Private[int]
    recipient_kind: PartyKind = strawberry.field(description="The recipient it comes from.")
    address: str | None
    skip_reason: Reason | None = strawberry.field(description="Null: it will be executed.")
    sender: SenderInfo | None = strawberry.field(description="From and Reply-To (executed ones).")

    @strawberry.field
    async def party(self, info: Info) -> RecipientParty | None:
        type_, _ = PARTY_TYPES[self.kind.value]
        row = await info.context.loader(f"party_{self.kind.value}", _rows(self.kind.value)
                                        ).load(self.party_id)
        return type_.from_row(row) if row else None


def _rows(kind: str):
    table = PARTY_TYPES[kind][1]

    async def load(ids):
        rows = {r["id"]: r for r in await table.select().where(table.id.is_in(list(ids)))}
        return [rows.get(i) for i in ids]

    return load


@strawberry.type
class AudiencePreview:
    addressed: int = strawberry.field(description="Targets that a launch now would execute.")
    excluded: int = strawberry.field(description="Targets or recipients skipped, with reasons.")
    by_reason: list[ReasonCount]
    targets: list[AudienceTarget] = strawberry.field(
        description="The first targets, in the order a launch would write them.")


@strawberry.type
class CampaignAudienceFields:
    """``self`` is a ``Campaign``."""

    @strawberry.field(description="How many contacts, companies and leads the audience has.")
    async def recipient_counts(self, info: Info) -> RecipientCounts:
        platform = info.context.platform

        async def load(ids):
            return await recipients.counts_many(platform, list(ids))

        counts = await info.context.loader("recipient_counts", load).load(self.id)
        return RecipientCounts(contacts=counts["contact"], companies=counts["company"],
                               leads=counts["lead"])

    @strawberry.field(description=(
        "Who a launch now would address and from whom, and why each excluded recipient is "
        "excluded — exactly the resolution the launch records in the ledger."))
    async def audience_preview(self, info: Info, first: int = 100,
                               excluded_only: bool = False) -> AudiencePreview:
        platform = info.context.platform
        first = max(0, min(first, MAX_PREVIEW))
        steps = await WorkflowAction.select(WorkflowAction.action_type).where(
            WorkflowAction.campaign == self.id)
        needs_address = any(platform.plugins.action_types[s["action_type"]].needs_address
                            for s in steps if s["action_type"] in platform.plugins.action_types)
        rows = await resolve_audience(platform.db, self.row, needs_address)
        campaign = await load_campaign_info(platform, self.id)
        shown = [r for r in rows if r.skip_reason or not excluded_only][:first]
        return AudiencePreview(
            addressed=sum(1 for r in rows if r.skip_reason is None),
            excluded=sum(1 for r in rows if r.skip_reason),
            by_reason=[ReasonCount(reason=SkipReason(k), count=v)
                       for k, v in sorted(reasons_count(rows).items())],
            targets=[_target(r, campaign) for r in shown],
        )


def _target(row: TargetRow, campaign) -> AudienceTarget:
    sender = None
    if row.skip_reason is None:
        resolved = campaign.sender or campaign.owner  # by CREATOR / OWNER already
        chosen = sender_for(SenderStrategy(campaign.sender_strategy), resolved, resolved,
                            row.owner)
        sender = SenderInfo(name=chosen.name, email=chosen.email)
    return AudienceTarget(kind=PartyKind(row.kind), party_id=row.id,
                          recipient_kind=PartyKind(row.recipient_kind),
                          address=row.address,
                          skip_reason=SkipReason(row.skip_reason) if row.skip_reason else None,
                          sender=sender)
