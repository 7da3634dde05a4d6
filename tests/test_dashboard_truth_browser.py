"""The dashboard tells the truth (issue 13, part 6), in real headless Chromium against the
live server and a real SMTP sink: one workflow campaign of four recipients whose state
sends an email and updates a tag (a work item); the sink refuses one address with a 550
and another once with a 451 (retried).

- the tiles add up and "Sent" counts the emails only; the work items are counted apart;
- the 550 (FAILED) and the 451 (DEFERRED) show in the failures panel, live, with their
  reasons; the 550 is in the failed deliveries;
- opens recorded through the tracking pixel after the campaign COMPLETED move the funnel,
  the tiles and the chart without a reload;
- after a reload the feed replays the events, naming recipients and the step, and goes on
  live from there (a click appears once).
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import httpx

from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import add_recipients, create_campaign, create_contacts, db_id, \
    launch_campaign
from tests.test_dashboard_browser import _console_problems, _sign_in, _text, _wait
from tests.test_dashboard_browser import browser  # noqa: F401  (the fixture)
from tests.test_tracking import EMAIL
from tests.test_workflow_definition import SET

STEP = "Send the offer"
PERSON = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}
SCANNER_WINDOW = 2.2  # a hit within 2 s of sending is taken for a scanner (tracking/events.py)

FEED = ("return Array.from(document.querySelectorAll('#feed li[data-type]'), li => ["
        "li.dataset.type, li.querySelector('.recipient').textContent,"
        " li.querySelector('.address').textContent, li.querySelector('.step').textContent,"
        " (li.querySelector('.reason') || {}).textContent || '',"
        " li.querySelector('.action').textContent])")
FAILURES = ("return Array.from(document.querySelectorAll('#failures li'), li => ["
            "li.dataset.type, li.querySelector('.recipient').textContent,"
            " li.querySelector('.address').textContent, li.querySelector('.step').textContent,"
            " li.querySelector('.reason').textContent])")
FAILED_ROWS = ("return Array.from(document.querySelectorAll('#failed-rows tr'), r =>"
               " Array.from(r.children, c => c.textContent))")
FUNNEL = ("return Object.fromEntries(Array.from(document.querySelectorAll('#funnel tr'), r =>"
          " [r.dataset.step, [r.children[1].textContent, r.children[2].textContent]]))")
TILES = ("return Object.fromEntries(Array.from(document.querySelectorAll("
         "'[id^=counter-], [id^=msg-], [id^=rate-], [id^=chart-]'), e => [e.id,"
         " e.textContent.trim()]))")
WORK_ITEMS = ("return Array.from(document.querySelectorAll('#work-items tr'), r =>"
              " Array.from(r.children, c => c.textContent))")


def _pick(browser, tag: str, campaign: str) -> None:
    from selenium.webdriver.common.by import By

    _wait(browser, lambda d: d.find_element(By.ID, "board").is_displayed(), message="signed in")
    search = browser.find_element(By.ID, "search-text")
    search.clear()
    search.send_keys(tag)
    _wait(browser, lambda d: d.find_element(
        By.CSS_SELECTOR, f'#campaigns button[data-id="{campaign}"]').click() or True)
    _wait(browser, lambda d: _text(d, "live") == "live", message="the subscriptions run")


def _settles(browser, script: str, expected, message: str) -> None:
    """Wait until the script's answer (or the listed part of it) is ``expected``."""
    def part(value):
        return {k: value.get(k) for k in expected} if isinstance(expected, dict) else value
    try:
        _wait(browser, lambda d: part(d.execute_script(script)) == expected, message=message)
    except Exception:
        assert part(browser.execute_script(script)) == expected, message
        raise


def _tracked(message) -> tuple[str, str]:
    """The open pixel's and the first tracked link's paths in a received message."""
    html = message.message.get_body(("html",)).get_content()
    pixel = html.split('<img src="')[1].split('"')[0]
    click = next(p.split('"')[0] for p in html.split('href="')[1:] if "/t/c/" in p.split('"')[0])
    return urlsplit(pixel).path, urlsplit(click).path


