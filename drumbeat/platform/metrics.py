"""Campaign metrics, read from the tally (``delivery_tally``), never by scanning the ledger.

Each action type says what its deliveries are (``ActionType.delivery_kind``): MESSAGE
(email, …) or WORK_ITEM (task, document, CRM update). Definitions (the README's table):

* sent / failed / skipped / pending — message deliveries in that state (pending: not yet
  final, waiting or being executed);
* bounces, opens, clicks, replies, unsubscribes — sent messages with at least one such
  event (opens, clicks and replies by a person: suspected bots excluded); each message
  counts once however many events it has;
* delivered = sent − bounces; open, click, reply and unsubscribe rates = count ÷ delivered,
  bounce rate = bounces ÷ sent — in percent, rounded half-up to 0.01, ``None`` while the
  divisor is 0;
* reached — distinct recipients with a done delivery in the scope (any kind of action);
  conversions — reached recipients who converted (a non-bot CONVERTED event on any of their
  deliveries, or a LEAD or SALE outcome of a contact they were addressed as); conversion
  rate = conversions ÷ reached (the one definition, also ``Campaign.performance``'s);
* reaction — seconds from a sent message's send time to its first open, click or reply
  (non-bot) at or after it; the median over the scope's messages (mean of the two middle
  values for an even count), ``None`` without any;
* work items (per step, per action type, in total): total, pending, created (done),
  failed, skipped.

Scopes: a step; an A/B variant of a step (recipients counted in the variant of their first
delivery of the step); an action type; the campaign, whose message counts are over its
message steps and whose reached / conversions are over every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable, Iterable, Sequence

from drumbeat.platform import delivery_marks as M
from drumbeat.platform.actions import MESSAGE, WORK_ITEM
from drumbeat.platform.budget import placeholders as _in
from drumbeat.platform.delivery_tally import Cell, cells
from drumbeat.platform.errors import DomainError, ErrorCode
from drumbeat.platform.reaction_histogram import Medians
from drumbeat.platform.runtime import Platform

PERCENT_PLACES = Decimal("0.01")
MAX_SERIES_HOURS = 24 * 31
_EVENT_BITS = (("bounces", M.BOUNCED), ("opens", M.OPENED), ("clicks", M.CLICKED),
               ("replies", M.REPLIED), ("unsubscribes", M.UNSUBSCRIBED))


def percent(count: int, of: int) -> Decimal | None:
    if not of:
        return None
    return (Decimal(count) * 100 / of).quantize(PERCENT_PLACES, ROUND_HALF_UP)


@dataclass
class Counts:
    """Message counts of a scope, with its reached and converted recipients."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0
    bounces: int = 0
    opens: int = 0
    clicks: int = 0
    replies: int = 0
    unsubscribes: int = 0
    reached: int = 0
    conversions: int = 0
    median_reaction_seconds: float | None = None

    @property
    def delivered(self) -> int:
        return self.sent - self.bounces

    def rate(self, count: int) -> Decimal | None:
        """``count`` ÷ delivered, in percent."""
        return percent(count, self.delivered)

    @property
    def bounce_rate(self) -> Decimal | None:
        return percent(self.bounces, self.sent)

    @property
    def conversion_rate(self) -> Decimal | None:
        return percent(self.conversions, self.reached)


@dataclass
class WorkItems:
    total: int = 0
    pending: int = 0
    created: int = 0
    failed: int = 0
    skipped: int = 0


def message_counts(found: Iterable[Cell], first: int, messages: bool = True) -> Counts:
    """The counts of ``found`` cells; recipients are those whose delivery has ``first``
    (the scope's FIRST_IN_* bit). ``messages=False``: only reached and conversions."""
    c = Counts()
    for cell in found:
        if cell.state == "done" and cell.has(first):
            c.reached += cell.n
            c.conversions += cell.n if cell.has(M.CONVERTED) else 0
        if not messages:
            continue
        if cell.state == "done":
            c.sent += cell.n
            for name, bit in _EVENT_BITS:
                if cell.has(bit):
                    setattr(c, name, getattr(c, name) + cell.n)
        elif cell.state in ("failed", "skipped"):
            setattr(c, cell.state, getattr(c, cell.state) + cell.n)
        else:
            c.pending += cell.n
    return c


