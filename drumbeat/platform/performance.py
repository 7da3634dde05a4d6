"""A campaign's performance: its objectives beside what actually happened.

Actuals are SQL aggregates over the outcomes, the deliveries ledger and the cost entries,
each computed for a whole batch of campaigns in one query:

* leads, opportunities, sales — counts of recorded outcomes of that kind;
  revenue — the sum of the SALE values;
* reached — distinct recipients with a ``done`` delivery (deliveries done counted too);
* converted — reached recipients who converted (a non-bot CONVERTED event, or a LEAD or
  SALE outcome of a contact they were addressed as); conversion rate = converted ÷
  reached, in percent, rounded half-up to 0.01 (``None`` while nobody was reached) — the
  one definition, shared with ``metrics`` (:func:`drumbeat.platform.metrics.percent`);
* cost — the budget spent; cost per lead = cost ÷ leads, to the cent (``None`` without leads);
* ROI = (revenue − cost) ÷ cost, a ratio rounded half-up to 0.0001 (``None`` while cost is 0).

``met`` compares the exact (unrounded) actual with the target: actual ≥ target, ``None``
without a target or an actual.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Generic, Sequence, TypeVar

from drumbeat.platform import money
from drumbeat.platform.budget import placeholders as _in
from drumbeat.platform.delivery_marks import FIRST_IN_CAMPAIGN
from drumbeat.platform.delivery_tally import cells
from drumbeat.platform.metrics import message_counts, percent
from drumbeat.platform.outcomes import objectives_of
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import OutcomeKind

T = TypeVar("T")
RATIO_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class Metric(Generic[T]):
    target: T | None
    actual: T | None
    met: bool | None


@dataclass(frozen=True)
class OutcomeTotals:
    count: int = 0
    value_cents: int = 0


@dataclass(frozen=True)
class Reach:
    deliveries_done: int = 0
    reached: int = 0  # distinct recipients with a done delivery
    converted: int = 0  # reached recipients who converted


@dataclass(frozen=True)
class Performance:
    currency: str
    leads: Metric[int]
    opportunities: int
    sales: int
    revenue: Metric[Decimal]
    deliveries_done: int
    reached: int
    converted: int
    conversion_rate: Metric[Decimal]
    cost: Decimal
    cost_per_lead: Decimal | None
    roi: Metric[Decimal]


def performance(campaign: dict, spent_cents: int, outcomes: dict[OutcomeKind, OutcomeTotals],
                reach: Reach) -> Performance:
    """Combine a campaign row with its aggregates (see the module docstring)."""
    targets = objectives_of(campaign)
    leads = outcomes.get(OutcomeKind.LEAD, OutcomeTotals()).count
    revenue_cents = outcomes.get(OutcomeKind.SALE, OutcomeTotals()).value_cents
    rate = roi = rate_met = roi_met = cost_per_lead = None
    if reach.reached:
        rate = percent(reach.converted, reach.reached)
        if targets.conversion_rate is not None:
            rate_met = reach.converted * 100 >= targets.conversion_rate * reach.reached
    if spent_cents:
        roi = (Decimal(revenue_cents - spent_cents) / spent_cents).quantize(
            RATIO_PLACES, ROUND_HALF_UP)
        if targets.roi is not None:
            roi_met = revenue_cents - spent_cents >= targets.roi * spent_cents
    if leads:
        cost_per_lead = (Decimal(spent_cents) / leads / 100).quantize(money.HUNDREDTH,
                                                                      ROUND_HALF_UP)
    revenue = money.from_cents(revenue_cents)
    return Performance(
        currency=campaign["currency"],
        leads=Metric(targets.leads, leads,
                     None if targets.leads is None else leads >= targets.leads),
        opportunities=outcomes.get(OutcomeKind.OPPORTUNITY, OutcomeTotals()).count,
        sales=outcomes.get(OutcomeKind.SALE, OutcomeTotals()).count,
        revenue=Metric(targets.revenue, revenue,
                       None if targets.revenue is None else revenue >= targets.revenue),
        deliveries_done=reach.deliveries_done, reached=reach.reached, converted=reach.converted,
        conversion_rate=Metric(targets.conversion_rate, rate, rate_met),
        cost=money.from_cents(spent_cents), cost_per_lead=cost_per_lead,
        roi=Metric(targets.roi, roi, roi_met),
    )


async def outcome_totals(platform: Platform, campaign_ids: Sequence[int]
                         ) -> dict[int, dict[OutcomeKind, OutcomeTotals]]:
    """Count and total value of each kind of outcome, per campaign, in one query."""
    ids = list(dict.fromkeys(campaign_ids))
    rows = await platform.db.fetch(
        f"SELECT campaign, kind, COUNT(*) AS n, SUM(value_cents) AS value"
        f" FROM drumbeat_campaign_outcome WHERE campaign IN ({_in(ids)})"
        f" GROUP BY campaign, kind", *ids)
    result: dict[int, dict[OutcomeKind, OutcomeTotals]] = {i: {} for i in ids}
    for row in rows:
        result[row["campaign"]][OutcomeKind(row["kind"])] = OutcomeTotals(int(row["n"]),
                                                                          int(row["value"]))
    return result


async def reach(platform: Platform, campaign_ids: Sequence[int]) -> dict[int, Reach]:
    """Deliveries done, recipients reached and reached recipients converted, per campaign,
    from the tally (the same figures as ``metrics`` totals' reached and conversions)."""
    ids = list(dict.fromkeys(campaign_ids))
    found = await cells(platform.db, ids)
    result = {}
    for campaign_id in ids:
        mine = [c for c in found if c.campaign == campaign_id]
        recipients = message_counts(mine, FIRST_IN_CAMPAIGN, messages=False)
        result[campaign_id] = Reach(sum(c.n for c in mine if c.state == "done"),
                                    recipients.reached, recipients.conversions)
    return result
