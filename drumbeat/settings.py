"""One Settings object, read from ``DRUMBEAT_*`` environment variables.

Every value has an embedded default (SQLite, in-process worker, in-memory events,
an outbox folder for mail) so that ``drumbeat serve`` works with no configuration.
A malformed value stops start-up with a :class:`SettingsError` naming the variable.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

PREFIX = "DRUMBEAT_"


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///./drumbeat.db"
    broker_url: str = "memory://"
    events_url: str = "memory://"
    smtp_url: str = "outbox://./outbox"
    secret_key: str = ""
    secret_keys: tuple[str, ...] = ()  # kid:secret[:YYYY-MM-DD] (tracking tokens)
    public_url: str = "http://127.0.0.1:8000"
    environment: str = "development"  # development | production
    worker_threads: int = 4
    chunk_size: int = 200
    lease_seconds: float = 120.0
    redeliver_after_seconds: float = 300.0
    reconcile_interval_seconds: float = 5.0
    max_attempts: int = 5
    retry_backoff_seconds: float = 30.0  # first retry delay; doubles up to retry_backoff_max_seconds
    retry_backoff_max_seconds: float = 3600.0
    smtp_connections: int = 2  # SMTP sessions one batch uses (pooled, per process)
    smtp_rate: float = 0.0  # messages per second per SMTP server, all processes; 0 = no limit
    smtp_max_connections: int = 0  # open SMTP sessions per server, all processes; 0 = no limit
    smtp_idle_seconds: float = 30.0  # a pooled SMTP session idle this long is closed
    smtp_max_wait_seconds: float = 30.0  # a batch waits this long at most for a rate turn/slot
    # Connection-level SMTP failures (refused, reset, timeout, 421) defer a delivery without
    # using an attempt for this long from the first one in a row; after it, they count.
    outage_window_seconds: float = 86400.0
    # Messages a running chunk may have handed to SMTP and not yet recorded: sending waits
    # beyond it (what a crash can send twice is at most this plus the SMTP sessions).
    max_unrecorded: int = 32
    db_pool_max: int = 10
    queue: str = "drumbeat"  # broker queue / Redis namespace: one per deployment
    plugins_allow: tuple[str, ...] = ()
    plugins_block: tuple[str, ...] = ()
    max_page_size: int = 100
    # An open GraphQL WebSocket's token is re-checked this often (and at once on a
    # revocation notice): the longest a revoked token keeps a socket when notices are lost.
    ws_token_recheck_seconds: float = 5.0
    # The largest HTTP request body (and WebSocket message) accepted, in bytes: 3 bytes for
    # each of a CSV import's 5,000,000 characters plus 1 MiB for the GraphQL envelope.
    max_body_bytes: int = 16_048_576
    # Schema introspection and "Did you mean …?" hints: on | off; empty = on in
    # development, off in production.
    introspection: str = ""
    # Failed sign-ins (a token that does not authenticate) per client address and window;
    # then 429 / WebSocket 4429 until the window lets one go. 0 = no limit.
    sign_in_max_failures: int = 10
    sign_in_window_seconds: float = 300.0
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def introspection_enabled(self) -> bool:
        if self.introspection:
            return self.introspection == "on"
        return not self.production

    @property
    def database_kind(self) -> str:
        return "postgres" if self.database_url.startswith("postgres") else "sqlite"

    @property
    def embedded_worker(self) -> bool:
        """True when ``drumbeat serve`` runs the Dramatiq workers in its own process."""
        return self.broker_url.startswith("memory:")

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        values: dict = {}
        for name, kind in _FIELDS.items():
            raw = env.get(PREFIX + name.upper())
            if raw is None or raw == "":
                continue
            values[name] = _parse(name, kind, raw)
        settings = cls(**values)
        settings.validate()
        if not settings.secret_key:
            settings = replace(settings, secret_key=_dev_secret())
        return settings

    def validate(self) -> None:
        if self.environment not in ("development", "production"):
            _fail("environment", "must be 'development' or 'production'")
        if self.introspection not in ("", "on", "off"):
            _fail("introspection", "must be 'on' or 'off'")
        _check_url("database_url", self.database_url, ("sqlite", "postgres", "postgresql"))
        _check_url("broker_url", self.broker_url, ("memory", "redis", "rediss", "amqp", "amqps"))
        _check_url("events_url", self.events_url, ("memory", "redis", "rediss"))
        _check_url("smtp_url", self.smtp_url, ("smtp", "smtps", "outbox"))
        _check_url("public_url", self.public_url, ("http", "https"))
        if not self.broker_url.startswith("memory") and self.events_url.startswith("memory"):
            _fail(
                "events_url",
                "must be redis://… when the broker is not memory:// (workers run in other "
                "processes and must reach subscribers)",
            )
        if self.production and len(self.secret_key) < 32:
            _fail("secret_key", "is required in production (at least 32 characters)")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", self.queue):
            _fail("queue", "may contain only letters, digits, '_', '.' and '-'")
        for name in ("worker_threads", "chunk_size", "max_attempts", "smtp_connections",
                     "db_pool_max", "max_page_size", "max_unrecorded"):
            if getattr(self, name) < 1:
                _fail(name, "must be at least 1")
        for name in ("lease_seconds", "redeliver_after_seconds", "reconcile_interval_seconds",
                     "retry_backoff_seconds", "retry_backoff_max_seconds",
                     "smtp_idle_seconds", "smtp_max_wait_seconds",
                     "ws_token_recheck_seconds", "outage_window_seconds",
                     "sign_in_window_seconds"):
            if getattr(self, name) <= 0:
                _fail(name, "must be greater than 0")
        for name in ("smtp_rate", "smtp_max_connections", "sign_in_max_failures"):
            if getattr(self, name) < 0:
                _fail(name, "must be 0 (no limit) or more")
        if self.max_body_bytes < MIN_BODY_BYTES:
            _fail("max_body_bytes", f"must be at least {MIN_BODY_BYTES} (the API's own requests)")


_FIELDS: dict[str, str] = {
    "database_url": "str", "broker_url": "str", "events_url": "str", "smtp_url": "str",
    "secret_key": "str", "public_url": "str", "environment": "str",
    "worker_threads": "int", "chunk_size": "int", "lease_seconds": "float",
    "redeliver_after_seconds": "float", "reconcile_interval_seconds": "float",
    "max_attempts": "int", "smtp_connections": "int", "db_pool_max": "int", "queue": "str",
    "plugins_allow": "list", "plugins_block": "list", "max_page_size": "int",
    "retry_backoff_seconds": "float", "retry_backoff_max_seconds": "float",
    "secret_keys": "list",
    "smtp_rate": "float", "smtp_max_connections": "int", "smtp_idle_seconds": "float",
    "smtp_max_wait_seconds": "float", "ws_token_recheck_seconds": "float",
    "outage_window_seconds": "float", "max_unrecorded": "int",
    "max_body_bytes": "int",
    "introspection": "str", "sign_in_max_failures": "int", "sign_in_window_seconds": "float",
}
MIN_BODY_BYTES = 65_536


def _fail(name: str, message: str) -> None:
    raise SettingsError(f"{PREFIX}{name.upper()} {message}")


def _parse(name: str, kind: str, raw: str):
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            _fail(name, f"must be a whole number, got {raw!r}")
    if kind == "float":
        try:
            return float(raw)
        except ValueError:
            _fail(name, f"must be a number, got {raw!r}")
    if kind == "list":
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw.strip()


def _redacted(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***`` (messages never show it)."""
    return re.sub(r"(://[^/@:]*:)[^/]*@", r"\1***@", url)