def work_items(found: Iterable[Cell]) -> WorkItems:
    w = WorkItems()
    for cell in found:
        w.total += cell.n
        if cell.state == "done":
            w.created += cell.n
        elif cell.state in ("failed", "skipped"):
            setattr(w, cell.state, getattr(w, cell.state) + cell.n)
        else:
            w.pending += cell.n
    return w


@dataclass
class VariantMetrics:
    name: str
    counts: Counts


@dataclass
class StepMetrics:
    step_id: int
    action_type: str
    delivery_kind: str
    state_id: int
    state_name: str
    counts: Counts
    work_items: WorkItems
    by_variant: list[VariantMetrics] = field(default_factory=list)
    ab_winner: str | None = None  # an A/B test's decided winner (drumbeat_ab_decision)


@dataclass
class ActionTypeMetrics:
    action_type: str
    delivery_kind: str
    counts: Counts
    work_items: WorkItems


@dataclass
class CampaignMetrics:
    total: Counts
    work_items: WorkItems
    by_step: list[StepMetrics]
    by_action_type: list[ActionTypeMetrics]


@dataclass(frozen=True)
class Bucket:
    start: datetime
    sent: int = 0
    opens: int = 0
    clicks: int = 0
    conversions: int = 0


def kind_of(platform: Platform, action_type: str) -> str:
    """MESSAGE or WORK_ITEM (an action type not installed here: WORK_ITEM)."""
    known = platform.plugins.action_types.get(action_type)
    return getattr(known, "delivery_kind", WORK_ITEM) if known is not None else WORK_ITEM


async def _steps(db, ids: list[int]) -> list[dict]:
    return await db.fetch(
        f"SELECT a.id, a.campaign, a.action_type, s.id AS state_id, s.name AS state_name"
        f" FROM drumbeat_workflow_action a JOIN drumbeat_workflow_state s ON s.id = a.state"
        f" WHERE a.campaign IN ({_in(ids)}) ORDER BY s.position, a.position, a.id", *ids)


async def metrics_by_campaign(platform: Platform, campaign_ids: Sequence[int]
                              ) -> dict[int, CampaignMetrics]:
    """Metrics of each campaign, of each of its steps, A/B variants and action types: one
    read each of the tally, the steps, the A/B decisions and the medians."""
    db = platform.db
    ids = list(dict.fromkeys(campaign_ids))
    steps, found = await _steps(db, ids), await cells(db, ids)
    winners = {r["step"]: r["winner"] for r in await db.fetch(
        f"SELECT step, winner FROM drumbeat_ab_decision WHERE step IN ("
        f"SELECT id FROM drumbeat_workflow_action WHERE campaign IN ({_in(ids)}))", *ids)}
    by_step: dict[int, list[Cell]] = {}
    for cell in found:
        by_step.setdefault(cell.step, []).append(cell)
    result, medians = {}, Medians()
    for campaign_id in ids:
        mine = [s for s in steps if s["campaign"] == campaign_id]
        kinds = {s["id"]: kind_of(platform, s["action_type"]) for s in mine}
        result[campaign_id] = _campaign(medians, mine, kinds, by_step, winners)
    await medians.read(db)
    return result


def _campaign(medians: Medians, steps: list[dict], kinds: dict[int, str],
              by_step: dict[int, list[Cell]], winners: dict[int, str]) -> CampaignMetrics:
    every = [c for s in steps for c in by_step.get(s["id"], [])]
    message_steps = [s["id"] for s in steps if kinds[s["id"]] == MESSAGE]
    total = message_counts([c for i in message_steps for c in by_step.get(i, [])],
                           M.FIRST_IN_CAMPAIGN)
    reach = message_counts(every, M.FIRST_IN_CAMPAIGN, messages=False)
    total.reached, total.conversions = reach.reached, reach.conversions
    medians.ask(total, message_steps)
    step_metrics = [_step(medians, s, kinds[s["id"]], by_step.get(s["id"], []),
                          winners.get(s["id"])) for s in steps]
    types: list[ActionTypeMetrics] = []
    for action_type in dict.fromkeys(s["action_type"] for s in steps):
        ids = [s["id"] for s in steps if s["action_type"] == action_type]
        kind = kinds[ids[0]]
        mine = [c for i in ids for c in by_step.get(i, [])]
        counts = message_counts(mine, M.FIRST_IN_TYPE, messages=kind == MESSAGE)
        if kind == MESSAGE:
            medians.ask(counts, ids)
        types.append(ActionTypeMetrics(action_type, kind, counts,
                                       work_items(mine) if kind == WORK_ITEM else WorkItems()))
    items = work_items(c for s in steps if kinds[s["id"]] == WORK_ITEM
                       for c in by_step.get(s["id"], []))
    return CampaignMetrics(total, items, step_metrics, types)


