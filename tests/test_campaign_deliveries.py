"""Every recipient's story (issue 13, part 2) on a live server, a real worker, the aiosmtpd
sink (which refuses ``+reject`` addresses with a 550) and the real tracking endpoints:
``Campaign.deliveries`` — each row's recipient, step, state, attempts, reason and times,
the filters, keyset pages and their cost in SQL statements — and ``recipientJourney``
with the deliveries and events of each state entry, enrolled or not."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from urllib.parse import urlsplit

import httpx
import pytest

from drumbeat.platform.workflows import clock, scheduler
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
)
from tests.test_query_cost import QueryCounter
from tests.test_workflow_definition import SET

AFTER_SCANNER_WINDOW = 2.2  # hits this long after sending are a person's, not a scanner's
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}
EMAIL = {"subject": "Hello {{ contact.first_name }}",
         "text": "Hi {{ contact.first_name }}, see https://shop.example/story",
         "html": '<html><body><p>Hi {{ contact.first_name }}, see '
                 '<a href="https://shop.example/story">this</a>.</p></body></html>'}
TAG = {"type": "contact_status", "config": {"add": ["storied"]}}
WORKFLOW = {"states": [
    {"key": "intro", "name": "Introduction", "start": True,
     "actions": [{"type": "email", "config": EMAIL}, TAG],
     "transitions": [{"onComplete": {"to": "done"}}]},
    {"key": "done", "name": "Done", "start": False, "actions": [], "transitions": []},
], "goals": []}
NODE = """deliveryId recipient { id kind name address } address
  step { id name stateKey actionType } actionType state attempts reason queuedAt doneAt
  firstOpenAt firstClickAt repliedAt reactionSeconds messageId variant"""
DELIVERIES = f"""query($id: ID!, $filter: DeliveryFilter, $first: Int, $after: String) {{
  campaign(id: $id) {{ deliveries(filter: $filter, first: $first, after: $after) {{
    edges {{ cursor node {{ {NODE} }} }} pageInfo {{ hasNextPage endCursor }} totalCount
  }} }} }}"""
EVENT = "id type deliveryId detail reason createdAt step { id } recipient { name }"
JOURNEY = f"""query($c: ID!, $p: ID!) {{ recipientJourney(campaignId: $c, contactId: $p) {{
  stateKey enteredAt leftAt via deliveries {{ {NODE} }} events {{ {EVENT} }} }} }}"""
ENROLLMENT_JOURNEYS = f"""query($c: ID!, $n: Int!) {{ campaignEnrollments(campaignId: $c,
  first: $n) {{ edges {{ node {{ journey {{ stateKey deliveries {{ deliveryId
  recipient {{ name }} }} events {{ {EVENT} }} }} }} }} }} }}"""
NAMES = ("Ana", "Ben", "Cleo", "Dan")  # Cleo's server refuses her address (550)


@pytest.fixture(autouse=True)
def _real_time():
    clock.reset()
    yield
    clock.reset()


def _at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _utc(value) -> datetime | None:
    if value is None:
        return None
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


async def _people(api: GraphQLClient) -> tuple[dict[str, str], dict[str, str]]:
    """Four new contacts: (name → address, name → global id)."""
    tag = unique("story")
    address = {n: f"{tag}-{n.lower()}{'+reject' if n == 'Cleo' else ''}@example.org"
               for n in NAMES}
    ids = await create_contacts(api, [{"email": address[n], "firstName": n,
                                       "lastName": "Story"} for n in NAMES])
    return address, dict(zip(NAMES, ids))


async def _ledger(server, campaign: str) -> dict[int, dict]:
    rows = await server.call(server.platform.db.fetch(
        "SELECT d.*, a.action_type, s.name AS state_name, s.state_key FROM drumbeat_delivery d"
        " JOIN drumbeat_workflow_action a ON a.id = d.step"
        " JOIN drumbeat_workflow_state s ON s.id = a.state WHERE d.campaign = {}"
        " ORDER BY d.id", db_id(campaign)))
    return {r["id"]: r for r in rows}


def _expected(row: dict, name: str, contact: str) -> dict:
    """The node ``deliveries`` must give for a ledger row (named ``name``)."""
    state = {"claimed": "IN_PROGRESS"}.get(row["state"], row["state"].upper())
    reason = row["skip_reason"] if row["state"] == "skipped" else row["last_error"]
    return {"deliveryId": row["id"], "recipient": {
                "id": contact, "kind": "contact", "name": name, "address": row["address"]},
            "address": row["address"],
            "step": {"id": row["step"], "name": row["state_name"], "stateKey": row["state_key"],
                     "actionType": row["action_type"]},
            "actionType": row["action_type"], "state": state, "attempts": row["attempts"],
            "reason": reason, "queuedAt": _utc(row["created_at"]),
            "doneAt": _utc(row["finished_at"]), "firstOpenAt": _utc(row["first_open_at"]),
            "firstClickAt": _utc(row["first_click_at"]), "repliedAt": _utc(row["replied_at"]),
            "reactionSeconds": row["reaction_seconds"], "messageId": row["message_id"],
            "variant": row["variant"]}


def _parsed(node: dict) -> dict:
    times = ("queuedAt", "doneAt", "firstOpenAt", "firstClickAt", "repliedAt")
    return {k: _at(v) if k in times else v for k, v in node.items()}


async def _page(api, campaign, first=50, after=None, **filter_) -> dict:
    return (await api.data(DELIVERIES, {"id": campaign, "filter": filter_ or None,
                                        "first": first, "after": after})
            )["campaign"]["deliveries"]


def _links(message) -> tuple[str, str]:
    """(open pixel, tracked link) of a received email, as paths on the server."""
    html = message.message.get_body(("html",)).get_content()
    pixel = html.split('<img src="')[1].split('"')[0]
    [click] = [p.split('"')[0] for p in html.split('href="')[1:] if "/t/c/" in p.split('"')[0]]
    return urlsplit(pixel).path, urlsplit(click).path


async def _tick_until_done(server, campaign: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        await server.call(scheduler.tick(server.platform))
        rows = await server.call(server.platform.db.fetch(
            "SELECT state_key, status FROM drumbeat_enrollment WHERE campaign = {}",
            db_id(campaign)))
        if rows and {(r["state_key"], r["status"]) for r in rows} == {("done", "COMPLETED")}:
            return
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.05)


async def _completed(api: GraphQLClient, campaign: str) -> None:
    deadline = time.monotonic() + 60
    while (state := (await api.data("query($id: ID!) { campaign(id: $id) { state } }",
                                    {"id": campaign}))["campaign"]["state"]) != "COMPLETED":
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.05)


async def test_deliveries_tell_each_recipients_story(make_server, smtp_sink):
    # No reconciler pass may run on the counted engine (the test ticks the scheduler).
    server = make_server(reconcile_interval_seconds=3600)
    api = GraphQLClient(server.url, (await member_token(server, "MARKETER"))[1])
    address, contacts = await _people(api)
    campaign = await create_campaign(api, unique("Story"))
    assert (await api.data(SET, {"c": campaign, "input": WORKFLOW})
            )["campaignWorkflowSet"]["errors"] == []
    assert (await add_recipients(api, campaign, list(contacts.values())))["added"] == 4
    await launch_campaign(api, campaign)
    await _tick_until_done(server, campaign)
    await _completed(api, campaign)
    sent = {m.rcpt_to[0]: m for m in smtp_sink.wait_for(db_id(campaign), 3)}
    assert sorted(sent) == sorted(address[n] for n in ("Ana", "Ben", "Dan"))

    # Ana opens, Ben clicks — as people do, after the scanner window.
    await asyncio.sleep(AFTER_SCANNER_WINDOW)
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=BROWSER) as http:
        assert (await http.get(_links(sent[address["Ana"]])[0])).status_code == 200
        assert (await http.get(_links(sent[address["Ben"]])[1])).status_code == 302

    ledger = await _ledger(server, campaign)
    name_of = {db_id(contacts[n]): n for n in NAMES}
    email_step, tag_step = sorted({r["step"] for r in ledger.values()})
    assert [ledger[i]["action_type"] for i in sorted(ledger)] == \
        ["email"] * 4 + ["contact_status"] * 4  # the ledger is written step by step
    expected = {i: _expected(r, f"{name_of[r['target_id']]} Story",
                             contacts[name_of[r["target_id"]]]) for i, r in ledger.items()}

    # Everything, in id order: every field as the ledger has it.
    everything = await _page(api, campaign)
    assert [_parsed(e["node"]) for e in everything["edges"]] == \
        [expected[i] for i in sorted(ledger)]
    assert everything["totalCount"] == 8 and everything["pageInfo"]["hasNextPage"] is False

    # The refused address: FAILED with the SMTP server's reason, one attempt.
    failed = await _page(api, campaign, state="FAILED")
    [cleo] = [e["node"] for e in failed["edges"]]
    assert (cleo["recipient"]["name"], cleo["address"], cleo["state"], cleo["attempts"]) == \
        ("Cleo Story", address["Cleo"], "FAILED", 1)
    assert "550" in cleo["reason"] and "mailbox unavailable" in cleo["reason"]
    assert (cleo["step"]["name"], cleo["step"]["stateKey"], cleo["actionType"]) == \
        ("Introduction", "intro", "email")
    assert cleo["doneAt"] is not None and cleo["firstOpenAt"] is None
    assert failed["totalCount"] == 1
    for reason in ("550", "MAILBOX UNAVAILABLE", cleo["reason"]):
        found = await _page(api, campaign, reason=reason)
        assert [e["node"]["deliveryId"] for e in found["edges"]] == [cleo["deliveryId"]]
        assert found["totalCount"] is None  # no tally answers a reason
    for reason in ("%", "5_0", "no such error"):  # wildcards are plain characters
        assert (await _page(api, campaign, reason=reason))["edges"] == []
    assert (await _page(api, campaign, state="SKIPPED"))["edges"] == []

    # Ana's first open and Ben's first click, each with its reaction time.
    ana = next(e for e in everything["edges"] if e["node"]["recipient"]["name"] == "Ana Story")
    after = {e["node"]["deliveryId"]: e["node"] for e in (await _page(api, campaign))["edges"]}
    journey = (await api.data(JOURNEY, {"c": campaign, "p": contacts["Ana"]}))["recipientJourney"]
    ana = after[ana["node"]["deliveryId"]]
    ana_rows = sorted(i for i, r in ledger.items() if r["target_id"] == db_id(contacts["Ana"]))
    assert [(s["stateKey"], s["via"], [d["deliveryId"] for d in s["deliveries"]])
            for s in journey] == [("intro", "START", ana_rows), ("done", "ON_COMPLETE", [])]
    assert [(e["id"], e["type"], e["deliveryId"]) for e in journey[0]["events"]] == \
        await _events_of(server, ana_rows)
    assert sorted(e["type"] for e in journey[0]["events"]) == ["DONE", "OPENED", "SENT"]
    assert journey[0]["events"][-1]["type"] == "OPENED"
    opened = journey[0]["events"][-1]
    assert _at(ana["firstOpenAt"]) == _at(opened["createdAt"]) and ana["firstClickAt"] is None
    assert ana["reactionSeconds"] == pytest.approx(
        (_at(opened["createdAt"]) - _at(ana["doneAt"])).total_seconds(), abs=0.01)
    assert ana["reactionSeconds"] >= AFTER_SCANNER_WINDOW - 0.5
    ben_journey = (await api.data(JOURNEY, {"c": campaign, "p": contacts["Ben"]})
                   )["recipientJourney"]
    clicked = next(e for e in ben_journey[0]["events"] if e["type"] == "CLICKED")
    ben = after[clicked["deliveryId"]]
    assert ben["recipient"]["name"] == "Ben Story" and ben["firstOpenAt"] is None
    assert _at(ben["firstClickAt"]) == _at(clicked["createdAt"])
    assert ben["reactionSeconds"] == pytest.approx(
        (_at(clicked["createdAt"]) - _at(ben["doneAt"])).total_seconds(), abs=0.01)
    assert [n["reactionSeconds"] for i, n in after.items()
            if i not in (ana["deliveryId"], ben["deliveryId"])] == [None] * 6

    # By step and by action type.
    by_step = await _page(api, campaign, stepId=tag_step)
    assert [e["node"]["deliveryId"] for e in by_step["edges"]] == \
        sorted(i for i, r in ledger.items() if r["step"] == tag_step)
    assert {(e["node"]["actionType"], e["node"]["state"]) for e in by_step["edges"]} == \
        {("contact_status", "DONE")} and by_step["totalCount"] == 4
    emails = await _page(api, campaign, actionType="email")
    assert [e["node"]["deliveryId"] for e in emails["edges"]] == \
        sorted(i for i, r in ledger.items() if r["step"] == email_step)
    assert emails["totalCount"] is None
    done_emails = await _page(api, campaign, actionType="email", state="DONE", stepId=email_step)
    assert sorted(e["node"]["recipient"]["name"] for e in done_emails["edges"]) == \
        ["Ana Story", "Ben Story", "Dan Story"]
    assert (await _page(api, campaign, actionType="phone_call"))["edges"] == []
    assert (await _page(api, campaign, stepId=tag_step, state="FAILED"))["edges"] == []

    # Pages of two: every delivery once, in order, the last page says it is the last.
    seen, cursor, pages = [], None, 0
    while True:
        page = await _page(api, campaign, first=2, after=cursor)
        pages += 1
        seen += [e["node"]["deliveryId"] for e in page["edges"]]
        assert page["pageInfo"]["endCursor"] == (page["edges"][-1]["cursor"]
                                                 if page["edges"] else None)
        cursor = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert seen == sorted(ledger) and pages == 4
    rest = await _page(api, campaign, first=3, after=cursor)
    assert rest["edges"] == [] and rest["pageInfo"]["hasNextPage"] is False

    # A page costs the same statements whatever its size; so do journeys with events.
    db = server.platform.db
    costs = {}
    for size in (1, 8):
        with QueryCounter(db.engine) as counter:
            page = await _page(api, campaign, first=size)
        assert len(page["edges"]) == size
        costs[size] = counter.count
    assert costs[1] == costs[8], costs
    for size in (1, 4):
        with QueryCounter(db.engine) as counter:
            data = await api.data(ENROLLMENT_JOURNEYS, {"c": campaign, "n": size})
        assert len(data["campaignEnrollments"]["edges"]) == size
        costs[f"journeys {size}"] = counter.count
    assert costs["journeys 1"] == costs["journeys 4"], costs

    # An enrolled recipient's journey: each entry with its own deliveries and their events.
    cleo_journey = (await api.data(JOURNEY, {"c": campaign, "p": contacts["Cleo"]})
                    )["recipientJourney"]
    assert [(s["stateKey"], s["via"]) for s in cleo_journey] == \
        [("intro", "START"), ("done", "ON_COMPLETE")]
    intro, done = cleo_journey
    assert [_parsed(d) for d in intro["deliveries"]] == \
        [expected[i] for i in sorted(ledger) if ledger[i]["target_id"] == db_id(contacts["Cleo"])]
    assert done["deliveries"] == [] and done["events"] == []
    cleo_email, cleo_tag = (d["deliveryId"] for d in intro["deliveries"])
    # The email failed, the tag was set — a work item: DONE (in whichever order they ran).
    stored = await server.call(db.fetch(
        "SELECT id, type, delivery FROM drumbeat_delivery_event WHERE delivery IN ({}, {})"
        " ORDER BY created_at, id", cleo_email, cleo_tag))
    assert sorted((r["type"], r["delivery"]) for r in stored) == \
        [("DONE", cleo_tag), ("FAILED", cleo_email)]
    assert [(e["id"], e["type"], e["deliveryId"]) for e in intro["events"]] == \
        [(r["id"], r["type"], r["delivery"]) for r in stored]
    failed_event = next(e for e in intro["events"] if e["type"] == "FAILED")
    assert failed_event["reason"] == cleo["reason"] and failed_event["step"]["id"] == email_step
    times = [_at(e["createdAt"]) for e in intro["events"]]
    assert times == sorted(times)


SEND_NOW = """mutation($input: CampaignSendNowInput!) { campaignSendNow(input: $input) {
  stepId queued errors { field message code } } }"""


async def _events_of(server, delivery_ids: list[int]) -> list[tuple[int, str, int]]:
    rows = await server.call(server.platform.db.fetch(
        "SELECT id, type, delivery FROM drumbeat_delivery_event WHERE delivery IN ({})"
        .format(", ".join("{}" for _ in delivery_ids)) + " ORDER BY created_at, id",
        *delivery_ids))
    return [(r["id"], r["type"], r["delivery"]) for r in rows]


async def test_a_quick_campaign_contacts_journey_and_bad_input(server, smtp_sink):
    owner = GraphQLClient(server.url, (await member_token(server, "MARKETER"))[1])
    api = GraphQLClient(server.url, (await member_token(server, "SALES"))[1])  # a reader
    address, contacts = await _people(owner)
    campaign = await create_campaign(owner, unique("Quick story"), EMAIL)
    assert (await add_recipients(owner, campaign, [contacts["Ana"], contacts["Ben"]]))["added"] == 2
    await launch_campaign(owner, campaign)
    await _completed(api, campaign)
    sent = {m.rcpt_to[0]: m for m in smtp_sink.wait_for(db_id(campaign), 2)}
    await asyncio.sleep(AFTER_SCANNER_WINDOW)
    pixel, link = _links(sent[address["Ana"]])
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=BROWSER) as http:
        assert (await http.get(pixel)).status_code == 200
        assert (await http.get(link)).status_code == 302
        assert (await http.get(pixel)).status_code == 200  # a second open: an event, no change

    # Not enrolled (a quick campaign): one state, entered when its delivery was queued.
    ledger = await _ledger(server, campaign)
    [ana_row] = [r for r in ledger.values() if r["address"] == address["Ana"]]
    ana = _expected(ana_row, "Ana Story", contacts["Ana"])
    journey = (await api.data(JOURNEY, {"c": campaign, "p": contacts["Ana"]}))["recipientJourney"]
    [launch] = journey
    assert (launch["stateKey"], launch["via"], _at(launch["enteredAt"]), _at(launch["leftAt"])) \
        == ("", "LAUNCH", ana["queuedAt"], ana["doneAt"])
    assert [_parsed(d) for d in launch["deliveries"]] == [ana]
    assert ana["firstOpenAt"] is not None and ana["firstClickAt"] is not None
    assert [e["type"] for e in launch["events"]] == ["SENT", "OPENED", "CLICKED", "OPENED"]
    assert [(e["id"], e["type"], e["deliveryId"]) for e in launch["events"]] == \
        await _events_of(server, [ana_row["id"]])
    assert [_at(e["createdAt"]) for e in launch["events"]][1:3] == \
        [ana["firstOpenAt"], ana["firstClickAt"]]
    assert {e["recipient"]["name"] for e in launch["events"]} == {"Ana Story"}
    assert ana["reactionSeconds"] == pytest.approx(
        (ana["firstOpenAt"] - ana["doneAt"]).total_seconds(), abs=0.01)

    # An ad-hoc send to Ana shows as a state of its own, after the launch's.
    result = (await owner.data(SEND_NOW, {"input": {
        "campaignId": campaign, "contactIds": [contacts["Ana"]], "subject": "Again",
        "text": "Hello again {{ contact.first_name }}"}}))["campaignSendNow"]
    assert result["errors"] == [] and result["queued"] == 1
    deadline = time.monotonic() + 30
    while (adhoc := await server.call(server.platform.db.fetchrow(
            "SELECT id, state FROM drumbeat_delivery WHERE step = {}", result["stepId"])
            ))["state"] != "done":
        assert time.monotonic() < deadline, adhoc
        await asyncio.sleep(0.05)
    journey = (await api.data(JOURNEY, {"c": campaign, "p": contacts["Ana"]}))["recipientJourney"]
    assert [(s["stateKey"], s["via"], [d["deliveryId"] for d in s["deliveries"]])
            for s in journey] == [("", "LAUNCH", [ana_row["id"]]),
                                  ("", "SEND_NOW", [adhoc["id"]])]
    assert journey[1]["deliveries"][0]["step"]["name"] == "Ad-hoc"
    assert [(e["id"], e["type"], e["deliveryId"]) for e in journey[1]["events"]] == \
        await _events_of(server, [adhoc["id"]])
    assert [e["type"] for e in journey[1]["events"]] == ["SENT"]

    # A contact the campaign never addressed has no journey in it.
    assert (await api.data(JOURNEY, {"c": campaign, "p": contacts["Dan"]})
            )["recipientJourney"] == []

    # Bad input: a clear error, no data.
    for variables, message in [
            ({"first": 10000}, f"first must be between 0 and {server.settings.max_page_size}."),
            ({"first": -1}, f"first must be between 0 and {server.settings.max_page_size}."),
            ({"filter": {"reason": "x" * 1000}}, "At most 200 characters."),
            ({"filter": {"actionType": "x" * 101}}, "At most 100 characters."),
            ({"after": "not a cursor"}, "Invalid cursor.")]:
        body = await api.execute(DELIVERIES, {"id": campaign, **variables})
        assert body["data"]["campaign"] is None, body
        assert [e["message"] for e in body["errors"]] == [message], body
    assert len((await _page(api, campaign, first=server.settings.max_page_size))["edges"]) == 3
    assert (await _page(api, campaign, first=0))["edges"] == []
    assert len((await _page(api, campaign, reason="x" * 200))["edges"]) == 0
