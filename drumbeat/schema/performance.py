"""Objectives, outcomes and performance in the API: ``Campaign.objectives``, ``.outcomes``,
``.performance``; ``campaignObjectivesSet``, ``campaignOutcomeRecord``.

Mixed into ``Campaign`` and ``Mutation`` through ``drumbeat.schema.budget``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Iterable

import strawberry
from strawberry import relay

from drumbeat.platform import budget, money, outcomes, performance
from drumbeat.platform.tables import CampaignOutcome as CampaignOutcomeTable
from drumbeat.platform.tables import Contact as ContactTable
from drumbeat.platform.tables import OutcomeKind as OutcomeKindEnum
from drumbeat.schema.contacts import Contact
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.ids import node_id
from drumbeat.schema.pagination import keyset_connection
from drumbeat.schema.team import TeamMember

LazyCampaign = Annotated["Campaign", strawberry.lazy("drumbeat.schema.campaigns")]
OutcomeKind = strawberry.enum(OutcomeKindEnum, name="OutcomeKind",
                              description="LEAD, OPPORTUNITY, or SALE (its value is revenue).")


@strawberry.type
class Objectives:
    leads: int | None = strawberry.field(description="Leads to generate.")
    conversion_rate: Decimal | None = strawberry.field(
        description="Expected conversion rate in percent (2.5 = 2.5 %).")
    roi: Decimal | None = strawberry.field(description="Target ROI as a ratio (0.5 = 50 %).")
    revenue: Decimal | None = strawberry.field(description="Revenue to make, in the currency.")

    @classmethod
    def of(cls, value: outcomes.Objectives) -> "Objectives":
        return cls(leads=value.leads, conversion_rate=value.conversion_rate, roi=value.roi,
                   revenue=value.revenue)


@strawberry.type(description="A target beside the actual; met = actual ≥ target (exactly).")
class CountMetric:
    target: int | None
    actual: int
    met: bool | None = strawberry.field(description="Null without a target.")


@strawberry.type(description="A target beside the actual; met = actual ≥ target (exactly).")
class DecimalMetric:
    target: Decimal | None
    actual: Decimal | None = strawberry.field(description="Null when it cannot be computed.")
    met: bool | None = strawberry.field(description="Null without a target or an actual.")

    @classmethod
    def of(cls, metric: performance.Metric) -> "DecimalMetric":
        return cls(target=metric.target, actual=metric.actual, met=metric.met)


@strawberry.type
class CampaignPerformance:
    currency: str
    leads: CountMetric = strawberry.field(description="LEAD outcomes recorded.")
    opportunities: int
    sales: int
    revenue: DecimalMetric = strawberry.field(description="The sum of the SALE values.")
    deliveries_done: int = strawberry.field(description="Ledger deliveries done.")
    reached: int = strawberry.field(description="Distinct recipients with a delivery done.")
    converted: int = strawberry.field(description=(
        "Reached recipients who converted: a CONVERTED event, or a LEAD or SALE outcome of a "
        "contact they were addressed as."))
    conversion_rate: DecimalMetric = strawberry.field(description=(
        "converted ÷ reached in percent, rounded half-up to 0.01; null while nobody was "
        "reached. The same figure as metrics.totals.conversionRate."))
    cost: Decimal = strawberry.field(description="The budget spent (sum of the cost entries).")
    cost_per_lead: Decimal | None = strawberry.field(description="Null without leads.")
    roi: DecimalMetric = strawberry.field(description=(
        "(revenue − cost) ÷ cost as a ratio, rounded half-up to 0.0001; null while cost is 0."))

    @classmethod
    def of(cls, value: performance.Performance) -> "CampaignPerformance":
        return cls(currency=value.currency,
                   leads=CountMetric(target=value.leads.target, actual=value.leads.actual,
                                     met=value.leads.met),
                   opportunities=value.opportunities, sales=value.sales,
                   revenue=DecimalMetric.of(value.revenue),
                   deliveries_done=value.deliveries_done, reached=value.reached,
                   converted=value.converted,
                   conversion_rate=DecimalMetric.of(value.conversion_rate), cost=value.cost,
                   cost_per_lead=value.cost_per_lead, roi=DecimalMetric.of(value.roi))


@strawberry.type
class CampaignOutcome(relay.Node):
    id: relay.NodeID[int]
    kind: OutcomeKind
    value: Decimal
    note: str
    recorded_at: datetime
    contact_id: strawberry.Private[int | None]
    recorded_by_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: dict) -> "CampaignOutcome":
        return cls(id=row["id"], kind=OutcomeKindEnum(row["kind"]),
                   value=money.from_cents(row["value_cents"]), note=row["note"],
                   recorded_at=row["recorded_at"], contact_id=row["contact"],
                   recorded_by_id=row["recorded_by"])

    @strawberry.field
    async def recorded_by(self, info: Info) -> TeamMember:
        return TeamMember.from_row(await info.context.loaders.member.load(self.recorded_by_id))

    @strawberry.field(description="The contact it came from, if any.")
    async def contact(self, info: Info) -> Contact | None:
        if self.contact_id is None:
            return None

        async def load(ids):
            rows = {r["id"]: r for r in await ContactTable.select().where(
                ContactTable.id.is_in(list(ids)))}
            return [rows.get(i) for i in ids]

        row = await info.context.loader("contacts", load).load(self.contact_id)
        return Contact.from_row(row) if row else None

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require_member()
        ids = [int(i) for i in node_ids]
        rows = {r["id"]: r for r in await CampaignOutcomeTable.select().where(
            CampaignOutcomeTable.id.is_in(ids))}
        return [cls.from_row(rows[i]) if i in rows else None for i in ids]


def _loader(info: Info, name: str, batch):
    """This request's loader ``name`` over ``batch(platform, ids) → {id: value}``."""
    platform = info.context.platform

    async def load(ids):
        values = await batch(platform, ids)
        return [values[i] for i in ids]

    return info.context.loader(name, load)


