"""``campaignEnrollmentProgress``: where a workflow campaign's recipients are — the number of
enrollments per version, state and status — now, then as they move.

Whatever moves enrollments (the scheduler, triggers, manual control, migrations) publishes
an ``{"type": "enrollments"}`` notice on the campaign's channel after its commit; each
subscription re-reads the counts from the database (the source of truth), at most
``UPDATES_PER_SECOND`` times a second, sends them when they changed, and completes once the
campaign is over (with its final counts). A safety poll covers a lost notice.
"""

from __future__ import annotations

import asyncio
import time
from typing import AsyncGenerator

import strawberry
from strawberry import relay

from drumbeat.platform.campaigns import get_campaign
from drumbeat.platform.tables import CampaignState as CampaignStateEnum
from drumbeat.platform.workflows import enrollments as service
from drumbeat.platform.workflows.enrollments import ENROLLMENTS_CHANGED
from drumbeat.schema.campaign_channel import campaign_channel
from drumbeat.schema.campaigns import CampaignState
from drumbeat.schema.context import Info
from drumbeat.schema.enrollments import EnrollmentCount

UPDATES_PER_SECOND = 2
SAFETY_POLL_SECONDS = 5.0
OVER = (CampaignStateEnum.COMPLETED, CampaignStateEnum.CANCELLED)
#: Notices after which the counts (or the campaign's state) may have changed.
WAKES = (ENROLLMENTS_CHANGED["type"], "launched", "paused", "resumed", "cancelled", "completed")


@strawberry.type
class EnrollmentProgress:
    campaign_id: relay.GlobalID
    state: CampaignState
    counts: list[EnrollmentCount] = strawberry.field(
        description="Enrollments per version, state and status (as campaignEnrollmentCounts).")


@strawberry.type
class EnrollmentProgressSubscriptions:
    @strawberry.subscription(description="Where the campaign's recipients are in its "
                                         "workflow: now, then as they move; ends with the run.")
    async def campaign_enrollment_progress(
        self, info: Info, campaign_id: relay.GlobalID
    ) -> AsyncGenerator[EnrollmentProgress, None]:
        db = info.context.platform.db
        async with campaign_channel(info, campaign_id) as (cid, subscription):
            last = None
            while True:
                emitted_at = time.monotonic()
                state = CampaignStateEnum((await get_campaign(cid))["state"])
                rows = await service.counts(db, cid)
                current = (state, tuple((r["version"], r["state_key"], r["status"], r["n"])
                                        for r in rows))
                if current != last:
                    last = current
                    yield EnrollmentProgress(campaign_id=campaign_id, state=state,
                                             counts=[EnrollmentCount.of(r) for r in rows])
                if state in OVER:
                    return
                await _next_notice(subscription, emitted_at)


async def _next_notice(subscription, emitted_at: float) -> None:
    """Wait for an enrollments notice (or the safety poll), then coalesce: wait out the rest
    of this interval and drop what queued meanwhile."""
    deadline = time.monotonic() + SAFETY_POLL_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        message = await subscription.get(timeout=left)
        if message is not None and message.get("type") in WAKES:
            break
    await asyncio.sleep(max(0.0, 1 / UPDATES_PER_SECOND - (time.monotonic() - emitted_at)))
    while await subscription.get(timeout=0) is not None:
        pass
