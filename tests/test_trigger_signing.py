"""Signed triggers cannot be replayed: the signature covers the method, the path (the
campaign) and the body within 5 minutes, and each trigger id enrols once — replayed,
retried, sent five times at once, or by the README's curl + openssl snippet."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from strawberry import relay

from drumbeat import trigger_routes
from drumbeat.platform.tracking import inbound, signed_requests
from drumbeat.platform.tracking.signed_requests import InboundError
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import db_id
from tests.test_workflow_triggers import KEY, KEYRING, REENTRY, _running

ROOT = Path(__file__).resolve().parent.parent
SECRET = KEY.split(":", 1)[1].encode()


def test_the_signature_is_hmac_of_v2_timestamp_method_path_body_with_the_kind_key():
    body, at = b'{"id":"a-1","event":"OTHER","contact":{"email":"x@example.org"}}', 1_900_000_000
    header = trigger_routes.sign(KEYRING, 42, body, at)
    # The README's recipe, computed independently: key = hex HMAC(secret, kind label).
    key = hmac.new(SECRET, b"drumbeat-trigger", hashlib.sha256).hexdigest()
    expected = hmac.new(key.encode(), b"v2:1900000000:POST:/triggers/42:" + body,
                        hashlib.sha256).hexdigest()
    assert header == f"kid=k3,t={at},v2={expected}"
    assert signed_requests.verify(KEYRING, "trigger", header, "POST", "/triggers/42", body,
                                  now=at + 299) == at

    refused = {
        "another campaign": ("trigger", header, "POST", "/triggers/43", body, at),
        "the same campaign by another path": ("trigger", header, "POST",
                                              f"/triggers/{relay.GlobalID('Campaign', '42')}",
                                              body, at),
        "a query added": ("trigger", header, "POST", "/triggers/42?x=1", body, at),
        "another method": ("trigger", header, "PUT", "/triggers/42", body, at),
        "another body": ("trigger", header, "POST", "/triggers/42", body + b" ", at),
        "the webhook key": ("inbound", header, "POST", "/triggers/42", body, at),
        "stale": ("trigger", header, "POST", "/triggers/42", body, at + 301),
        "from the future": ("trigger", header, "POST", "/triggers/42", body, at - 301),
        "the v1 scheme": ("trigger", f"kid=k3,t={at},v1=abc", "POST", "/triggers/42", body, at),
        "upper-case hex": ("trigger", f"kid=k3,t={at},v2={expected.upper()}", "POST",
                           "/triggers/42", body, at),
    }
    for what, (kind, sent, method, path, raw, now) in refused.items():
        with pytest.raises(InboundError) as exc:
            signed_requests.verify(KEYRING, kind, sent, method, path, raw, now)
        assert exc.value.status == 401, what
    # A signature made for another method verifies only for that method.
    put = signed_requests.sign(KEYRING, "trigger", "PUT", "/triggers/42", body, at)
    with pytest.raises(InboundError):
        signed_requests.verify(KEYRING, "trigger", put, "POST", "/triggers/42", body, at)


def test_event_ids_are_bounded_in_length_and_charset():
    for good in ("a", "signup-7f3c9a", "x" * 200, "evt_1:2/3+4=5#6@host.example"):
        assert signed_requests.event_id(good) == good
    for bad in (None, 7, "", "x" * 201, "a b", "a\nb", "a\x00b", "é", "<a>"):
        with pytest.raises(InboundError) as exc:
            signed_requests.event_id(bad)
        assert exc.value.status == 400


async def _send(http: httpx.AsyncClient, path: str, raw: bytes, header: str,
                method: str = "POST") -> httpx.Response:
    return await http.request(method, path, content=raw, headers={
        "Content-Type": "application/json", "Drumbeat-Signature": header})


async def _trigger_steps(server, campaign: str) -> int:
    """How many times a trigger started someone in the campaign (its journeys' steps)."""
    return await server.call(server.platform.db.fetchval(
        "SELECT count(*) FROM drumbeat_enrollment_step WHERE campaign = {}"
        " AND via LIKE 'TRIGGER %'", db_id(campaign)))


async def _enrolled(server, campaign: str, email: str) -> int:
    return await server.call(server.platform.db.fetchval(
        "SELECT count(*) FROM drumbeat_enrollment e JOIN drumbeat_contact c"
        " ON c.id = e.contact WHERE e.campaign = {} AND c.email = {}", db_id(campaign), email))


async def _always(api: GraphQLClient, campaign: str) -> None:
    """Re-entry ALWAYS: without de-duplication, every copy would enrol again."""
    result = await api.data(REENTRY, {"c": campaign, "rule": "ALWAYS"})
    assert result["campaignReentrySet"]["errors"] == []


async def test_a_replayed_or_retried_trigger_is_a_duplicate_and_enrols_nobody(make_server):
    server = make_server(secret_keys=(KEY,))
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("replay")
    campaign, other = await _running(api, tag), await _running(api, f"{tag}-b")
    await _always(api, campaign)
    email = f"{tag}-p@example.org"
    raw = json.dumps({"id": f"{tag}-evt", "event": "FORM_SUBMITTED",
                      "contact": {"email": email}}).encode()
    header = trigger_routes.sign(KEYRING, campaign, raw)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        first = await _send(http, f"/triggers/{campaign}", raw, header)
        assert first.status_code == 200, first.text
        assert (first.json()["status"], first.json()["enrolled"]) == ("recorded", True)
        replay = await _send(http, f"/triggers/{campaign}", raw, header)  # the same bytes
        retry = await _send(http, f"/triggers/{campaign}", raw,  # signed again, same id
                            trigger_routes.sign(KEYRING, campaign, raw, int(time.time()) - 5))
        for answer in (replay, retry):
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"status": "duplicate", "enrolled": False,
                                     "reason": "DUPLICATE", "enrollmentId": None,
                                     "contactId": None, "leadId": None, "created": False}
        # The same id is another event in another campaign (signed for its path).
        elsewhere = await _send(http, f"/triggers/{other}", raw,
                                trigger_routes.sign(KEYRING, other, raw))
        assert elsewhere.json()["status"] == "recorded" and elsewhere.json()["enrolled"]
    assert await _trigger_steps(server, campaign) == 1
    assert await _enrolled(server, campaign, email) == 1
    assert await _trigger_steps(server, other) == 1


