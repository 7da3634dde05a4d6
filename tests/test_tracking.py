"""Tracking: signed tokens (tampering, key rotation), the open pixel, click redirects to
stored URLs only, RFC 8058 one-click unsubscribe, and what outgoing emails carry — through
a live server, a real database and the aiosmtpd sink."""

from __future__ import annotations

import asyncio
import base64
import random
import string
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import httpx
import pytest

from drumbeat.platform.tracking.links import EmailTracking
from drumbeat.platform.tracking.tokens import _mac, keyring_for, parse_keys
from drumbeat.settings import Settings, SettingsError
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN, add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
)

NEW = "k2:" + "n" * 32
OLD = "k1:" + "o" * 32
HTML = ('<html><body><p>Hi {{ contact.first_name }}, see <a href="https://shop.example/a?x=1&amp;y=2">'
        "our shop</a>, <a class='b' href='http://blog.example/post'>the blog</a>, "
        '<a href="mailto:sales@example.org">mail us</a> and <a href="#top">top</a>.</p>'
        "</body></html>")
EMAIL = {"subject": "Hello {{ contact.first_name }}",
         "text": "Hi {{ contact.first_name }}, see https://shop.example/a?x=1&y=2.\n"
                 "Stop these emails: {{ unsubscribe_url }}",
         "html": HTML}
ALPHABET = string.ascii_letters + string.digits + "-_.=+/%~ "


def _mutations(rng: random.Random, token: str, kids: list[str]) -> list[str]:
    """Random damage to ``token``: flipped, inserted, deleted characters, a swapped kid,
    truncation, swapped or duplicated parts."""
    kid, body, sig = token.split(".")
    i = rng.randrange(len(token))
    c = rng.choice(ALPHABET)
    return [
        token[:i] + c + token[i + 1:],
        token[:i] + c + token[i:],
        token[:i] + token[i + 1:],
        f"{rng.choice(kids)}.{body}.{sig}",
        token[:rng.randrange(len(token))],
        f"{kid}.{body}.{sig[:-1]}{rng.choice(ALPHABET)}",
        f"{kid}.{body[:-1]}{rng.choice(ALPHABET)}.{sig}",
        f"{kid}.{sig}.{body}",
        f"{kid}.{body}.{sig}.{sig}",
        token.upper() if rng.random() < 0.5 else token.swapcase(),
    ]


def test_ten_thousand_mutated_tokens_are_all_rejected():
    rng = random.Random(6)
    keyring = parse_keys((NEW, OLD + ":2999-01-01"), "")
    forger = parse_keys(("k2:" + "f" * 32,), "")  # the right kid, the wrong secret
    valid = [(p, keyring.sign(p, rng.randrange(1, 10**9), rng.randrange(0, 50) if p == "click"
                              else None)) for p in ("open", "click", "unsubscribe", "webhook")
             for _ in range(25)]
    rejected = 0
    while rejected < 10_000:
        purpose, token = rng.choice(valid)
        assert keyring.verify(token, purpose) is not None
        for other in {"open", "click", "unsubscribe", "webhook"} - {purpose}:
            assert keyring.verify(token, other) is None  # another purpose
        assert keyring.verify(forger.sign(purpose, 7, 0 if purpose == "click" else None),
                              purpose) is None
        for bad in _mutations(rng, token, ["k1", "k2", "k3", "main", ""]):
            if bad == token:
                continue
            assert keyring.verify(bad, purpose) is None, (token, bad)
            rejected += 1
    for junk in (None, 12, "", ".", "..", "a.b.c", "k2." + "A" * 200, b"k2.x.y"):
        assert keyring.verify(junk, "open") is None


def test_a_rotated_out_key_verifies_until_its_grace_period_ends():
    before = parse_keys((OLD,), "")
    token = before.sign("unsubscribe", 42)
    after = parse_keys((NEW, OLD + ":2026-12-01"), "")
    assert after.sign("unsubscribe", 42) != token  # the new key signs
    grace = datetime(2026, 12, 1, 23, 59, tzinfo=timezone.utc)
    assert after.verify(token, "unsubscribe", now=grace).delivery_id == 42
    assert after.verify(token, "unsubscribe", now=grace + timedelta(minutes=1)) is None
    assert parse_keys((NEW,), "").verify(token, "unsubscribe", now=grace) is None  # removed
    derived = parse_keys((), "a" * 40)
    assert derived.verify(derived.sign("open", 1), "open", now=grace).delivery_id == 1


