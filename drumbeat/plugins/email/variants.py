"""A/B variants of an email: their config, and which variant each recipient gets.

``variants`` (2–10, each a name, a weight and its own subject / text / html — whatever a
variant leaves out comes from the action, then the campaign's template) split the
recipients by weight. With ``abTest`` only ``testShare`` percent of them (the test group)
are split; the rest wait until ``decideAfter`` has passed since the step first ran, then
all get the variant that scored best on the test group by ``metric`` (see ``winner``).

Assignment is a pure function of the delivery key ("c<campaign>.s<step>.<kind><id>"), so
it is the same on every retry and in every worker: a SHA-256 of the key picks the group
(below ``testShare`` of 10,000 buckets: the test group) and another one the variant (mod
the total weight, walked through the variants in order).
"""

from __future__ import annotations

import hashlib
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from drumbeat import ab_metrics

MAX_VARIANTS = 10
MAX_DECIDE_AFTER = 90 * 86_400
_ISO = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,19}$",
                      description="Unique within the action, e.g. A, B (1–20 letters, digits, _ -)")
    weight: int = Field(default=1, ge=1, le=1000, description="Relative share of recipients")
    subject: str | None = Field(default=None, min_length=1, max_length=998,
                                description="Subject template (default: the action's)")
    text: str | None = Field(default=None, min_length=1, max_length=100_000,
                             description="Plain-text body template (default: the action's)")
    html: str | None = Field(default=None, max_length=500_000,
                             description="HTML body template (only with text)")


def parse_duration(value: int | str) -> int:
    """Whole seconds of ``value``: a number of seconds, or ISO 8601 (``PT4H``, ``P1D``)."""
    if isinstance(value, int):
        return value
    match = _ISO.fullmatch(value.strip().upper()) if isinstance(value, str) else None
    if match is None or not any(match.groups()) or value.strip().upper().endswith("T"):
        raise ValueError("a number of seconds or an ISO 8601 duration such as PT4H or P1D")
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds


class AbTest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    test_share: int = Field(alias="testShare", ge=1, le=99,
                            description="Percent of the recipients in the test group")
    decide_after: int | str = Field(alias="decideAfter", description=(
        "How long after the step first runs the winner is chosen: seconds, or ISO 8601 "
        "(PT4H, P1D); at most 90 days"))
    metric: str = Field(default="OPEN_RATE", description=(
        "What the winner is chosen by: OPEN_RATE, CLICK_RATE, CONVERSION_RATE, CONVERSIONS, "
        "REPLY_RATE, or a metric a plugin registered (drumbeat.register_ab_metric)"))

    @field_validator("decide_after")
    @classmethod
    def _duration(cls, value):
        seconds = parse_duration(value)
        if not 1 <= seconds <= MAX_DECIDE_AFTER:
            raise ValueError("between 1 second and 90 days")
        return seconds

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str):
        if value not in ab_metrics():
            raise ValueError(f"unknown metric (known: {', '.join(sorted(ab_metrics()))})")
        return value

    @property
    def seconds(self) -> int:
        return int(self.decide_after)


def check_variants(variants: list[Variant]) -> list[tuple[tuple[str, ...], str]]:
    """Beyond each variant's own model: 2–10 of them, names unique."""
    if not 2 <= len(variants) <= MAX_VARIANTS:
        return [(("variants",), f"Give 2 to {MAX_VARIANTS} variants.")]
    problems, seen = [], set()
    for i, variant in enumerate(variants):
        if variant.name.upper() in seen:
            problems.append((("variants", str(i), "name"), "Variant names are unique."))
        seen.add(variant.name.upper())
        if variant.html is not None and variant.text is None:
            problems.append((("variants", str(i), "text"), "Give a text body with the html one."))
    return problems


def _bucket(purpose: str, key: str, size: int) -> int:
    digest = hashlib.sha256(f"drumbeat-ab:{purpose}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % size


def in_test_group(key: str, test_share: int) -> bool:
    """Whether the delivery ``key`` is in the test group of ``test_share`` percent."""
    return _bucket("group", key, 10_000) < test_share * 100


def by_weight(key: str, variants: list[Variant]) -> Variant:
    """The variant the delivery ``key`` gets, with probability proportional to its weight."""
    point = _bucket("variant", key, sum(v.weight for v in variants))
    for variant in variants:
        if point < variant.weight:
            return variant
        point -= variant.weight
    return variants[-1]  # unreachable: point < total weight
