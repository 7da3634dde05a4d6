"""The platform runtime: every service a process needs, built once and closed once.

``open_platform(settings)`` is called by the app's lifespan and by each worker process.
The worker layer plugs its broker in through :attr:`Platform.dispatcher` (the platform
never imports the worker).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Iterable, Sequence

from drumbeat.platform.database import Database, connect
from drumbeat.platform.events import EventBus, make_event_bus
from drumbeat.platform.ledger import Chunk
from drumbeat.platform.mail.transport import bind_mail, close_mail
from drumbeat.platform.plugins import Plugins, build_plugins
from drumbeat.platform.templating import TemplateRenderer
from drumbeat.settings import Settings

log = logging.getLogger(__name__)

Dispatcher = Callable[[Sequence[Chunk]], Awaitable[None]]


async def _no_dispatcher(chunks: Sequence[Chunk]) -> None:
    log.warning("no dispatcher: %d chunk(s) left to the reconciler", len(chunks))


@dataclass
class Platform:
    settings: Settings
    db: Database
    plugins: Plugins
    templates: TemplateRenderer
    events: EventBus
    dispatcher: Dispatcher = field(default=_no_dispatcher)

    async def dispatch(self, chunks: Sequence[Chunk]) -> None:
        """Hand chunks to the broker. Call it only after the rows are committed."""
        if chunks:
            await self.dispatcher(chunks)

    async def publish(self, campaign_id: int, message: dict) -> None:
        try:
            await self.events.publish(f"campaign:{campaign_id}", message)
        except Exception:  # progress is advisory: never fail a chunk because of it
            log.exception("publishing progress of campaign %s failed", campaign_id)

    async def close(self) -> None:
        await self.plugins.close()
        await close_mail(self.db)  # the SMTP session pools of this process
        await self.events.close()
        await self.db.stop()


async def open_platform(settings: Settings, extra_plugins: Iterable[object] = (),
                        plugins: Plugins | None = None) -> Platform:
    """Every service of a process; ``plugins`` when they are built already (the app builds
    them first, for its schema), else from the settings and ``extra_plugins``."""
    if plugins is None:
        plugins = build_plugins(settings.plugins_allow, settings.plugins_block, extra_plugins)
    db = await connect(settings, plugins.tables())
    bind_mail(db, settings)  # SMTP send limits shared through the database
    return Platform(
        settings=settings,
        db=db,
        plugins=plugins,
        templates=TemplateRenderer(filters=plugins.template_filters),
        events=make_event_bus(settings.events_url, settings.queue),
    )
