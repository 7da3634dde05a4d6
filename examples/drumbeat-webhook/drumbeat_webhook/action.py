"""The ``webhook`` action type: render, sign and POST; map each response to an outcome.

2xx → done; 408, 429, 5xx, timeouts and connection errors → retried (after the
receiver's ``Retry-After`` when it gives one, else with exponential backoff); any other
status → failed with the status and the start of the response as the reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Sequence

import httpx

from drumbeat import ActionContext, ActionType, CampaignInfo, Outcome, Target, TemplateProblem
from drumbeat_webhook import network
from drumbeat_webhook.config import SECRET_PREFIX, WebhookConfig, signing_secret
from drumbeat_webhook.signing import signed_headers

USER_AGENT = "drumbeat-webhook/0.1"
RETRY_STATUSES = frozenset({408, 429})
BASE_BACKOFF_SECONDS = 30.0
MAX_RETRY_AFTER_SECONDS = 6 * 3600.0
REASON_CHARS = 300
RESOLVE_SECONDS = 5.0  # the host name's lookup when a step is saved
#: A response is read up to this size (all of it keeps its connection reusable).
MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Request:
    """One POST: the targets it delivers, its exact body bytes and its idempotency key."""

    targets: tuple[Target, ...]
    body: bytes
    idempotency_key: str


class WebhookAction(ActionType):
    key = "webhook"
    label = "Outgoing webhook"
    Config = WebhookConfig
    recipient_kinds = ("contact", "company", "lead")
    needs_address = False

    def check_config(self, config: WebhookConfig, templates) -> list[tuple[tuple[str, ...], str]]:
        try:
            templates.check(config.body)
        except TemplateProblem as exc:
            return [(("body",), str(exc))]
        return []

    async def check_references(self, config: WebhookConfig, db) -> list[tuple[tuple[str, ...], str]]:
        """The URL's host is public (an IP literal, or every address its name resolves to),
        when the step is saved and at launch — see :mod:`drumbeat_webhook.network`."""
        try:
            refused = await asyncio.wait_for(
                network.refusal(config.url.host or "", config.url.port or 443),
                RESOLVE_SECONDS)
        except network.HostUnavailable as exc:
            return [(("url",), str(exc))]
        except asyncio.TimeoutError:
            return [(("url",), f"cannot resolve {config.url.host} (no answer within "
                               f"{RESOLVE_SECONDS:g} s)")]
        return [(("url",), refused)] if refused else []

    def check_launch(self, config: WebhookConfig, campaign: CampaignInfo
                     ) -> list[tuple[tuple[str, ...], str]]:
        if signing_secret(config) is None:
            return [(("secret_name",), f"{SECRET_PREFIX}{config.secret_name} is not set "
                                       "(or is shorter than 32 characters) on the server.")]
        return []

    async def execute(self, ctx: ActionContext, batch: Sequence[Target]) -> list[Outcome]:
        config: WebhookConfig = ctx.config
        secret = signing_secret(config)
        if secret is None:
            return [Outcome.failed(t, f"{SECRET_PREFIX}{config.secret_name} is not set")
                    for t in batch]
        try:
            refused = await network.refusal(config.url.host or "", config.url.port or 443)
        except network.HostUnavailable as exc:
            return [Outcome.retry(t, str(exc), _backoff(t)) for t in batch]
        if refused:
            return [Outcome.failed(t, refused) for t in batch]
        outcomes, requests = await asyncio.to_thread(_render_all, ctx, batch)
        timeout = httpx.Timeout(config.timeout_seconds, pool=None)
        limits = httpx.Limits(max_connections=config.concurrency,
                              max_keepalive_connections=config.concurrency)
        gate = asyncio.Semaphore(config.concurrency)
        async with httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False,
                                     headers={"User-Agent": USER_AGENT}) as client:
            results = await asyncio.gather(
                *(_post(client, gate, config, secret, request) for request in requests))
        return outcomes + [o for result in results for o in result]


def _render_all(ctx: ActionContext, batch: Sequence[Target]) -> tuple[list[Outcome], list[Request]]:
    """Render every body (CPU work, off the event loop); a target whose body does not
    render to JSON fails on its own."""
    config: WebhookConfig = ctx.config
    outcomes: list[Outcome] = []
    rendered: list[tuple[Target, str, object]] = []
    for target in batch:
        context = {**ctx.render_context(target), "delivery": {
            "key": target.key, "kind": target.kind, "id": target.id, "attempt": target.attempt}}
        try:
            text = ctx.templates.render(config.body, context)
            rendered.append((target, text, json.loads(text)))
        except TemplateProblem as exc:
            outcomes.append(Outcome.failed(target, f"body template: {exc}"))
        except ValueError as exc:
            outcomes.append(Outcome.failed(target, f"the body is not valid JSON: {exc}"))
    if not config.batch:
        return outcomes, [Request((t,), text.encode(), t.key) for t, text, _ in rendered]
    if not rendered:
        return outcomes, []
    items = [{"key": t.key, "body": value} for t, _, value in rendered]
    keys = "\n".join(t.key for t, _, _ in rendered)
    body = json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode()
    key = "batch-" + hashlib.sha256(keys.encode()).hexdigest()[:32]
    return outcomes, [Request(tuple(t for t, _, _ in rendered), body, key)]


async def _post(client: httpx.AsyncClient, gate: asyncio.Semaphore, config: WebhookConfig,
                secret: bytes, request: Request) -> list[Outcome]:
    headers = {**config.headers, **signed_headers(secret, "POST", str(config.url), request.body),
               "Content-Type": "application/json", "Idempotency-Key": request.idempotency_key}
    try:
        async with gate, client.stream("POST", str(config.url), content=request.body,
                                       headers=headers) as response:
            start = await _start_of(response)
    except httpx.TimeoutException as exc:
        return [Outcome.retry(t, f"timeout: {type(exc).__name__}", _backoff(t))
                for t in request.targets]
    except httpx.TransportError as exc:
        return [Outcome.retry(t, f"connection: {type(exc).__name__}: {exc}", _backoff(t))
                for t in request.targets]
    return [_outcome(t, response, start) for t in request.targets]


def _outcome(target: Target, response: httpx.Response, start: str) -> Outcome:
    if response.is_success:
        return Outcome.done(target)
    reason = f"HTTP {response.status_code}" + (f": {start}" if start else "")
    if response.status_code in RETRY_STATUSES or response.status_code >= 500:
        after = _retry_after(response.headers.get("Retry-After"))
        return Outcome.retry(target, reason, _backoff(target) if after is None else after)
    return Outcome.failed(target, reason)


async def _start_of(response: httpx.Response) -> str:
    """The start of the response, as one line of text (for a failure's reason). Reads
    the rest too, up to ``MAX_RESPONSE_BYTES``, so that the connection can be reused."""
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) > MAX_RESPONSE_BYTES:
            break
    text = data[:4 * REASON_CHARS].decode("utf-8", "replace")
    return " ".join(text.split())[:REASON_CHARS]


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _backoff(target: Target) -> float:
    """30 s, 60 s, 120 s … by attempt, at most an hour."""
    return min(BASE_BACKOFF_SECONDS * 2 ** max(target.attempt - 1, 0), 3600.0)
