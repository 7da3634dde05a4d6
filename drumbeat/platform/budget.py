"""A campaign's budget and its cost entries.

* Amounts are exact: ``Decimal`` in, integer cents stored, sums done on integers in SQL.
* Only the campaign's owner or an admin sets the budget or adds/removes costs, in any state
  (invoices arrive after a campaign ends).
* Spending beyond the budget is allowed; it is flagged (``over_budget``), never refused.
* The currency is fixed once a money amount in it is recorded on the campaign (a cost, an
  outcome's value, a revenue target): nothing is ever converted, so changing it would
  silently re-denominate those amounts. Remove them first to change it.
* Every change locks the campaign row first (an ``UPDATE`` of ``updated_at``), so
  concurrent changes of one campaign's money serialise and each sees the others' costs;
  the alerts (see :mod:`drumbeat.platform.budget_alerts`) are then evaluated in the same
  transaction and published after it commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Sequence

from drumbeat.platform import audit, money
from drumbeat.platform.budget_alerts import Alert, publish_alerts, raised_alerts, sync_alerts
from drumbeat.platform.campaigns import require_campaign
from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.permissions import require_campaign_editor, require_member
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import Campaign, CampaignCost, CostCategory, WorkflowAction
from drumbeat.platform.team import Member, now
from drumbeat.platform.validation import check_text

MAX_NOTE_CHARS = 2_000
MAX_DAYS_AHEAD = 366  # a cost may be booked ahead (an ad slot), not years ahead
PERCENT = Decimal("0.01")


@dataclass(frozen=True)
class BudgetStatus:
    total_cents: int | None
    currency: str
    spent_cents: int
    alerts: list[Alert]

    @property
    def remaining_cents(self) -> int | None:
        """What is left (negative when over budget); ``None`` without a budget."""
        return None if self.total_cents is None else self.total_cents - self.spent_cents

    @property
    def utilisation(self) -> Decimal | None:
        """Spent as a percentage of the budget, rounded half-up to 0.01 (``None`` without one)."""
        if not self.total_cents:
            return None
        return (Decimal(self.spent_cents) * 100 / Decimal(self.total_cents)).quantize(
            PERCENT, rounding=ROUND_HALF_UP)

    @property
    def over_budget(self) -> bool:
        return self.total_cents is not None and self.spent_cents > self.total_cents


def status(campaign: dict, spent_cents: int) -> BudgetStatus:
    return BudgetStatus(campaign["budget_cents"], campaign["currency"], spent_cents,
                        raised_alerts(campaign))


@dataclass(frozen=True)
class CostInput:
    amount: Decimal | None
    category: CostCategory
    incurred_on: date | None
    note: str = ""
    step_id: int | None = None


@dataclass(frozen=True)
class CostAdded:
    cost: dict
    status: BudgetStatus
    alerts: list[Alert]  # raised by this cost


async def budget_status(platform: Platform, campaign_id: int) -> BudgetStatus:
    """The campaign's budget status now (read inside a transaction: as of that transaction)."""
    row = await Campaign.select().where(Campaign.id == campaign_id).first()
    return status(row, await spent_cents(platform, campaign_id))


_CURRENCY_FIXED = ("The currency cannot change once costs, outcome values or a revenue "
                   "target are recorded in it (amounts are never converted).")


async def set_budget(platform: Platform, member: Member | None, campaign_id: int,
                     total: Decimal | None, currency: str | None = None) -> BudgetStatus:
    """Set (or, with ``total=None``, remove) the budget; ``currency=None`` keeps the current one."""
    campaign = await require_campaign(member, campaign_id)
    require_campaign_editor(member, campaign)
    problems = Problems()
    cents = money.check_amount(problems, total, "total", allow_zero=False)
    code = campaign["currency"] if currency is None else money.check_currency(
        problems, currency, "currency")
    if code and code != campaign["currency"] and await _currency_fixed(platform, campaign_id):
        problems.add(_CURRENCY_FIXED, ErrorCode.INVALID_STATE, "currency")
    problems.raise_if_any()
    async with platform.db.transaction():
        locked = await lock_campaign(campaign_id)
        code = locked["currency"] if currency is None else code
        if code != locked["currency"] and await _currency_fixed(platform, campaign_id):
            raise DomainError.one(_CURRENCY_FIXED, ErrorCode.INVALID_STATE, ["currency"])
        changes = audit.diff({"budget": money.from_cents(locked["budget_cents"]),
                              "currency": locked["currency"]},
                             {"budget": money.from_cents(cents), "currency": code})
        await Campaign.update({Campaign.budget_cents: cents, Campaign.currency: code}).where(
            Campaign.id == campaign_id)
        if changes:
            await audit.record(member, campaign_id, "budget.set", changes)
        alerts = await sync_alerts(platform, member, campaign_id)
        result = await budget_status(platform, campaign_id)
    await _publish(platform, campaign_id, alerts, result)
    return result