@pytest.mark.parametrize("entries", [
    ("short:abc",), ("k1",), ("bad kid:" + "s" * 20,), ("k1:" + "s" * 20 + ":2026-01-01",),
    ("k2:" + "s" * 20, "k1:" + "s" * 20 + ":someday"), ("k1:" + "s" * 20, "k1:" + "t" * 20),
])
def test_malformed_key_settings_stop_start_up(entries):
    with pytest.raises(SettingsError, match="DRUMBEAT_SECRET_KEYS"):
        parse_keys(entries, "")
    env = {"DRUMBEAT_SECRET_KEYS": ",".join(entries), "DRUMBEAT_SECRET_KEY": "x" * 40}
    assert Settings.from_env(env).secret_keys == entries


def test_html_links_are_rewritten_and_the_pixel_goes_before_body_end():
    tracking = EmailTracking(Settings(secret_key="s" * 40, public_url="https://t.example/"))
    html, urls = tracking.rewrite_html(9, HTML)
    assert urls == ["https://shop.example/a?x=1&y=2", "http://blog.example/post"]
    assert "shop.example" not in html and "blog.example" not in html
    assert html.count('href="https://t.example/t/c/') == 2
    assert 'href="mailto:sales@example.org"' in html and 'href="#top"' in html
    assert html.index('<img src="https://t.example/t/o/') < html.index("</body>")
    keyring = keyring_for(Settings(secret_key="s" * 40))
    for index, part in enumerate(html.split('href="https://t.example/t/c/')[1:]):
        claims = keyring.verify(part.split('"')[0], "click")
        assert (claims.delivery_id, claims.link_index) == (9, index)


def test_text_urls_are_rewritten_sharing_indexes_and_sparing_own_urls():
    tracking = EmailTracking(Settings(secret_key="s" * 40, public_url="https://t.example/"))
    urls = ["https://shop.example/a"]
    text = tracking.rewrite_text(
        4, "Shop: https://shop.example/a. Wiki (https://w.example/A_(b)), "
           "again https://shop.example/a, new http://blog.example/p?q=1! "
           "Mine: https://t.example/u/xyz and ftp://files.example/x", urls)
    assert urls == ["https://shop.example/a", "https://w.example/A_(b)",
                    "http://blog.example/p?q=1"]
    keyring = keyring_for(Settings(secret_key="s" * 40))
    tracked = [w.rstrip(".,!)") for w in text.split() if w.startswith(("https://t.example/t/c/",
                                                                       "(https://t.example/t/c/"))]
    indexes = [keyring.verify(u.lstrip("(").rsplit("/", 1)[1], "click").link_index
               for u in tracked]
    assert indexes == [0, 1, 0, 2]
    assert "https://t.example/u/xyz" in text and "ftp://files.example/x" in text
    assert text.startswith("Shop: https://t.example/t/c/") and "), again" in text


async def _run(api, addresses: list[str], config=EMAIL) -> str:
    people = [{"email": a, "firstName": f"P{i}", "lastName": "T"} for i, a in enumerate(addresses)]
    campaign = await create_campaign(api, unique("Tracked"), config)
    assert (await add_recipients(api, campaign, await create_contacts(api, people)))["added"] \
        == len(addresses)
    await launch_campaign(api, campaign)
    return campaign


async def _completed(api, campaign: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        state = (await api.data(CAMPAIGN, {"id": campaign}))["campaign"]
        if state["state"] == "COMPLETED":
            return state["counters"]
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.05)


async def _events(server, delivery_id: int) -> list[dict]:
    rows = await server.call(server.platform.db.fetch(
        "SELECT type, detail, suspected_bot, client_hash FROM drumbeat_delivery_event"
        " WHERE delivery = {} AND type NOT IN ('SENT', 'DEFERRED', 'SKIPPED') ORDER BY id",
        delivery_id))
    return [dict(r) for r in rows]


async def _delivery(server, campaign: str, address: str) -> dict:
    return dict(await server.call(server.platform.db.fetchrow(
        "SELECT id, state, skip_reason, attempts, last_error FROM drumbeat_delivery"
        " WHERE campaign = {} AND address = {}", db_id(campaign), address)))


def _path(url: str) -> str:
    return urlsplit(url).path  # the sink's URLs name the configured public host