async def test_a_signature_enrols_into_its_own_campaign_only_by_its_method_path_and_time(
        make_server):
    server = make_server(secret_keys=(KEY,))
    ana = GraphQLClient(server.url, (await member_token(server, "MARKETER"))[1])
    bob = GraphQLClient(server.url, (await member_token(server, "MARKETER"))[1])
    tag = unique("paths")
    mine, theirs = await _running(ana, tag), await _running(bob, f"{tag}-b")
    await _always(ana, mine)
    await _always(bob, theirs)
    email = f"{tag}-p@example.org"
    raw = json.dumps({"id": f"{tag}-evt", "event": "NEWSLETTER_SIGNUP",
                      "contact": {"email": email}}).encode()
    header = trigger_routes.sign(KEYRING, mine, raw)
    numeric = str(db_id(mine))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        attempts = {
            "another owner's campaign": await _send(http, f"/triggers/{theirs}", raw, header),
            "another owner's, by number": await _send(http, f"/triggers/{db_id(theirs)}", raw,
                                                      header),
            "a tampered path (same campaign by number)": await _send(
                http, f"/triggers/{numeric}", raw, header),
            "a query added": await _send(http, f"/triggers/{mine}?again=1", raw, header),
            "signed for PUT": await _send(http, f"/triggers/{mine}", raw, signed_requests.sign(
                KEYRING, "trigger", "PUT", f"/triggers/{mine}", raw)),
            "stale": await _send(http, f"/triggers/{mine}", raw, trigger_routes.sign(
                KEYRING, mine, raw, int(time.time()) - signed_requests.TOLERANCE_SECONDS - 5)),
            "signed with the webhook key": await _send(http, f"/triggers/{mine}", raw,
                                                       inbound.sign(KEYRING, raw,
                                                                    path=f"/triggers/{mine}")),
        }
        assert {what: r.status_code for what, r in attempts.items()} == {
            what: 401 for what in attempts}
        wrong_method = await _send(http, f"/triggers/{mine}", raw, header, method="PUT")
        assert wrong_method.status_code == 405
        assert await _enrolled(server, theirs, email) == 0
        assert await _trigger_steps(server, theirs) == 0
        assert await _enrolled(server, mine, email) == 0
        assert await server.call(server.platform.db.fetchval(
            "SELECT count(*) FROM drumbeat_contact WHERE email = {}", email)) == 0
        # The genuine request still goes through (nothing above claimed its id).
        genuine = await _send(http, f"/triggers/{mine}", raw, header)
        assert genuine.json()["status"] == "recorded" and genuine.json()["enrolled"]
        # A signature made for the numeric path works there.
        by_number = json.dumps({"id": f"{tag}-evt2", "event": "OTHER",
                                "contact": {"email": email}}).encode()
        again = await _send(http, f"/triggers/{numeric}", by_number,
                            trigger_routes.sign(KEYRING, numeric, by_number))
        assert again.json()["status"] == "recorded", again.text
    assert await _enrolled(server, theirs, email) == 0
    assert await _trigger_steps(server, mine) == 2


