"""``campaignProgress``: a snapshot of the ledger counters, then coalesced updates.

Workers publish a notification per chunk; each subscription re-reads the counters from
the database (the source of truth) at most ``UPDATES_PER_SECOND`` times a second, and
completes once the campaign is over and nothing is left pending.
"""

from __future__ import annotations

import asyncio
import time
from typing import AsyncGenerator

import strawberry
from strawberry import relay

from drumbeat.platform import ledger
from drumbeat.platform.campaigns import get_campaign
from drumbeat.platform.tables import CampaignState as CampaignStateEnum
from drumbeat.schema.campaign_channel import campaign_channel
from drumbeat.schema.campaigns import CampaignState, DeliveryCounters
from drumbeat.schema.context import Info

UPDATES_PER_SECOND = 4
SAFETY_POLL_SECONDS = 2.0  # re-read even without a notification (a lost pub/sub message)
OVER = (CampaignStateEnum.COMPLETED, CampaignStateEnum.CANCELLED)


@strawberry.type
class CampaignProgress:
    campaign_id: relay.GlobalID
    state: CampaignState
    counters: DeliveryCounters


@strawberry.type
class ProgressSubscriptions:
    @strawberry.subscription(description="Counters now, then as they change; ends with the run.")
    async def campaign_progress(
        self, info: Info, campaign_id: relay.GlobalID
    ) -> AsyncGenerator[CampaignProgress, None]:
        platform = info.context.platform
        async with campaign_channel(info, campaign_id) as (cid, subscription):
            last = None
            while True:
                emitted_at = time.monotonic()
                state = CampaignStateEnum((await get_campaign(cid))["state"])
                counts = await ledger.counters(platform.db, cid)
                current = (state, tuple(sorted(counts.items())))
                if current != last:
                    last = current
                    yield CampaignProgress(
                        campaign_id=campaign_id, state=state,
                        counters=DeliveryCounters.from_counts(counts),
                    )
                if state in OVER and counts["pending"] + counts["claimed"] == 0:
                    return
                if await subscription.get(timeout=SAFETY_POLL_SECONDS) is not None:
                    # Coalesce: wait out the rest of this interval, drop what queued meanwhile.
                    await asyncio.sleep(max(0.0, 1 / UPDATES_PER_SECOND - (time.monotonic() - emitted_at)))
                    while await subscription.get(timeout=0) is not None:
                        pass
