"""Budget and costs of a campaign in the API: ``Campaign.budget``, ``.costs``,
``.costsByCategory``; ``campaignBudgetSet``, ``campaignCostAdd``, ``campaignCostRemove``.

``CampaignMoneyFields`` is mixed into ``Campaign``; ``BudgetMutations`` is merged into
``Mutation``. Objectives, outcomes and performance are in ``drumbeat.schema.performance``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Iterable

import strawberry
from strawberry import relay

from drumbeat.platform import budget as service
from drumbeat.platform import money
from drumbeat.platform.campaigns import get_campaign
from drumbeat.platform.tables import CampaignCost as CampaignCostTable
from drumbeat.platform.tables import CostCategory as CostCategoryEnum
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.ids import node_id
from drumbeat.schema.pagination import keyset_connection
from drumbeat.schema.performance import (
    CampaignPerformanceFields,
    PerformanceMutations,
    spent_loader,
)
from drumbeat.schema.team import TeamMember

LazyCampaign = Annotated["Campaign", strawberry.lazy("drumbeat.schema.campaigns")]
CostCategory = strawberry.enum(CostCategoryEnum, name="CostCategory")


@strawberry.type
class BudgetAlert:
    threshold: int = strawberry.field(description="Percent of the budget crossed: 80 or 100.")
    at: datetime

    @classmethod
    def of(cls, alert: service.Alert) -> "BudgetAlert":
        return cls(threshold=alert.threshold, at=alert.at)


@strawberry.type(description="The budget against what was spent (amounts in `currency`).")
class Budget:
    total: Decimal | None = strawberry.field(description="Null: no budget set.")
    currency: str
    spent: Decimal = strawberry.field(description="The sum of the cost entries.")
    remaining: Decimal | None = strawberry.field(description="Negative when over budget.")
    utilisation: Decimal | None = strawberry.field(description=(
        "Spent as a percentage of the total (100 = all of it), rounded half-up to 0.01; "
        "null without a budget."))
    over_budget: bool = strawberry.field(description="Spent more than the total.")
    alerts: list[BudgetAlert] = strawberry.field(description=(
        "Thresholds crossed (each alerted once); cleared when spending falls back under."))

    @classmethod
    def of(cls, status: service.BudgetStatus) -> "Budget":
        return cls(total=money.from_cents(status.total_cents), currency=status.currency,
                   spent=money.from_cents(status.spent_cents),
                   remaining=money.from_cents(status.remaining_cents),
                   utilisation=status.utilisation, over_budget=status.over_budget,
                   alerts=[BudgetAlert.of(a) for a in status.alerts])


@strawberry.type
class CostCategoryTotal:
    category: CostCategory
    total: Decimal
    entries: int


@strawberry.type
class CampaignCost(relay.Node):
    id: relay.NodeID[int]
    amount: Decimal
    category: CostCategory
    incurred_on: date
    note: str
    step_id: int | None = strawberry.field(description="The workflow step it was spent on.")
    created_at: datetime
    created_by_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: dict) -> "CampaignCost":
        return cls(id=row["id"], amount=money.from_cents(row["amount_cents"]),
                   category=CostCategoryEnum(row["category"]), incurred_on=row["incurred_on"],
                   note=row["note"], step_id=row["step"], created_at=row["created_at"],
                   created_by_id=row["created_by"])

    @strawberry.field
    async def created_by(self, info: Info) -> TeamMember:
        return TeamMember.from_row(await info.context.loaders.member.load(self.created_by_id))

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require_member()
        ids = [int(i) for i in node_ids]
        rows = {r["id"]: r for r in await CampaignCostTable.select().where(
            CampaignCostTable.id.is_in(ids))}
        return [cls.from_row(rows[i]) if i in rows else None for i in ids]


@strawberry.type
class CampaignMoneyFields(CampaignPerformanceFields):
    """Fields of ``Campaign`` about money and results (``self`` is a ``Campaign``)."""

    @strawberry.field(description="The budget, what was spent, and the alerts raised.")
    async def budget(self, info: Info) -> Budget:
        return Budget.of(service.status(self.row, await spent_loader(info).load(self.id)))

    @strawberry.field(description="Totals per cost category (every category, in enum order).")
    async def costs_by_category(self, info: Info) -> list[CostCategoryTotal]:
        platform = info.context.platform

        async def load(ids):
            totals = await service.costs_by_category(platform, ids)
            return [totals[i] for i in ids]

        totals = await info.context.loader("campaign_costs_by_category", load).load(self.id)
        return [CostCategoryTotal(category=category, total=money.from_cents(cents),
                                  entries=entries)
                for category, (cents, entries) in totals.items()]

    @strawberry.field(description="The cost entries, newest first.")
    async def costs(self, info: Info, first: int | None = None, after: str | None = None,
                    last: int | None = None, before: str | None = None
                    ) -> relay.Connection[CampaignCost]:
        return await keyset_connection(
            CampaignCostTable, CampaignCost.from_row, first=first, after=after, last=last,
            before=before, max_page_size=info.context.platform.settings.max_page_size,
            where=[CampaignCostTable.campaign == self.id],
        )


@strawberry.input
class CampaignCostAddInput:
    campaign_id: relay.GlobalID
    amount: Decimal = strawberry.field(description="Positive, at most two decimal places.")
    category: CostCategory
    incurred_on: date
    note: str = ""
    step_id: int | None = strawberry.field(default=None, description=(
        "A step of this campaign's workflow (see Campaign.steps)."))


@strawberry.type
class CampaignBudgetSetPayload:
    campaign: LazyCampaign | None
    budget: Budget | None
    errors: list[UserError]


@strawberry.type
class CampaignCostAddPayload:
    cost: CampaignCost | None
    budget: Budget | None = strawberry.field(description="The budget right after this cost.")
    over_budget: bool = strawberry.field(description="This cost took spending over budget "
                                                     "(or it already was): allowed, flagged.")
    alerts_raised: list[BudgetAlert] = strawberry.field(
        description="The budget alerts this cost raised (each threshold alerts once).")
    errors: list[UserError]


@strawberry.type
class CampaignCostRemovePayload:
    removed_id: relay.GlobalID | None
    budget: Budget | None
    errors: list[UserError]


@strawberry.type
class BudgetMutations(PerformanceMutations):
    @strawberry.mutation(description=(
        "Set the campaign's total budget (null: none) and its currency (null: keep it). Owner "
        "or admin. The currency is fixed once a cost, an outcome value or a revenue target is "
        "recorded in it: amounts are never converted."))
    async def campaign_budget_set(self, info: Info, campaign_id: relay.GlobalID,
                                  total: Decimal | None = None, currency: str | None = None
                                  ) -> CampaignBudgetSetPayload:
        from drumbeat.schema.campaigns import Campaign

        async def work():
            cid = node_id(campaign_id, "Campaign", "campaignId")
            status = await service.set_budget(info.context.platform, info.context.member, cid,
                                              total, currency)
            return {"campaign": Campaign.from_row(await get_campaign(cid)),
                    "budget": Budget.of(status)}

        return await payload(CampaignBudgetSetPayload, work, campaign=None, budget=None)

    @strawberry.mutation(description=(
        "Add a cost entry (owner or admin). Spending beyond the budget is allowed and flagged; "
        "crossing 80 % and 100 % raises a budget alert once each."))
    async def campaign_cost_add(self, info: Info, input: CampaignCostAddInput
                                ) -> CampaignCostAddPayload:
        async def work():
            cid = node_id(input.campaign_id, "Campaign", "input", "campaignId")
            added = await service.add_cost(info.context.platform, info.context.member, cid,
                                           service.CostInput(
                                               amount=input.amount,
                                               category=CostCategoryEnum(input.category),
                                               incurred_on=input.incurred_on, note=input.note,
                                               step_id=input.step_id))
            return {"cost": CampaignCost.from_row(added.cost), "budget": Budget.of(added.status),
                    "over_budget": added.status.over_budget,
                    "alerts_raised": [BudgetAlert.of(a) for a in added.alerts]}

        return await payload(CampaignCostAddPayload, work, cost=None, budget=None,
                             over_budget=False, alerts_raised=[])

    @strawberry.mutation(description="Remove a cost entry (owner or admin); may re-arm alerts.")
    async def campaign_cost_remove(self, info: Info, id: relay.GlobalID
                                   ) -> CampaignCostRemovePayload:
        async def work():
            _, status = await service.remove_cost(info.context.platform, info.context.member,
                                                  node_id(id, "CampaignCost", "id"))
            return {"removed_id": id, "budget": Budget.of(status)}

        return await payload(CampaignCostRemovePayload, work, removed_id=None, budget=None)
