"""A GraphQL client over real HTTP, and the documents the tests send."""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import time

import httpx

CONTACTS_CREATE = """
mutation($input: [ContactInput!]!) {
  contactsCreate(input: $input) { contacts { id } errors { field message code } }
}"""

CAMPAIGN_CREATE = """
mutation($input: CampaignCreateInput!) {
  campaignCreate(input: $input) { campaign { id } errors { field message code } }
}"""

RECIPIENTS_ADD = """
mutation($c: ID!, $ids: [ID!]!) {
  campaignRecipientsAdd(campaignId: $c, contactIds: $ids) { added errors { field message } }
}"""

TRANSITION = """
mutation($id: ID!, $to: CampaignState!) {
  campaignTransition(id: $id, to: $to) { campaign { state } errors { field message code } }
}"""

LAUNCH = """
mutation($id: ID!) {
  campaignLaunch(id: $id) { campaign { state } errors { field message code } }
}"""

CAMPAIGN = """
query($id: ID!) {
  campaign(id: $id) { state counters { total pending inProgress done failed skipped } }
}"""


class Api:
    def __init__(self, base_url: str, token: str):
        self.base_url, self.token = base_url, token

    async def data(self, query: str, variables: dict | None = None) -> dict:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60) as client:
            response = await client.post(
                "/graphql", json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {self.token}"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def create_campaign(self, name: str, config: dict) -> dict:
        """The ``campaignCreate`` payload of a webhook campaign."""
        data = await self.data(CAMPAIGN_CREATE, {"input": {
            "name": name, "action": {"type": "webhook", "config": config}}})
        return data["campaignCreate"]

    async def campaign_with_contacts(self, name: str, config: dict, people: list[dict]) -> str:
        payload = await self.create_campaign(name, config)
        assert payload["errors"] == [], payload
        campaign_id = payload["campaign"]["id"]
        created = (await self.data(CONTACTS_CREATE, {"input": people}))["contactsCreate"]
        assert created["errors"] == [], created
        added = (await self.data(RECIPIENTS_ADD, {
            "c": campaign_id, "ids": [c["id"] for c in created["contacts"]]}))
        assert added["campaignRecipientsAdd"]["added"] == len(people), added
        return campaign_id

    async def ready(self, campaign_id: str) -> None:
        for state in ("IN_PREPARATION", "READY"):
            payload = (await self.data(TRANSITION, {"id": campaign_id, "to": state}))
            assert payload["campaignTransition"]["errors"] == [], payload

    async def launch(self, campaign_id: str) -> list[dict]:
        """Move the campaign to READY and launch it; returns the launch's errors."""
        await self.ready(campaign_id)
        return (await self.data(LAUNCH, {"id": campaign_id}))["campaignLaunch"]["errors"]

    async def finished(self, campaign_id: str, timeout: float = 60) -> dict:
        """Poll until the campaign is COMPLETED; returns it (state and counters)."""
        deadline = time.monotonic() + timeout
        while True:
            campaign = (await self.data(CAMPAIGN, {"id": campaign_id}))["campaign"]
            if campaign["state"] == "COMPLETED" or time.monotonic() > deadline:
                return campaign
            await asyncio.sleep(0.1)


def db_id(global_id: str) -> int:
    return int(base64.b64decode(global_id).decode().split(":", 1)[1])


_counter = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other test of this run (or an earlier one on the same database) uses."""
    return f"{prefix}-{os.getpid()}-{next(_counter)}"
