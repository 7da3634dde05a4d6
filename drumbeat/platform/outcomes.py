"""A campaign's objectives (targets) and the outcomes recorded against them.

* Objectives — leads to generate, conversion rate (percent), ROI (a ratio: 0.5 = 50 %),
  revenue — are set together by the campaign's owner or an admin; ``None`` clears one.
* Outcomes — a LEAD, an OPPORTUNITY or a SALE (whose value is the attributed revenue) — are
  recorded once the campaign has been launched, by its owner, an admin, or any SALES member
  (they work the leads). An outcome may name the contact it came from; that contact must be
  in the campaign's audience.

Every change is audited (``objectives.set``, ``outcome.record``) in its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from drumbeat.platform import audit, money
from drumbeat.platform.budget import lock_campaign
from drumbeat.platform.campaigns import require_campaign
from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.permissions import can_edit_campaign
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import Campaign, CampaignOutcome, OutcomeKind, Role
from drumbeat.platform.team import Member, now
from drumbeat.platform.validation import check_text

MAX_TARGET_LEADS = 1_000_000_000
MAX_ROI = Decimal(1000)  # 100,000 %
MAX_NOTE_CHARS = 2_000


@dataclass(frozen=True)
class Objectives:
    leads: int | None = None
    conversion_rate: Decimal | None = None  # percent
    roi: Decimal | None = None  # ratio
    revenue: Decimal | None = None


@dataclass(frozen=True)
class OutcomeInput:
    kind: OutcomeKind
    value: Decimal | None = None
    contact_id: int | None = None
    note: str = ""


def objectives_of(campaign: dict) -> Objectives:
    return Objectives(campaign["target_leads"], _decimal(campaign["target_conversion_rate"]),
                      _decimal(campaign["target_roi"]),
                      money.from_cents(campaign["target_revenue_cents"]))


async def set_objectives(platform: Platform, member: Member | None, campaign_id: int,
                         objectives: Objectives) -> dict:
    """Replace the campaign's four targets; returns the campaign row."""
    campaign = await require_campaign(member, campaign_id)
    if not can_edit_campaign(member, campaign):
        raise DomainError.one("Only the campaign's owner or an admin may do this.",
                              ErrorCode.FORBIDDEN)
    problems = Problems()
    if objectives.leads is not None and not 0 <= objectives.leads <= MAX_TARGET_LEADS:
        problems.add(f"Between 0 and {MAX_TARGET_LEADS:,} leads.", ErrorCode.INVALID,
                     "input", "leads")
    rate = _check_decimal(problems, objectives.conversion_rate, Decimal(100), 2,
                          "input", "conversionRate")
    roi = _check_decimal(problems, objectives.roi, MAX_ROI, 4, "input", "roi")
    revenue = money.check_amount(problems, objectives.revenue, "input", "revenue")
    problems.raise_if_any()
    values = {"target_leads": objectives.leads, "target_conversion_rate": rate,
              "target_roi": roi, "target_revenue_cents": revenue}
    async with platform.db.transaction():
        locked = await lock_campaign(campaign_id)
        changes = audit.diff(_described(objectives_of(locked)), _described(Objectives(
            objectives.leads, _decimal(rate), _decimal(roi), money.from_cents(revenue))))
        if changes:
            await Campaign.update({getattr(Campaign, k): v for k, v in values.items()}).where(
                Campaign.id == campaign_id)
            await audit.record(member, campaign_id, "objectives.set", changes)
    return await Campaign.select().where(Campaign.id == campaign_id).first()


def _check_decimal(problems: Problems, value: Decimal | None, maximum: Decimal, places: int,
                   *field: str) -> str | None:
    """A non-negative decimal of at most ``places`` places, stored as its plain text."""
    if value is None:
        return None
    if not value.is_finite() or not 0 <= value <= maximum:
        problems.add(f"Between 0 and {maximum}.", ErrorCode.INVALID, *field)
        return None
    if value != value.quantize(Decimal(1).scaleb(-places)):
        problems.add(f"At most {places} decimal places.", ErrorCode.INVALID, *field)
        return None
    return format(value.normalize(), "f")


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _described(objectives: Objectives) -> dict:
    return {"leads": objectives.leads, "conversion_rate": objectives.conversion_rate,
            "roi": objectives.roi, "revenue": objectives.revenue}


async def record_outcome(platform: Platform, member: Member | None, campaign_id: int,
                         data: OutcomeInput) -> dict:
    """Record a lead, an opportunity or a sale; returns the outcome row."""
    campaign = await require_campaign(member, campaign_id)
    if not (can_edit_campaign(member, campaign) or member.role is Role.SALES):
        raise DomainError.one("Only the campaign's owner, an admin or a sales member may "
                              "record outcomes.", ErrorCode.FORBIDDEN)
    problems = Problems()
    if campaign["launched_at"] is None:
        problems.add("Outcomes are recorded once the campaign has been launched.",
                     ErrorCode.INVALID_STATE, "input", "campaignId")
    kind = OutcomeKind(data.kind)
    value = money.check_amount(problems, data.value, "input", "value")
    if kind is OutcomeKind.SALE and data.value is None:
        problems.add("A sale needs its value.", ErrorCode.REQUIRED, "input", "value")
    check_text(problems, data.note, MAX_NOTE_CHARS, "input", "note")
    if data.contact_id is not None and not await _in_audience(platform, campaign_id,
                                                              data.contact_id):
        problems.add("This contact is not in the campaign's audience.", ErrorCode.NOT_FOUND,
                     "input", "contactId")
    problems.raise_if_any()
    values = {"kind": kind.value, "value_cents": value or 0, "contact": data.contact_id,
              "note": data.note or ""}
    async with platform.db.transaction():
        outcome = (await CampaignOutcome.insert(CampaignOutcome(
            campaign=campaign_id, recorded_by=member.id, recorded_at=now(), **values,
        )).returning(*CampaignOutcome.all_columns()))[0]
        await audit.record(member, campaign_id, "outcome.record", audit.diff({}, {
            "kind": kind, "value": money.from_cents(value or 0), "contact": data.contact_id,
            "note": values["note"]}))
    return outcome


async def _in_audience(platform: Platform, campaign_id: int, contact_id: int) -> bool:
    """A recipient of the campaign, or a contact one of its deliveries addressed."""
    return bool(await platform.db.fetchval(
        """SELECT CASE WHEN EXISTS (SELECT 1 FROM drumbeat_campaign_recipient
                                    WHERE campaign = {} AND contact = {})
                  OR EXISTS (SELECT 1 FROM drumbeat_delivery WHERE campaign = {}
                             AND target_kind = 'contact' AND target_id = {})
                  THEN 1 ELSE 0 END""", campaign_id, contact_id, campaign_id, contact_id))
