"""``create_app(settings)``: Starlette with ``/graphql`` (HTTP + WebSocket) and ``/health``.

Every HTTP route sits behind the body limit (:mod:`drumbeat.http_limits`).

The lifespan opens the platform once (database, plugins, event bus), wires the broker,
and — in embedded mode (``memory://`` broker) — runs the Dramatiq worker threads and the
reconciler inside this process.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Iterable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from drumbeat.dashboard import dashboard_routes
from drumbeat.http_limits import BodyLimit
from drumbeat.platform.migrate import migrate
from drumbeat.platform.runtime import open_platform
from drumbeat.platform.plugins import build_plugins
from drumbeat.schema import build_schema
from drumbeat.schema.view import DrumbeatGraphQL
from drumbeat.security_headers import SecurityHeaders
from drumbeat.settings import Settings
from drumbeat.sign_in_throttle import SignInThrottle
from drumbeat.tracking_routes import tracking_routes
from drumbeat.worker.service import WorkerService


async def health(request: Request) -> JSONResponse:
    platform = request.app.state.platform
    try:
        await platform.db.fetchval("SELECT 1")
    except Exception as exc:  # report, don't crash: load balancers read this
        return JSONResponse({"status": "error", "database": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok", "database": platform.db.dialect,
                         "embedded_worker": platform.settings.embedded_worker})


class DrumbeatApp(Starlette):
    """Starlette with :class:`~drumbeat.security_headers.SecurityHeaders` outermost (around
    the error handler too)."""

    def build_middleware_stack(self):
        return SecurityHeaders(super().build_middleware_stack())


def create_app(
    settings: Settings | None = None,
    extra_plugins: Iterable[object] = (),
    auto_migrate: bool | None = None,
    run_worker: bool | None = None,
) -> Starlette:
    """The ASGI app.

    ``auto_migrate`` defaults to on for SQLite (the embedded default). ``run_worker``
    (default: only with the ``memory://`` broker) also consumes the broker in this process.
    """
    settings = settings or Settings.from_env()
    if auto_migrate is None:
        auto_migrate = settings.database_kind == "sqlite"
    if run_worker is None:
        run_worker = settings.embedded_worker
    plugins = build_plugins(settings.plugins_allow, settings.plugins_block, extra_plugins)
    graphql = DrumbeatGraphQL(
        build_schema(production=settings.production, plugins=plugins,
                     introspection=settings.introspection_enabled),
        graphql_ide=None if settings.production else "graphiql",
        keep_alive=True,
        sign_in_throttle=SignInThrottle(settings.sign_in_max_failures,
                                        settings.sign_in_window_seconds),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette):
        platform = await open_platform(settings, plugins=plugins)
        worker = WorkerService(platform, consume=run_worker)
        try:
            if auto_migrate:
                await migrate(plugins.piccolo_apps)
            await worker.start()
            app.state.platform = platform
            yield
        finally:
            await worker.stop()
            await platform.close()

    return DrumbeatApp(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/health", health),
            *tracking_routes(settings),
            *dashboard_routes(),
        ],
        middleware=[Middleware(BodyLimit, max_body_bytes=settings.max_body_bytes)],
        lifespan=lifespan,
    )
