"""The Dramatiq broker named by ``DRUMBEAT_BROKER_URL``.

Always passed explicitly (never ``dramatiq.set_broker`` / the global default, which would
silently create a RabbitMQ broker on localhost).
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker

from drumbeat.settings import Settings

def make_broker(settings: Settings) -> dramatiq.Broker:
    url = settings.broker_url
    if url.startswith("memory:"):
        return StubBroker()
    if url.startswith(("redis:", "rediss:")):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url, namespace=settings.queue)
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    return RabbitmqBroker(url=url, confirm_delivery=True)
