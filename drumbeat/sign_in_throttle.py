"""Failed sign-ins throttled per client address.

A request or WebSocket ``connection_init`` that presents a bearer token which does not
authenticate is a failure of its client address. After ``DRUMBEAT_SIGN_IN_MAX_FAILURES``
failures within ``DRUMBEAT_SIGN_IN_WINDOW_SECONDS`` (a sliding window), anything from that
address that presents a token is refused until the oldest of them leaves the window: HTTP
429 with ``Retry-After``, WebSocket close code 4429. Requests without a token are not
affected (they can do nothing), nor are other addresses when one signs in.

The counts live in this process's memory, at most ``MAX_ADDRESSES`` addresses (the least
recently failing forgotten first): with several API processes each counts its own, so an
address gets up to (processes × limit) attempts per window. The address is the connection's
peer — behind a reverse proxy, run uvicorn with ``--proxy-headers`` and
``--forwarded-allow-ips`` so that it is the client's.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from typing import Callable

MAX_ADDRESSES = 10_000
CLOSE_CODE = 4429


class SignInThrottle:
    def __init__(self, max_failures: int, window_seconds: float,
                 max_addresses: int = MAX_ADDRESSES,
                 clock: Callable[[], float] = time.monotonic):
        self.max_failures = max_failures
        self.window = window_seconds
        self.max_addresses = max_addresses
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.max_failures > 0

    def _recent(self, address: str, now: float) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def retry_after(self, address: str) -> int | None:
        """Whole seconds until ``address`` may try again, or ``None`` when it may now."""
        if not self.enabled:
            return None
        now = self.clock()
        times = self._recent(address, now)
        if times is None or len(times) < self.max_failures:
            return None
        return max(1, math.ceil(times[0] + self.window - now))

    def failed(self, address: str) -> None:
        if not self.enabled:
            return
        now = self.clock()
        times = self._recent(address, now)
        if times is None:
            times = self._failures[address] = deque(maxlen=self.max_failures)
        self._failures.move_to_end(address)
        times.append(now)
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)

    def __len__(self) -> int:
        return len(self._failures)


def too_many(seconds: int) -> str:
    return f"Too many failed sign-ins from this address; try again in {seconds} s."
