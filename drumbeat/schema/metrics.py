"""Metrics in the API: ``Campaign.metrics`` (totals and ``byStep``) and
``Campaign.metricsTimeSeries``. Definitions: ``drumbeat.platform.metrics``."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal

import strawberry

from drumbeat.platform import metrics, performance
from drumbeat.schema.context import Info
from drumbeat.schema.performance import spent_loader


@strawberry.type(description="Counts of deliveries (each at most once), from the ledger.")
class MetricCounts:
    sent: int = strawberry.field(description="Deliveries done.")
    failed: int
    skipped: int
    delivered: int = strawberry.field(description="Sent minus bounced.")
    unique_opens: int = strawberry.field(description="Sent deliveries opened (bots excluded).")
    unique_clicks: int = strawberry.field(description="Sent deliveries clicked (bots excluded).")
    replies: int
    bounces: int
    unsubscribes: int
    conversions: int = strawberry.field(description=(
        "Sent deliveries with a CONVERTED event, or addressed to a contact with a LEAD or "
        "SALE outcome in the campaign."))
    open_rate: Decimal | None = strawberry.field(
        description="Unique opens ÷ delivered in percent (0.01); null while nothing delivered.")
    click_rate: Decimal | None = strawberry.field(description="Unique clicks ÷ delivered, %.")
    conversion_rate: Decimal | None = strawberry.field(description="Conversions ÷ delivered, %.")
    median_reaction_seconds: float | None = strawberry.field(description=(
        "Median seconds from sending to the first open, click or reply (bots excluded)."))

    @classmethod
    def of(cls, c: metrics.Counts) -> "MetricCounts":
        return cls(sent=c.sent, failed=c.failed, skipped=c.skipped, delivered=c.delivered,
                   unique_opens=c.opens, unique_clicks=c.clicks, replies=c.replies,
                   bounces=c.bounces, unsubscribes=c.unsubscribes, conversions=c.conversions,
                   open_rate=c.rate(c.opens), click_rate=c.rate(c.clicks),
                   conversion_rate=c.rate(c.conversions),
                   median_reaction_seconds=c.median_reaction_seconds)


@strawberry.type(description="One A/B variant's results within a step.")
class VariantMetrics:
    name: str = strawberry.field(description="The variant's name in the action's config.")
    metrics: MetricCounts


@strawberry.type
class StepMetrics:
    step_id: int = strawberry.field(description="The workflow step (see Campaign.steps).")
    action_type: str
    state_id: int
    state_name: str = strawberry.field(description="The workflow state the step belongs to.")
    metrics: MetricCounts
    by_variant: list[VariantMetrics] = strawberry.field(description=(
        "Per A/B variant sent by the step (by name; empty without variants). An A/B test's "
        "winner also counts the rest it was sent to."))
    ab_winner: str | None = strawberry.field(description=(
        "The variant an A/B test chose for the rest; null before the decision or without "
        "a test."))


@strawberry.type(description="A campaign's results from the ledger (per step, and per "
                             "A/B variant within a step).")
class CampaignMetrics:
    totals: MetricCounts
    by_step: list[StepMetrics] = strawberry.field(description="Per workflow step, in order.")
    cost_per_lead: Decimal | None = strawberry.field(
        description="As in Campaign.performance: cost ÷ LEAD outcomes; null without leads.")
    roi: Decimal | None = strawberry.field(
        description="As in Campaign.performance: (revenue − cost) ÷ cost; null while cost is 0.")


@strawberry.type
class MetricsBucket:
    start: datetime = strawberry.field(description="The hour's start, UTC.")
    sent: int
    opens: int = strawberry.field(description="First unique opens in the hour.")
    clicks: int = strawberry.field(description="First unique clicks in the hour.")
    conversions: int


def _loader(info: Info, name: str, batch):
    platform = info.context.platform

    async def load(ids):
        values = await batch(platform, ids)
        return [values[i] for i in ids]

    return info.context.loader(name, load)


@strawberry.type
class CampaignMetricsFields:
    """Fields of ``Campaign`` about measured results (``self`` is a ``Campaign``)."""

    @strawberry.field(description="Sent, delivered, opens, clicks, conversions, rates, reaction "
                                  "time, cost per lead and ROI, per campaign and per step.")
    async def metrics(self, info: Info) -> CampaignMetrics:
        values, spent, totals, reach = await asyncio.gather(
            _loader(info, "campaign_metrics", metrics.metrics_by_campaign).load(self.id),
            spent_loader(info).load(self.id),
            _loader(info, "campaign_outcome_totals", performance.outcome_totals).load(self.id),
            _loader(info, "campaign_reach", performance.reach).load(self.id))
        perf = performance.performance(self.row, spent, totals, reach)
        return CampaignMetrics(
            totals=MetricCounts.of(values.total),
            by_step=[StepMetrics(step_id=s.step_id, action_type=s.action_type,
                                 state_id=s.state_id, state_name=s.state_name,
                                 metrics=MetricCounts.of(s.counts),
                                 by_variant=[VariantMetrics(name=v.name,
                                                            metrics=MetricCounts.of(v.counts))
                                             for v in s.by_variant],
                                 ab_winner=s.ab_winner) for s in values.by_step],
            cost_per_lead=perf.cost_per_lead, roi=perf.roi.actual)

    @strawberry.field(description="Hourly buckets of the last `hours` hours (1–744), oldest "
                                  "first, the current hour last.")
    async def metrics_time_series(self, info: Info, hours: int = 48) -> list[MetricsBucket]:
        async def batch(platform, ids):
            return await metrics.time_series(platform, ids, hours)

        buckets = await _loader(info, f"campaign_metrics_series_{hours}", batch).load(self.id)
        return [MetricsBucket(start=b.start, sent=b.sent, opens=b.opens, clicks=b.clicks,
                              conversions=b.conversions) for b in buckets]
