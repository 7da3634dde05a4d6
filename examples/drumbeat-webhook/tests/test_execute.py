"""``execute`` against a real receiver, without a campaign: how each response, timeout and
connection error becomes an outcome."""

from __future__ import annotations

import asyncio
import socket
import time
from email.utils import formatdate

import pytest
from conftest import ENVIRONMENT, SECRET_NAME
from support_api import unique

from drumbeat import ActionContext, CampaignInfo, Sender, Target
from drumbeat.platform.templating import TemplateRenderer
from drumbeat.settings import Settings
from drumbeat_webhook import WebhookAction
from drumbeat_webhook.config import WebhookConfig

ACTION = WebhookAction()
OWNER = Sender("Owner", "owner@example.org")


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


def context(url: str, **config) -> ActionContext:
    return ActionContext(
        campaign=CampaignInfo(id=1, name="Spring", owner=OWNER), step_id=1,
        config=ACTION.parse_config({"url": url, "secret_name": SECRET_NAME, **config}),
        sender=OWNER, settings=Settings(), templates=TemplateRenderer())


def targets(count: int, attempt: int = 1) -> list[Target]:
    return [Target(delivery_id=i, key=f"c1.s1.contact{i}", kind="contact", id=i, address=None,
                   attempt=attempt, data={"contact": {"first_name": f"N{i}", "attributes": {}},
                                          "company": {}, "lead": {}, "owner": {}})
            for i in range(1, count + 1)]


def reply(status: int, headers: dict | None = None, text: str = ""):
    return lambda request, earlier: (status, headers or {}, text)


@pytest.mark.parametrize("status, headers, text, expected", [
    (204, {}, "", ("done", None, None)),
    (429, {"Retry-After": "7"}, "slow down", ("retry", "HTTP 429: slow down", 7.0)),
    (500, {}, "", ("retry", "HTTP 500", 120.0)),  # third attempt: 30 s × 2²
    (408, {"Retry-After": "soon"}, "", ("retry", "HTTP 408", 120.0)),
    (302, {"Location": "https://elsewhere.example"}, "", ("failed", "HTTP 302", None)),
    (404, {}, "no such hook", ("failed", "HTTP 404: no such hook", None)),
])
async def test_each_status_becomes_an_outcome(receiver, status, headers, text, expected):
    hook = unique("status")
    receiver.scripts[hook] = reply(status, headers, text)
    (outcome,) = await ACTION.execute(context(receiver.url(hook)), targets(1, attempt=3))
    assert (outcome.status, outcome.error, outcome.retry_after) == expected
    assert len(receiver.received(hook)) == 1


async def test_a_retry_after_date_is_honoured(receiver):
    hook = unique("date")
    receiver.scripts[hook] = reply(503, {"Retry-After": formatdate(time.time() + 600, usegmt=True)})
    (outcome,) = await ACTION.execute(context(receiver.url(hook)), targets(1))
    assert outcome.status == "retry" and 590 <= outcome.retry_after <= 600


async def test_a_refused_connection_is_retried_with_backoff():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    outcomes = await ACTION.execute(context(f"http://127.0.0.1:{port}/in"), targets(2, attempt=2))
    assert [(o.status, o.retry_after) for o in outcomes] == [("retry", 60.0)] * 2
    assert all(o.error.startswith("connection: ConnectError") for o in outcomes)


async def test_a_receiver_slower_than_the_timeout_is_retried(receiver):
    hook = unique("slow")

    async def stall(request, earlier):
        await asyncio.sleep(2)
        return 200, {}, "too late"

    receiver.scripts[hook] = stall
    (outcome,) = await ACTION.execute(context(receiver.url(hook), timeout_seconds=0.2), targets(1))
    assert (outcome.status, outcome.error) == ("retry", "timeout: ReadTimeout")


async def test_one_client_per_chunk_reuses_its_connections(receiver):
    hook = unique("reuse")
    outcomes = await ACTION.execute(context(receiver.url(hook), concurrency=3), targets(30))
    assert {o.status for o in outcomes} == {"done"}
    requests = receiver.received(hook)
    assert len(requests) == 30
    assert len({r.client_port for r in requests}) <= 3


async def test_without_its_secret_nothing_is_sent(receiver, monkeypatch):
    monkeypatch.delenv("DRUMBEAT_WEBHOOK_SECRET_TESTS")
    hook = unique("nosecret")
    outcomes = await ACTION.execute(context(receiver.url(hook)), targets(2))
    assert [(o.status, o.error) for o in outcomes] == [
        ("failed", "DRUMBEAT_WEBHOOK_SECRET_TESTS is not set")] * 2
    assert receiver.received(hook) == []


def test_the_config_refuses_reserved_headers_in_any_case():
    for name in ("content-length", "IDEMPOTENCY-KEY", "X-Drumbeat-Signature", "Transfer-Encoding"):
        with pytest.raises(ValueError, match="set by Drumbeat"):
            WebhookConfig(url="https://example.com", secret_name="X", headers={name: "1"})
