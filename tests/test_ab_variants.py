"""A/B variants of an email action against a real SMTP server (aiosmtpd), through the API:
a split by weight, an A/B test whose winner (chosen by real opens of the pixel) goes to
the rest, the stored decision, per-variant metrics, and invalid configs."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import httpx
import pytest

from drumbeat import ab_metrics, register_ab_metric
from drumbeat.plugins.email.action import EmailAction
from drumbeat.plugins.email.variants import AbTest, Variant, by_weight, in_test_group
from drumbeat.plugins.email.winner import decide, stored
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN_CREATE, add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
)
from tests.test_email_delivery import _completed

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}
METRICS = """
query($id: ID!) { campaign(id: $id) { metrics { byStep { stepId abWinner metrics { sent }
  byVariant { name metrics { sent delivered uniqueOpens uniqueClicks conversions openRate } }
} } } }"""


def _variant(name: str, weight: int = 1) -> dict:
    return {"name": name, "weight": weight,
            "subject": f"[{name}] Hello {{{{ contact.first_name }}}}",
            "text": f"Variant {name} for {{{{ contact.first_name }}}}.",
            "html": f"<html><body><p>Variant {name}</p></body></html>"}


async def _campaign(api: GraphQLClient, n: int, config: dict) -> tuple[str, list[str]]:
    tag = unique("ab")
    addresses = [f"{tag}-{i}@example.org" for i in range(n)]
    people = [{"email": a, "firstName": f"P{i}", "lastName": "Ab"} for i, a in enumerate(addresses)]
    campaign = await create_campaign(api, unique("AB"), config)
    added = await add_recipients(api, campaign, await create_contacts(api, people))
    assert added["errors"] == [] and added["added"] == n
    return campaign, addresses


async def _rows(server, campaign: str) -> dict[str, dict]:
    rows = await server.call(server.platform.db.fetch(
        "SELECT id, step, target_id, address, state, variant, attempts, last_error, finished_at"
        " FROM drumbeat_delivery WHERE campaign = {} ORDER BY id", db_id(campaign)))
    return {r["address"]: dict(r) for r in rows}


def _subject_variant(message) -> str:
    return message.message["Subject"].split("]", 1)[0].lstrip("[")


async def _variant_metrics(api: GraphQLClient, campaign: str) -> dict:
    [step] = (await api.data(METRICS, {"id": campaign}))["campaign"]["metrics"]["byStep"]
    return step


def test_assignment_is_deterministic_and_weighted():
    variants = [Variant(name="A", weight=1), Variant(name="B", weight=3)]
    keys = [f"c1.s2.contact{i}" for i in range(8000)]
    first = [by_weight(k, variants).name for k in keys]
    assert first == [by_weight(k, variants).name for k in keys]  # stable
    assert 1700 <= first.count("A") <= 2300  # expected 2000 (sd ≈ 39)
    test = [k for k in keys if in_test_group(k, 25)]
    assert 1800 <= len(test) <= 2200 and test == [k for k in keys if in_test_group(k, 25)]
    # The group and the variant come from different hashes: the test group is split by weight.
    assert 350 <= [by_weight(k, variants).name for k in test].count("A") <= 650


def _replies(counts):
    return counts.replies


def test_plugins_may_register_ab_metrics():
    replies = _replies
    register_ab_metric("REPLIES", replies, "Replies (a count).")
    register_ab_metric("REPLIES", replies)  # the same again: fine
    with pytest.raises(ValueError):
        register_ab_metric("REPLIES", lambda c: 0)
    with pytest.raises(ValueError):
        register_ab_metric("not upper", replies)
    assert "REPLIES" in ab_metrics() and "OPEN_RATE" in ab_metrics()
    config = EmailAction().parse_config({"variants": [_variant("A"), _variant("B")],
                                         "abTest": {"testShare": 10, "decideAfter": "P1DT2H",
                                                    "metric": "REPLIES"}})
    assert (config.ab_test.metric, config.ab_test.seconds) == ("REPLIES", 93_600)


async def test_variants_split_by_weight_and_each_email_matches_its_variant(server, smtp_sink):
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    config = {"variants": [_variant("A", 1), _variant("B", 2)]}
    campaign, addresses = await _campaign(api, 300, config)
    await launch_campaign(api, campaign)
    counters = await _completed(api, campaign)
    assert (counters["done"], counters["total"]) == (300, 300)

    rows = await _rows(server, campaign)
    messages = smtp_sink.wait_for(db_id(campaign), 300)
    assert len(messages) == 300
    for message in messages:
        row = rows[message.rcpt_to[0]]
        assert _subject_variant(message) == row["variant"], (message["Subject"], row)
        assert f"Variant {row['variant']} for" in message.body_text()
    by_variant = {v: sum(r["variant"] == v for r in rows.values()) for v in ("A", "B")}
    assert by_variant["A"] + by_variant["B"] == 300
    assert 60 <= by_variant["A"] <= 140, by_variant  # expected 100 (sd ≈ 8.2)

    step = await _variant_metrics(api, campaign)
    assert step["abWinner"] is None and step["metrics"]["sent"] == 300
    assert [(v["name"], v["metrics"]["sent"]) for v in step["byVariant"]] == [
        ("A", by_variant["A"]), ("B", by_variant["B"])]


async def _wait_for_test_group(server, campaign: str, n: int, timeout: float = 60) -> dict:
    """Until every delivery is either sent (the test group) or waiting for the winner."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await _rows(server, campaign)
        waiting = [r for r in rows.values() if r["state"] == "pending"
                   and (r["last_error"] or "").startswith("A/B test")]
        done = [r for r in rows.values() if r["state"] == "done"]
        if len(waiting) + len(done) == n and done:
            return rows
        assert time.monotonic() < deadline, "the test group was not sent"
        await asyncio.sleep(0.1)


