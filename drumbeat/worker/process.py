"""``drumbeat worker``: one worker process (run as many as you like, on any machine)."""

from __future__ import annotations

import logging
import signal
import threading

from drumbeat.platform.runtime import open_platform
from drumbeat.settings import Settings
from drumbeat.worker.bridge import LoopBridge
from drumbeat.worker.service import WorkerService

log = logging.getLogger(__name__)


def run_worker_process(settings: Settings) -> None:
    """Consume chunks until SIGTERM or SIGINT, then finish in-flight work and exit."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    bridge = LoopBridge.in_new_thread()
    platform = bridge.run(open_platform(settings))
    service = WorkerService(platform, consume=True)
    try:
        bridge.run(service.start())
        log.info("drumbeat worker ready (broker %s)", settings.broker_url.split("@")[-1])
        print("drumbeat worker ready", flush=True)
        stop.wait()
        log.info("stopping: finishing in-flight chunks")
    finally:
        bridge.run(service.stop())
        bridge.run(platform.close())
        bridge.stop()
