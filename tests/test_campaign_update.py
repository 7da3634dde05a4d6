"""campaignCreate / campaignUpdate: all fields, every problem reported at once, nothing
half-saved, state rules, and the audit log with old → new values."""

from __future__ import annotations

from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import EMAIL_CONFIG, create_campaign, db_id

CREATE = """mutation($input: CampaignCreateInput!) { campaignCreate(input: $input) {
  campaign { id name goal senderStrategy dispatchStrategy sendEmails tags owner { id } createdBy { id } }
  errors { field message code } } }"""
UPDATE = """mutation($id: ID!, $input: CampaignUpdateInput!) {
  campaignUpdate(id: $id, input: $input) {
    campaign { id name goal description results senderStrategy dispatchStrategy sendEmails
               tags owner { id } steps { actionType config } }
    errors { field message code } } }"""
AUDIT = """query($id: ID!) { campaign(id: $id) { auditLog(first: 20) { edges { node {
  action member { id } changes { field old new } } } } } }"""
ME = "query { me { id } }"


async def test_create_with_every_field(server, admin_api):
    me = (await admin_api.data(ME))["me"]["id"]
    name = f"Full {unique('create')}"
    created = (await admin_api.data(CREATE, {"input": {
        "name": name, "goal": "50 leads", "senderStrategy": "CREATOR",
        "dispatchStrategy": "BOTH", "sendEmails": False, "tags": ["Spring", "b2b", "spring"],
        "action": {"type": "email", "config": EMAIL_CONFIG}}}))["campaignCreate"]
    assert created["errors"] == []
    campaign = created["campaign"]
    assert (campaign["name"], campaign["goal"], campaign["senderStrategy"],
            campaign["dispatchStrategy"], campaign["sendEmails"]) == (
        name, "50 leads", "CREATOR", "BOTH", False)
    assert campaign["tags"] == ["Spring", "b2b"], "tags are unique case-insensitively"
    assert campaign["owner"]["id"] == campaign["createdBy"]["id"] == me


async def test_every_problem_is_reported_at_once_and_nothing_is_saved(server, admin_api):
    taken = await create_campaign(admin_api, f"Taken {unique('dup')}")
    taken_name = (await admin_api.data("query($id: ID!) { campaign(id: $id) { name } }",
                                       {"id": taken}))["campaign"]["name"]
    before = await server.call(server.platform.db.fetchval("SELECT count(*) FROM drumbeat_campaign"))
    result = (await admin_api.data(CREATE, {"input": {
        "name": taken_name.upper(), "goal": "g" * 2001, "tags": ["ok", "", "x" * 51],
        "action": {"type": "email", "config": {"subject": "Hi {{ contact.first_name }",
                                               "text": "body", "bogus": 1}}}}))["campaignCreate"]
    assert result["campaign"] is None
    got = {(tuple(e["field"]), e["code"]) for e in result["errors"]}
    assert got == {
        (("input", "name"), "DUPLICATE"),
        (("input", "goal"), "TOO_LONG"),
        (("input", "tags", "1"), "REQUIRED"),
        (("input", "tags", "2"), "INVALID"),
        (("input", "action", "config", "bogus"), "INVALID_CONFIG"),
    }, result["errors"]
    after = await server.call(server.platform.db.fetchval("SELECT count(*) FROM drumbeat_campaign"))
    assert after == before


