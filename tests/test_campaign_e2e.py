"""The vertical slice over real HTTP and WebSocket: contacts → campaign → launch → SMTP,
with the progress subscription watching, on whichever backend the run is configured for."""

from __future__ import annotations

import asyncio

from tests.conftest import unique
from tests.support.graphql import subscribe
from tests.support.queries import (
    CAMPAIGN, LAUNCH, PROGRESS, add_recipients, create_campaign, create_contacts, db_id,
    make_ready,
)

RECIPIENTS = 250


async def test_email_campaign_reaches_every_contact_once(server, admin_api, smtp_sink):
    tag = unique("e2e")
    people = [{"email": f"{tag}-{i}@example.org", "firstName": f"First{i:03d}x",
               "lastName": "Tester"} for i in range(RECIPIENTS)]
    contact_ids = await create_contacts(admin_api, people)
    campaign_id = await create_campaign(admin_api, f"Campaign {tag}")
    added = await add_recipients(admin_api, campaign_id, contact_ids)
    assert (added["added"], added["alreadyPresent"], added["errors"]) == (RECIPIENTS, 0, [])

    updates: list[dict] = []

    async def watch():
        async for payload in subscribe(server.ws_url, admin_api.token, PROGRESS, {"id": campaign_id}):
            assert "errors" not in payload, payload
            updates.append(payload["data"]["campaignProgress"])

    watcher = asyncio.create_task(watch())
    while not updates:  # the snapshot arrives before the launch
        await asyncio.sleep(0.02)
        assert not watcher.done(), watcher.exception()
    assert updates[0]["state"] == "PROPOSED" and updates[0]["counters"]["total"] == 0

    await make_ready(admin_api, campaign_id)
    launched = await admin_api.data(LAUNCH, {"id": campaign_id})
    assert launched["campaignLaunch"]["errors"] == []
    await asyncio.wait_for(watcher, timeout=90)

    last = updates[-1]
    assert last["state"] == "COMPLETED"
    assert last["counters"] == {"total": RECIPIENTS, "pending": 0, "inProgress": 0,
                                "done": RECIPIENTS, "failed": 0, "skipped": 0}
    assert len(updates) >= 2

    received = await asyncio.to_thread(smtp_sink.wait_for, db_id(campaign_id), RECIPIENTS, 30)
    assert len(received) == RECIPIENTS, "exactly one message per contact"
    assert len({m.message_id for m in received}) == RECIPIENTS
    by_rcpt = {m.rcpt_to[0]: m for m in received}
    for i, person in enumerate(people):
        message = by_rcpt[person["email"]]
        assert message.message["Subject"] == f"Hello First{i:03d}x"
        assert f"Dear First{i:03d}x Tester" in message.body_text()

    final = await admin_api.data(CAMPAIGN, {"id": campaign_id})
    assert final["campaign"]["counters"]["done"] == RECIPIENTS
