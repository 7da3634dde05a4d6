"""Request signatures: HMAC-SHA256 over ``<timestamp>.<raw body>``.

The sender adds ``X-Drumbeat-Timestamp: <unix seconds>`` and
``X-Drumbeat-Signature: sha256=<hex>``. A receiver recomputes the HMAC with the shared
secret over the timestamp header, a dot and the raw body bytes (before any JSON parsing),
compares it in constant time, and refuses timestamps too far from its clock (replays).
:func:`verify` does exactly that and may be copied into a receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Drumbeat-Signature"
TIMESTAMP_HEADER = "X-Drumbeat-Timestamp"


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: bytes, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(secret: bytes, headers, body: bytes, tolerance_seconds: float = 300,
           now: float | None = None) -> bool:
    """True when ``headers`` (a mapping; names in any case) sign ``body`` with ``secret``
    and their timestamp is within ``tolerance_seconds`` of ``now``."""
    lowered = {name.lower(): value for name, value in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower()) or ""
    given = lowered.get(SIGNATURE_HEADER.lower()) or ""
    if not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance_seconds:
        return False
    return hmac.compare_digest(given, signature(secret, timestamp, body))
