"""campaignWorkflowSet / campaignWorkflow over real HTTP: the seed workflow read back
identically, each invalid workflow refused with its UserError and nothing changed, versions
of a running campaign, permissions, and the launch still running the start state's actions."""

from __future__ import annotations

import asyncio
import copy
import time

from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    EMAIL_CONFIG, LAUNCH, TRANSITION, add_recipients, create_campaign, create_contacts, db_id,
    launch_campaign, make_ready,
)

FIELDS = """version published definition
  states { key name start actions { type config stepId }
           transitions { kind to delay { seconds iso } window { days fromHour toHour timezone }
                         event outcome timeout { after { iso } to } if then else
                         paths { to weight } } }
  goals { if event }
  versions { number createdAt createdBy { id } }"""
SET = f"""mutation($c: ID!, $input: WorkflowInput!) {{
  campaignWorkflowSet(campaignId: $c, input: $input) {{
    workflow {{ {FIELDS} }} errors {{ field message code }} }} }}"""
GET = f"query($c: ID!) {{ campaignWorkflow(campaignId: $c) {{ {FIELDS} }} }}"
AUDIT = """query($id: ID!) { campaign(id: $id) { auditLog(first: 5) { edges { node {
  action changes { field old new } } } } } }"""
ME = "query { me { id } }"

CALL = {"type": "phone_call", "config": {"script": "Ask {{ contact.first_name }} how it went."}}
REMINDER = {"type": "email", "config": {"subject": "Did you see this?", "text": "A reminder."}}


def seed() -> dict:
    """Preparation → Send email → Follow-up (a reply → a call task; no reply within 3 days
    → a reminder) → Results analysis."""
    return copy.deepcopy({"states": [
        {"key": "preparation", "name": "Preparation", "start": True, "actions": [],
         "transitions": [{"onComplete": {"to": "send-email"}}]},
        {"key": "send-email", "name": "Send email", "start": False,
         "actions": [{"type": "email", "config": EMAIL_CONFIG}],
         "transitions": [{"onComplete": {"to": "follow-up"}}]},
        {"key": "follow-up", "name": "Follow-up", "start": False, "actions": [],
         "transitions": [{"onEvent": {"to": "call", "event": "REPLIED",
                                      "timeout": {"after": {"iso": "P3D"}, "to": "reminder"}}}]},
        {"key": "call", "name": "Call", "start": False, "actions": [CALL],
         "transitions": [{"onComplete": {"to": "results"}}]},
        {"key": "reminder", "name": "Reminder", "start": False, "actions": [REMINDER],
         "transitions": [{"afterDelay": {"to": "results", "delay": {"iso": "P1D"},
                                         "window": {"days": ["MON", "TUE", "WED"],
                                                    "fromHour": 9, "toHour": 17,
                                                    "timezone": "Europe/Berlin"}}}]},
        {"key": "results", "name": "Results analysis", "start": False, "actions": [],
         "transitions": []},
    ], "goals": [{"event": "CONVERTED"}]})


async def _set(api: GraphQLClient, campaign: str, definition: dict) -> dict:
    return (await api.data(SET, {"c": campaign, "input": definition}))["campaignWorkflowSet"]


async def _get(api: GraphQLClient, campaign: str) -> dict:
    return (await api.data(GET, {"c": campaign}))["campaignWorkflow"]


async def _rows(server, campaign: str) -> list[dict]:
    return await server.call(server.platform.db.fetch(
        "SELECT s.id, s.state_key, s.name, s.is_start, s.version, a.id AS step, a.action_type"
        " FROM drumbeat_workflow_state s LEFT JOIN drumbeat_workflow_action a ON a.state = s.id"
        " WHERE s.campaign = {} ORDER BY s.id, a.id", db_id(campaign)))


