"""The live dashboard (``/dashboard``) in real headless Chromium, against the live server:
sign in with a token, pick a campaign, launch it through the API and watch the sent counter
climb through the ``campaignProgress`` subscription and SENT events arrive in the feed; a
workflow campaign's card follows ``campaignEnrollmentProgress``.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make browser`` installs them as
root). With ``CI=true`` a missing browser fails the test; elsewhere it is skipped.
"""

from __future__ import annotations

import os
import time

import httpx
import pytest

from drumbeat.platform.workflows import clock, scheduler
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import add_recipients, create_campaign, create_contacts, launch_campaign
from tests.support.smtp import SmtpSink
from tests.test_workflow_definition import SET
from tests.test_workflow_engine import ENROLLMENTS, PAUSE

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1000")
RECIPIENTS = 200
FEED_LIMIT = 100  # drumbeat/dashboard/static/feed.js


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _require_browser() -> None:
    problems = [f"{path} is missing" for path in (CHROMIUM, CHROMEDRIVER)
                if not os.access(path, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        problems.append("the selenium package is not installed (pip install -e '.[test]')")
    if problems:
        reason = "; ".join(problems) + " — `make browser` installs chromium and chromium-driver"
        if _in_ci():
            pytest.fail(f"CI needs the browser: {reason}")
        pytest.skip(reason)


@pytest.fixture
def browser(tmp_path):
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM  # with the driver path: Selenium Manager stays idle
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, condition, timeout: float = 30, message: str = ""):
    """Poll ``condition``; an element the page re-rendered meanwhile (stale) is retried."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.02,
                         ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: condition(d), message)


def _text(driver, element_id: str) -> str:
    """The element's text, read in one script (never a stale element reference)."""
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.textContent.trim() : null",
        element_id)


