"""Fields of ``Campaign`` about its audience: ``recipientCounts`` and ``audiencePreview``
(mixed into the ``Campaign`` type)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Iterable, Union

import strawberry
from strawberry import relay

from drumbeat.platform import recipients
from drumbeat.platform.audience import resolve_audience
from drumbeat.platform.campaign_info import load_campaign_info
from drumbeat.platform.dispatch import TargetRow, reasons_count, sender_for
from drumbeat.platform.tables import CampaignRecipient as RecipientTable
from drumbeat.platform.tables import Company as CompanyTable
from drumbeat.platform.tables import Contact as ContactTable
from drumbeat.platform.tables import Lead as LeadTable
from drumbeat.platform.tables import SenderStrategy, SkipReason, WorkflowAction
from drumbeat.schema.companies import Company
from drumbeat.schema.contacts import Contact
from drumbeat.schema.context import Info
from drumbeat.schema.leads import Lead
from drumbeat.schema.pagination import keyset_connection

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


async def _party(info: Info, kind: str, party_id: int):
    type_, _ = PARTY_TYPES[kind]
    row = await info.context.loader(f"party_{kind}", _rows(kind)).load(party_id)
    return type_.from_row(row) if row else None


@strawberry.type
class CampaignRecipient(relay.Node):
    """A member of a campaign's audience."""

    id: relay.NodeID[int]
    kind: PartyKind
    added_at: datetime
    party_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: dict) -> "CampaignRecipient":
        kind = row["kind"]
        return cls(id=row["id"], kind=PartyKind(kind), added_at=row["added_at"],
                   party_id=row[kind])

    @strawberry.field(description="The contact, company or lead.")
    async def party(self, info: Info) -> RecipientParty | None:
        return await _party(info, self.kind.value, self.party_id)

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require_member()
        ids = [int(i) for i in node_ids]
        rows = {r["id"]: r for r in await RecipientTable.select().where(
            RecipientTable.id.is_in(ids))}
        return [cls.from_row(rows[i]) if i in rows else None for i in ids]


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
        return await _party(info, self.kind.value, self.party_id)


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

    @strawberry.field(description="The audience, newest first; optionally one kind only.")
    async def recipients(self, info: Info, kind: PartyKind | None = None,
                         first: int | None = None, after: str | None = None,
                         last: int | None = None, before: str | None = None
                         ) -> relay.Connection[CampaignRecipient]:
        where = [RecipientTable.campaign == self.id]
        if kind is not None:
            where.append(RecipientTable.kind == kind.value)
        return await keyset_connection(
            RecipientTable, CampaignRecipient.from_row, first=first, after=after, last=last,
            before=before, max_page_size=info.context.platform.settings.max_page_size,
            where=where)

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