def spent_loader(info: Info):
    """Each campaign's spent cents (shared by ``budget`` and ``performance``)."""
    return _loader(info, "campaign_spent", budget.spent_by_campaign)


@strawberry.type
class CampaignPerformanceFields:
    """Fields of ``Campaign`` about objectives and results (``self`` is a ``Campaign``)."""

    @strawberry.field(description="The targets the campaign is measured against.")
    def objectives(self) -> Objectives:
        return Objectives.of(outcomes.objectives_of(self.row))

    @strawberry.field(description="Targets and actuals side by side, computed from the "
                                  "outcomes, the deliveries ledger and the costs.")
    async def performance(self, info: Info) -> CampaignPerformance:
        spent, totals, reach = await asyncio.gather(
            spent_loader(info).load(self.id),
            _loader(info, "campaign_outcome_totals", performance.outcome_totals).load(self.id),
            _loader(info, "campaign_reach", performance.reach).load(self.id))
        return CampaignPerformance.of(performance.performance(self.row, spent, totals, reach))

    @strawberry.field(description="Recorded outcomes, newest first.")
    async def outcomes(self, info: Info, first: int | None = None, after: str | None = None,
                       last: int | None = None, before: str | None = None
                       ) -> relay.Connection[CampaignOutcome]:
        return await keyset_connection(
            CampaignOutcomeTable, CampaignOutcome.from_row, first=first, after=after, last=last,
            before=before, max_page_size=info.context.platform.settings.max_page_size,
            where=[CampaignOutcomeTable.campaign == self.id],
        )


@strawberry.input
class ObjectivesInput:
    leads: int | None = None
    conversion_rate: Decimal | None = strawberry.field(
        default=None, description="Percent, 0–100, at most 2 decimal places.")
    roi: Decimal | None = strawberry.field(
        default=None, description="A ratio (0.5 = 50 %), 0–1000, at most 4 decimal places.")
    revenue: Decimal | None = None


@strawberry.input
class CampaignOutcomeRecordInput:
    campaign_id: relay.GlobalID
    kind: OutcomeKind
    value: Decimal | None = strawberry.field(default=None,
                                             description="Required for a SALE (its revenue).")
    contact_id: relay.GlobalID | None = strawberry.field(
        default=None, description="A contact in the campaign's audience.")
    note: str = ""


@strawberry.type
class CampaignObjectivesSetPayload:
    campaign: LazyCampaign | None
    errors: list[UserError]


@strawberry.type
class CampaignOutcomeRecordPayload:
    outcome: CampaignOutcome | None
    errors: list[UserError]


@strawberry.type
class PerformanceMutations:
    @strawberry.mutation(description="Replace the campaign's targets (null clears one). "
                                     "Owner or admin.")
    async def campaign_objectives_set(self, info: Info, campaign_id: relay.GlobalID,
                                      input: ObjectivesInput) -> CampaignObjectivesSetPayload:
        from drumbeat.schema.campaigns import Campaign

        async def work():
            row = await outcomes.set_objectives(
                info.context.platform, info.context.member,
                node_id(campaign_id, "Campaign", "campaignId"),
                outcomes.Objectives(input.leads, input.conversion_rate, input.roi,
                                    input.revenue))
            return {"campaign": Campaign.from_row(row)}

        return await payload(CampaignObjectivesSetPayload, work, campaign=None)

    @strawberry.mutation(description=(
        "Record a lead, an opportunity or a sale of a launched campaign. Its owner, an admin "
        "or any sales member (they work the leads)."))
    async def campaign_outcome_record(self, info: Info, input: CampaignOutcomeRecordInput
                                      ) -> CampaignOutcomeRecordPayload:
        async def work():
            cid = node_id(input.campaign_id, "Campaign", "input", "campaignId")
            contact = node_id(input.contact_id, "Contact", "input", "contactId") \
                if input.contact_id is not None else None
            row = await outcomes.record_outcome(
                info.context.platform, info.context.member, cid,
                outcomes.OutcomeInput(kind=OutcomeKindEnum(input.kind), value=input.value,
                                      contact_id=contact, note=input.note))
            return {"outcome": CampaignOutcome.from_row(row)}

        return await payload(CampaignOutcomeRecordPayload, work, outcome=None)
