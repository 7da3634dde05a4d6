"""``campaignAlerts``: a campaign's budget alerts as they happen, for dashboards.

First the alerts already raised (``replayed: true``, lowest threshold first), then each new
one as the change that raised it commits. It never ends by itself: close it to stop.
"""

from __future__ import annotations

from datetime import datetime
from typing import AsyncGenerator

import strawberry
from strawberry import relay

from drumbeat.platform.budget import budget_status
from drumbeat.schema.budget import Budget
from drumbeat.schema.campaign_channel import campaign_channel
from drumbeat.schema.context import Info


@strawberry.type
class CampaignAlert:
    campaign_id: relay.GlobalID
    threshold: int = strawberry.field(description="Percent of the budget crossed: 80 or 100.")
    at: datetime
    replayed: bool = strawberry.field(
        description="Raised before this subscription started (sent first).")
    budget: Budget = strawberry.field(description="The budget as it stands when this is sent.")


@strawberry.type
class BudgetSubscriptions:
    @strawberry.subscription(description=(
        "Budget alerts (80 % and 100 % spent): those raised already, then each new one."))
    async def campaign_alerts(self, info: Info, campaign_id: relay.GlobalID
                              ) -> AsyncGenerator[CampaignAlert, None]:
        platform = info.context.platform
        async with campaign_channel(info, campaign_id) as (cid, subscription):
            status = await budget_status(platform, cid)
            replayed = {(alert.threshold, alert.at) for alert in status.alerts}
            for alert in status.alerts:
                yield CampaignAlert(campaign_id=campaign_id, threshold=alert.threshold,
                                    at=alert.at, replayed=True, budget=Budget.of(status))
            async for message in subscription:
                if message.get("type") != "budget_alert":
                    continue  # the channel also carries the campaign's progress
                key = (message["threshold"], datetime.fromisoformat(message["at"]))
                if key in replayed:
                    continue
                yield CampaignAlert(campaign_id=campaign_id, threshold=key[0], at=key[1],
                                    replayed=False,
                                    budget=Budget.of(await budget_status(platform, cid)))