async def test_update_changes_only_what_is_given_and_audits_old_and_new(server, admin_api):
    _, marketer = await member_token(server, "MARKETER")
    owner = GraphQLClient(server.url, marketer)
    new_owner_id, _ = await member_token(server, "MARKETER")
    campaign = await create_campaign(owner, f"Edit {unique('upd')}")
    name = f"Renamed {unique('upd')}"
    from strawberry import relay
    new_owner = relay.to_base64("TeamMember", new_owner_id)
    updated = (await owner.data(UPDATE, {"id": campaign, "input": {
        "name": name, "dispatchStrategy": "COMPANY", "tags": ["q1"], "ownerId": new_owner,
        "action": {"type": "email", "config": {**EMAIL_CONFIG, "subject": "New {{ contact.first_name }}"}},
    }}))["campaignUpdate"]
    assert updated["errors"] == []
    c = updated["campaign"]
    assert (c["name"], c["dispatchStrategy"], c["tags"], c["owner"]["id"]) == (
        name, "COMPANY", ["q1"], new_owner)
    assert c["goal"] == "" and c["senderStrategy"] == "OWNER", "fields not given stay"
    assert c["steps"][0]["config"]["subject"] == "New {{ contact.first_name }}"

    entries = [e["node"] for e in (await admin_api.data(AUDIT, {"id": campaign})
                                   )["campaign"]["auditLog"]["edges"]]
    assert [e["action"] for e in entries] == ["campaign.update", "campaign.create"]
    changes = {c["field"]: (c["old"], c["new"]) for c in entries[0]["changes"]}
    assert changes["name"][1] == name and changes["name"][0].startswith("Edit ")
    assert changes["dispatch_strategy"] == ("CONTACT", "COMPANY")
    assert changes["tags"] == ([], ["q1"])
    assert changes["owner"][1] == new_owner_id
    assert changes["action"][1]["config"]["subject"] == "New {{ contact.first_name }}"
    assert set(changes) == {"name", "dispatch_strategy", "tags", "owner", "action"}

    # The previous owner may no longer edit it; the new one may.
    refused = (await owner.data(UPDATE, {"id": campaign, "input": {"goal": "x"}}))["campaignUpdate"]
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]

    # An update that changes nothing writes no audit entry.
    same = (await admin_api.data(UPDATE, {"id": campaign, "input": {"name": name}}))["campaignUpdate"]
    assert same["errors"] == []
    assert len((await admin_api.data(AUDIT, {"id": campaign}))["campaign"]["auditLog"]["edges"]) == 2


async def test_fields_fixed_after_launch_and_after_the_end(server, admin_api):
    campaign = await create_campaign(admin_api, f"Fixed {unique('fixed')}")
    await server.call(server.platform.db.execute(
        "UPDATE drumbeat_campaign SET state = 'PAUSED' WHERE id = {}", db_id(campaign)))
    result = (await admin_api.data(UPDATE, {"id": campaign, "input": {
        "dispatchStrategy": "BOTH", "sendEmails": False, "goal": "still fine"}}))["campaignUpdate"]
    assert {(e["field"][-1], e["code"]) for e in result["errors"]} == {
        ("dispatchStrategy", "INVALID_STATE"), ("sendEmails", "INVALID_STATE")}
    assert (await admin_api.data(UPDATE, {"id": campaign, "input": {"goal": "ok"}})
            )["campaignUpdate"]["errors"] == []

    await server.call(server.platform.db.execute(
        "UPDATE drumbeat_campaign SET state = 'COMPLETED' WHERE id = {}", db_id(campaign)))
    result = (await admin_api.data(UPDATE, {"id": campaign, "input": {
        "goal": "too late", "results": "42 leads, 3 sales"}}))["campaignUpdate"]
    assert [(e["field"][-1], e["code"]) for e in result["errors"]] == [("goal", "INVALID_STATE")]
    written = (await admin_api.data(UPDATE, {"id": campaign, "input": {
        "results": "42 leads, 3 sales"}}))["campaignUpdate"]
    assert written["errors"] == [] and written["campaign"]["results"] == "42 leads, 3 sales"


async def test_an_owner_must_be_an_active_marketer_or_admin(server, admin_api):
    from strawberry import relay

    sales_id, _ = await member_token(server, "SALES")
    campaign = await create_campaign(admin_api, f"Owner {unique('owner')}")
    for owner, code in ((relay.to_base64("TeamMember", sales_id), "INVALID"),
                        (relay.to_base64("TeamMember", 987654), "NOT_FOUND")):
        errors = (await admin_api.data(UPDATE, {"id": campaign, "input": {"ownerId": owner}})
                  )["campaignUpdate"]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [(["input", "ownerId"], code)]
