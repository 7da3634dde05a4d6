"""Request signatures — the canonical form of Drumbeat's own signed requests (the
Drumbeat README, "Signed requests"): HMAC-SHA256, lower-case hex, over

    v2:<timestamp>:<METHOD>:<path>:<raw body>

where ``<path>`` is the request target as sent (the URL's path, plus ``?`` and the query
string if it has one), so a captured request verifies neither at another URL nor with
another method, and not after ``tolerance_seconds``.

The sender adds ``X-Drumbeat-Timestamp: <unix seconds>`` and
``X-Drumbeat-Signature: v2=<hex>``. A receiver recomputes the HMAC with the shared secret
(its bytes, as configured) over that string built from the timestamp header, its request's
method and target and the raw body bytes (before any JSON parsing), compares it in
constant time and refuses timestamps too far from its clock; ``Idempotency-Key`` then
lets it drop a resend. :func:`verify` does exactly that and may be copied into a receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

SIGNATURE_HEADER = "X-Drumbeat-Signature"
TIMESTAMP_HEADER = "X-Drumbeat-Timestamp"
VERSION = "v2"


def canonical(timestamp: str, method: str, target: str, body: bytes) -> bytes:
    return f"{VERSION}:{timestamp}:{method.upper()}:{target}:".encode() + body


def signature(secret: bytes, timestamp: str, method: str, target: str, body: bytes) -> str:
    digest = hmac.new(secret, canonical(timestamp, method, target, body), hashlib.sha256)
    return f"{VERSION}={digest.hexdigest()}"


def request_target(url: str) -> str:
    """What a request to ``url`` names on its request line: path and query, as sent."""
    return httpx.URL(url).raw_path.decode("ascii")


def signed_headers(secret: bytes, method: str, url: str, body: bytes,
                   now: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(secret, timestamp, method, request_target(url), body)}


def verify(secret: bytes, method: str, target: str, headers, body: bytes,
           tolerance_seconds: float = 300, now: float | None = None) -> bool:
    """True when ``headers`` (a mapping; names in any case) sign ``method``, ``target``
    (the request's path and ``?query``, as received) and ``body`` with ``secret``, and
    their timestamp is within ``tolerance_seconds`` of ``now``."""
    lowered = {name.lower(): value for name, value in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower()) or ""
    given = lowered.get(SIGNATURE_HEADER.lower()) or ""
    if not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance_seconds:
        return False
    return hmac.compare_digest(given, signature(secret, timestamp, method, target, body))
