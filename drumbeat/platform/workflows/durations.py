"""Durations of a workflow (delays, timeouts): ISO 8601 (``P3D``, ``PT36H``, ``P1W``,
``P1DT2H30M``) or an amount and a unit, normalised to whole seconds.

Years and months are refused: their length varies, so "P1M" would mean different delays for
different recipients. A delay is at least one second and at most :data:`MAX_SECONDS`.
"""

from __future__ import annotations

import re
from enum import Enum

MINUTE, HOUR, DAY, WEEK = 60, 3600, 86_400, 7 * 86_400
MAX_SECONDS = 365 * DAY

_ISO = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?")


class DurationUnit(str, Enum):
    SECONDS = "SECONDS"
    MINUTES = "MINUTES"
    HOURS = "HOURS"
    DAYS = "DAYS"
    WEEKS = "WEEKS"


UNIT_SECONDS = {DurationUnit.SECONDS: 1, DurationUnit.MINUTES: MINUTE, DurationUnit.HOURS: HOUR,
                DurationUnit.DAYS: DAY, DurationUnit.WEEKS: WEEK}


def parse_iso(text: str) -> int | None:
    """Seconds of an ISO 8601 duration without years or months; None if it is not one."""
    if not isinstance(text, str) or len(text) > 40:
        return None
    match = _ISO.fullmatch(text.strip().upper())
    if match is None or not any(match.groupdict().values()) or text.strip().upper().endswith("T"):
        return None
    parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
    return (parts.get("weeks", 0) * WEEK + parts.get("days", 0) * DAY
            + parts.get("hours", 0) * HOUR + parts.get("minutes", 0) * MINUTE
            + parts.get("seconds", 0))


def format_iso(seconds: int) -> str:
    """The canonical ISO 8601 form of ``seconds``: days, then hours, minutes, seconds
    (``P3D``, ``PT36H`` stays ``P1DT12H``, ``P1W`` reads back ``P7D``)."""
    days, rest = divmod(int(seconds), DAY)
    hours, rest = divmod(rest, HOUR)
    minutes, secs = divmod(rest, MINUTE)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "") if seconds else "PT0S"
