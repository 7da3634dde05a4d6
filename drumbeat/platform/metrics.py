"""Campaign metrics over the deliveries ledger and the event ledger, per workflow step.

Every count is of *deliveries* (one row of ``drumbeat_delivery``), so a recipient who
opens a message five times, or a scanner flagged ``suspected_bot``, counts once or not at
all. Event-based counts only consider deliveries that were sent (state ``done``):

* sent / failed / skipped — deliveries in that final state;
* bounces, replies, unsubscribes — sent deliveries with such an event (bots included
  only for bounces and unsubscribes, which are not pixel or link hits);
* delivered = sent − bounces;
* unique opens / clicks — sent deliveries with a non-bot OPENED / CLICKED event;
* conversions — sent deliveries that converted: with a non-bot CONVERTED event, or
  addressed to a contact who has a LEAD or SALE outcome in the campaign;
* rates = count ÷ delivered in percent, rounded half-up to 0.01 (``None`` while 0);
* reaction — seconds from a sent delivery's ``finished_at`` to its first non-bot
  OPENED, CLICKED or REPLIED event at or after it; the median of those (the mean of
  the two middle values for an even count), ``None`` without any.

Campaign totals are the sums over its steps (a delivery belongs to one step). The
hourly series buckets in SQL: ``strftime`` on SQLite, ``date_trunc`` on PostgreSQL.
Each step is also broken down by A/B variant (``drumbeat_delivery.variant``, set by an
action that sends variants, e.g. the email action's): the same counts, grouped by variant;
deliveries without a variant are in the step's counts only.

A/B test metrics (:func:`register_ab_metric`) score a variant's counts to pick a winner:
OPEN_RATE, CLICK_RATE, CONVERSION_RATE, CONVERSIONS and REPLY_RATE are built in; plugins
may register more.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable, Sequence

from drumbeat.platform.budget import placeholders as _in
from drumbeat.platform.errors import DomainError, ErrorCode
from drumbeat.platform.runtime import Platform

PERCENT_PLACES = Decimal("0.01")
MAX_SERIES_HOURS = 24 * 31


@dataclass
class Counts:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    bounces: int = 0
    opens: int = 0
    clicks: int = 0
    replies: int = 0
    unsubscribes: int = 0
    conversions: int = 0
    reactions: list[float] = field(default_factory=list)  # seconds, ascending

    def add(self, other: "Counts") -> None:
        for f in fields(self):
            if f.name != "reactions":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.reactions = sorted(self.reactions + other.reactions)

    @property
    def delivered(self) -> int:
        return self.sent - self.bounces

    def rate(self, count: int) -> Decimal | None:
        if not self.delivered:
            return None
        return (Decimal(count) * 100 / self.delivered).quantize(PERCENT_PLACES, ROUND_HALF_UP)

    @property
    def median_reaction_seconds(self) -> float | None:
        values, n = self.reactions, len(self.reactions)
        if not n:
            return None
        middle = values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
        return round(middle, 3)


@dataclass
class VariantMetrics:
    name: str
    counts: Counts


@dataclass
class StepMetrics:
    step_id: int
    action_type: str
    state_id: int
    state_name: str
    counts: Counts
    by_variant: list[VariantMetrics] = field(default_factory=list)
    ab_winner: str | None = None  # an A/B test's decided winner (drumbeat_ab_decision)


@dataclass
class CampaignMetrics:
    total: Counts
    by_step: list[StepMetrics]


@dataclass(frozen=True)
class Bucket:
    start: datetime
    sent: int = 0
    opens: int = 0
    clicks: int = 0
    conversions: int = 0


# Per sent delivery: which kinds of event it has (0/1 each) and its first reaction.
_FLAGS = """
SELECT delivery,
  MAX(CASE WHEN type = 'BOUNCED' THEN 1 ELSE 0 END) AS bounced,
  MAX(CASE WHEN type = 'OPENED' AND NOT suspected_bot THEN 1 ELSE 0 END) AS opened,
  MAX(CASE WHEN type = 'CLICKED' AND NOT suspected_bot THEN 1 ELSE 0 END) AS clicked,
  MAX(CASE WHEN type = 'REPLIED' AND NOT suspected_bot THEN 1 ELSE 0 END) AS replied,
  MAX(CASE WHEN type = 'UNSUBSCRIBED' THEN 1 ELSE 0 END) AS unsubscribed,
  MAX(CASE WHEN type = 'CONVERTED' AND NOT suspected_bot THEN 1 ELSE 0 END) AS converted
