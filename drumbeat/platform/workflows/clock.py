"""The workflow engine's clock: epoch seconds, real time plus an offset.

Every timer of the engine (state entry, delays, timeouts, send windows) reads this clock, so
a test moves the whole engine three days ahead with ``advance(3 * DAY)`` and no sleeping.
The offset is process-wide (the embedded server, its worker and the test share it); it is
zero in production.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

_offset = 0.0


def now() -> float:
    """The engine's current time, in epoch seconds."""
    return time.time() + _offset


def advance(seconds: float) -> None:
    """Move the clock ``seconds`` ahead (tests)."""
    global _offset
    _offset += float(seconds)


def reset() -> None:
    """Back to real time (tests)."""
    global _offset
    _offset = 0.0


def as_datetime(epoch: float | None) -> datetime | None:
    """An engine time as a timezone-aware UTC datetime (for GraphQL)."""
    return None if epoch is None else datetime.fromtimestamp(float(epoch), timezone.utc)
