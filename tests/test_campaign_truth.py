"""Issue 13's acceptance scenario on a live server, a real worker, the aiosmtpd sink and the
real tracking and inbound endpoints: a workflow campaign (an email and a tag update, a call
task, a reminder email) whose ``metrics`` per step, per action type and in totals,
``performance``, ``counters`` and each recipient's reaction time are checked against the
README's definitions ("Metrics and live events") with exact numbers. Live frames against
their replay: ``test_campaign_truth_live.py``."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import Counter
from datetime import datetime
from urllib.parse import urlsplit

import httpx
import pytest

from drumbeat.platform.tracking import inbound
from drumbeat.platform.tracking.tokens import parse_keys
from drumbeat.platform.workflows import clock, scheduler
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
)
from tests.test_workflow_definition import SET

KEY = "k2:" + "t" * 32
DAY = 86_400
#: Longer than ``SCANNER_WINDOW_SECONDS`` (2 s): a hit this long after sending is a person's.
AFTER_SCANNER_WINDOW = 2.2
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}


def _email(subject: str, link: str) -> dict:
    return {"subject": subject + " {{ contact.first_name }}",
            "text": "Hi {{ contact.first_name }}, see " + link,
            "html": "<html><body><p>Hi {{ contact.first_name }}, see "
                    f'<a href="{link}">this</a>.</p></body></html>'}


INTRO = _email("Hello", "https://shop.example/intro")
REMINDER = _email("Reminder for", "https://shop.example/reminder")
WORKFLOW = {"states": [
    {"key": "intro", "name": "Introduction", "start": True,
     "actions": [{"type": "email", "config": INTRO},
                 {"type": "contact_status", "config": {"add": ["contacted"]}}],
     "transitions": [{"onComplete": {"to": "call"}}]},
    {"key": "call", "name": "Sales call", "start": False,
     "actions": [{"type": "phone_call", "config": {"script": "Ask {{ contact.first_name }}."}}],
     "transitions": [{"afterDelay": {"to": "reminder", "delay": {"iso": "P2D"}}}]},
    {"key": "reminder", "name": "Reminder", "start": False,
     "actions": [{"type": "email", "config": REMINDER}],
     "transitions": [{"onComplete": {"to": "done"}}]},
    {"key": "done", "name": "Done", "start": False, "actions": [], "transitions": []},
], "goals": []}

COUNTS = ("sent failed skipped pending delivered uniqueOpens uniqueClicks replies bounces"
          " unsubscribes reached conversions openRate clickRate replyRate unsubscribeRate"
          " bounceRate conversionRate medianReactionSeconds")
WORK = "total pending created failed skipped"
METRICS = f"""query($id: ID!) {{ campaign(id: $id) {{
  counters {{ total pending waiting inProgress done failed skipped }}
  metrics {{
    totals {{ {COUNTS} }}
    workItems {{ {WORK} }}
    byStep {{ stepId actionType deliveryKind stateName metrics {{ {COUNTS} }}
              workItems {{ {WORK} }} byVariant {{ name }} }}
    byActionType {{ actionType deliveryKind metrics {{ {COUNTS} }} workItems {{ {WORK} }} }}
  }}
  performance {{ reached converted deliveriesDone leads {{ actual }}
                 conversionRate {{ actual }} }}
  workflow {{ states {{ key actions {{ type stepId }} }} }}
}} }}"""
FRAME = """id type deliveryId address detail reason retryAt createdAt
  recipient { id kind name address } step { id name stateKey actionType } actionType"""
RECENT = f"query($id: ID!) {{ campaign(id: $id) {{ recentEvents(last: 500) {{ {FRAME} }} }} }}"
DELIVERIES = """query($id: ID!) { campaign(id: $id) {
  deliveries(filter: {actionType: "email"}, first: 50) { edges { node {
    deliveryId doneAt firstOpenAt firstClickAt repliedAt reactionSeconds recipient { name }
    step { id } } } pageInfo { hasNextPage } } } }"""
TASKS = """query($id: ID!) { tasks(filter: {campaignId: $id}, first: 50) {
  edges { node { kind target { name } } } } }"""
CONVERSION = """mutation($input: CampaignConversionRecordInput!) {
  campaignConversionRecord(input: $input) { event { deliveryId } errors { field code } } }"""
OUTCOME = """mutation($input: CampaignOutcomeRecordInput!) {
  campaignOutcomeRecord(input: $input) { outcome { kind } errors { field code } } }"""
CONTACT_UPDATE = """mutation($id: ID!, $input: ContactUpdateInput!) {
  contactUpdate(id: $id, input: $input) { errors { code } } }"""
STATE = "query($id: ID!) { campaign(id: $id) { state } }"
REACTIONS = {"OPENED": "firstOpenAt", "CLICKED": "firstClickAt", "REPLIED": "repliedAt"}


@pytest.fixture(autouse=True)
def _real_time():
    clock.reset()
    yield
    clock.reset()


def counts(sent=0, skipped=0, opens=0, clicks=0, replies=0, reached=0, conversions=0,
           failed=0) -> dict:
    """A MetricCounts (without its median) as the README defines it: rates over delivered
    (sent − bounces; none bounce here), conversions over reached."""
    def rate(n: int, of: int) -> str | None:
        return None if of == 0 else f"{n * 100 / of:.2f}"

    return {"sent": sent, "failed": failed, "skipped": skipped, "pending": 0,
            "delivered": sent, "uniqueOpens": opens, "uniqueClicks": clicks,
            "replies": replies, "bounces": 0, "unsubscribes": 0, "reached": reached,
            "conversions": conversions, "openRate": rate(opens, sent),
            "clickRate": rate(clicks, sent), "replyRate": rate(replies, sent),
            "unsubscribeRate": rate(0, sent), "bounceRate": rate(0, sent),
            "conversionRate": rate(conversions, reached)}


def work(total=0, created=0) -> dict:
    return {"total": total, "pending": 0, "created": created, "failed": 0, "skipped": 0}


def links(message) -> tuple[str, str]:
    """(open pixel, tracked link) of a received email, as paths on the server (the URLs
    name the configured public host)."""
    html = message.message.get_body(("html",)).get_content()
    pixel = html.split('<img src="')[1].split('"')[0]
    [click] = [p.split('"')[0] for p in html.split('href="')[1:] if "/t/c/" in p.split('"')[0]]
    return urlsplit(pixel).path, urlsplit(click).path


async def hit(http: httpx.AsyncClient, path: str, method: str = "GET") -> None:
    response = await http.request(method, path)
    assert response.status_code == (200 if "/t/o/" in path else 302), (path, response)


async def reply(http: httpx.AsyncClient, message_id: str, event_id: str) -> None:
    """A provider's signed inbound REPLIED event for the message."""
    body = json.dumps({"id": event_id, "type": "REPLIED", "messageId": message_id,
                       "detail": "Yes, call me"}).encode()
    response = await http.post("/webhooks/inbound", content=body, headers={
        "Drumbeat-Signature": inbound.sign(parse_keys((KEY,), ""), body),
        "Content-Type": "application/json"})
    assert response.json() == {"status": "recorded"}


