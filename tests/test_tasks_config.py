"""The task actions' configs: refused at save with the field at fault, checked at launch,
members that are not (active) team members fail the deliveries with the reason; and
``actionTypes`` shows both types with their JSON Schema."""

from __future__ import annotations

from tests.conftest import member_token
from tests.support.queries import (
    CAMPAIGN, add_recipients, create_contacts, db_id, launch_campaign, make_ready,
)
from tests.test_tasks_plugin import campaign_with, completed, create, people

LAUNCH = """
mutation($id: ID!) { campaignLaunch(id: $id) { campaign { state } errors { field message code } } }
"""
DELIVERIES = "SELECT state, last_error FROM drumbeat_delivery WHERE campaign = {}"


async def test_bad_configs_are_refused_with_the_field_at_fault(server, admin_api):
    cases = [
        ("phone_call", {"assignment": {"strategy": "ROUND_ROBIN"}},
         ["assignment", "members"], "INVALID_CONFIG"),
        ("phone_call", {"assignment": {"strategy": "MEMBER", "members": ["a@x.org", "b@x.org"]}},
         ["assignment", "members"], "INVALID_CONFIG"),
        ("phone_call", {"assignment": {"strategy": "BY_MOOD"}},
         ["assignment", "strategy"], "INVALID_CONFIG"),
        ("phone_call", {"script": "Hi {{ contact.first_name "}, ["script"], "TEMPLATE_ERROR"),
        ("phone_call", {"dueInHours": 2, "dueInDays": 1}, ["dueInDays"], "INVALID_CONFIG"),
        ("phone_call", {"dueAt": "2027-01-31T09:00:00"}, ["dueAt"], "INVALID_CONFIG"),
        ("phone_call", {"colour": "red"}, ["colour"], "INVALID_CONFIG"),
        ("activity", {}, ["title"], "INVALID_CONFIG"),
        ("activity", {"title": "Visit {% if %}"}, ["title"], "TEMPLATE_ERROR"),
        ("activity", {"title": "Visit", "activityType": "PARTY"}, ["activityType"],
         "INVALID_CONFIG"),
    ]
    for action_type, config, field, code in cases:
        payload = await create(admin_api, action_type, config)
        assert payload["campaign"] is None, (config, payload)
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [
            (["input", "action", "config", *field], code)], (config, payload)


async def test_action_types_show_their_schema(server, admin_api):
    data = await admin_api.data("{ actionTypes { key label plugin recipientKinds configSchema } }")
    types = {t["key"]: t for t in data["actionTypes"]}
    call, activity = types["phone_call"], types["activity"]
    assert call["plugin"] == activity["plugin"] == "tasks"
    assert set(call["recipientKinds"]) == {"contact", "company", "lead"}
    assert {"script", "title", "assignment", "dueInHours", "dueInDays", "dueAt"} <= set(
        call["configSchema"]["properties"])
    assert activity["configSchema"]["required"] == ["title"]
    strategies = call["configSchema"]["$defs"]["Strategy"]["enum"]
    assert strategies == ["ROUND_ROBIN", "CONTACT_OWNER", "MEMBER"]


async def test_a_call_needs_a_script_at_launch(server, admin_api):
    payload = await create(admin_api, "phone_call", {})
    campaign = payload["campaign"]["id"]
    await add_recipients(admin_api, campaign, await create_contacts(
        admin_api, people("noscript", 1)))
    await make_ready(admin_api, campaign)
    launch = (await admin_api.data(LAUNCH, {"id": campaign}))["campaignLaunch"]
    assert [(e["field"], e["code"]) for e in launch["errors"]] == [
        (["action", "config", "script"], "INVALID_CONFIG")]

    # A CALL_SCRIPT template of the campaign gives the script instead.
    template = (await admin_api.data(
        "mutation($i: TemplateCreateInput!) { templateCreate(input: $i) { template { id } errors { message } } }",
        {"i": {"name": f"script-{campaign}", "kind": "CALL_SCRIPT",
               "text": "Good morning {{ contact.first_name }}!"}}))["templateCreate"]
    assert template["errors"] == []
    updated = await admin_api.data(
        "mutation($id: ID!, $t: ID!) { campaignUpdate(id: $id, input: {templateId: $t}) { errors { message } } }",
        {"id": campaign, "t": template["template"]["id"]})
    assert updated["campaignUpdate"]["errors"] == []
    launch = (await admin_api.data(LAUNCH, {"id": campaign}))["campaignLaunch"]
    assert launch["errors"] == []
    await completed(admin_api, campaign)
    task = (await admin_api.data(
        'query($c: ID!) { tasks(filter: {campaignId: $c}) { edges { node { script } } } }',
        {"c": campaign}))["tasks"]["edges"][0]["node"]
    assert task["script"] == "Good morning P00!"


async def test_unknown_or_inactive_members_fail_the_deliveries_with_the_reason(server, admin_api):
    gone_id, _ = await member_token(server, "SALES")
    await server.call(server.platform.db.execute(
        "UPDATE drumbeat_team_member SET active = {} WHERE id = {}", False, gone_id))
    config = {"script": "Hi", "assignment": {"strategy": "ROUND_ROBIN",
                                             "members": ["nobody@nowhere.example", str(gone_id)]}}
    campaign = await campaign_with(admin_api, "phone_call", config, people("unknown", 3))
    await launch_campaign(admin_api, campaign)
    counters = await completed(admin_api, campaign)
    assert (counters["failed"], counters["done"]) == (3, 0)
    rows = await server.call(server.platform.db.fetch(DELIVERIES, db_id(campaign)))
    for row in rows:
        assert "not an active team member: nobody@nowhere.example, " + str(gone_id) in (
            row["last_error"])
    assert (await admin_api.data(CAMPAIGN, {"id": campaign}))["campaign"]["state"] == "COMPLETED"