async def test_ab_test_sends_the_winner_to_the_rest(make_server, smtp_sink):
    server = make_server(reconcile_interval_seconds=0.2)
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    config = {"subject": "unused", "text": "unused",
              "variants": [_variant("A"), _variant("B")],
              "abTest": {"testShare": 40, "decideAfter": "PT1H", "metric": "OPEN_RATE"}}
    n = 100
    campaign, addresses = await _campaign(api, n, config)
    await launch_campaign(api, campaign)
    rows = await _wait_for_test_group(server, campaign, n)
    step_id = next(iter(rows.values()))["step"]
    test = {a for a, r in rows.items() if r["state"] == "done"}
    rest = set(addresses) - test
    expected_test = {a for a in addresses if in_test_group(
        f"c{db_id(campaign)}.s{step_id}.contact{_contact(rows, a)}", 40)}
    assert 20 <= len(test) <= 60 and rest
    assert all(rows[a]["variant"] is None and rows[a]["attempts"] == 0 for a in rest)
    decision = await server.call(stored(server.platform.db, step_id))
    assert decision["winner"] is None and decision["decide_at"] > time.time() + 3000

    # People (long after sending, from a browser) open variant B's messages only.
    messages = {m.rcpt_to[0]: m for m in smtp_sink.wait_for(db_id(campaign), len(test))}
    assert set(messages) == test
    test_b = {a for a in test if rows[a]["variant"] == "B"}
    test_a = test - test_b
    assert test_a and test_b
    db = server.platform.db
    await server.call(db.execute(
        "UPDATE drumbeat_delivery SET finished_at = {} WHERE campaign = {} AND state = 'done'",
        datetime.now(timezone.utc) - timedelta(hours=1), db_id(campaign)))
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=BROWSER) as http:
        for address in sorted(test_b):
            assert _subject_variant(messages[address]) == "B"
            html = messages[address].message.get_body(("html",)).get_content()
            pixel = urlsplit(html.split('<img src="')[1].split('"')[0]).path
            assert (await http.get(pixel)).status_code == 200

    # The clock moves past the decision time (for the test and for the waiting rows).
    await server.call(db.execute(
        "UPDATE drumbeat_ab_decision SET decide_at = decide_at - 7200 WHERE step = {}", step_id))
    await server.call(db.execute(
        "UPDATE drumbeat_delivery SET retry_at = retry_at - 7200, lease_until = lease_until - 7200"
        " WHERE step = {} AND state = 'pending'", step_id))
    counters = await _completed(api, campaign)
    assert (counters["done"], counters["total"]) == (n, n)

    rows = await _rows(server, campaign)
    received = smtp_sink.wait_for(db_id(campaign), n)
    assert len(received) == n and len({m.message_id for m in received}) == n  # once each
    for message in received:
        address = message.rcpt_to[0]
        assert _subject_variant(message) == rows[address]["variant"]
        if address in rest:
            assert rows[address]["variant"] == "B"
            assert rows[address]["attempts"] == 1  # waiting did not count
    decision = await server.call(stored(db, step_id))
    assert decision["winner"] == "B" and decision["metric"] == "OPEN_RATE"
    assert decision["scores"] == {"A": 0.0, "B": 100.0}
    assert await server.call(db.fetchval(
        "SELECT count(*) FROM drumbeat_ab_decision WHERE step = {}", step_id)) == 1
    # Decided once: deciding again (by a metric on which A would win the tie) keeps B.
    again = AbTest(testShare=40, decideAfter=60, metric="CONVERSIONS")
    variants = [Variant(name="A"), Variant(name="B")]

    async def decide_thrice():
        return await asyncio.gather(*(
            decide(db, db_id(campaign), step_id, again, variants) for _ in range(3)))

    assert await server.call(decide_thrice()) == ["B"] * 3
    assert test == expected_test  # the same hash as the action's

    step = await _variant_metrics(api, campaign)
    assert step["abWinner"] == "B"
    b_sent = len(test_b) + len(rest)
    assert step["byVariant"] == [
        {"name": "A", "metrics": {"sent": len(test_a), "delivered": len(test_a),
                                  "uniqueOpens": 0, "uniqueClicks": 0, "conversions": 0,
                                  "openRate": "0.00"}},
        {"name": "B", "metrics": {"sent": b_sent, "delivered": b_sent,
                                  "uniqueOpens": len(test_b), "uniqueClicks": 0,
                                  "conversions": 0,
                                  "openRate": f"{len(test_b) * 100 / b_sent:.2f}"}}]