def received(sink, campaign: str, subject: str) -> dict[str, object]:
    """The campaign's received messages with that subject, by recipient address."""
    messages = [m for m in sink.messages(db_id(campaign))
                if m.message["Subject"].startswith(subject)]
    by_address = {m.rcpt_to[0]: m for m in messages}
    assert len(by_address) == len(messages), "one message per recipient"
    return by_address


async def campaign_state(api: GraphQLClient, campaign: str, wanted: str) -> None:
    deadline = time.monotonic() + 30
    while (state := (await api.data(STATE, {"id": campaign}))["campaign"]["state"]) != wanted:
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.05)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def _tick_until(server, campaign: str, wanted: tuple[str, str], timeout: float = 30):
    """Tick the scheduler until every enrollment is in ``wanted`` (state key, status)."""
    deadline = time.monotonic() + timeout
    while True:
        await server.call(scheduler.tick(server.platform))
        rows = await server.call(server.platform.db.fetch(
            "SELECT state_key, status FROM drumbeat_enrollment WHERE campaign = {}",
            db_id(campaign)))
        if rows and {(r["state_key"], r["status"]) for r in rows} == {wanted}:
            return
        assert time.monotonic() < deadline, (wanted, rows)
        await asyncio.sleep(0.05)


async def test_a_workflow_campaigns_metrics_count_emails_work_items_and_recipients(
        make_server, smtp_sink):
    server = make_server(secret_keys=(KEY,))
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("truth")
    names = ["Ana", "Ben", "Cleo", "Dan", "Eva", "Uma"]  # Uma unsubscribed before the launch
    address = {n: f"{tag}-{n.lower()}@example.org" for n in names}
    contacts = dict(zip(names, await create_contacts(api, [
        {"email": address[n], "firstName": n, "lastName": "Truth", "phone": f"+38510{i:04d}"}
        for i, n in enumerate(names)])))
    assert (await api.data(CONTACT_UPDATE, {"id": contacts["Uma"], "input": {
        "unsubscribed": True}}))["contactUpdate"]["errors"] == []
    campaign = await create_campaign(api, f"Truth {tag}")
    assert (await api.data(SET, {"c": campaign, "input": WORKFLOW})
            )["campaignWorkflowSet"]["errors"] == []
    assert (await add_recipients(api, campaign, list(contacts.values())))["added"] == 6
    await launch_campaign(api, campaign)

    # The introduction (email + tag) at launch, then the call; everyone waits two days there.
    await _tick_until(server, campaign, ("call", "WAITING"))
    await asyncio.sleep(AFTER_SCANNER_WINDOW)  # every intro was done before we looked
    intro = received(smtp_sink, campaign, "Hello")
    assert sorted(intro) == sorted(address[n] for n in names if n != "Uma")
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=BROWSER) as http:
        pixel, link = links(intro[address["Ana"]])
        await hit(http, pixel)
        await hit(http, link)
        pixel, link = links(intro[address["Ben"]])
        await hit(http, pixel)
        await hit(http, link, "HEAD")  # a scanner's HEAD: recorded, not a person's click
        await reply(http, intro[address["Cleo"]].message_id, f"{tag}-reply")
        pixel, _ = links(intro[address["Dan"]])
        await hit(http, pixel)
        await hit(http, pixel)  # opened twice: one unique open
    # Ana converts by two paths (a conversion and a LEAD): one converted recipient. Uma,
    # reached by the tag and the call only, gets a LEAD too.
    converted = await api.data(CONVERSION, {"input": {"campaignId": campaign,
                                                      "contactId": contacts["Ana"]}})
    assert converted["campaignConversionRecord"]["errors"] == []
    for name in ("Ana", "Uma"):
        lead = await api.data(OUTCOME, {"input": {"campaignId": campaign, "kind": "LEAD",
                                                  "contactId": contacts[name]}})
        assert lead["campaignOutcomeRecord"]["errors"] == [], lead

    clock.advance(2 * DAY + 60)  # → the reminder → done
    await _tick_until(server, campaign, ("done", "COMPLETED"))
    await campaign_state(api, campaign, "COMPLETED")
    await asyncio.sleep(AFTER_SCANNER_WINDOW)
    reminder = received(smtp_sink, campaign, "Reminder for")
    assert sorted(reminder) == sorted(intro) and len(smtp_sink.messages(db_id(campaign))) == 10
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=BROWSER) as http:
        await hit(http, links(reminder[address["Ana"]])[0])
        await hit(http, links(reminder[address["Cleo"]])[1])  # a click without the pixel
        await hit(http, links(reminder[address["Eva"]])[0])

    data = (await api.data(METRICS, {"id": campaign}))["campaign"]
    events = (await api.data(RECENT, {"id": campaign}))["campaign"]["recentEvents"]
    page = (await api.data(DELIVERIES, {"id": campaign}))["campaign"]["deliveries"]
    assert page["pageInfo"]["hasNextPage"] is False
    deliveries = [e["node"] for e in page["edges"]]
    steps = [(s["key"], a["type"], a["stepId"]) for s in data["workflow"]["states"]
             for a in s["actions"]]
    assert [s[:2] for s in steps] == [("intro", "email"), ("intro", "contact_status"),
                                      ("call", "phone_call"), ("reminder", "email")]
    intro_step, tag_step, call_step, reminder_step = (s[2] for s in steps)

    # Each email's story: first open / click / reply as its events say (Ben's HEAD is a
    # scanner's), and the reaction = the first of them at or after sending − sending.
    story, reactions = {}, {}
    for d in deliveries:
        mine = [e for e in events if e["deliveryId"] == d["deliveryId"]]
        name, step = d["recipient"]["name"].split()[0], d["step"]["id"]
        scanner = (name, step) == ("Ben", intro_step)
        for kind, field in REACTIONS.items():
            times = [at(e["createdAt"]) for e in mine if e["type"] == kind]
            if times and not (scanner and kind == "CLICKED"):
                assert abs((at(d[field]) - min(times)).total_seconds()) < 0.01, (d, field)
            else:
                assert d[field] is None, (d, field)
        done_at = d["doneAt"] and at(d["doneAt"])
        reacted = [at(e["createdAt"]) for e in mine if e["type"] in REACTIONS
                   and done_at and at(e["createdAt"]) >= done_at]
        if reacted:
            expected = (min(reacted) - done_at).total_seconds()
            assert d["reactionSeconds"] == pytest.approx(expected, abs=0.01), d
            assert expected > AFTER_SCANNER_WINDOW - 0.2
            reactions[d["deliveryId"]] = (step, expected)
        else:
            assert d["reactionSeconds"] is None, d
        story[name, step] = tuple(bool(d[f]) for f in REACTIONS.values())
    assert len(story) == len(deliveries) == 12
    assert {n: story[n, intro_step] for n in names} == {
        "Ana": (True, True, False), "Ben": (True, False, False), "Cleo": (False, False, True),
        "Dan": (True, False, False), "Eva": (False, False, False), "Uma": (False, False, False)}
    assert {n: story[n, reminder_step] for n in names} == {
        "Ana": (True, False, False), "Ben": (False, False, False), "Cleo": (False, True, False),
        "Dan": (False, False, False), "Eva": (True, False, False), "Uma": (False, False, False)}
    assert len(reactions) == 7

    def median(*in_steps: int) -> float:
        return statistics.median(s for step, s in reactions.values() if step in in_steps)

    metrics = data["metrics"]
    medians = [metrics["totals"].pop("medianReactionSeconds")]
    medians += [s["metrics"].pop("medianReactionSeconds") for s in metrics["byStep"]]
    medians += [a["metrics"].pop("medianReactionSeconds") for a in metrics["byActionType"]]
    both = median(intro_step, reminder_step)
    assert medians == [pytest.approx(both, abs=0.01), pytest.approx(median(intro_step), abs=0.01),
                       None, None, pytest.approx(median(reminder_step), abs=0.01),
                       pytest.approx(both, abs=0.01), None, None]

    # Emails: 5 + 5 sent (Uma's two skipped); the intro opened by Ana, Ben and Dan, clicked
    # by Ana, replied to by Cleo; the reminder opened by Ana and Eva, clicked by Cleo. Six
    # recipients reached (Uma by the tag and the call), two converted (Ana and Uma).
    assert metrics["totals"] == counts(10, 2, opens=5, clicks=2, replies=1, reached=6,
                                       conversions=2)
    assert metrics["totals"]["conversionRate"] == "33.33"
    assert metrics["workItems"] == work(12, 12)
    tasks = (await api.data(TASKS, {"id": campaign}))["tasks"]["edges"]
    assert sorted(t["node"]["target"]["name"] for t in tasks) == [f"{n} Truth" for n in names]
    work_step = counts(reached=6, conversions=2)  # no messages; reached and converted count
    step = {"byVariant": []}
    assert metrics["byStep"] == [
        {**step, "stepId": intro_step, "actionType": "email", "deliveryKind": "MESSAGE",
         "stateName": "Introduction", "workItems": work(),
         "metrics": counts(5, 1, opens=3, clicks=1, replies=1, reached=5, conversions=1)},
        {**step, "stepId": tag_step, "actionType": "contact_status", "deliveryKind": "WORK_ITEM",
         "stateName": "Introduction", "metrics": work_step, "workItems": work(6, 6)},
        {**step, "stepId": call_step, "actionType": "phone_call", "deliveryKind": "WORK_ITEM",
         "stateName": "Sales call", "metrics": work_step, "workItems": work(6, 6)},
        {**step, "stepId": reminder_step, "actionType": "email", "deliveryKind": "MESSAGE",
         "stateName": "Reminder", "workItems": work(),
         "metrics": counts(5, 1, opens=2, clicks=1, reached=5, conversions=1)},
    ]
    assert metrics["byActionType"] == [
        {"actionType": "email", "deliveryKind": "MESSAGE", "workItems": work(),
         "metrics": counts(10, 2, opens=5, clicks=2, replies=1, reached=5, conversions=1)},
        {"actionType": "contact_status", "deliveryKind": "WORK_ITEM", "metrics": work_step,
         "workItems": work(6, 6)},
        {"actionType": "phone_call", "deliveryKind": "WORK_ITEM", "metrics": work_step,
         "workItems": work(6, 6)},
    ]

    # One conversion rate: performance's is the totals'.
    assert data["performance"] == {
        "reached": 6, "converted": 2, "deliveriesDone": 22, "leads": {"actual": 2},
        "conversionRate": {"actual": "33.33"}}
    performance, totals = data["performance"], metrics["totals"]
    assert (performance["reached"], performance["converted"],
            performance["conversionRate"]["actual"]) == (
        totals["reached"], totals["conversions"], totals["conversionRate"])
    # 6 recipients × 4 steps: 22 done, Uma's two emails skipped (UNSUBSCRIBED).
    c = data["counters"]
    assert c == {"total": 24, "pending": 0, "waiting": 0, "inProgress": 0, "done": 22,
                 "failed": 0, "skipped": 2}
    assert c["total"] == c["waiting"] + c["inProgress"] + c["done"] + c["failed"] + c["skipped"]
    # The ledger's events: SENT for the 10 emails, DONE for the 12 work items.
    assert Counter((e["type"], e["actionType"]) for e in events if e["type"] in (
        "SENT", "DONE")) == {("SENT", "email"): 10, ("DONE", "contact_status"): 6,
                             ("DONE", "phone_call"): 6}
    assert [(e["recipient"]["name"], e["step"]["id"], e["reason"]) for e in events
            if e["type"] == "SKIPPED"] == [("Uma Truth", intro_step, "UNSUBSCRIBED"),
                                           ("Uma Truth", reminder_step, "UNSUBSCRIBED")]
