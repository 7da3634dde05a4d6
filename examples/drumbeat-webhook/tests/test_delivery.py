"""End to end through the API: launch a webhook campaign and watch a real receiver."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from conftest import SECRET
from support_api import db_id, unique

from drumbeat_webhook import verify
from drumbeat_webhook.network import ALLOW_PRIVATE

BODY = ('{"email": {{ contact.email|tojson }},'
        ' "greeting": {{ ("Hi " ~ contact.first_name)|tojson }},'
        ' "campaign": {{ campaign.name|tojson }}, "key": {{ delivery.key|tojson }}}')


def people(count: int) -> list[dict]:
    tag = unique("p")
    return [{"email": f"{tag}-{i}@example.org", "firstName": f'Ann "{i}"'} for i in range(count)]


def config(receiver, name: str, **extra) -> dict:
    return {"url": receiver.url(name), "secret_name": "TESTS", "body": BODY,
            "headers": {"X-Source": "drumbeat-tests"}, **extra}


async def deliveries(drumbeat, campaign_id: str) -> list[dict]:
    """The campaign's ledger rows (the API has no per-delivery query yet)."""
    platform = drumbeat.app.state.platform
    return await drumbeat.call(platform.db.fetch(
        "SELECT target_id, state, attempts, last_error FROM drumbeat_delivery"
        " WHERE campaign = {} ORDER BY id", db_id(campaign_id)))


async def test_each_contact_gets_one_signed_request_with_its_rendered_body(api, receiver):
    hook, contacts = unique("each"), people(25)
    name = unique("Webhook campaign")
    campaign_id = await api.campaign_with_contacts(name, config(receiver, hook), contacts)
    assert await api.launch(campaign_id) == []

    campaign = await api.finished(campaign_id)
    assert campaign["state"] == "COMPLETED"
    assert campaign["counters"] == {"total": 25, "pending": 0, "inProgress": 0, "done": 25,
                                    "failed": 0, "skipped": 0}
    requests = receiver.received(hook)
    assert len(requests) == 25
    bodies = {}
    for request in requests:
        assert verify(SECRET.encode(), "POST", request.path, request.headers, request.body)
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-source"] == "drumbeat-tests"
        body = json.loads(request.body)
        assert request.headers["idempotency-key"] == body["key"]
        bodies[body["email"]] = body
    assert len({r.headers["idempotency-key"] for r in requests}) == 25
    for i, person in enumerate(contacts):
        assert bodies[person["email"]]["greeting"] == f'Hi Ann "{i}"'
        assert bodies[person["email"]]["campaign"] == name


async def test_a_tampered_body_path_method_or_an_old_timestamp_does_not_verify(api, receiver):
    hook = unique("verify")
    campaign_id = await api.campaign_with_contacts(unique("verify"), config(receiver, hook),
                                                   people(1))
    assert await api.launch(campaign_id) == []
    assert (await api.finished(campaign_id))["state"] == "COMPLETED"
    (request,) = receiver.received(hook)
    secret, path, headers, body = SECRET.encode(), request.path, request.headers, request.body
    assert verify(secret, "POST", path, headers, body)
    assert not verify(secret, "POST", path, headers, body.replace(b"Ann", b"Bob"))
    assert not verify(b"another-secret" * 3, "POST", path, headers, body)
    assert not verify(secret, "POST", path + "-other", headers, body)  # another receiver's URL
    assert not verify(secret, "POST", path + "?x=1", headers, body)
    assert not verify(secret, "PUT", path, headers, body)
    later = int(headers["x-drumbeat-timestamp"]) + 301
    assert not verify(secret, "POST", path, headers, body, now=later)
    # The canonical form, recomputed as a receiver in another language would.
    signed = f"v2:{headers['x-drumbeat-timestamp']}:POST:{path}:".encode() + body
    assert headers["x-drumbeat-signature"] == "v2=" + hmac.new(secret, signed,
                                                               hashlib.sha256).hexdigest()


async def test_batch_mode_posts_one_signed_array_per_chunk_with_the_default_body(api, receiver):
    hook, contacts = unique("batch"), people(23)  # chunks of 10: 10 + 10 + 3
    batch_config = {"url": receiver.url(hook), "secret_name": "TESTS", "batch": True}
    campaign_id = await api.campaign_with_contacts(unique("batch"), batch_config, contacts)
    assert await api.launch(campaign_id) == []
    assert (await api.finished(campaign_id))["counters"]["done"] == 23

    requests = receiver.received(hook)
    assert sorted(len(json.loads(r.body)) for r in requests) == [3, 10, 10]
    items = [item for r in requests for item in json.loads(r.body)]
    assert all(verify(SECRET.encode(), "POST", r.path, r.headers, r.body) for r in requests)
    assert all(r.headers["idempotency-key"].startswith("batch-") for r in requests)
    assert sorted(i["body"]["contact"]["email"] for i in items) == sorted(
        p["email"] for p in contacts)
    assert all(i["key"] == i["body"]["delivery"]["key"] for i in items)
    assert {i["body"]["campaign"]["id"] for i in items} == {db_id(campaign_id)}


