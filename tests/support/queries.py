"""GraphQL documents shared by the API tests, and helpers that run them."""

from __future__ import annotations

from strawberry import relay

from tests.support.graphql import GraphQLClient

CONTACTS_CREATE = """
mutation($input: [ContactInput!]!) {
  contactsCreate(input: $input) { contacts { id email firstName } errors { field message code } }
}"""

CAMPAIGN_CREATE = """
mutation($input: CampaignCreateInput!) {
  campaignCreate(input: $input) {
    campaign { id name state owner { id name } steps { actionType config } }
    errors { field message code }
  }
}"""

RECIPIENTS_ADD = """
mutation($c: ID!, $ids: [ID!]!) {
  campaignRecipientsAdd(campaignId: $c, contactIds: $ids) {
    added alreadyPresent errors { field message code }
  }
}"""

LAUNCH = """
mutation($id: ID!) {
  campaignLaunch(id: $id) { campaign { id state } errors { field message code } }
}"""

CAMPAIGN = """
query($id: ID!) {
  campaign(id: $id) { id state counters { total pending inProgress done failed skipped } }
}"""

PROGRESS = """
subscription($id: ID!) {
  campaignProgress(campaignId: $id) {
    state counters { total pending inProgress done failed skipped }
  }
}"""

EMAIL_CONFIG = {
    "subject": "Hello {{ contact.first_name }}",
    "text": "Dear {{ contact.first_name }} {{ contact.last_name }},\nnews from {{ campaign.name }}.",
}


def db_id(global_id: str) -> int:
    return int(relay.GlobalID.from_id(global_id).node_id)


async def create_contacts(api: GraphQLClient, people: list[dict]) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(people), 1000):
        data = await api.data(CONTACTS_CREATE, {"input": people[start:start + 1000]})
        payload = data["contactsCreate"]
        assert payload["errors"] == []
        ids += [c["id"] for c in payload["contacts"]]
    return ids


async def create_campaign(api: GraphQLClient, name: str, config: dict | None = None,
                          action_type: str = "email") -> str:
    data = await api.data(CAMPAIGN_CREATE, {"input": {
        "name": name, "action": {"type": action_type, "config": config or EMAIL_CONFIG}}})
    assert data["campaignCreate"]["errors"] == [], data
    return data["campaignCreate"]["campaign"]["id"]


async def add_recipients(api: GraphQLClient, campaign_id: str, contact_ids: list[str]) -> dict:
    data = await api.data(RECIPIENTS_ADD, {"c": campaign_id, "ids": contact_ids})
    return data["campaignRecipientsAdd"]


TRANSITION = """
mutation($id: ID!, $to: CampaignState!) {
  campaignTransition(id: $id, to: $to) { campaign { id state } errors { field message code } }
}"""


async def make_ready(api: GraphQLClient, campaign_id: str) -> None:
    """PROPOSED → IN_PREPARATION → READY (a launch needs READY)."""
    for state in ("IN_PREPARATION", "READY"):
        data = await api.data(TRANSITION, {"id": campaign_id, "to": state})
        assert data["campaignTransition"]["errors"] == [], data


async def launch_campaign(api: GraphQLClient, campaign_id: str) -> dict:
    """Move a prepared campaign to READY and launch it; returns the launch payload."""
    await make_ready(api, campaign_id)
    data = await api.data(LAUNCH, {"id": campaign_id})
    assert data["campaignLaunch"]["errors"] == [], data
    return data["campaignLaunch"]


async def launch_to_new_contacts(api: GraphQLClient, tag: str, size: int) -> tuple[str, list[str]]:
    """An email campaign to ``size`` new contacts (``<tag>-<i>@example.org``), launched;
    returns its global id and the addresses in recipient order."""
    addresses = [f"{tag}-{i}@example.org" for i in range(size)]
    people = [{"email": a, "firstName": f"P{i}", "lastName": "Tester"}
              for i, a in enumerate(addresses)]
    campaign = await create_campaign(api, f"Campaign {tag}")
    added = await add_recipients(api, campaign, await create_contacts(api, people))
    assert added["errors"] == [] and added["added"] == size, added
    await launch_campaign(api, campaign)
    return campaign, addresses
