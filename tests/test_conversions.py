"""``campaignConversionRecord``: a CONVERTED event on the delivery that led to it, counted
once per delivery by the metrics; who may record one, and what is refused."""

from __future__ import annotations

import asyncio
import time

from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN, add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
)

RECORD = """
mutation($input: CampaignConversionRecordInput!) {
  campaignConversionRecord(input: $input) {
    event { type deliveryId detail } errors { field code }
  }
}"""
METRICS = "query($id: ID!) { campaign(id: $id) { metrics { totals { conversions } } } }"


async def _events(server, campaign: str) -> list[tuple]:
    rows = await server.call(server.platform.db.fetch(
        "SELECT delivery, detail FROM drumbeat_delivery_event WHERE campaign = {}"
        " AND type = 'CONVERTED' ORDER BY id", db_id(campaign)))
    return [(r["delivery"], r["detail"]) for r in rows]


async def test_conversions_are_tied_to_sent_deliveries(server):
    owner = GraphQLClient(server.url, (await member_token(server, "MARKETER"))[1])
    sales = GraphQLClient(server.url, (await member_token(server, "SALES"))[1])
    other = GraphQLClient(server.url, (await member_token(server, "MARKETER"))[1])
    tag = unique("convert")
    contacts = await create_contacts(owner, [{"email": f"{tag}-{i}@example.org"}
                                             for i in range(2)])
    outsider = (await create_contacts(owner, [{"email": f"{tag}-x@example.org"}]))[0]
    campaign = await create_campaign(owner, tag)
    await add_recipients(owner, campaign, contacts)
    await launch_campaign(owner, campaign)
    deadline = time.monotonic() + 30
    while (await owner.data(CAMPAIGN, {"id": campaign}))["campaign"]["state"] != "COMPLETED":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    delivery = await server.call(server.platform.db.fetchval(
        "SELECT id FROM drumbeat_delivery WHERE campaign = {} AND target_id = {}",
        db_id(campaign), db_id(contacts[0])))

    refused = [
        (other, {"campaignId": campaign, "contactId": contacts[0]}),  # not the owner, not sales
        (sales, {"campaignId": campaign, "contactId": outsider}),  # never reached
        (sales, {"campaignId": campaign, "contactId": contacts[0], "deliveryId": delivery}),
        (sales, {"campaignId": campaign}),
        (sales, {"campaignId": campaign, "deliveryId": delivery + 10_000}),
    ]
    codes = []
    for api, data in refused:
        result = (await api.data(RECORD, {"input": data}))["campaignConversionRecord"]
        assert result["event"] is None
        codes.append([e["code"] for e in result["errors"]])
    assert codes == [["FORBIDDEN"], ["NOT_FOUND"], ["INVALID"], ["INVALID"], ["NOT_FOUND"]]
    assert await _events(server, campaign) == []

    for api, data in ((sales, {"contactId": contacts[0], "note": "bought a plan"}),
                      (owner, {"deliveryId": delivery})):  # the same delivery again
        result = (await api.data(RECORD, {"input": {"campaignId": campaign, **data}}))
        assert result["campaignConversionRecord"]["errors"] == []
        assert result["campaignConversionRecord"]["event"]["deliveryId"] == delivery
    assert await _events(server, campaign) == [(delivery, "bought a plan"), (delivery, "")]
    metrics = await owner.data(METRICS, {"id": campaign})
    assert metrics["campaign"]["metrics"]["totals"]["conversions"] == 1  # once per delivery