async def test_a_503_is_retried_and_a_400_fails_only_its_delivery(api, receiver, drumbeat):
    hook, contacts = unique("flaky"), people(6)
    flaky, refused = contacts[1]["email"], contacts[4]["email"]

    def script(request, earlier):
        email = json.loads(request.body)["email"]
        if email == flaky and not any(json.loads(e.body)["email"] == flaky for e in earlier):
            return 503, {"Retry-After": "0"}, "busy"
        if email == refused:
            return 400, {}, "unknown customer\nplease check"
        return 200, {}, "ok"

    receiver.scripts[hook] = script
    campaign_id = await api.campaign_with_contacts(unique("flaky"), config(receiver, hook),
                                                   contacts)
    assert await api.launch(campaign_id) == []
    campaign = await api.finished(campaign_id)
    assert campaign["state"] == "COMPLETED"
    assert (campaign["counters"]["done"], campaign["counters"]["failed"]) == (5, 1)

    emails = [json.loads(r.body)["email"] for r in receiver.received(hook)]
    assert emails.count(flaky) == 2 and emails.count(refused) == 1
    assert sorted(set(emails)) == sorted(p["email"] for p in contacts)
    rows = await deliveries(drumbeat, campaign_id)
    failed = [r for r in rows if r["state"] == "failed"]
    assert [r["last_error"] for r in failed] == ["HTTP 400: unknown customer please check"]
    assert sorted(r["attempts"] for r in rows) == [1, 1, 1, 1, 1, 2]


async def test_a_receiver_on_a_private_address_is_refused_unless_allowed(
        api, receiver, drumbeat, monkeypatch):
    """Refused when the step is saved (and, should the setting change, at launch and
    again before sending)."""
    hook = unique("private")
    allowed = await api.campaign_with_contacts(unique("private"), config(receiver, hook),
                                               people(2))
    monkeypatch.delenv(ALLOW_PRIVATE)
    refusal = f"127.0.0.1 resolves to the non-public address 127.0.0.1 (set {ALLOW_PRIVATE}=1 to allow it)"
    saved = await api.create_campaign(unique("private"), config(receiver, hook))
    assert saved["campaign"] is None
    assert [(e["field"], e["message"]) for e in saved["errors"]] == [
        (["input", "action", "config", "url"], refusal)]
    launched = await api.launch(allowed)
    assert [(e["field"][-1], e["message"]) for e in launched] == [("url", refusal)], launched
    assert receiver.received(hook) == []


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/in", "http://10.255.1.2:8080/",
    "http://192.168.1.1/", "http://172.16.0.1/", "http://127.0.0.1:9/", "http://0.0.0.0/",
    "http://[::1]/", "http://[fe80::1]/", "http://[::ffff:169.254.169.254]/",
    "http://[fd00::1]/", "http://224.0.0.1/", "http://240.0.0.1/", "http://localhost/",
])
async def test_non_public_targets_are_refused_at_configuration(api, monkeypatch, url):
    monkeypatch.delenv(ALLOW_PRIVATE)
    saved = await api.create_campaign(unique("target"), {"url": url, "secret_name": "TESTS"})
    assert saved["campaign"] is None, saved
    [error] = saved["errors"]
    assert error["field"] == ["input", "action", "config", "url"]
    assert "non-public address" in error["message"], error


@pytest.mark.parametrize("body, reason", [
    ('{"email": {{ contact.email }}}', "the body is not valid JSON"),
    ('{{ contact.first_name * 10000000 }}', "body template:"),
])
async def test_a_body_that_is_not_json_fails_its_delivery(api, receiver, drumbeat, body, reason):
    hook = unique("notjson")
    campaign_id = await api.campaign_with_contacts(
        unique("notjson"), config(receiver, hook, body=body), people(1))
    assert await api.launch(campaign_id) == []
    assert (await api.finished(campaign_id))["counters"]["failed"] == 1
    assert receiver.received(hook) == []
    (row,) = await deliveries(drumbeat, campaign_id)
    assert row["last_error"].startswith(reason)
