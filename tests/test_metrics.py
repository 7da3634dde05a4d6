"""Campaign metrics against hand-computed figures: a small ledger and its events are
written by hand (deliveries done / failed / skipped / pending, a suspected bot, duplicate
events, outcomes, costs) and every metric and the hourly series are checked."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, datetime, timedelta, timezone

from drumbeat.platform.delivery_marks import mark_reached
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import add_recipients, create_campaign, create_contacts, db_id
from tests.test_query_cost import QueryCounter

COUNTS = """sent failed skipped delivered uniqueOpens uniqueClicks replies bounces
  unsubscribes conversions openRate clickRate conversionRate medianReactionSeconds"""
METRICS = """
query($id: ID!, $hours: Int!) {
  campaign(id: $id) {
    metrics {
      totals { %s }
      byStep { stepId actionType stateName metrics { %s } }
      costPerLead roi
    }
    metricsTimeSeries(hours: $hours) { start sent opens clicks conversions }
  }
}""" % (COUNTS, COUNTS)
PAGE = """query($n: Int!) { campaigns(first: $n) { edges { node {
  metrics { totals { sent medianReactionSeconds } byStep { stepId } costPerLead roi }
  metricsTimeSeries(hours: 3) { sent }
} } } }"""


def counts(sent, failed, skipped, bounces, opens, clicks, replies, unsubscribes, conversions,
           rates, median):
    return {"sent": sent, "failed": failed, "skipped": skipped, "delivered": sent - bounces,
            "uniqueOpens": opens, "uniqueClicks": clicks, "replies": replies,
            "bounces": bounces, "unsubscribes": unsubscribes, "conversions": conversions,
            "openRate": rates[0], "clickRate": rates[1], "conversionRate": rates[2],
            "medianReactionSeconds": median}


def hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


async def build_campaign(server, api: GraphQLClient, admin_id: int, t: datetime):
    """Two steps (in two states) over four contacts; returns (gid, step a, step b, times).

    Step A: d1 (c1) done at T — bot open T+1, opens T+60 and T+100, click T+120,
    CONVERTED T+300, unsubscribe T+400; d2 (c2) done at T — reply T+200; d3 (c3) done at
    T+10 — bot open T+12, bounce T+15; d4 (c4) failed — an open (not sent: ignored).
    Step B: d5 (c1) done at T+3600 — click T+3630, open T+3640, bot click T+3690;
    d6 (c2) skipped; d7 (c4) pending. Outcomes: LEAD c2 at T+500, SALE 500.00 c1 at
    T+7200, OPPORTUNITY c3. Costs 100.00 + 50.00.
    """
    db = server.platform.db
    tag = unique("metrics")
    contact_gids = await create_contacts(api, [
        {"email": f"{tag}-{i}@example.org", "firstName": f"M{i}", "lastName": "Etrics"}
        for i in range(4)])
    c1, c2, c3, c4 = (db_id(g) for g in contact_gids)
    gid = await create_campaign(api, f"Metrics {tag}")
    campaign = db_id(gid)
    assert (await add_recipients(api, gid, contact_gids))["added"] == 4

    async def sql(query, *args):
        return await server.call(db.fetch(query, *args))

    step_a = (await sql("SELECT id FROM drumbeat_workflow_action WHERE campaign = {}",
                        campaign))[0]["id"]
    state_b = (await sql("INSERT INTO drumbeat_workflow_state (campaign, name, position,"
                         " is_start) VALUES ({}, 'Follow-up', 1, {}) RETURNING id",
                         campaign, False))[0]["id"]
    step_b = (await sql("INSERT INTO drumbeat_workflow_action (campaign, state, action_type,"
                        " config, position) VALUES ({}, {}, 'email', {}, 0) RETURNING id",
                        campaign, state_b, "{}"))[0]["id"]
    recipients = {r["contact"]: r["id"] for r in await sql(
        "SELECT id, contact FROM drumbeat_campaign_recipient WHERE campaign = {}", campaign)}

    async def delivery(step, contact, state, finished_s=None, skip_reason=None):
        finished = None if finished_s is None else t + timedelta(seconds=finished_s)
        delivery_id = (await sql(
            "INSERT INTO drumbeat_delivery (campaign, step, recipient, target_kind, target_id,"
            " address, state, skip_reason, attempts, created_at, finished_at)"
            " VALUES ({}, {}, {}, 'contact', {}, {}, {}, {}, 1, {}, {}) RETURNING id",
            campaign, step, recipients[contact], contact, f"{contact}@example.org", state,
            skip_reason, t - timedelta(minutes=5), finished))[0]["id"]
        if state == "done":  # as the ledger does when it records a delivery done
            await server.call(mark_reached(db, [delivery_id]))
            await sql("INSERT INTO drumbeat_delivery_event (campaign, delivery, type, detail,"
                      " suspected_bot, created_at) VALUES ({}, {}, 'SENT', '', {}, {})",
                      campaign, delivery_id, False, finished)
        return delivery_id

    async def event(delivery_id, type_, at_s, bot=False):
        await sql("INSERT INTO drumbeat_delivery_event (campaign, delivery, type, detail,"
                  " suspected_bot, created_at) VALUES ({}, {}, {}, '', {}, {})",
                  campaign, delivery_id, type_, bot, t + timedelta(seconds=at_s))

    d1 = await delivery(step_a, c1, "done", 0)
    d2 = await delivery(step_a, c2, "done", 0)
    d3 = await delivery(step_a, c3, "done", 10)
    d4 = await delivery(step_a, c4, "failed", 5)
    d5 = await delivery(step_b, c1, "done", 3600)
    await delivery(step_b, c2, "skipped", skip_reason="UNSUBSCRIBED")
    await delivery(step_b, c4, "pending")
    for d, type_, at, bot in [
            (d1, "OPENED", 1, True), (d1, "OPENED", 60, False), (d1, "OPENED", 100, False),
            (d1, "CLICKED", 120, False), (d1, "CONVERTED", 300, False),
            (d1, "UNSUBSCRIBED", 400, False), (d2, "REPLIED", 200, False),
            (d3, "OPENED", 12, True), (d3, "BOUNCED", 15, False), (d4, "OPENED", 50, False),
            (d5, "CLICKED", 3630, False), (d5, "OPENED", 3640, False),
            (d5, "CLICKED", 3690, True)]:
        await event(d, type_, at, bot)
    for kind, cents, contact, at_s in [("LEAD", 0, c2, 500), ("SALE", 50000, c1, 7200),
                                       ("OPPORTUNITY", 0, c3, 600)]:
        await sql("INSERT INTO drumbeat_campaign_outcome (campaign, kind, value_cents, contact,"
                  " note, recorded_by, recorded_at) VALUES ({}, {}, {}, {}, '', {}, {})",
                  campaign, kind, cents, contact, admin_id, t + timedelta(seconds=at_s))
    for cents in (10000, 5000):
        await sql("INSERT INTO drumbeat_campaign_cost (campaign, amount_cents, category,"
                  " incurred_on, note, created_by, created_at) VALUES ({}, {}, 'MEDIA', {}, '',"
                  " {}, {})", campaign, cents, date.today(), admin_id, t)
    return gid, step_a, step_b


async def test_metrics_match_hand_computed_figures(server):
    admin_id, token = await member_token(server, "ADMIN")
    api = GraphQLClient(server.url, token)
    now = datetime.now(timezone.utc)
    if now.minute == 59:  # the hour must not turn while the test runs (hourly buckets)
        await asyncio.sleep(61 - now.second)
        now = datetime.now(timezone.utc)
    # Ten minutes into the hour three hours ago, so no event sits on a bucket's edge.
    t = hour(now) - timedelta(hours=3) + timedelta(minutes=10)
    gid, step_a, step_b = await build_campaign(server, api, admin_id, t)

    before = hour(datetime.now(timezone.utc))
    data = (await api.data(METRICS, {"id": gid, "hours": 48}))["campaign"]
    after = hour(datetime.now(timezone.utc))
    metrics = data["metrics"]
    # A: sent d1 d2 d3, bounced d3; opens/clicks d1 only (bots and the failed d4 ignored);
    # recipients c1 c2 c3 reached, c1 (event + SALE) and c2 (LEAD) converted: 2 of 3;
    # reactions 60 (d1) and 200 (d2).
    assert metrics["byStep"] == [
        {"stepId": step_a, "actionType": "email", "stateName": metrics["byStep"][0]["stateName"],
         "metrics": counts(3, 1, 0, 1, 1, 1, 1, 1, 2, ("50.00", "50.00", "66.67"), 130.0)},
        {"stepId": step_b, "actionType": "email", "stateName": "Follow-up",
         "metrics": counts(1, 0, 1, 0, 1, 1, 0, 0, 1, ("100.00", "100.00", "100.00"), 30.0)},
    ]
    assert metrics["byStep"][0]["stateName"] != "Follow-up"
    # Conversions count recipients (c1 and c2 of the three reached), not deliveries.
    assert metrics["totals"] == counts(4, 1, 1, 1, 2, 2, 1, 1, 2,
                                       ("66.67", "66.67", "66.67"), 60.0)
    # cost 150.00 for one lead; ROI (500 − 150) ÷ 150.
    assert (metrics["costPerLead"], metrics["roi"]) == ("150.00", "2.3333")

    series = data["metricsTimeSeries"]
    assert len(series) == 48 and series[-1]["start"] in (before.isoformat(), after.isoformat())
    starts = [datetime.fromisoformat(b["start"]) for b in series]
    assert starts == sorted(starts) and all(b - a == timedelta(hours=1)
                                            for a, b in zip(starts, starts[1:]))
    expected: dict[datetime, Counter] = {}
    for kind, seconds in [("sent", 0), ("sent", 0), ("sent", 10), ("sent", 3600),
                          ("opens", 60), ("opens", 3640), ("clicks", 120), ("clicks", 3630),
                          ("conversions", 300), ("conversions", 500)]:
        expected.setdefault(hour(t + timedelta(seconds=seconds)), Counter())[kind] += 1
    got = {datetime.fromisoformat(b["start"]): Counter({k: v for k, v in b.items()
                                                        if k != "start" and v})
           for b in series if any(v for k, v in b.items() if k != "start")}
    assert got == expected

    # Two hours back from the current hour: nothing (c1's SALE at T+2 h is no new
    # conversion: c1 converted at T+300 s).
    short = (await api.data(METRICS, {"id": gid, "hours": 2}))["campaign"]["metricsTimeSeries"]
    assert [(b["sent"], b["opens"], b["clicks"], b["conversions"]) for b in short] == [
        (0, 0, 0, 0), (0, 0, 0, 0)]


async def test_metrics_of_an_empty_campaign_and_bad_hours(server, admin_api):
    gid = await create_campaign(admin_api, f"Empty {unique('metrics')}")
    data = (await admin_api.data(METRICS, {"id": gid, "hours": 1}))["campaign"]
    assert data["metrics"]["totals"] == counts(0, 0, 0, 0, 0, 0, 0, 0, 0, (None,) * 3, None)
    assert len(data["metrics"]["byStep"]) == 1
    assert (data["metrics"]["costPerLead"], data["metrics"]["roi"]) == (None, None)
    assert [b["sent"] for b in data["metricsTimeSeries"]] == [0]
    response = await admin_api.execute(METRICS, {"id": gid, "hours": 0})
    assert "1 to 744 hours" in str(response["errors"])


async def test_a_page_of_metrics_costs_a_constant_number_of_queries(make_server):
    server = make_server(reconcile_interval_seconds=3600)
    admin_id, token = await member_token(server, "ADMIN")
    api = GraphQLClient(server.url, token)
    t = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=3)
    for _ in range(3):
        await build_campaign(server, api, admin_id, t)
    counted = {}
    for size in (1, 3):
        with QueryCounter(server.platform.db.engine) as counter:
            edges = (await api.data(PAGE, {"n": size}))["campaigns"]["edges"]
        assert len(edges) == size and all(e["node"]["metrics"]["byStep"] for e in edges)
        counted[size] = counter.count
    assert counted[1] == counted[3], counted