async def test_sent_email_carries_headers_tracked_links_and_pixel(server, smtp_sink):
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    address = f"{unique('track')}@example.org"
    campaign = await _run(api, [address])
    await _completed(api, campaign)
    [message] = smtp_sink.wait_for(db_id(campaign), 1)
    delivery = await _delivery(server, campaign, address)

    unsubscribe = message.message["List-Unsubscribe"]
    assert unsubscribe.startswith("<http") and "/u/" in unsubscribe
    assert message.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = message.message.get_body(("html",)).get_content()
    clicks = [p.split('"')[0] for p in html.split('href="')[1:] if "/t/c/" in p.split('"')[0]]
    assert len(clicks) == 2 and "shop.example" not in html and "mailto:sales@" in html
    pixel = html.split('<img src="')[1].split('"')[0]
    assert "/t/o/" in pixel and html.index(pixel) < html.index("</body>")
    # The text body's URL shares the HTML link's index; its unsubscribe link is not rewritten.
    text = message.body_text()
    assert "shop.example" not in text and f"see {clicks[0]}." in text.replace("&amp;", "&")
    assert f"Stop these emails: {unsubscribe[1:-1]}" in text

    # Long after sending, from a browser: a person (not a suspected bot).
    await server.call(server.platform.db.execute(
        "UPDATE drumbeat_delivery SET finished_at = {} WHERE id = {}",
        datetime.now(timezone.utc) - timedelta(hours=1), delivery["id"]))
    channel = f"campaign:{db_id(campaign)}"
    sub = await server.call(server.platform.events.subscribe(channel))
    browser = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=browser) as http:
        opened = await http.get(_path(pixel))
        assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif"
        assert "no-store" in opened.headers["cache-control"] and opened.content[:6] == b"GIF89a"
        second = await http.get(_path(clicks[1]))
        assert (second.status_code, second.headers["location"]) == (302, "http://blog.example/post")
        first = await http.head(_path(clicks[0]))  # a scanner's HEAD: recorded, marked
        assert (first.status_code, first.headers["location"]) == \
            (302, "https://shop.example/a?x=1&y=2")

        # A validly signed token for a link that was never stored: no redirect anywhere.
        keyring = keyring_for(server.settings)
        assert (await http.get(f"/t/c/{keyring.sign('click', delivery['id'], 2)}")).status_code == 404
        assert (await http.get(f"/t/c/{keyring.sign('click', 2**31 - 1, 0)}")).status_code == 404
        too_big = f"main.{base64.urlsafe_b64encode(b'c:9999999999:0').decode().rstrip('=')}"
        too_big += "." + _mac(keyring.current.secret, too_big)  # signed, but out of range
        assert (await http.get(f"/t/c/{too_big}")).status_code == 404
        # A sample of damaged tokens through every route: all 4xx, nothing recorded.
        rng = random.Random(7)
        tokens = [_path(u).rsplit("/", 1) for u in (pixel, clicks[0], unsubscribe[1:-1])]
        for _ in range(60):
            prefix, token = rng.choice(tokens)
            for bad in _mutations(rng, token, ["main", "k1"]):
                if bad == token or "/" in bad or "?" in bad or "#" in bad or not bad.strip():
                    continue
                method = rng.choice(("GET", "POST"))
                response = await http.request(method, f"{prefix}/{bad.replace('%', '%25')}",
                                              data={"List-Unsubscribe": "One-Click"})
                assert 400 <= response.status_code < 500, (bad, response.status_code)

    events = await _events(server, delivery["id"])
    assert [(e["type"], e["detail"], e["suspected_bot"]) for e in events] == [
        ("OPENED", "", False),
        ("CLICKED", "http://blog.example/post", False),
        ("CLICKED", "https://shop.example/a?x=1&y=2", True),
    ]
    assert all(len(e["client_hash"]) == 32 for e in events)
    published = [await server.call(sub.get(10)) for _ in range(3)]
    await server.call(server.platform.events.unsubscribe(channel, sub))
    assert [(m["type"], m["event"], m["deliveryId"]) for m in published] == [
        ("event", "OPENED", delivery["id"]), ("event", "CLICKED", delivery["id"]),
        ("event", "CLICKED", delivery["id"])]
    assert await _contact_unsubscribed(server, address) is False