FROM drumbeat_delivery_event WHERE campaign IN ({ids}) AND delivery IS NOT NULL
GROUP BY delivery"""

# A sent delivery addressed to a contact with a LEAD or SALE outcome in the campaign.
_OUTCOME = ("EXISTS (SELECT 1 FROM drumbeat_campaign_outcome o WHERE o.campaign = d.campaign"
            " AND o.kind IN ('LEAD', 'SALE') AND d.target_kind = 'contact'"
            " AND o.contact = d.target_id)")


def _done(expr: str) -> str:
    return f"SUM(CASE WHEN d.state = 'done' AND {expr} THEN 1 ELSE 0 END)"


async def _step_counts(db, ids: list[int], step: int | None = None
                      ) -> dict[tuple[int, int, str | None], Counts]:
    """Counts per (campaign, step, variant) — of one step only when ``step`` is given."""
    only = " AND d.step = {}" if step is not None else ""
    rows = await db.fetch(
        f"SELECT d.campaign, d.step, d.variant, {_done('1 = 1')} AS sent,"
        f" SUM(CASE WHEN d.state = 'failed' THEN 1 ELSE 0 END) AS failed,"
        f" SUM(CASE WHEN d.state = 'skipped' THEN 1 ELSE 0 END) AS skipped,"
        f" {_done('e.bounced = 1')} AS bounces, {_done('e.opened = 1')} AS opens,"
        f" {_done('e.clicked = 1')} AS clicks, {_done('e.replied = 1')} AS replies,"
        f" {_done('e.unsubscribed = 1')} AS unsubscribes,"
        f" {_done(f'(e.converted = 1 OR {_OUTCOME})')} AS conversions"
        f" FROM drumbeat_delivery d LEFT JOIN ({_FLAGS.format(ids=_in(ids))}) e"
        f" ON e.delivery = d.id WHERE d.campaign IN ({_in(ids)}){only}"
        f" GROUP BY d.campaign, d.step, d.variant",
        *ids, *ids, *([step] if step is not None else []))
    names = [f.name for f in fields(Counts) if f.name != "reactions"]
    return {(r["campaign"], r["step"], r["variant"]): Counts(**{n: int(r[n] or 0) for n in names})
            for r in rows}


def _seconds(db, later: str, earlier: str) -> str:
    if db.dialect == "postgres":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"(julianday({later}) - julianday({earlier})) * 86400.0"


async def _reactions(db, ids: list[int], step: int | None = None
                     ) -> dict[tuple[int, int, str | None], list[float]]:
    seconds = _seconds(db, "f.first_at", "d.finished_at")
    only = " AND d.step = {}" if step is not None else ""
    rows = await db.fetch(
        f"SELECT d.campaign, d.step, d.variant, {seconds} AS seconds FROM drumbeat_delivery d"
        f" JOIN (SELECT delivery, MIN(created_at) AS first_at FROM drumbeat_delivery_event"
        f"  WHERE campaign IN ({_in(ids)}) AND delivery IS NOT NULL AND NOT suspected_bot"
        f"  AND type IN ('OPENED', 'CLICKED', 'REPLIED') GROUP BY delivery) f"
        f" ON f.delivery = d.id WHERE d.campaign IN ({_in(ids)}) AND d.state = 'done'"
        f" AND d.finished_at IS NOT NULL AND f.first_at >= d.finished_at{only}"
        f" ORDER BY d.campaign, d.step, seconds", *ids, *ids,
        *([step] if step is not None else []))
    result: dict[tuple[int, int, str | None], list[float]] = {}
    for r in rows:
        result.setdefault((r["campaign"], r["step"], r["variant"]), []).append(float(r["seconds"]))
    return result


def _with_reactions(counts: dict, reactions: dict) -> dict:
    for key, values in reactions.items():
        counts.setdefault(key, Counts()).reactions = values
    return counts


async def metrics_by_campaign(platform: Platform, campaign_ids: Sequence[int]
                              ) -> dict[int, CampaignMetrics]:
    """Metrics of each campaign, of each of its workflow steps and of each step's A/B
    variants, in four queries."""
    ids = list(dict.fromkeys(campaign_ids))
    steps = await platform.db.fetch(
        f"SELECT a.id, a.campaign, a.action_type, s.id AS state_id, s.name AS state_name"
        f" FROM drumbeat_workflow_action a JOIN drumbeat_workflow_state s ON s.id = a.state"
        f" WHERE a.campaign IN ({_in(ids)}) ORDER BY s.position, a.position, a.id", *ids)
    counts = _with_reactions(await _step_counts(platform.db, ids),
                             await _reactions(platform.db, ids))
    per_step: dict[tuple[int, int], list[tuple[str | None, Counts]]] = {}
    for (campaign, step, variant), value in counts.items():
        per_step.setdefault((campaign, step), []).append((variant, value))
    winners = {r["step"]: r["winner"] for r in await platform.db.fetch(
        f"SELECT step, winner FROM drumbeat_ab_decision WHERE step IN ("
        f"SELECT id FROM drumbeat_workflow_action WHERE campaign IN ({_in(ids)}))", *ids)}
    result = {i: CampaignMetrics(Counts(), []) for i in ids}
    for step in steps:
        parts = per_step.get((step["campaign"], step["id"]), [])
        step_counts = Counts()
        for _, value in parts:
            step_counts.add(value)
        variants = sorted((VariantMetrics(v, c) for v, c in parts if v is not None),
                          key=lambda m: m.name)
        metrics = result[step["campaign"]]
        metrics.by_step.append(StepMetrics(step["id"], step["action_type"], step["state_id"],
                                           step["state_name"], step_counts, variants,
                                           winners.get(step["id"])))
        metrics.total.add(step_counts)
    return result


async def variant_counts(db, campaign_id: int, step_id: int) -> dict[str, Counts]:
    """The counts of each variant sent so far by one step (``{variant: Counts}``)."""
    counts = _with_reactions(await _step_counts(db, [campaign_id], step_id),
                             await _reactions(db, [campaign_id], step_id))
    return {variant: value for (_, _, variant), value in counts.items() if variant is not None}


#: A/B test metric: a variant's counts → its score (higher wins; ``None``: no score yet).
AbMetric = Callable[[Counts], "Decimal | float | int | None"]
_AB_METRICS: dict[str, tuple[AbMetric, str]] = {}


def register_ab_metric(name: str, score: AbMetric, description: str = "") -> None:
    """Make ``name`` (UPPER_SNAKE_CASE) usable as an A/B test's ``metric``. Plugins call it
    when imported; a name is registered once (again with the same function is a no-op)."""
    if not name.replace("_", "").isalnum() or name.upper() != name or len(name) > 40:
        raise ValueError(f"A/B metric names are UPPER_SNAKE_CASE: {name!r}")
    known = _AB_METRICS.get(name)
    if known is not None and known[0] is not score:
        raise ValueError(f"The A/B metric {name!r} is already registered.")
    _AB_METRICS[name] = (score, description)


def ab_metrics() -> dict[str, str]:
    """The registered A/B test metrics: ``{name: description}``."""
    return {name: description for name, (_, description) in _AB_METRICS.items()}


def ab_score(name: str, counts: Counts):
    """Variant ``counts`` scored by the metric ``name`` (``KeyError`` if unknown)."""
    return _AB_METRICS[name][0](counts)


register_ab_metric("OPEN_RATE", lambda c: c.rate(c.opens), "Unique opens ÷ delivered.")
register_ab_metric("CLICK_RATE", lambda c: c.rate(c.clicks), "Unique clicks ÷ delivered.")
register_ab_metric("CONVERSION_RATE", lambda c: c.rate(c.conversions),
                   "Conversions ÷ delivered.")
register_ab_metric("CONVERSIONS", lambda c: c.conversions, "Conversions (a count).")
register_ab_metric("REPLY_RATE", lambda c: c.rate(c.replies), "Replies ÷ delivered.")


def _bucket_sql(platform: Platform, column: str) -> str:
    if platform.db.dialect == "postgres":
        return f"date_trunc('hour', {column} AT TIME ZONE 'UTC')"
    return f"strftime('%Y-%m-%d %H:00:00', {column})"


def _as_utc(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc)


def series_window(hours: int, now: datetime | None = None) -> list[datetime]:
    """The starts of the last ``hours`` hourly buckets, the current hour last."""
    if not 1 <= hours <= MAX_SERIES_HOURS:
        raise DomainError.one(f"Ask for 1 to {MAX_SERIES_HOURS} hours.", ErrorCode.INVALID,
                              ["hours"])
    current = (now or datetime.now(timezone.utc)).replace(minute=0, second=0, microsecond=0)
    return [current - timedelta(hours=h) for h in range(hours - 1, -1, -1)]


async def time_series(platform: Platform, campaign_ids: Sequence[int], hours: int
                      ) -> dict[int, list[Bucket]]:
    """Hourly buckets of the last ``hours`` hours per campaign, in one query: deliveries
    sent (by ``finished_at``), and each sent delivery's first unique open, first unique
    click and conversion (the earlier of its CONVERTED event and its outcome)."""
    ids = list(dict.fromkeys(campaign_ids))
    window = series_window(hours)
    bucket = _bucket_sql(platform, "t")
    done = "JOIN drumbeat_delivery d ON d.id = e.delivery AND d.state = 'done'"
    rows = await platform.db.fetch(
        f"SELECT campaign, kind, {bucket} AS bucket, COUNT(*) AS n FROM ("
        f" SELECT campaign, 'sent' AS kind, finished_at AS t FROM drumbeat_delivery"
        f"  WHERE campaign IN ({_in(ids)}) AND state = 'done' AND finished_at IS NOT NULL"
        f" UNION ALL SELECT e.campaign, e.type, MIN(e.created_at) FROM drumbeat_delivery_event e"
        f"  {done} WHERE e.campaign IN ({_in(ids)}) AND e.type IN ('OPENED', 'CLICKED')"
        f"  AND NOT e.suspected_bot GROUP BY e.campaign, e.delivery, e.type"
        f" UNION ALL SELECT campaign, 'CONVERTED', MIN(t) FROM ("
        f"  SELECT e.campaign, e.delivery, e.created_at AS t FROM drumbeat_delivery_event e"
        f"   {done} WHERE e.campaign IN ({_in(ids)}) AND e.type = 'CONVERTED'"
        f"   AND NOT e.suspected_bot"
        f"  UNION ALL SELECT d.campaign, d.id, o.recorded_at FROM drumbeat_delivery d"
        f"   JOIN drumbeat_campaign_outcome o ON o.campaign = d.campaign"
        f"   AND o.kind IN ('LEAD', 'SALE') AND d.target_kind = 'contact'"
        f"   AND o.contact = d.target_id WHERE d.campaign IN ({_in(ids)}) AND d.state = 'done'"
        f" ) c GROUP BY campaign, delivery"
        f") x WHERE t >= {{}} GROUP BY campaign, kind, {bucket}",
        *ids, *ids, *ids, *ids, window[0])
    kinds = {"sent": "sent", "OPENED": "opens", "CLICKED": "clicks", "CONVERTED": "conversions"}
    found: dict[tuple[int, datetime], dict[str, int]] = {}
    for r in rows:
        found.setdefault((r["campaign"], _as_utc(r["bucket"])), {})[kinds[r["kind"]]] = int(r["n"])
    return {i: [Bucket(start, **found.get((i, start), {})) for start in window] for i in ids}
