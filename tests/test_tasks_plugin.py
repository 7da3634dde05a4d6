"""The ``tasks`` plugin end to end through the API: ``phone_call`` and ``activity`` steps
make one task per target (scripts rendered, assigned round-robin, to a member or to the
contact's owner), whatever ``sendEmails`` says and however often a chunk is delivered;
the call outcome is recorded by those allowed to; bad configs are refused at save."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from strawberry import relay

from drumbeat.platform import ledger
from drumbeat.platform.execution import run_chunk
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN,
    add_recipients,
    create_contacts,
    db_id,
    launch_campaign,
)

CREATE = """
mutation($input: CampaignCreateInput!) {
  campaignCreate(input: $input) { campaign { id } errors { field message code } }
}"""

TASKS = """
query($f: TaskFilter, $first: Int, $after: String) {
  tasks(filter: $f, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      id kind title script description activityType status outcome callBackAt dueAt notes
      calls campaignId campaign { id name } assignee { id email }
      target { kind id name phone }
    } }
  }
}"""

RECORD = """
mutation($input: TaskCallOutcomeInput!) {
  taskRecordCallOutcome(input: $input) {
    task { id status outcome callBackAt dueAt notes calls }
    errors { field message code }
  }
}"""

COMPLETE = """
mutation($id: ID!, $n: String) {
  taskComplete(id: $id, notes: $n) { task { id status notes } errors { field code } }
}"""

REASSIGN = """
mutation($id: ID!, $a: ID!) {
  taskReassign(id: $id, assigneeId: $a) { task { id assignee { id } } errors { field code } }
}"""


def member_gid(member_id: int) -> str:
    return relay.to_base64("TeamMember", member_id)


async def create(api: GraphQLClient, action_type: str, config: dict, **fields) -> dict:
    data = await api.data(CREATE, {"input": {
        "name": unique(action_type), "action": {"type": action_type, "config": config},
        **fields}})
    return data["campaignCreate"]


async def campaign_with(api: GraphQLClient, action_type: str, config: dict, people: list[dict],
                        **fields) -> str:
    payload = await create(api, action_type, config, **fields)
    assert payload["errors"] == [], payload
    campaign = payload["campaign"]["id"]
    added = await add_recipients(api, campaign, await create_contacts(api, people))
    assert added["errors"] == [] and added["added"] == len(people)
    return campaign


async def completed(api: GraphQLClient, campaign: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while (state := (await api.data(CAMPAIGN, {"id": campaign}))["campaign"])["state"] != "COMPLETED":
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.05)
    return state["counters"]


async def all_tasks(api: GraphQLClient, **filter) -> list[dict]:
    tasks, after = [], None
    while True:
        page = (await api.data(TASKS, {"f": filter, "first": 7, "after": after}))["tasks"]
        tasks += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return tasks
        after = page["pageInfo"]["endCursor"]


async def email_of(api: GraphQLClient) -> str:
    return (await api.data("{ me { email } }"))["me"]["email"].upper()  # any case


def people(tag: str, count: int, **extra) -> list[dict]:
    return [{"email": f"{tag}-{i}@example.org", "firstName": f"P{i:02d}", "lastName": "Caller",
             "phone": f"+4930{i:04d}", **extra} for i in range(count)]


async def test_call_tasks_round_robin_without_email_once_per_delivery(make_server, smtp_sink):
    server = make_server(chunk_size=4)
    _, admin = await member_token(server, "ADMIN")
    api = GraphQLClient(server.url, admin)
    callers = [await member_token(server, "SALES") for _ in range(3)]
    sent_before = len(smtp_sink.messages())
    tag = unique("calls")
    config = {"title": "Call {{ contact.full_name }}",
              "script": "Hello {{ contact.first_name }}, this is {{ sender.name }}.",
              "dueInHours": 4,
              "assignment": {"strategy": "ROUND_ROBIN",
                             "members": [member_gid(callers[0][0]), str(callers[1][0]),
                                         await email_of(api.as_(callers[2][1]))]}}
    campaign = await campaign_with(api, "phone_call", config, people(tag, 14), sendEmails=False)
    await launch_campaign(api, campaign)
    counters = await completed(api, campaign)
    assert (counters["done"], counters["total"]) == (14, 14)

    tasks = await all_tasks(api, campaignId=campaign)
    assert len(tasks) == 14
    assert {t["target"]["name"] for t in tasks} == {f"P{i:02d} Caller" for i in range(14)}
    for t in tasks:
        first = t["target"]["name"].split()[0]
        assert t["script"] == f"Hello {first}, this is Admin."
        assert t["title"] == f"Call {t['target']['name']}"
        assert (t["kind"], t["status"], t["description"]) == ("CALL", "OPEN", None)
        assert t["campaign"]["id"] == campaign and t["target"]["kind"] == "contact"
        assert t["target"]["phone"].startswith("+4930")
        due = datetime.fromisoformat(t["dueAt"])
        assert timedelta(hours=3) < due - datetime.now(timezone.utc) <= timedelta(hours=4)
    counts = Counter(t["assignee"]["id"] for t in tasks)
    assert set(counts) == {member_gid(m) for m, _ in callers}
    assert max(counts.values()) - min(counts.values()) <= 1
    assert len(smtp_sink.messages()) == sent_before  # sendEmails off; and calls send nothing

    # Every chunk message delivered again: nothing is claimed, no second task.
    rows = await server.call(server.platform.db.fetch(
        "SELECT id, campaign, step FROM drumbeat_delivery WHERE campaign = {}",
        db_id(campaign)))
    for chunk in ledger.chunks_of(rows, 4):
        assert await server.call(run_chunk(server.platform, chunk)) == 0
    per_delivery = await server.call(server.platform.db.fetch(
        "SELECT delivery, count(*) AS n FROM drumbeat_task WHERE campaign = {}"
        " GROUP BY delivery", db_id(campaign)))
    assert len(per_delivery) == 14 and {r["n"] for r in per_delivery} == {1}

    # A caller sees only their own tasks; a stranger none.
    mine = await all_tasks(api.as_(callers[0][1]), campaignId=campaign)
    assert len(mine) == counts[member_gid(callers[0][0])]
    assert {t["assignee"]["id"] for t in mine} == {member_gid(callers[0][0])}
    _, stranger = await member_token(server, "MARKETER")
    assert await all_tasks(api.as_(stranger), campaignId=campaign) == []


async def test_activities_go_to_the_contacts_owner_else_the_campaign_owner(server, admin_api):
    owner_id, owner_token = await member_token(server, "SALES")
    marketer_id, marketer = await member_token(server, "MARKETER")
    api = admin_api.as_(marketer)
    tag = unique("activity")
    owned = people(tag + "-o", 3, ownerId=member_gid(owner_id))
    config = {"title": "Meet {{ contact.first_name }}", "activityType": "MEETING",
              "description": "Bring the {{ campaign.name }} brochure.", "dueInDays": 2}
    campaign = await campaign_with(admin_api, "activity", config, owned + people(tag, 2),
                                   ownerId=member_gid(marketer_id))
    await launch_campaign(admin_api, campaign)
    await completed(admin_api, campaign)

    tasks = await all_tasks(api, campaignId=campaign)  # the campaign's owner sees them all
    assert len(tasks) == 5
    by_name = {t["target"]["name"]: t for t in tasks}
    for i in range(3):
        assert by_name[f"P{i:02d} Caller"]["assignee"]["id"] == member_gid(owner_id)
    admin_id = (await admin_api.data("{ me { id } }"))["me"]["id"]  # owns what they created
    assert sorted(t["assignee"]["id"] for t in tasks) == sorted(
        [member_gid(owner_id)] * 3 + [admin_id] * 2)
    for t in tasks:
        assert (t["kind"], t["activityType"], t["script"]) == ("ACTIVITY", "MEETING", None)
        assert t["title"] == f"Meet {t['target']['name'].split()[0]}"
        assert t["description"].startswith("Bring the activity-")
    owner_view = await all_tasks(admin_api.as_(owner_token), mine=True)
    assert {t["id"] for t in owner_view} == {by_name[f"P{i:02d} Caller"]["id"] for i in range(3)}


async def test_contact_owner_falls_back_to_the_campaign_owner(server, admin_api):
    owner_id, _ = await member_token(server, "SALES")
    marketer_id, marketer = await member_token(server, "MARKETER")
    tag = unique("fallback")
    api = admin_api.as_(marketer)  # a marketer's contacts are owned by them
    gone = people(tag + "-g", 2, ownerId=member_gid(owner_id))
    ids = await create_contacts(api, gone)
    await server.call(server.platform.db.execute(  # the owner left the team
        "UPDATE drumbeat_team_member SET active = {} WHERE id = {}", False, owner_id))
    payload = await create(api, "phone_call", {"script": "Hi {{ contact.first_name }}"})
    campaign = payload["campaign"]["id"]
    assert (await add_recipients(api, campaign, ids))["added"] == 2
    await launch_campaign(api, campaign)
    await completed(api, campaign)
    tasks = await all_tasks(api, campaignId=campaign)
    assert [t["assignee"]["id"] for t in tasks] == [member_gid(marketer_id)] * 2


async def test_call_outcomes_permissions_and_call_back(server, admin_api):
    caller_id, caller = await member_token(server, "SALES")
    other_id, _ = await member_token(server, "SALES")
    _, stranger = await member_token(server, "MARKETER")
    config = {"script": "Hi {{ contact.first_name }}",
              "assignment": {"strategy": "MEMBER", "members": [member_gid(caller_id)]}}
    campaign = await campaign_with(admin_api, "phone_call", config, people(unique("out"), 2))
    await launch_campaign(admin_api, campaign)
    await completed(admin_api, campaign)
    first, second = await all_tasks(admin_api, campaignId=campaign)
    as_caller, as_stranger = admin_api.as_(caller), admin_api.as_(stranger)

    refused = (await as_stranger.data(RECORD, {"input": {
        "id": first["id"], "outcome": "REACHED", "notes": "sneaky"}}))["taskRecordCallOutcome"]
    assert refused["task"] is None and refused["errors"][0]["code"] == "NOT_FOUND"
    data = await admin_api.data("query($id: ID!) { task(id: $id) { status notes } }",
                                {"id": first["id"]})
    assert data["task"] == {"status": "OPEN", "notes": ""}
    assert (await as_stranger.data("query($id: ID!) { task(id: $id) { id } }",
                                   {"id": first["id"]}))["task"] is None

    for call_back_at, code in ((None, "REQUIRED"),
                               ((datetime.now(timezone.utc) - timedelta(hours=1)).isoformat(),
                                "INVALID")):
        bad = (await as_caller.data(RECORD, {"input": {
            "id": first["id"], "outcome": "CALL_BACK", "callBackAt": call_back_at}}
        ))["taskRecordCallOutcome"]
        assert bad["errors"] == [{"field": ["input", "callBackAt"], "message": bad["errors"][0]
                                  ["message"], "code": code}]
    later = (datetime.now(timezone.utc) + timedelta(days=1)).replace(microsecond=0)
    back = (await as_caller.data(RECORD, {"input": {
        "id": first["id"], "outcome": "CALL_BACK", "callBackAt": later.isoformat(),
        "notes": "Busy, call tomorrow"}}))["taskRecordCallOutcome"]
    assert back["errors"] == []
    assert back["task"]["status"] == "OPEN" and back["task"]["outcome"] == "CALL_BACK"
    assert datetime.fromisoformat(back["task"]["dueAt"]) == later
    assert datetime.fromisoformat(back["task"]["callBackAt"]) == later
    reached = (await as_caller.data(RECORD, {"input": {
        "id": first["id"], "outcome": "REACHED", "notes": "Interested"}}))["taskRecordCallOutcome"]
    assert reached["errors"] == []
    assert reached["task"]["status"] == "DONE" and reached["task"]["calls"] == 2
    assert reached["task"]["notes"] == "Busy, call tomorrow\nInterested"
    done = await all_tasks(admin_api, campaignId=campaign, status="DONE")
    assert [t["id"] for t in done] == [first["id"]]
    soon = (later + timedelta(seconds=1)).isoformat()  # the other task has no due date
    assert [t["id"] for t in await all_tasks(admin_api, campaignId=campaign,
                                             dueBefore=soon)] == [first["id"]]
    assert await all_tasks(admin_api, campaignId=campaign, dueBefore=soon, status="OPEN") == []
    again = (await as_caller.data(RECORD, {"input": {"id": first["id"], "outcome": "NO_ANSWER"}}
                                  ))["taskRecordCallOutcome"]
    assert again["errors"][0]["code"] == "INVALID_STATE"

    # Reassigning is for the campaign's owner and admins; the caller may not.
    refused = (await as_caller.data(REASSIGN, {"id": second["id"], "a": member_gid(other_id)})
               )["taskReassign"]
    assert refused["errors"][0]["code"] == "FORBIDDEN"
    moved = (await admin_api.data(REASSIGN, {"id": second["id"], "a": member_gid(other_id)})
             )["taskReassign"]
    assert moved["errors"] == [] and moved["task"]["assignee"]["id"] == member_gid(other_id)
    assert [t["id"] for t in await all_tasks(as_caller, mine=True)
            if t["campaignId"] == campaign] == [first["id"]]
    refused = (await as_stranger.data(COMPLETE, {"id": second["id"], "n": "x"}))["taskComplete"]
    assert refused["errors"][0]["code"] == "NOT_FOUND"
    closed = (await admin_api.data(COMPLETE, {"id": second["id"], "n": "Sent a letter instead"})
              )["taskComplete"]
    assert closed["errors"] == [] and closed["task"]["status"] == "DONE"
    assert closed["task"]["notes"] == "Sent a letter instead"
    audit = await admin_api.data(
        "query($id: ID!) { campaign(id: $id) { auditLog(first: 10) { edges { node { action } } } } }",
        {"id": campaign})
    actions = [e["node"]["action"] for e in audit["campaign"]["auditLog"]["edges"]]
    assert actions.count("task.call_outcome") == 2
    assert {"task.reassign", "task.complete"} <= set(actions)