async def add_cost(platform: Platform, member: Member | None, campaign_id: int,
                   data: CostInput) -> CostAdded:
    campaign = await require_campaign(member, campaign_id)
    require_campaign_editor(member, campaign)
    problems = Problems()
    cents = money.check_amount(problems, data.amount, "input", "amount", allow_zero=False)
    if data.amount is None:
        problems.add("An amount is required.", ErrorCode.REQUIRED, "input", "amount")
    if data.incurred_on is None:
        problems.add("The date is required.", ErrorCode.REQUIRED, "input", "incurredOn")
    elif data.incurred_on > date.today() + timedelta(days=MAX_DAYS_AHEAD):
        problems.add(f"At most {MAX_DAYS_AHEAD} days ahead.", ErrorCode.INVALID,
                     "input", "incurredOn")
    check_text(problems, data.note, MAX_NOTE_CHARS, "input", "note")
    if data.step_id is not None and not await WorkflowAction.exists().where(
            WorkflowAction.id == data.step_id, WorkflowAction.campaign == campaign_id):
        problems.add("No such step in this campaign's workflow.", ErrorCode.NOT_FOUND,
                     "input", "stepId")
    problems.raise_if_any()
    values = {"amount_cents": cents, "category": CostCategory(data.category).value,
              "incurred_on": data.incurred_on, "note": data.note or "", "step": data.step_id}
    async with platform.db.transaction():
        await lock_campaign(campaign_id)
        cost = (await CampaignCost.insert(CampaignCost(
            campaign=campaign_id, created_by=member.id, created_at=now(), **values,
        )).returning(*CampaignCost.all_columns()))[0]
        await audit.record(member, campaign_id, "cost.add", audit.diff({}, _described(values)))
        alerts = await sync_alerts(platform, member, campaign_id)
        result = await budget_status(platform, campaign_id)
    await _publish(platform, campaign_id, alerts, result)
    return CostAdded(cost, result, alerts)


async def remove_cost(platform: Platform, member: Member | None, cost_id: int
                      ) -> tuple[int, BudgetStatus]:
    """Delete a cost entry; returns its campaign's id and budget status afterwards."""
    require_member(member)
    cost = await CampaignCost.select().where(CampaignCost.id == cost_id).first()
    if cost is None:
        raise DomainError.one("No such cost entry.", ErrorCode.NOT_FOUND, ["id"])
    campaign_id = cost["campaign"]
    campaign = await require_campaign(member, campaign_id, "id")
    require_campaign_editor(member, campaign)
    async with platform.db.transaction():
        await lock_campaign(campaign_id)
        if not await CampaignCost.delete().where(CampaignCost.id == cost_id).returning(
                CampaignCost.id):
            raise DomainError.one("The cost entry was removed meanwhile.", ErrorCode.NOT_FOUND,
                                  ["id"])
        old = _described({k: cost[k] for k in ("amount_cents", "category", "incurred_on",
                                                "note", "step")})
        await audit.record(member, campaign_id, "cost.remove", audit.diff(
            old, {k: None for k in old}))
        await sync_alerts(platform, member, campaign_id)  # removing only ever re-arms
        result = await budget_status(platform, campaign_id)
    return campaign_id, result


def _described(values: dict) -> dict:
    """A cost's fields as the audit log shows them (the amount as a decimal)."""
    described = dict(values)
    described["amount"] = money.from_cents(described.pop("amount_cents"))
    return described


async def lock_campaign(campaign_id: int) -> dict:
    """Touch the campaign row inside the caller's transaction: concurrent changes of its
    money wait for this one to commit (PostgreSQL row lock; SQLite's IMMEDIATE transaction)."""
    rows = await Campaign.update({Campaign.updated_at: now()}).where(
        Campaign.id == campaign_id).returning(*Campaign.all_columns())
    if not rows:
        raise DomainError.one("No such campaign.", ErrorCode.NOT_FOUND, ["campaignId"])
    return rows[0]


async def _publish(platform: Platform, campaign_id: int, alerts: list[Alert],
                   result: BudgetStatus) -> None:
    await publish_alerts(platform, campaign_id, alerts, result.spent_cents, result.total_cents,
                         result.currency)


async def _currency_fixed(platform: Platform, campaign_id: int) -> bool:
    return bool(await platform.db.fetchval(
        """SELECT CASE WHEN EXISTS (SELECT 1 FROM drumbeat_campaign_cost WHERE campaign = {})
                  OR EXISTS (SELECT 1 FROM drumbeat_campaign_outcome
                             WHERE campaign = {} AND value_cents <> 0)
                  OR EXISTS (SELECT 1 FROM drumbeat_campaign
                             WHERE id = {} AND target_revenue_cents IS NOT NULL)
                  THEN 1 ELSE 0 END""", campaign_id, campaign_id, campaign_id))


async def spent_cents(platform: Platform, campaign_id: int) -> int:
    return (await spent_by_campaign(platform, [campaign_id]))[campaign_id]


def placeholders(ids: Sequence[int]) -> str:
    """``{}, {}, …`` for an ``IN (…)`` list of ``ids``."""
    return ", ".join("{}" for _ in ids)


async def spent_by_campaign(platform: Platform, campaign_ids: Sequence[int]) -> dict[int, int]:
    """Total cost in cents of each campaign (0 without entries), in one query."""
    ids = list(dict.fromkeys(campaign_ids))
    rows = await platform.db.fetch(
        f"SELECT campaign, SUM(amount_cents) AS spent FROM drumbeat_campaign_cost"
        f" WHERE campaign IN ({placeholders(ids)}) GROUP BY campaign", *ids)
    spent = {row["campaign"]: int(row["spent"]) for row in rows}
    return {i: spent.get(i, 0) for i in ids}


async def costs_by_category(platform: Platform, campaign_ids: Sequence[int]
                            ) -> dict[int, dict[CostCategory, tuple[int, int]]]:
    """(total cents, entry count) per category of each campaign, every category present."""
    ids = list(dict.fromkeys(campaign_ids))
    rows = await platform.db.fetch(
        f"SELECT campaign, category, SUM(amount_cents) AS total, COUNT(*) AS entries"
        f" FROM drumbeat_campaign_cost WHERE campaign IN ({placeholders(ids)})"
        f" GROUP BY campaign, category", *ids)
    result = {i: {c: (0, 0) for c in CostCategory} for i in ids}
    for row in rows:
        result[row["campaign"]][CostCategory(row["category"])] = (int(row["total"]),
                                                                  int(row["entries"]))
    return result