async def test_a_quick_campaign_reads_as_one_state(server, admin_api):
    campaign = await create_campaign(admin_api, unique("Quick wf"))
    workflow = await _get(admin_api, campaign)
    assert workflow["version"] == 1 and workflow["published"] is False
    assert workflow["definition"] == {"states": [{
        "key": "send", "name": "Send", "start": True, "transitions": [],
        "actions": [{"type": "email", "config": EMAIL_CONFIG}]}], "goals": []}
    me = (await admin_api.data(ME))["me"]["id"]
    assert [(v["number"], v["createdBy"]["id"]) for v in workflow["versions"]] == [(1, me)]
    assert workflow["states"][0]["actions"][0]["stepId"] is not None
    assert await _get(admin_api, "Q2FtcGFpZ246OTk5OTk5OQ==") is None  # Campaign:9999999
    linked = await admin_api.data("query($c: ID!) { campaignWorkflow(campaignId: $c) {"
                                  " campaign { id name } } }", {"c": campaign})
    assert linked["campaignWorkflow"]["campaign"]["id"] == campaign


async def test_the_seed_workflow_is_accepted_and_read_back_identically(server, admin_api):
    campaign = await create_campaign(admin_api, unique("Seed wf"))
    quick_state = (await _rows(server, campaign))[0]["id"]
    result = await _set(admin_api, campaign, seed())
    assert result["errors"] == []
    assert result["workflow"]["definition"] == seed()
    again = await _get(admin_api, campaign)
    assert again == result["workflow"]
    assert again["version"] == 1
    states = {s["key"]: s for s in again["states"]}
    follow = states["follow-up"]["transitions"][0]
    assert follow == {"kind": "ON_EVENT", "to": "call", "delay": None, "window": None,
                      "event": "REPLIED", "outcome": None,
                      "timeout": {"after": {"iso": "P3D"}, "to": "reminder"},
                      "if": None, "then": None, "else": None, "paths": None}
    delay = states["reminder"]["transitions"][0]
    assert delay["delay"] == {"seconds": 86400, "iso": "P1D"}
    assert delay["window"] == {"days": ["MON", "TUE", "WED"], "fromHour": 9, "toHour": 17,
                               "timezone": "Europe/Berlin"}
    assert again["goals"] == [{"if": None, "event": "CONVERTED"}]
    # The rows the launch reads: one start state (no actions), the others with theirs.
    rows = await _rows(server, campaign)
    assert [(r["state_key"], bool(r["is_start"]), r["action_type"]) for r in rows] == [
        ("preparation", True, None), ("send-email", False, "email"),
        ("follow-up", False, None), ("call", False, "phone_call"),
        ("reminder", False, "email"), ("results", False, None)]
    assert rows[0]["id"] == quick_state, "the quick campaign's start state row is kept"
    audit = (await admin_api.data(AUDIT, {"id": campaign}))["campaign"]["auditLog"]["edges"]
    entry = audit[0]["node"]
    assert entry["action"] == "workflow.set"
    assert {"field": "version", "old": 1, "new": 1} in entry["changes"]


async def test_editing_a_draft_keeps_the_ids_of_kept_actions(server, admin_api):
    campaign = await create_campaign(admin_api, unique("Draft wf"))
    step = (await _get(admin_api, campaign))["states"][0]["actions"][0]["stepId"]
    definition = {"states": [
        {"key": "send", "name": "Send", "start": True,
         "actions": [{"type": "email", "config": EMAIL_CONFIG}],
         "transitions": [{"afterDelay": {"to": "again", "delay": {"amount": 2, "unit": "DAYS"}}}]},
        {"key": "again", "name": "Again", "actions": [REMINDER]}]}
    first = (await _set(admin_api, campaign, definition))["workflow"]
    assert first["states"][0]["actions"][0]["stepId"] == step
    assert first["definition"]["states"][0]["transitions"][0]["afterDelay"]["delay"] == {
        "iso": "P2D"}
    await make_ready(admin_api, campaign)
    definition["states"][1]["name"] = "Second try"
    second = (await _set(admin_api, campaign, definition))["workflow"]
    assert second["version"] == 1 and len(second["versions"]) == 1
    assert [s["actions"][0]["stepId"] for s in second["states"]] == \
        [s["actions"][0]["stepId"] for s in first["states"]]
    assert second["states"][1]["name"] == "Second try"
    assert len(await _rows(server, campaign)) == 2


