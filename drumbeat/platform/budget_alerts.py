"""Budget alerts: spending crosses 80 % or 100 % of a campaign's budget → one alert each.

* Raised by a conditional ``UPDATE … SET budget_alert_80_at = now WHERE budget_alert_80_at
  IS NULL AND <spent ≥ 80 %> RETURNING``: of two concurrent changes only one can raise it.
* Written to the audit log (``budget.alert``) in the transaction of the change that crossed
  the threshold, and published after that commits as ``{"type": "budget_alert",
  "threshold": 80, "at", "spent", "total", "currency"}`` on the campaign's channel.
* Re-armed when spending falls back under the threshold — a cost removed, the budget raised
  or removed — (audit ``budget.rearm``): crossing it again alerts again. Lowering the budget
  under what is already spent raises the alerts at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

from drumbeat.platform import audit, money
from drumbeat.platform.runtime import Platform
from drumbeat.platform.team import Member, now

THRESHOLDS = (80, 100)  # percent of the budget
_SPENT = ("(SELECT COALESCE(SUM(c.amount_cents), 0) FROM drumbeat_campaign_cost c"
          " WHERE c.campaign = drumbeat_campaign.id)")


@dataclass(frozen=True)
class Alert:
    threshold: int
    at: datetime


def raised_alerts(campaign: Mapping) -> list[Alert]:
    """The alerts raised and not re-armed, from the campaign's row (lowest threshold first)."""
    return [Alert(t, campaign[f"budget_alert_{t}_at"]) for t in THRESHOLDS
            if campaign[f"budget_alert_{t}_at"] is not None]


async def sync_alerts(platform: Platform, member: Member | None, campaign_id: int) -> list[Alert]:
    """Re-arm and raise the campaign's alerts after a change of its budget or costs.

    Call it inside that change's transaction; returns the alerts this change raised.
    """
    stamp = now()
    raised: list[Alert] = []
    for threshold in THRESHOLDS:
        column = f"budget_alert_{threshold}_at"
        rearmed = await platform.db.fetch(
            f"UPDATE drumbeat_campaign SET {column} = NULL WHERE id = {{}} AND {column} IS NOT NULL"
            f" AND (budget_cents IS NULL OR {_SPENT} * 100 < budget_cents * {threshold})"
            f" RETURNING id", campaign_id)
        if rearmed:
            await audit.record(member, campaign_id, "budget.rearm",
                               [audit.Change("threshold", threshold, None)])
        crossed = await platform.db.fetch(
            f"UPDATE drumbeat_campaign SET {column} = {{}} WHERE id = {{}} AND {column} IS NULL"
            f" AND budget_cents IS NOT NULL AND {_SPENT} * 100 >= budget_cents * {threshold}"
            f" RETURNING budget_cents, {_SPENT} AS spent", stamp, campaign_id)
        if crossed:
            raised.append(Alert(threshold, stamp))
            await audit.record(member, campaign_id, "budget.alert", [
                audit.Change("threshold", None, threshold),
                audit.Change("spent", None, money.from_cents(crossed[0]["spent"])),
                audit.Change("budget", None, money.from_cents(crossed[0]["budget_cents"])),
            ])
    return raised


async def publish_alerts(platform: Platform, campaign_id: int, alerts: list[Alert],
                         spent_cents: int, total_cents: int | None, currency: str) -> None:
    """Tell subscribers (``campaignAlerts``); call it after the transaction committed."""
    for alert in alerts:
        await platform.publish(campaign_id, {
            "type": "budget_alert", "threshold": alert.threshold, "at": alert.at.isoformat(),
            "spent": str(money.from_cents(spent_cents)),
            "total": str(money.from_cents(total_cents)) if total_cents is not None else None,
            "currency": currency,
        })
