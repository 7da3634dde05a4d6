"""Browser-safety headers on every HTTP response, error pages included.

* ``X-Content-Type-Options: nosniff`` — a browser uses the declared media type only;
* ``X-Frame-Options: DENY`` and ``Content-Security-Policy: frame-ancestors 'none'`` — no
  page (the unsubscribe page, the dashboard, GraphiQL, an error page) can be framed by
  another site (clickjacking).

A response that sets one of them itself keeps its own value; a response with its own
Content-Security-Policy without ``frame-ancestors`` gets a second header with only that
directive (browsers enforce every policy given, so nothing else is loosened or tightened:
scripts of GraphiQL and the dashboard load as before). The app installs this outermost,
around Starlette's own error handler, so a 500 page carries the headers too.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FRAME_ANCESTORS = b"frame-ancestors 'none'"
HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_security_headers(list(message.get("headers", [])))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    names = {name.lower() for name, _ in headers}
    for name, value in HEADERS:
        if name not in names:
            headers.append((name, value))
    policies = [value.lower() for name, value in headers
                if name.lower() == b"content-security-policy"]
    if not any(b"frame-ancestors" in policy for policy in policies):
        headers.append((b"content-security-policy", FRAME_ANCESTORS))
    return headers