async def test_the_dashboard_tells_the_truth(make_server, smtp_sink, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    server = make_server(retry_backoff_seconds=0.05)
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("truth")
    addresses = [f"{tag}-0@example.org", f"{tag}-1@example.org", f"{tag}-2+reject@example.org",
                 f"{tag}-3+tempfail@example.org"]
    names = ["Ada Lovelace", "Bob Marley", "Cy Refused", "Dee Later"]
    campaign = await create_campaign(api, f"Truth {tag}")
    definition = {"states": [
        {"key": "offer", "name": STEP, "start": True, "transitions": [], "actions": [
            {"type": "email", "config": EMAIL},
            {"type": "contact_status", "config": {"add": ["offered"]}}]},
    ], "goals": []}
    assert (await api.data(SET, {"c": campaign, "input": definition})
            )["campaignWorkflowSet"]["errors"] == []
    people = [{"email": a, "firstName": n.split()[0], "lastName": n.split()[1]}
              for a, n in zip(addresses, names)]
    await add_recipients(api, campaign, await create_contacts(api, people))

    _sign_in(browser, server.url, api.token)
    _pick(browser, tag, campaign)
    assert _text(browser, "counter-total") == "0"
    assert browser.execute_script("return document.getElementById('failures-empty').hidden") \
        is False

    await launch_campaign(api, campaign)
    _wait(browser, lambda d: _text(d, "campaign-state") == "COMPLETED", timeout=60,
          message="the run completed")
    completed_at = time.monotonic()

    # (a) The 550 and the 451 in the failures panel, live, with the reason, recipient, step.
    shown = _wait(browser, lambda d: len(f := d.execute_script(FAILURES)) == 2 and f,
                  message="the failures are shown")
    failures = {row[0]: row for row in shown}
    assert failures["FAILED"][1:4] == [names[2], addresses[2], STEP]
    assert "550" in failures["FAILED"][4] and "mailbox unavailable" in failures["FAILED"][4]
    assert failures["DEFERRED"][1:4] == [names[3], addresses[3], STEP]
    assert "451" in failures["DEFERRED"][4] and "retry at" in failures["DEFERRED"][4]
    # The tiles add up; Sent counts the two emails, not the six deliveries.
    _settles(browser, TILES, {
        "counter-total": "8", "counter-waiting": "0", "counter-inProgress": "0",
        "counter-done": "7", "counter-failed": "1", "counter-skipped": "0",
        "counter-check": "8 = 0 + 0 + 7 + 1 + 0",
        "msg-sent": "3", "msg-delivered": "3", "msg-uniqueOpens": "0", "rate-openRate": "0.00 %",
        "msg-bounces": "0", "rate-bounceRate": "0.00 %", "msg-reached": "4",
        "msg-conversions": "0", "rate-conversionRate": "0.00 %", "chart-sent": "3",
        "chart-opens": "0"}, "the numbers after the run")
    _settles(browser, WORK_ITEMS, [["contact_status", "4", "4", "0", "0", "0"]],
             "the tag updates are work items")
    # The failed deliveries, listed on demand.
    browser.find_element(By.ID, "failed-toggle").click()
    rows = _wait(browser, lambda d: d.execute_script(FAILED_ROWS) or False,
                 message="the failed deliveries are listed")
    assert [r[:5] for r in rows] == [[names[2], addresses[2], STEP, "email", "1"]]
    assert "550" in rows[0][5]

    # (b) Opens after COMPLETED, through the real pixel: the funnel moves without a reload.
    received = {m.message["To"].addresses[0].addr_spec: m
                for m in smtp_sink.wait_for(db_id(campaign), 3)}
    assert set(received) == {addresses[0], addresses[1], addresses[3]}
    await asyncio.sleep(max(0.0, SCANNER_WINDOW - (time.monotonic() - completed_at)))
    browser.execute_script("window.samePage = true")  # gone if the page were reloaded
    async with httpx.AsyncClient(base_url=server.url, headers=PERSON, timeout=30) as http:
        pixel, click = _tracked(received[addresses[0]])
        assert (await http.get(pixel)).status_code == 200
        _wait(browser, lambda d: d.execute_script(FUNNEL)["opened"] == ["1", "33.33 %"],
              message="the first open moved the funnel")
        pixel, _ = _tracked(received[addresses[1]])
        assert (await http.get(pixel)).status_code == 200
        _wait(browser, lambda d: d.execute_script(FUNNEL)["opened"] == ["2", "66.67 %"],
              message="the second open moved the funnel")
        tiles = _wait(browser, lambda d: (t := d.execute_script(TILES))["chart-opens"] == "2"
                      and t, message="the chart follows the metrics")
        assert (tiles["chart-sent"], tiles["chart-clicks"], tiles["msg-uniqueOpens"]) == \
            ("3", "0", "2")
        assert browser.execute_script(FUNNEL)["sent"][0] == "3"
        assert browser.execute_script("return window.samePage") is True

        # (c) After a reload, the feed replays the events by recipient and step …
        browser.refresh()
        _pick(browser, tag, campaign)
        feed = _wait(browser, lambda d: len(f := d.execute_script(FEED)) >= 11 and f,
                     message="the feed replayed the events")
        # Each tag update's DONE (a work item, not a message), each email's SENT, the 550,
        # the 451, the retried email's SENT, the opens.
        sent = [0, 1, 3]
        assert sorted((t, n, a, action) for t, n, a, _, _, action in feed) == sorted(
            [("DONE", n, a, "contact_status") for n, a in zip(names, addresses)]
            + [("SENT", names[i], addresses[i], "email") for i in sent]
            + [("FAILED", names[2], addresses[2], "email"),
               ("DEFERRED", names[3], addresses[3], "email")]
            + [("OPENED", n, a, "email") for n, a in zip(names[:2], addresses[:2])])
        assert feed[0][:3] == ["OPENED", names[1], addresses[1]]  # newest first
        assert {row[3] for row in feed} == {STEP}
        assert {row[0]: row[4] for row in feed if row[4]} == {
            t: failures[t][4] for t in ("FAILED", "DEFERRED")}
        assert _text(browser, "msg-uniqueOpens") == "2"
        # … and goes on live right after them: one click, shown once.
        assert (await http.get(click, follow_redirects=False)).status_code == 302
        _wait(browser, lambda d: d.execute_script(FUNNEL)["clicked"] == ["1", "33.33 %"],
              message="the click moved the funnel")
        _wait(browser, lambda d: d.execute_script(FEED)[0][:3] ==
              ["CLICKED", names[0], addresses[0]], message="the click is in the feed")
        assert [row[0] for row in browser.execute_script(FEED)].count("CLICKED") == 1
        assert len(browser.execute_script(FEED)) == len(feed) + 1  # no gap, no duplicate
    assert _console_problems(browser) == []
