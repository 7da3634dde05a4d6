"""Recipient-facing routes: ``/t/o/{token}`` (open pixel), ``/t/c/{token}`` (click
redirect to the stored URL only) and ``/u/{token}`` (GET: a confirmation page that changes
nothing; POST: RFC 8058 one-click unsubscribe). A bad token is a 404, never more.
And the mail provider's: ``POST /webhooks/inbound`` (signed; see ``tracking.inbound``)."""

from __future__ import annotations

import base64
import html
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import (
    HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response,
)
from starlette.routing import Route

from drumbeat.platform.tables.tracking import EventType
from drumbeat.platform.tracking import hits, inbound, signed_requests
from drumbeat.platform.tracking.events import client_hash
from drumbeat.platform.tracking.tokens import keyring_for
from drumbeat.trigger_routes import trigger_webhook

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
            "Pragma": "no-cache", "Expires": "0"}
MAX_FORM_BYTES = 10_000


def _not_found() -> Response:
    return PlainTextResponse("Not found", status_code=404, headers=NO_CACHE)


async def _resolve(request: Request, purpose: str):
    """The token's claims and its delivery, or ``(None, None)``."""
    platform = request.app.state.platform
    claims = keyring_for(platform.settings).verify(request.path_params["token"], purpose)
    if claims is None:
        return None, None
    return claims, await hits.delivery(platform.db, claims.delivery_id)


def _visit(request: Request) -> hits.Visit:
    agent = request.headers.get("user-agent", "")[:500]
    ip = request.client.host if request.client else ""
    return hits.Visit(request.method, client_hash(request.app.state.platform.settings.secret_key,
                                                  ip, agent), agent)


async def track_open(request: Request) -> Response:
    _, ref = await _resolve(request, "open")
    if ref is None:
        return _not_found()
    await hits.record_hit(request.app.state.platform, ref, EventType.OPENED, _visit(request))
    return Response(PIXEL, media_type="image/gif", headers=NO_CACHE)


async def track_click(request: Request) -> Response:
    claims, ref = await _resolve(request, "click")
    if ref is None:
        return _not_found()
    platform = request.app.state.platform
    url = await hits.tracked_url(platform.db, ref.id, claims.link_index)
    if url is None:
        return _not_found()
    await hits.record_hit(platform, ref, EventType.CLICKED, _visit(request), url)
    return RedirectResponse(url, status_code=302, headers=NO_CACHE)


async def unsubscribe(request: Request) -> Response:
    _, ref = await _resolve(request, "unsubscribe")
    if ref is None:
        return _not_found()
    if request.method != "POST":
        return HTMLResponse(_page(
            "Unsubscribe",
            f"<p>Stop emails to <b>{html.escape(ref.address or 'this address')}</b>?</p>"
            '<form method="post"><input type="hidden" name="List-Unsubscribe" '
            'value="One-Click"><button type="submit">Unsubscribe</button></form>'),
            headers=NO_CACHE)
    if not await _one_click(request):
        return PlainTextResponse("Expected List-Unsubscribe=One-Click", status_code=400)
    await hits.unsubscribe(request.app.state.platform, ref, _visit(request))
    return HTMLResponse(_page("Unsubscribed", "<p>You will not get these emails again.</p>"),
                        headers=NO_CACHE)


async def _one_click(request: Request) -> bool:
    """Whether the POST body carries ``List-Unsubscribe=One-Click`` (url-encoded or
    multipart, as RFC 8058 allows)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return False
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        try:
            message = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {kind}\r\n\r\n".encode("latin-1", "replace") + body)
            values = [str(part.get_content()).strip() for part in message.iter_parts()
                      if part.get_param("name", header="content-disposition")
                      == "List-Unsubscribe"]
        except (ValueError, LookupError, TypeError, AttributeError):
            return False
    else:
        try:
            values = parse_qs(body.decode("ascii")).get("List-Unsubscribe", [])
        except UnicodeDecodeError:
            return False
    return "One-Click" in values


async def inbound_webhook(request: Request) -> Response:
    """A reply, bounce, delivery or complaint from the mail provider (HMAC-signed)."""
    platform = request.app.state.platform
    keyring = keyring_for(platform.settings)
    try:
        body, signed_at = await signed_requests.verified_body(
            request, inbound.KIND, keyring, inbound.MAX_BODY_BYTES)
        status = await inbound.handle(platform, keyring, inbound.parse(body), signed_at)
    except inbound.InboundError as exc:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)
    return JSONResponse({"status": status})


def _page(title: str, content: str) -> str:
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title>"
            '<meta name="viewport" content="width=device-width"></head>'
            f"<body style=\"font-family:sans-serif;max-width:30em;margin:3em auto\">"
            f"<h1>{title}</h1>{content}</body></html>")


def tracking_routes(settings) -> list[Route]:
    """The routes; a malformed ``DRUMBEAT_SECRET_KEYS`` stops start-up here."""
    keyring_for(settings)
    return [
        Route("/t/o/{token}", track_open, methods=["GET"]),
        Route("/t/c/{token}", track_click, methods=["GET"]),
        Route("/u/{token}", unsubscribe, methods=["GET", "POST"]),
        Route("/webhooks/inbound", inbound_webhook, methods=["POST"]),
        Route("/triggers/{campaign}", trigger_webhook, methods=["POST"]),
    ]
