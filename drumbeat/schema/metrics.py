"""Metrics in the API: ``Campaign.metrics`` (totals and ``byStep``) and
``Campaign.metricsTimeSeries``. Definitions: ``drumbeat.platform.metrics``."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry

from drumbeat.platform import metrics, performance
from drumbeat.platform.actions import MESSAGE, WORK_ITEM
from drumbeat.schema.context import Info
from drumbeat.schema.performance import spent_loader


DeliveryKind = strawberry.enum(
    Enum("DeliveryKind", {k: k for k in (MESSAGE, WORK_ITEM)}), name="DeliveryKind",
    description="MESSAGE: a message to the recipient (email, …); WORK_ITEM: a task, a "
                "document, a CRM update.")


@strawberry.type(description=(
    "Message counts of a scope (each delivery at most once; MESSAGE action types only), "
    "with its reached and converted recipients. Definitions: the README's metrics table."))
class MetricCounts:
    sent: int = strawberry.field(description="Messages sent (deliveries done).")
    failed: int = strawberry.field(description="Messages that failed for good.")
    skipped: int = strawberry.field(description="Messages skipped (with a reason).")
    pending: int = strawberry.field(description="Messages not yet final.")
    delivered: int = strawberry.field(description="Sent minus bounced.")
    unique_opens: int = strawberry.field(description="Sent messages opened (bots excluded).")
    unique_clicks: int = strawberry.field(description="Sent messages clicked (bots excluded).")
    replies: int = strawberry.field(description="Sent messages replied to.")
    bounces: int = strawberry.field(description="Sent messages that bounced.")
    unsubscribes: int = strawberry.field(description="Sent messages that led to an "
                                                     "unsubscribe.")
    reached: int = strawberry.field(description=(
        "Distinct recipients with a delivery done in the scope (any action type; for the "
        "totals: in the campaign)."))
    conversions: int = strawberry.field(description=(
        "Reached recipients who converted (a CONVERTED event, or a LEAD or SALE outcome of "
        "a contact they were addressed as) — recipients, not deliveries."))
    open_rate: Decimal | None = strawberry.field(
        description="Unique opens ÷ delivered in percent (0.01); null while nothing delivered.")
    click_rate: Decimal | None = strawberry.field(description="Unique clicks ÷ delivered, %.")
    reply_rate: Decimal | None = strawberry.field(description="Replies ÷ delivered, %.")
    unsubscribe_rate: Decimal | None = strawberry.field(
        description="Unsubscribes ÷ delivered, %.")
    bounce_rate: Decimal | None = strawberry.field(description="Bounces ÷ sent, %.")
    conversion_rate: Decimal | None = strawberry.field(description=(
        "Conversions ÷ reached, %: the one conversion rate (performance.conversionRate is "
        "the totals')."))
    median_reaction_seconds: float | None = strawberry.field(description=(
        "Median seconds from sending to the first open, click or reply (bots excluded)."))

    @classmethod
    def of(cls, c: metrics.Counts) -> "MetricCounts":
        return cls(sent=c.sent, failed=c.failed, skipped=c.skipped, pending=c.pending,
                   delivered=c.delivered, unique_opens=c.opens, unique_clicks=c.clicks,
                   replies=c.replies, bounces=c.bounces, unsubscribes=c.unsubscribes,
                   reached=c.reached, conversions=c.conversions, open_rate=c.rate(c.opens),
                   click_rate=c.rate(c.clicks), reply_rate=c.rate(c.replies),
                   unsubscribe_rate=c.rate(c.unsubscribes), bounce_rate=c.bounce_rate,
                   conversion_rate=c.conversion_rate,
                   median_reaction_seconds=c.median_reaction_seconds)


@strawberry.type(description="Work items (tasks, documents, CRM updates) of a scope: "
                             "deliveries of WORK_ITEM action types.")
class WorkItemCounts:
    total: int
    pending: int = strawberry.field(description="Not yet final.")
    created: int = strawberry.field(description="Done: the item was made.")
    failed: int
    skipped: int

    @classmethod
    def of(cls, w: metrics.WorkItems) -> "WorkItemCounts":
        return cls(total=w.total, pending=w.pending, created=w.created, failed=w.failed,
                   skipped=w.skipped)


@strawberry.type(description="One A/B variant's results within a step.")
class VariantMetrics:
    name: str = strawberry.field(description="The variant's name in the action's config.")
    metrics: MetricCounts


@strawberry.type
class StepMetrics:
    step_id: int = strawberry.field(description="The workflow step (see Campaign.steps).")
    action_type: str
    delivery_kind: DeliveryKind
    state_id: int
    state_name: str = strawberry.field(description="The workflow state the step belongs to.")
    metrics: MetricCounts = strawberry.field(description=(
        "Message counts (zero for a WORK_ITEM step, whose reached and conversions still "
        "count)."))
    work_items: WorkItemCounts = strawberry.field(description="Zero for a MESSAGE step.")
    by_variant: list[VariantMetrics] = strawberry.field(description=(
        "Per A/B variant sent by the step (by name; empty without variants). An A/B test's "
        "winner also counts the rest it was sent to."))
    ab_winner: str | None = strawberry.field(description=(
        "The variant an A/B test chose for the rest; null before the decision or without "
        "a test."))

    @classmethod
    def of(cls, s: metrics.StepMetrics) -> "StepMetrics":
        return cls(step_id=s.step_id, action_type=s.action_type,
                   delivery_kind=DeliveryKind[s.delivery_kind], state_id=s.state_id,
                   state_name=s.state_name, metrics=MetricCounts.of(s.counts),
                   work_items=WorkItemCounts.of(s.work_items),
                   by_variant=[VariantMetrics(name=v.name, metrics=MetricCounts.of(v.counts))
                               for v in s.by_variant], ab_winner=s.ab_winner)


@strawberry.type(description="The results of all steps of one action type.")
class ActionTypeMetrics:
    action_type: str
    delivery_kind: DeliveryKind
    metrics: MetricCounts
    work_items: WorkItemCounts

    @classmethod
    def of(cls, a: metrics.ActionTypeMetrics) -> "ActionTypeMetrics":
        return cls(action_type=a.action_type, delivery_kind=DeliveryKind[a.delivery_kind],
                   metrics=MetricCounts.of(a.counts), work_items=WorkItemCounts.of(a.work_items))


@strawberry.type(description="A campaign's results (per step, per A/B variant within a "
                             "step, per action type), from the tally of the ledger.")
class CampaignMetrics:
    totals: MetricCounts = strawberry.field(description=(
        "Messages over the campaign's MESSAGE steps; reached and conversions over all."))
    work_items: WorkItemCounts = strawberry.field(description="Over its WORK_ITEM steps.")
    by_step: list[StepMetrics] = strawberry.field(description="Per workflow step, in order.")
    by_action_type: list[ActionTypeMetrics] = strawberry.field(
        description="Per action type, in the order of their first step.")
    cost_per_lead: Decimal | None = strawberry.field(
        description="As in Campaign.performance: cost ÷ LEAD outcomes; null without leads.")
    roi: Decimal | None = strawberry.field(
        description="As in Campaign.performance: (revenue − cost) ÷ cost; null while cost is 0.")


@strawberry.type
class MetricsBucket:
    start: datetime = strawberry.field(description="The hour's start, UTC.")
    sent: int = strawberry.field(description="Messages sent in the hour.")
    opens: int = strawberry.field(description="First unique opens in the hour.")
    clicks: int = strawberry.field(description="First unique clicks in the hour.")
    conversions: int = strawberry.field(description="Reached recipients converting in the hour.")


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
                                  "time, work items, cost per lead and ROI: in total, per "
                                  "step, per A/B variant and per action type.")
    async def metrics(self, info: Info) -> CampaignMetrics:
        values, spent, totals, reach = await asyncio.gather(
            _loader(info, "campaign_metrics", metrics.metrics_by_campaign).load(self.id),
            spent_loader(info).load(self.id),
            _loader(info, "campaign_outcome_totals", performance.outcome_totals).load(self.id),
            _loader(info, "campaign_reach", performance.reach).load(self.id))
        perf = performance.performance(self.row, spent, totals, reach)
        return CampaignMetrics(
            totals=MetricCounts.of(values.total), work_items=WorkItemCounts.of(values.work_items),
            by_step=[StepMetrics.of(s) for s in values.by_step],
            by_action_type=[ActionTypeMetrics.of(a) for a in values.by_action_type],
            cost_per_lead=perf.cost_per_lead, roi=perf.roi.actual)

    @strawberry.field(description="Hourly buckets of the last `hours` hours (1–744), oldest "
                                  "first, the current hour last.")
    async def metrics_time_series(self, info: Info, hours: int = 48) -> list[MetricsBucket]:
        async def batch(platform, ids):
            return await metrics.time_series(platform, ids, hours)

        buckets = await _loader(info, f"campaign_metrics_series_{hours}", batch).load(self.id)
        return [MetricsBucket(start=b.start, sent=b.sent, opens=b.opens, clicks=b.clicks,
                              conversions=b.conversions) for b in buckets]
