"""The task actions' configs: refused at save with the field at fault, checked at launch;
members that are not (active) team members are refused at save and at launch, and fail
the deliveries with the reason when deactivated later; and ``actionTypes`` shows both
types with their JSON Schema."""

from __future__ import annotations

from drumbeat.platform.workflows import clock, scheduler
from tests.conftest import member_token
from tests.support.queries import (
    add_recipients, create_contacts, db_id, launch_campaign, make_ready,
)
from tests.test_tasks_plugin import campaign_with, completed, create, people
from tests.test_workflow_definition import SET

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


async def test_members_must_be_active_at_save_at_launch_and_when_the_task_is_made(
        server, admin_api):
    """Unknown or inactive members are refused when the step is saved and at launch; one
    deactivated after the launch fails the deliveries with the reason."""
    gone_id, _ = await member_token(server, "SALES")
    await server.call(server.platform.db.execute(
        "UPDATE drumbeat_team_member SET active = {} WHERE id = {}", False, gone_id))
    bad = {"script": "Hi", "assignment": {"strategy": "ROUND_ROBIN",
                                          "members": ["nobody@nowhere.example", str(gone_id)]}}
    refused = await create(admin_api, "phone_call", bad)
    assert refused["campaign"] is None
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [
        (["input", "action", "config", "assignment", "members"], "NOT_FOUND")]
    assert f"nobody@nowhere.example, {gone_id}" in refused["errors"][0]["message"]

    # Active when saved, deactivated before the launch: the launch is refused.
    caller_id, _ = await member_token(server, "SALES")
    good = {"script": "Hi", "assignment": {"strategy": "MEMBER", "members": [str(caller_id)]}}
    campaign = await campaign_with(admin_api, "phone_call", good, people("inactive", 2))
    await make_ready(admin_api, campaign)
    await server.call(server.platform.db.execute(
        "UPDATE drumbeat_team_member SET active = {} WHERE id = {}", False, caller_id))
    launch = (await admin_api.data(LAUNCH, {"id": campaign}))["campaignLaunch"]
    assert [(e["field"], e["code"]) for e in launch["errors"]] == [
        (["action", "config", "assignment", "members"], "INVALID_CONFIG")]

    # Active at the launch, deactivated before a later state makes the tasks: they fail.
    await server.call(server.platform.db.execute(
        "UPDATE drumbeat_team_member SET active = {} WHERE id = {}", True, caller_id))
    later = await create(admin_api, "phone_call", good)
    campaign = later["campaign"]["id"]
    workflow = {"states": [
        {"key": "wait", "name": "Wait", "start": True, "actions": [],
         "transitions": [{"afterDelay": {"to": "call", "delay": {"iso": "P1D"}}}]},
        {"key": "call", "name": "Call", "start": False,
         "actions": [{"type": "phone_call", "config": good}], "transitions": []},
    ], "goals": []}
    workflow["states"][1]["actions"][0]["config"] = bad
    refused = (await admin_api.data(SET, {"c": campaign, "input": workflow})
               )["campaignWorkflowSet"]["errors"]
    assert [(e["field"], e["code"]) for e in refused] == [
        (["input", "states", "1", "actions", "0", "config", "assignment", "members"],
         "NOT_FOUND")]
    workflow["states"][1]["actions"][0]["config"] = good
    assert (await admin_api.data(SET, {"c": campaign, "input": workflow})
            )["campaignWorkflowSet"]["errors"] == []
    await add_recipients(admin_api, campaign, await create_contacts(
        admin_api, people("deactivated", 3)))
    await launch_campaign(admin_api, campaign)
    await server.call(server.platform.db.execute(
        "UPDATE drumbeat_team_member SET active = {} WHERE id = {}", False, caller_id))
    try:
        clock.advance(2 * 86_400)
        await server.call(scheduler.run_until_idle(server.platform))
        counters = await completed(admin_api, campaign)
    finally:
        clock.reset()
    assert (counters["failed"], counters["done"]) == (3, 0)
    rows = await server.call(server.platform.db.fetch(DELIVERIES, db_id(campaign)))
    assert all(f"not an active team member: {caller_id}" in r["last_error"] for r in rows)
