"""The live dashboard: a static page at ``/dashboard`` (HTML, plain JS modules, CSS; no
build step) that signs in with an API token and uses only the public GraphQL API — queries
over HTTP, subscriptions over ``graphql-transport-ws``. It has no privileges of its own.

Only the files listed in ``ASSETS`` are served (no path from the request reaches the file
system), each with a strict Content-Security-Policy: scripts, styles and connections from
this origin only, no inline code, no framing.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

STATIC = Path(__file__).parent / "static"
ASSETS = {
    "dashboard.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "live.js": "text/javascript; charset=utf-8",
    "view.js": "text/javascript; charset=utf-8",
    "metrics.js": "text/javascript; charset=utf-8",
    "chart.js": "text/javascript; charset=utf-8",
    "feed.js": "text/javascript; charset=utf-8",
    "failures.js": "text/javascript; charset=utf-8",
    "workflow.js": "text/javascript; charset=utf-8",
}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                        headers=HEADERS)


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    media_type = ASSETS.get(name)
    if media_type is None:
        return PlainTextResponse("Not found", status_code=404, headers=HEADERS)
    return FileResponse(STATIC / name, media_type=media_type, headers=HEADERS)


def dashboard_routes() -> list[Route]:
    return [Route("/dashboard", page), Route("/dashboard/{name}", asset)]