async def test_old_key_tokens_work_during_the_grace_period(make_server):
    server = make_server(secret_keys=(NEW, OLD + ":2999-12-31", "k0:" + "z" * 32 + ":2000-01-01"))
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    address = f"{unique('rotate')}@example.org"
    campaign = await _run(api, [address])
    await _completed(api, campaign)
    delivery = await _delivery(server, campaign, address)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        for secret, status in ((OLD, 200), (NEW, 200), ("k0:" + "z" * 32, 404)):
            token = parse_keys((secret,), "").sign("open", delivery["id"])
            assert (await http.get(f"/t/o/{token}")).status_code == status, secret
    assert [e["type"] for e in await _events(server, delivery["id"])] == ["OPENED", "OPENED"]


async def _contact_unsubscribed(server, address: str) -> bool:
    return bool(await server.call(server.platform.db.fetchval(
        "SELECT unsubscribed FROM drumbeat_contact WHERE email = {}", address)))


async def _suppression(server, address: str) -> str | None:
    return await server.call(server.platform.db.fetchval(
        "SELECT reason FROM drumbeat_suppression WHERE address = {}", address))


async def test_get_changes_nothing_and_one_click_post_skips_pending_deliveries(
        make_server, smtp_sink):
    """The first attempt to ``waiting`` gets a 451 and backs off for an hour; meanwhile its
    recipient unsubscribes: the delivery is skipped (UNSUBSCRIBED) and never sent."""
    server = make_server(retry_backoff_seconds=3600, retry_backoff_max_seconds=7200)
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("unsub")
    waiting, sent = f"{tag}-0+tempfail@example.org", f"{tag}-1@example.org"
    campaign = await _run(api, [waiting, sent])
    deadline = time.monotonic() + 30
    while (row := await _delivery(server, campaign, waiting))["attempts"] < 1 \
            or row["state"] != "pending" or (await _delivery(server, campaign, sent))["state"] != "done":
        assert time.monotonic() < deadline, row
        await asyncio.sleep(0.05)
    [message] = smtp_sink.wait_for(db_id(campaign), 1)
    sent_url = _path(message.message["List-Unsubscribe"][1:-1])
    waiting_url = f"/u/{keyring_for(server.settings).sign('unsubscribe', row['id'])}"

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        for url in (sent_url, waiting_url):  # a link scanner fetches every link: no change
            page = await http.get(url)
            assert page.status_code == 200 and 'name="List-Unsubscribe"' in page.text
            assert (await http.post(url, data={"List-Unsubscribe": "Yes"})).status_code == 400
        assert await _contact_unsubscribed(server, waiting) is False
        assert await _suppression(server, waiting) is None
        assert (await _delivery(server, campaign, waiting))["state"] == "pending"
        assert await _events(server, row["id"]) == []

        # RFC 8058 one-click, as mail providers send it (multipart), twice.
        for _ in range(2):
            done = await http.post(waiting_url, files={"List-Unsubscribe": (None, "One-Click")})
            assert done.status_code == 200 and "Unsubscribed" in done.text
        # The confirmation form of a message already sent (url-encoded).
        assert (await http.post(sent_url, data={"List-Unsubscribe": "One-Click"})).status_code == 200

    skipped = await _delivery(server, campaign, waiting)
    assert (skipped["state"], skipped["skip_reason"]) == ("skipped", "UNSUBSCRIBED")
    assert (await _delivery(server, campaign, sent))["state"] == "done"  # final stays final
    for address in (waiting, sent):
        assert await _contact_unsubscribed(server, address) is True
        assert await _suppression(server, address) == "UNSUBSCRIBED"
    assert [e["type"] for e in await _events(server, row["id"])] == ["UNSUBSCRIBED"]
    # The ledger's own story of that delivery: deferred by the 451, then skipped.
    assert [(e["type"], e["detail"]) for e in await server.call(server.platform.db.fetch(
        "SELECT type, detail FROM drumbeat_delivery_event WHERE delivery = {}"
        " AND type IN ('DEFERRED', 'SKIPPED') ORDER BY id", row["id"]))] == [
        ("DEFERRED", row["last_error"]), ("SKIPPED", "UNSUBSCRIBED")]
    counters = await _completed(api, campaign)
    assert (counters["done"], counters["skipped"], counters["failed"]) == (1, 1, 0)
    assert {m.rcpt_to[0] for m in smtp_sink.messages(db_id(campaign))} == {sent}