def _contact(rows: dict, address: str) -> int:
    return rows[address]["target_id"]


BAD_CONFIGS = [
    ({"variants": [_variant("A")]}, ["variants"], "INVALID_CONFIG"),
    ({"variants": [_variant("A"), _variant("A")]}, ["variants", "1", "name"], "TEMPLATE_ERROR"),
    ({"variants": [_variant("A"), {**_variant("B"), "weight": 0}]},
     ["variants", "1", "weight"], "INVALID_CONFIG"),
    ({"variants": [_variant("A"), {**_variant("B"), "subject": "{% if %}"}]},
     ["variants", "1", "subject"], "TEMPLATE_ERROR"),
    ({"variants": [_variant("A"), {**_variant("B"), "subject": "two\nlines"}]},
     ["variants", "1", "subject"], "TEMPLATE_ERROR"),
    ({"variants": [_variant("A"), _variant("B")], "abTest": {"testShare": 100, "decideAfter": 60}},
     ["abTest", "testShare"], "INVALID_CONFIG"),
    ({"variants": [_variant("A"), _variant("B")],
      "abTest": {"testShare": 20, "decideAfter": "soon"}},
     ["abTest", "decideAfter"], "INVALID_CONFIG"),
    ({"variants": [_variant("A"), _variant("B")],
      "abTest": {"testShare": 20, "decideAfter": 60, "metric": "VIBES"}},
     ["abTest", "metric"], "INVALID_CONFIG"),
    ({"subject": "s", "text": "t", "abTest": {"testShare": 20, "decideAfter": 60}},
     ["abTest"], "TEMPLATE_ERROR"),
]


@pytest.mark.parametrize("config,path,code", BAD_CONFIGS)
async def test_invalid_variant_configs_are_user_errors(server, config, path, code):
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    data = await api.data(CAMPAIGN_CREATE, {"input": {
        "name": unique("Bad AB"), "action": {"type": "email", "config": config}}})
    payload = data["campaignCreate"]
    assert payload["campaign"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [
        (["input", "action", "config", *path], code)], payload["errors"]
