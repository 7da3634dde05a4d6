"""Signed inbound requests — triggers (``POST /triggers/{campaign}``) and the mail
provider's events (``POST /webhooks/inbound``): what a signature covers and how it is
checked.

The header is ``Drumbeat-Signature: kid=<kid>,t=<unix seconds>,v2=<hex>`` where ``<hex>``
is the lower-case hex HMAC-SHA256, keyed with the *signing key* of the request's kind, of
the canonical string::

    v2:<t>:<METHOD>:<path>:<raw body>

* ``<t>`` — the same decimal unix seconds as in the header; refused when more than
  :data:`TOLERANCE_SECONDS` away from the server's clock;
* ``<METHOD>`` — the HTTP method, upper case (``POST``);
* ``<path>`` — the request target exactly as sent: the path (percent-encoding as sent,
  e.g. ``/triggers/42``) and, if there is one, ``?`` and the query string;
* ``<raw body>`` — the body bytes as sent, before any JSON parsing.

The signing key of a kind is a 64-character hex string, used as the HMAC key as it is
(its ASCII bytes): hex(HMAC-SHA256(the ``DRUMBEAT_SECRET_KEYS`` entry's secret, label))
with the label ``drumbeat-trigger`` or ``drumbeat-inbound-webhook`` — so a sender holds
neither the secret (which also signs tracking links) nor the other kind's key, and keys
rotate with ``DRUMBEAT_SECRET_KEYS`` (a rotated-out kid verifies until its date).
``drumbeat signing-key trigger`` prints the current kid and key.

The body names the event with an ``id`` (:func:`event_id`); the signature covers it, and
:mod:`drumbeat.platform.tracking.inbound_ids` applies each id once. The older ``v1``
scheme (timestamp and body only: replayable on another path) is gone — nothing released
used it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from drumbeat.platform.tracking.tokens import Keyring

TOLERANCE_SECONDS = 300
VERSION = "v2"
LABELS = {"trigger": b"drumbeat-trigger", "inbound": b"drumbeat-inbound-webhook"}
HEADER = "Drumbeat-Signature"
MAX_ID_LENGTH = 200
ID_PATTERN = re.compile(r"[A-Za-z0-9._:@/+=#-]{1,%d}" % MAX_ID_LENGTH)
_HEX = re.compile(r"[0-9a-f]{64}")


class InboundError(Exception):
    """The request is refused: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def signing_key(secret: bytes, kind: str) -> str:
    """The signing key a ``DRUMBEAT_SECRET_KEYS`` secret gives for one ``kind`` of request
    (``trigger`` or ``inbound``): 64 hex characters, handed to that kind's senders."""
    return hmac.new(secret, LABELS[kind], hashlib.sha256).hexdigest()


def canonical(at: int, method: str, path: str, body: bytes) -> bytes:
    """The signed string ``v2:<t>:<METHOD>:<path>:<body>``."""
    return f"{VERSION}:{int(at)}:{method.upper()}:{path}:".encode() + body


def mac(key: str, at: int, method: str, path: str, body: bytes) -> str:
    return hmac.new(key.encode("ascii"), canonical(at, method, path, body),
                    hashlib.sha256).hexdigest()


def sign(keyring: Keyring, kind: str, method: str, path: str, body: bytes,
         at: int | None = None) -> str:
    """The ``Drumbeat-Signature`` header for a request, with the current key (for Python
    senders and tests)."""
    at = int(time.time()) if at is None else int(at)
    key = keyring.current
    return (f"kid={key.kid},t={at},{VERSION}="
            f"{mac(signing_key(key.secret, kind), at, method, path, body)}")


def verify(keyring: Keyring, kind: str, header: str | None, method: str, path: str,
           body: bytes, now: float | None = None) -> int:
    """The signature's timestamp, or :class:`InboundError` (401) unless ``header`` signs
    this method, path and body for ``kind`` with a live key within the time tolerance."""
    fields: dict[str, str] = {}
    for part in (header or "")[:400].split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    kid, stamp, signature = fields.get("kid", ""), fields.get("t", ""), fields.get(VERSION, "")
    if not signature and "v1" in fields:
        raise InboundError(401, "Drumbeat-Signature v1 is no longer accepted: sign"
                                " v2:<t>:<METHOD>:<path>:<body> (see the README)")
    key = keyring.keys.get(kid)
    if key is None or not stamp.isdigit() or len(stamp) > 12 or not _HEX.fullmatch(signature):
        raise InboundError(401, "missing or malformed Drumbeat-Signature")
    current = time.time() if now is None else now
    if key.expires is not None and current >= key.expires.timestamp():
        raise InboundError(401, "the signing key has expired")
    if abs(current - int(stamp)) > TOLERANCE_SECONDS:
        raise InboundError(401, "the signature's timestamp is too old or in the future")
    expected = mac(signing_key(key.secret, kind), int(stamp), method, path, body)
    if not hmac.compare_digest(expected, signature):
        raise InboundError(401, "bad signature")
    return int(stamp)


def request_target(scope) -> str:
    """The path (as sent) and query string of an ASGI request — what ``<path>`` signs."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    query = scope.get("query_string") or b""
    return f"{path}?{query.decode('latin-1')}" if query else path


async def read_body(request, limit: int) -> bytes:
    """The body, or :class:`InboundError` (413) as soon as it passes ``limit`` bytes."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise InboundError(413, "the body is too large")
    return body


async def verified_body(request, kind: str, keyring: Keyring, limit: int) -> tuple[bytes, int]:
    """Read and verify a signed request: (its body, the signature's timestamp)."""
    body = await read_body(request, limit)
    signed_at = verify(keyring, kind, request.headers.get(HEADER), request.method,
                       request_target(request.scope), body)
    return body, signed_at


def event_id(value: object) -> str:
    """The body's ``id``: 1–200 characters of ``A–Z a–z 0–9 . _ : @ / + = # -``; else
    :class:`InboundError` (400)."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise InboundError(400, f"id: the event's id is required (1–{MAX_ID_LENGTH} characters"
                                " of A–Z a–z 0–9 . _ : @ / + = # -)")
    return value