def _invalid_cases() -> list[tuple[str, dict, list[str], str]]:
    cases = []

    def case(name, change, field, code):
        definition = seed()
        change(definition["states"])
        cases.append((name, definition, ["input", "states", *field], code))

    case("two start states", lambda s: s[2].update(start=True), ["2", "start"], "MULTIPLE_STARTS")
    case("unreachable state", lambda s: s.append(
        {"key": "island", "name": "Island", "transitions": [{"onComplete": {"to": "results"}}]}),
        ["6"], "UNREACHABLE_STATE")
    case("dangling transition", lambda s: s[3].update(
        transitions=[{"onComplete": {"to": "nowhere"}}]),
        ["3", "transitions", "0", "onComplete", "to"], "DANGLING_TRANSITION")
    case("instant cycle", lambda s: s[5].update(
        transitions=[{"onComplete": {"to": "call"}}]),
        ["5", "transitions", "0", "onComplete", "to"], "INSTANT_CYCLE")
    case("bad weight", lambda s: s[3].update(transitions=[{"randomSplit": {"paths": [
        {"to": "results", "weight": 0}, {"to": "reminder", "weight": 5}]}}]),
        ["3", "transitions", "0", "randomSplit", "paths", "0", "weight"], "INVALID")
    case("bad timezone", lambda s: s[4]["transitions"][0]["afterDelay"]["window"].update(
        timezone="Europe/Atlantis"),
        ["4", "transitions", "0", "afterDelay", "window", "timezone"], "INVALID")
    case("bad action config", lambda s: s[1]["actions"][0]["config"].update(bogus=1),
         ["1", "actions", "0", "config", "bogus"], "INVALID_CONFIG")
    case("bad condition filter", lambda s: s[3].update(transitions=[{"condition": {
        "if": {"field": {"field": "EMAIL", "op": "GT", "value": "x"}},
        "then": "results", "else": "reminder"}}]),
        ["3", "transitions", "0", "condition", "if", "field", "op"], "INVALID_OPERATOR")
    case("unknown product in a condition", lambda s: s[3].update(transitions=[{"condition": {
        "if": {"bought": {"productIds": ["UHJvZHVjdDo5OTk5OTk5OQ=="]}},  # Product:99999999
        "then": "results", "else": "reminder"}}]),
        ["3", "transitions", "0", "condition", "if"], "NOT_FOUND")
    return cases


async def test_each_invalid_workflow_returns_its_error_and_changes_nothing(server, admin_api):
    campaign = await create_campaign(admin_api, unique("Invalid wf"))
    assert (await _set(admin_api, campaign, seed()))["errors"] == []
    before = await _get(admin_api, campaign)
    rows = await _rows(server, campaign)
    for name, definition, field, code in _invalid_cases():
        result = await _set(admin_api, campaign, definition)
        assert result["workflow"] is None, name
        assert [(e["field"], e["code"]) for e in result["errors"]] == [(field, code)], \
            (name, result["errors"])
        assert await _get(admin_api, campaign) == before, name
        assert await _rows(server, campaign) == rows, name