def _sign_in(driver, url: str, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{url}/dashboard")
    field = _wait(driver, lambda d: d.find_element(By.ID, "token"))
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#signin button[type=submit]").click()


def _console_problems(driver) -> list[str]:
    """Console errors other than the missing favicon (CSP violations show up here)."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]]


async def test_the_counters_climb_live_while_the_campaign_runs(make_server, browser):
    from selenium.webdriver.common.by import By

    sink = SmtpSink(delay=0.05).start()  # slow enough that the run takes a few seconds
    try:
        server = make_server(smtp_url=sink.url, chunk_size=10)
        api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
        tag = unique("dash")
        addresses = [f"{tag}-{i}@example.org" for i in range(RECIPIENTS)]
        name = f"Live {tag} <b>not bold</b>"
        campaign = await create_campaign(api, name)
        contacts = await create_contacts(api, [{"email": a, "firstName": f"P{i}", "lastName": "T"}
                                               for i, a in enumerate(addresses)])
        assert (await add_recipients(api, campaign, contacts))["added"] == RECIPIENTS

        _sign_in(browser, server.url, api.token)
        _wait(browser, lambda d: d.find_element(By.ID, "board").is_displayed(),
              message="signed in")
        browser.find_element(By.ID, "search-text").send_keys(tag)
        _wait(browser, lambda d: d.find_element(  # the list may re-render while filtering
            By.CSS_SELECTOR, f'#campaigns button[data-id="{campaign}"]').click() or True)
        _wait(browser, lambda d: _text(d, "live") == "live",
              message="the progress subscription delivered its first snapshot")
        assert _text(browser, "campaign-name") == name  # rendered as text: no markup from data
        assert browser.execute_script(
            "return document.getElementById('campaign-name').children.length") == 0
        assert browser.find_elements(By.CSS_SELECTOR, "#campaigns b") == []
        assert _text(browser, "counter-done") == "0"

        await launch_campaign(api, campaign)
        readings = [0]
        deadline = time.monotonic() + 90
        while readings[-1] != RECIPIENTS:
            assert time.monotonic() < deadline, f"sent counter stuck: {readings}"
            value = int(_text(browser, "counter-done"))
            if value != readings[-1]:
                readings.append(value)
        assert readings == sorted(readings), f"the counter only grows: {readings}"
        between = [v for v in readings if 0 < v < RECIPIENTS]
        assert between, f"seen while running, not only at the end: {readings}"

        _wait(browser, lambda d: _text(d, "campaign-state") == "COMPLETED")
        _wait(browser, lambda d: d.find_element(
            By.CSS_SELECTOR, '#funnel tr[data-step="sent"] td').text == str(RECIPIENTS),
            message="the funnel refetched after the run")
        assert _text(browser, "counter-total") == str(RECIPIENTS)
        assert _text(browser, "counter-failed") == "0"
        assert "no budget set" in _text(browser, "budget")
        assert browser.execute_script(  # no workflow: nobody enrolled, no workflow card
            "return document.getElementById('workflow-card').hidden") is True

        # Read the feed in one script: the page may re-render it between two WebDriver calls.
        feed_addresses = ("return Array.from(document.querySelectorAll("
                          "'#feed li[data-type=\"SENT\"] .address'), e => e.textContent)")
        shown = set(_wait(browser, lambda d: len(items := d.execute_script(feed_addresses))
                          == FEED_LIMIT and items,
                          message="the feed shows the last SENT events"))
        assert len(shown) == FEED_LIMIT and shown <= set(addresses)
        assert browser.find_elements(By.CSS_SELECTOR, "#feed li.note") == []
        assert browser.execute_script("return sessionStorage.getItem('drumbeat.token')") == api.token
        assert _console_problems(browser) == []
    finally:
        sink.stop()


WORKFLOW_ROWS = ("return Array.from(document.querySelectorAll('#workflow tr'), r =>"
                 " Array.from(r.children, c => c.textContent.trim()))")


async def test_the_workflow_card_follows_the_enrollments_live(server, browser):
    """campaignEnrollmentProgress on the page, by state name (not key): launched recipients
    waiting, one paused by hand, the others moved on by the scheduler."""
    from selenium.webdriver.common.by import By

    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("dash-wf")
    campaign = await create_campaign(api, f"Workflow {tag}")
    definition = {"states": [
        {"key": "wait", "name": "Wait", "start": True, "actions": [],
         "transitions": [{"afterDelay": {"to": "done", "delay": {"iso": "P1D"}}}]},
        {"key": "done", "name": "Done", "start": False, "actions": [], "transitions": []},
    ], "goals": []}
    assert (await api.data(SET, {"c": campaign, "input": definition})
            )["campaignWorkflowSet"]["errors"] == []
    await add_recipients(api, campaign, await create_contacts(api, [
        {"email": f"{tag}-{i}@example.org"} for i in range(3)]))
    _sign_in(browser, server.url, api.token)
    _wait(browser, lambda d: d.find_element(By.ID, "board").is_displayed())
    browser.find_element(By.ID, "search-text").send_keys(tag)
    _wait(browser, lambda d: d.find_element(
        By.CSS_SELECTOR, f'#campaigns button[data-id="{campaign}"]').click() or True)
    _wait(browser, lambda d: _text(d, "live") == "live")
    assert browser.execute_script("return document.getElementById('workflow-card').hidden")

    await launch_campaign(api, campaign)
    _wait(browser, lambda d: d.execute_script(WORKFLOW_ROWS) == [["Wait (v1)", "3",
                                                                  "3 waiting"]],
          message="the launched recipients wait")
    first = (await api.data(ENROLLMENTS, {"c": campaign, "status": None})
             )["campaignEnrollments"]["edges"][0]["node"]["id"]
    assert (await api.data(PAUSE, {"id": first}))["enrollmentPause"]["errors"] == []
    _wait(browser, lambda d: d.execute_script(WORKFLOW_ROWS) == [
        ["Wait (v1)", "3", "1 paused, 2 waiting"]], message="one paused by hand")
    try:
        clock.advance(2 * 86_400)
        await server.call(scheduler.run_until_idle(server.platform))
    finally:
        clock.reset()
    _wait(browser, lambda d: d.execute_script(WORKFLOW_ROWS) == [
        ["Done (v1)", "2", "2 completed"], ["Wait (v1)", "1", "1 paused"]],
        message="the others moved on")
    assert _console_problems(browser) == []


async def test_a_wrong_token_shows_an_error_and_is_not_kept(server, browser):
    from selenium.webdriver.common.by import By

    _sign_in(browser, server.url, "not-a-real-token")
    error = _wait(browser, lambda d: d.find_element(By.ID, "signin-error").is_displayed()
                  and d.find_element(By.ID, "signin-error"), message="an error is shown")
    assert error.text.startswith("Sign-in failed:") and len(error.text) > len("Sign-in failed: ")
    assert not browser.find_element(By.ID, "board").is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('drumbeat.token')") is None


async def test_the_page_has_a_strict_content_security_policy(server):
    async with httpx.AsyncClient(base_url=server.url) as client:
        page = await client.get("/dashboard")
        script = await client.get("/dashboard/app.js")
        unknown = await client.get("/dashboard/..%2Fapp.py")
        missing = await client.get("/dashboard/secrets.txt")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    policy = dict(part.strip().split(" ", 1) for part in
                  page.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'none'" and policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert "<script" in page.text and "<script>" not in page.text  # no inline script
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert (unknown.status_code, missing.status_code) == (404, 404)