def _check_url(name: str, url: str, schemes: tuple[str, ...]) -> None:
    shown = _redacted(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        _fail(name, f"is not a valid URL ({exc}): {shown!r}")
    if parts.scheme not in schemes:
        _fail(name, f"must start with one of {', '.join(s + '://' for s in schemes)}; got {shown!r}")
    if parts.scheme in ("postgres", "postgresql", "redis", "rediss", "amqp", "amqps",
                        "smtp", "smtps", "http", "https") and not parts.hostname:
        _fail(name, f"has no host: {shown!r}")
    if parts.scheme == "sqlite" and not sqlite_path(url):
        _fail(name, f"has no file path: {shown!r}")


def sqlite_path(url: str) -> str:
    """``sqlite:///./x.db`` → ``./x.db``; ``sqlite:////abs/x.db`` → ``/abs/x.db``."""
    rest = url.split("://", 1)[1] if "://" in url else ""
    return rest[1:] if rest.startswith("/") else rest


def _dev_secret() -> str:
    """A development secret generated once and kept in ``.drumbeat-secret``."""
    path = Path(os.environ.get(PREFIX + "SECRET_FILE", ".drumbeat-secret"))
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    value = secrets.token_urlsafe(48)
    try:
        path.write_text(value + "\n")
        path.chmod(0o600)
    except OSError:
        pass  # read-only working directory: the secret lives for this process only
    return value