async def test_a_running_campaign_publishes_new_versions(make_server, smtp_sink):
    server = make_server(retry_backoff_seconds=3600)
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("running-wf")
    # A busy mailbox is retried in an hour: the campaign keeps running.
    contacts = await create_contacts(api, [{"email": f"{tag}+busy@example.org"},
                                           {"email": f"{tag}@example.org"}])
    campaign = await create_campaign(api, f"Running {tag}")
    await add_recipients(api, campaign, contacts)
    await launch_campaign(api, campaign)
    first_step = (await _get(api, campaign))["states"][0]["actions"][0]["stepId"]
    deliveries = await _deliveries(server, campaign)
    assert len(deliveries) == 2

    result = await _set(api, campaign, seed())
    assert result["errors"] == []
    workflow = result["workflow"]
    assert (workflow["version"], workflow["published"]) == (2, True)
    assert [v["number"] for v in workflow["versions"]] == [1, 2]
    assert workflow["definition"] == seed()
    assert await _deliveries(server, campaign) == deliveries, "in-flight deliveries stay"
    rows = await _rows(server, campaign)
    old = [r for r in rows if r["version"] == 1]
    assert [(r["step"], bool(r["is_start"])) for r in old] == [(first_step, False)]
    assert [r["state_key"] for r in rows if r["is_start"]] == ["preparation"]

    same = await _set(api, campaign, seed())
    assert same["workflow"]["version"] == 2, "the same definition is not a new version"
    paused = await api.data(TRANSITION, {"id": campaign, "to": "PAUSED"})
    assert paused["campaignTransition"]["errors"] == []
    changed = seed()
    changed["states"][5]["name"] = "Results"
    third = (await _set(api, campaign, changed))["workflow"]
    assert third["version"] == 3 and [v["number"] for v in third["versions"]] == [1, 2, 3]
    assert {r["version"] for r in await _rows(server, campaign)} == {1, 2, 3}
    v1 = await server.call(server.platform.db.fetchval(
        "SELECT definition FROM drumbeat_workflow_version WHERE campaign = {} AND number = 1",
        db_id(campaign)))
    assert '"type": "email"' in v1, "the quick campaign's first version is kept"
    audit = (await api.data(AUDIT, {"id": campaign}))["campaign"]["auditLog"]["edges"]
    assert audit[0]["node"]["action"] == "workflow.set"
    assert {"field": "version", "old": 2, "new": 3} in audit[0]["node"]["changes"]

    cancelled = await api.data(TRANSITION, {"id": campaign, "to": "CANCELLED"})
    assert cancelled["campaignTransition"]["errors"] == []
    refused = await _set(api, campaign, seed())
    assert refused["errors"] == [{"field": ["campaignId"], "code": "INVALID_STATE",
                                  "message": "The workflow of a CANCELLED campaign cannot change."}]
    assert (await _get(api, campaign))["version"] == 3


async def _deliveries(server, campaign: str) -> list[dict]:
    return await server.call(server.platform.db.fetch(
        "SELECT id, step FROM drumbeat_delivery WHERE campaign = {} ORDER BY id",
        db_id(campaign)))


async def _get_state(api: GraphQLClient, campaign: str) -> str:
    data = await api.data("query($id: ID!) { campaign(id: $id) { state } }", {"id": campaign})
    return data["campaign"]["state"]


async def test_another_marketer_cannot_change_it(server, admin_api):
    campaign = await create_campaign(admin_api, unique("Owned wf"))
    before = await _get(admin_api, campaign)
    _, token = await member_token(server, "MARKETER")
    other = admin_api.as_(token)
    result = await _set(other, campaign, seed())
    assert result["workflow"] is None
    assert [e["code"] for e in result["errors"]] == ["FORBIDDEN"]
    assert await _get(other, campaign) == before, "members read it, nothing changed"
    anonymous = await admin_api.as_(None).execute(SET, {"c": campaign, "input": seed()})
    assert anonymous["data"]["campaignWorkflowSet"]["errors"][0]["code"] == "UNAUTHENTICATED"
    assert await _get(admin_api, campaign) == before


async def test_a_one_state_workflow_launches_and_runs_its_start_actions(
        server, admin_api, smtp_sink):
    """A one-state workflow (no transitions) runs its start actions and completes without
    the engine (workflows with transitions: tests/test_workflow_engine.py)."""
    tag = unique("launch-wf")
    contacts = await create_contacts(admin_api, [
        {"email": f"{tag}-{i}@example.org", "firstName": f"F{i}"} for i in range(3)])
    campaign = await create_campaign(admin_api, f"Launch {tag}")
    await add_recipients(admin_api, campaign, contacts)
    await make_ready(admin_api, campaign)

    one_state = copy.deepcopy(seed())
    send = next(s for s in one_state["states"] if s["key"] == "send-email")
    one_state["states"] = [{**send, "start": True, "transitions": []}]
    one_state.pop("goals", None)
    result = await _set(admin_api, campaign, one_state)
    assert result["errors"] == []
    start_step = result["workflow"]["states"][0]["actions"][0]
    launched = await admin_api.data(LAUNCH, {"id": campaign})
    assert launched["campaignLaunch"]["errors"] == []
    received = await asyncio.to_thread(smtp_sink.wait_for, db_id(campaign), 3, 60)
    assert sorted(m.rcpt_to[0] for m in received) == sorted(
        f"{tag}-{i}@example.org" for i in range(3))
    deadline = time.monotonic() + 60
    while (await _get_state(admin_api, campaign)) != "COMPLETED":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert {d["step"] for d in await _deliveries(server, campaign)} == {start_step["stepId"]}
