"""Signed tracking tokens: ``<kid>.<payload>.<signature>``, all URL-safe.

The signature is HMAC-SHA256 (base64url, unpadded) over ``<kid>.<payload>`` with the key
named ``kid``. The payload is base64url of ``<purpose>:<delivery id>[:<link index>]``.
Keys come from ``DRUMBEAT_SECRET_KEYS`` — comma-separated ``kid:secret[:YYYY-MM-DD]``
entries: the first signs, the others only verify, each until the end of its date (UTC),
which is the grace period of a rotated-out key. Without it, one key (kid ``main``) is
derived from ``DRUMBEAT_SECRET_KEY``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache

from drumbeat.settings import SettingsError

PURPOSES = {"open": "o", "click": "c", "unsubscribe": "u", "webhook": "w"}
_KID = re.compile(r"[A-Za-z0-9_-]{1,16}")
_TOKEN = re.compile(r"([A-Za-z0-9_-]{1,16})\.([A-Za-z0-9_-]{2,40})\.([A-Za-z0-9_-]{43})")
_PAYLOAD = re.compile(r"([ocuw]):([1-9][0-9]{0,9})(?::(0|[1-9][0-9]{0,5}))?")
MAX_ID = 2**31 - 1  # delivery ids are SERIAL (int4) columns
MIN_SECRET = 16


@dataclass(frozen=True)
class Claims:
    purpose: str  # open | click | unsubscribe | webhook
    delivery_id: int
    link_index: int | None = None


@dataclass(frozen=True)
class Key:
    kid: str
    secret: bytes
    expires: datetime | None = None  # None: never (the signing key)


class Keyring:
    """The signing key and the older keys that still verify."""

    def __init__(self, keys: list[Key]):
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self.current = keys[0]
        self.keys = {k.kid: k for k in keys}

    def sign(self, purpose: str, delivery_id: int, link_index: int | None = None) -> str:
        if not 0 < int(delivery_id) <= MAX_ID:
            raise ValueError(f"delivery id out of range: {delivery_id}")
        text = f"{PURPOSES[purpose]}:{int(delivery_id)}"
        if link_index is not None:
            text += f":{int(link_index)}"
        head = f"{self.current.kid}.{_b64(text.encode())}"
        return f"{head}.{_mac(self.current.secret, head)}"

    def verify(self, token: object, purpose: str, now: datetime | None = None) -> Claims | None:
        """The token's claims if it is well-formed, signed by a live key and for
        ``purpose``; otherwise ``None`` (never raises)."""
        if not isinstance(token, str) or len(token) > 200:
            return None
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        kid, body, signature = match.groups()
        key = self.keys.get(kid)
        if key is None:
            return None
        if key.expires is not None and (now or datetime.now(timezone.utc)) >= key.expires:
            return None
        expected = _mac(key.secret, f"{kid}.{body}")
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return None
        try:
            text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            return None
        payload = _PAYLOAD.fullmatch(text)
        if (payload is None or payload.group(1) != PURPOSES.get(purpose)
                or int(payload.group(2)) > MAX_ID):
            return None
        index = payload.group(3)
        if (purpose == "click") != (index is not None):
            return None
        return Claims(purpose, int(payload.group(2)), int(index) if index is not None else None)


def parse_keys(entries: tuple[str, ...], fallback_secret: str) -> Keyring:
    """A keyring from ``kid:secret[:YYYY-MM-DD]`` entries (see the module docstring)."""
    if not entries:
        derived = hmac.new(fallback_secret.encode(), b"drumbeat-tracking", hashlib.sha256)
        return Keyring([Key("main", derived.digest())])
    keys: list[Key] = []
    for position, entry in enumerate(entries):
        parts = entry.split(":")
        if len(parts) not in (2, 3) or not _KID.fullmatch(parts[0]) or len(parts[1]) < MIN_SECRET:
            raise SettingsError("DRUMBEAT_SECRET_KEYS entries are kid:secret[:YYYY-MM-DD] "
                                f"(kid: letters, digits, _ or -; secret ≥ {MIN_SECRET} characters)")
        expires = None
        if len(parts) == 3:
            if position == 0:
                raise SettingsError("DRUMBEAT_SECRET_KEYS: the first (signing) key has no expiry")
            try:
                day = date.fromisoformat(parts[2])
            except ValueError:
                raise SettingsError(f"DRUMBEAT_SECRET_KEYS: bad date {parts[2]!r}") from None
            expires = datetime.combine(day + timedelta(days=1), time(), tzinfo=timezone.utc)
        if any(k.kid == parts[0] for k in keys):
            raise SettingsError(f"DRUMBEAT_SECRET_KEYS: kid {parts[0]!r} appears twice")
        keys.append(Key(parts[0], parts[1].encode(), expires))
    return Keyring(keys)


@lru_cache(maxsize=8)
def _cached(entries: tuple[str, ...], secret: str) -> Keyring:
    return parse_keys(entries, secret)


def keyring_for(settings) -> Keyring:
    """The keyring of ``settings`` (parsed once per distinct configuration)."""
    return _cached(tuple(settings.secret_keys), settings.secret_key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _mac(secret: bytes, text: str) -> str:
    return _b64(hmac.new(secret, text.encode("ascii"), hashlib.sha256).digest())
