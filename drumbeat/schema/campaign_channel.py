"""What every campaign subscription starts with: a signed-in member, a campaign that
exists, and a subscription to its event channel (released however the stream ends)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from strawberry import relay

from drumbeat.platform.campaigns import get_campaign
from drumbeat.platform.errors import DomainError, ErrorCode
from drumbeat.platform.events import Subscription
from drumbeat.schema.context import Info
from drumbeat.schema.ids import node_id


@asynccontextmanager
async def campaign_channel(info: Info, campaign_id: relay.GlobalID
                           ) -> AsyncIterator[tuple[int, Subscription]]:
    """Yield ``(campaign id, subscription)``; subscribe before reading any state, so no
    event published meanwhile is missed."""
    info.context.require_member()
    cid = node_id(campaign_id, "Campaign", "campaignId")
    if await get_campaign(cid) is None:
        raise DomainError.one("No such campaign.", ErrorCode.NOT_FOUND, ["campaignId"])
    events = info.context.platform.events
    channel = f"campaign:{cid}"
    subscription = await events.subscribe(channel)
    try:
        yield cid, subscription
    finally:
        await events.unsubscribe(channel, subscription)