def _step(medians: Medians, step: dict, kind: str, found: list[Cell], winner: str | None
          ) -> StepMetrics:
    message = kind == MESSAGE
    counts = message_counts(found, M.FIRST_IN_STEP, messages=message)
    variants = []
    if message:
        medians.ask(counts, [step["id"]])
        for name in sorted({c.variant for c in found if c.variant is not None}):
            value = message_counts([c for c in found if c.variant == name], M.FIRST_IN_STEP)
            medians.ask(value, [step["id"]], name)
            variants.append(VariantMetrics(name, value))
    return StepMetrics(step["id"], step["action_type"], kind, step["state_id"],
                       step["state_name"], counts,
                       work_items(found) if not message else WorkItems(), variants, winner)


async def variant_counts(db, campaign_id: int, step_id: int) -> dict[str, Counts]:
    """The counts of each variant sent so far by one step (``{variant: Counts}``)."""
    found, medians = await cells(db, [campaign_id], step_id), Medians()
    result = {}
    for name in sorted({c.variant for c in found if c.variant is not None}):
        result[name] = message_counts([c for c in found if c.variant == name], M.FIRST_IN_STEP)
        medians.ask(result[name], [step_id], name)
    await medians.read(db)
    return result


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
register_ab_metric("CONVERSION_RATE", lambda c: c.conversion_rate,
                   "Converted recipients ÷ reached recipients.")
register_ab_metric("CONVERSIONS", lambda c: c.conversions,
                   "Converted recipients (a count).")
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
    """Hourly buckets of the last ``hours`` hours per campaign, in one query: messages sent
    (their SENT events), each sent message's first unique open and click, and each reached
    recipient's conversion (``converted_at``)."""
    ids = list(dict.fromkeys(campaign_ids))
    window = series_window(hours)
    steps = [s["id"] for s in await _steps(platform.db, ids)
             if kind_of(platform, s["action_type"]) == MESSAGE] or [0]
    bucket = _bucket_sql(platform, "t")
    message = f"JOIN drumbeat_delivery d ON d.id = e.delivery AND d.step IN ({_in(steps)})"
    rows = await platform.db.fetch(
        f"SELECT campaign, kind, {bucket} AS bucket, COUNT(*) AS n FROM ("
        f" SELECT e.campaign, 'sent' AS kind, e.created_at AS t FROM drumbeat_delivery_event e"
        f"  {message} WHERE e.campaign IN ({_in(ids)}) AND e.type = 'SENT' AND e.created_at >= {{}}"
        f" UNION ALL SELECT e.campaign, e.type, MIN(e.created_at) FROM drumbeat_delivery_event e"
        f"  {message} AND d.state = 'done' WHERE e.campaign IN ({_in(ids)})"
        f"  AND e.type IN ('OPENED', 'CLICKED') AND NOT e.suspected_bot"
        f"  GROUP BY e.campaign, e.delivery, e.type"
        f" UNION ALL SELECT r.campaign, 'CONVERTED', r.converted_at FROM"
        f"  drumbeat_campaign_recipient r WHERE r.campaign IN ({_in(ids)})"
        f"  AND r.converted_at IS NOT NULL AND EXISTS (SELECT 1 FROM drumbeat_delivery x"
        f"  WHERE x.recipient = r.id AND x.state = 'done' AND (x.marks & {M.FIRST_IN_CAMPAIGN}) <> 0)"
        f") x WHERE t >= {{}} GROUP BY campaign, kind, {bucket}",
        *steps, *ids, window[0], *steps, *ids, *ids, window[0])
    kinds = {"sent": "sent", "OPENED": "opens", "CLICKED": "clicks", "CONVERTED": "conversions"}
    found: dict[tuple[int, datetime], dict[str, int]] = {}
    for r in rows:
        found.setdefault((r["campaign"], _as_utc(r["bucket"])), {})[kinds[r["kind"]]] = int(r["n"])
    return {i: [Bucket(start, **found.get((i, start), {})) for start in window] for i in ids}
