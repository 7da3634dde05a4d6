"""The webhook action's config, validated when a campaign is saved.

Every field is visible to every team member who can read the campaign (``steps { config }``)
and to its audit log, so the signing secret is not stored here: ``secret_name`` names an
environment variable of the API and worker processes that holds it.
"""

from __future__ import annotations

import os
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, field_validator

from drumbeat import is_header_safe

SECRET_PREFIX = "DRUMBEAT_WEBHOOK_SECRET_"
MIN_SECRET_CHARS = 32
# RFC 9110 token characters.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
# Set by HTTP itself, by this plugin, or able to change how the request is routed or framed.
RESERVED_HEADERS = frozenset({
    "host", "content-length", "content-type", "content-encoding", "transfer-encoding",
    "connection", "keep-alive", "te", "trailer", "upgrade", "expect", "proxy-authorization",
    "proxy-connection", "forwarded", "x-forwarded-for", "x-forwarded-host",
    "x-forwarded-proto", "idempotency-key", "x-drumbeat-signature", "x-drumbeat-timestamp",
})

DEFAULT_BODY = (
    '{"delivery": {{ delivery|tojson }}, "campaign": {{ campaign|tojson }}, '
    '"contact": {{ contact|tojson }}, "company": {{ company|tojson }}, '
    '"lead": {{ lead|tojson }}}'
)


def _header_name(name: str) -> str:
    if not _TOKEN.match(name):
        raise ValueError("not a valid header name")
    if name.lower() in RESERVED_HEADERS:
        raise ValueError(f"the {name} header is set by Drumbeat and cannot be given")
    return name


def _header_value(value: str) -> str:
    if len(value) > 1000 or not is_header_safe(value):
        raise ValueError("at most 1000 characters, with no control characters or line breaks")
    return value


HeaderName = Annotated[str, AfterValidator(_header_name)]
HeaderValue = Annotated[str, AfterValidator(_header_value)]


class WebhookConfig(BaseModel):
    """POST a JSON body, rendered from a Jinja2 template, to ``url`` for every recipient."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(description="Where to POST (http or https)")
    secret_name: str = Field(
        pattern=r"^[A-Z][A-Z0-9_]{0,63}$",
        description=f"The signing secret is read from the environment variable "
                    f"{SECRET_PREFIX}<secret_name> (at least {MIN_SECRET_CHARS} characters)")
    body: str = Field(default=DEFAULT_BODY, min_length=1, max_length=100_000,
                      description="Jinja2 template of the JSON body, rendered per recipient "
                                  "(use |tojson for values)")
    headers: dict[HeaderName, HeaderValue] = Field(
        default_factory=dict, max_length=20, description="Extra request headers (not secrets: "
                                                         "every team member can read them)")
    batch: bool = Field(default=False, description="One POST per chunk with a JSON array of "
                                                   "{key, body} instead of one POST per recipient")
    timeout_seconds: float = Field(default=10.0, gt=0, le=60,
                                   description="Per-request timeout")
    concurrency: int = Field(default=4, ge=1, le=32,
                             description="Requests in flight at once per chunk")

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: HttpUrl) -> HttpUrl:
        if url.username or url.password:
            raise ValueError("credentials in the URL are not allowed (they would be shown "
                             "to every team member)")
        return url


def signing_secret(config: WebhookConfig) -> bytes | None:
    """The secret named by ``config``, or ``None`` when it is missing or too short."""
    value = os.environ.get(SECRET_PREFIX + config.secret_name, "")
    return value.encode() if len(value) >= MIN_SECRET_CHARS else None