async def test_concurrent_replays_enrol_exactly_once(make_server):
    server = make_server(secret_keys=(KEY,))
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("burst")
    campaign = await _running(api, tag)
    await _always(api, campaign)
    email = f"{tag}-p@example.org"
    raw = json.dumps({"id": f"{tag}-evt", "event": "DOWNLOAD",
                      "contact": {"email": email, "firstName": "Bo"}}).encode()
    header = trigger_routes.sign(KEYRING, campaign, raw)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        answers = await asyncio.gather(*(_send(http, f"/triggers/{campaign}", raw, header)
                                         for _ in range(5)))
    assert [a.status_code for a in answers] == [200] * 5, [a.text for a in answers]
    assert sorted(a.json()["status"] for a in answers) == ["duplicate"] * 4 + ["recorded"]
    assert await _trigger_steps(server, campaign) == 1
    assert await _enrolled(server, campaign, email) == 1
    assert await server.call(server.platform.db.fetchval(
        "SELECT count(*) FROM drumbeat_contact WHERE email = {}", email)) == 1


SNIPPET = re.compile(r"<!-- signed-trigger-example -->\s*```sh\n(.*?)```\s*"
                     r"<!-- /signed-trigger-example -->", re.S)


def _readme_snippet(values: dict[str, str]) -> str:
    """The README's shell snippet with its variables' lines set to ``values``."""
    match = SNIPPET.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert match, "README.md has no signed-trigger-example snippet"
    script = match.group(1)
    for name, value in values.items():
        script, count = re.subn(rf"^{name}=.*$", lambda _m: f"{name}={shlex.quote(value)}",
                                script, flags=re.M)
        assert count == 1, f"the snippet sets {name} once"
    return script


def _signing_key() -> tuple[str, str]:
    """``drumbeat signing-key trigger`` run as an operator would: (kid, key)."""
    env = {**os.environ, "DRUMBEAT_SECRET_KEYS": KEY, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", "from drumbeat.cli import main; main()",
                          "signing-key", "trigger"], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    match = re.fullmatch(r"kid=(\S+) key=([0-9a-f]{64})\n", out)
    assert match, out
    return match.group(1), match.group(2)


async def test_the_readme_curl_and_openssl_snippet_enrols_once(make_server):
    server = make_server(secret_keys=(KEY,))
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("readme")
    campaign = await _running(api, tag)
    await _always(api, campaign)
    email = f"{tag}-ada@example.org"
    kid, key = await asyncio.to_thread(_signing_key)
    assert kid == "k3"
    script = _readme_snippet({
        "DRUMBEAT_URL": server.url, "CAMPAIGN": campaign, "KID": kid, "KEY": key,
        "BODY": json.dumps({"id": f"{tag}-signup", "event": "NEWSLETTER_SIGNUP",
                            "contact": {"email": email, "firstName": "Ada"}})})

    def run() -> dict:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    first = await asyncio.to_thread(run)
    assert (first["status"], first["enrolled"], first["created"]) == ("recorded", True, True)
    assert await _enrolled(server, campaign, email) == 1
    second = await asyncio.to_thread(run)  # signed again a moment later: same id
    assert (second["status"], second["enrolled"]) == ("duplicate", False)
    assert await _trigger_steps(server, campaign) == 1
    assert await _enrolled(server, campaign, email) == 1
