"""Send windows: the first moment at or after a time that falls on one of the window's
days, between ``fromHour`` (inclusive) and ``toHour`` (exclusive), in a timezone — the
recipient's own (``contact.timezone``) or a named IANA one; UTC when neither is usable."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from drumbeat.platform.workflows.model import RECIPIENT_TIMEZONE, Weekday

_DAYS = [d.value for d in Weekday]  # Monday first, like datetime.weekday()


def zone(name: str | None) -> timezone | ZoneInfo:
    try:
        return ZoneInfo(name) if name else timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def align(epoch: float, window: dict | None, recipient_timezone: str | None) -> float:
    """``epoch`` moved to the next moment inside ``window`` (unchanged without one)."""
    if not window:
        return epoch
    name = window.get("timezone") or RECIPIENT_TIMEZONE
    tz = zone(recipient_timezone if name == RECIPIENT_TIMEZONE else name)
    days = set(window.get("days") or _DAYS)
    start, end = int(window["fromHour"]), int(window["toHour"])
    local = datetime.fromtimestamp(epoch, tz)
    for offset in range(8):
        day = (local + timedelta(days=offset)).date()
        if _DAYS[day.weekday()] not in days:
            continue
        opens = datetime(day.year, day.month, day.day, start, tzinfo=tz)
        closes = (datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(days=1)
                  if end == 24 else datetime(day.year, day.month, day.day, end, tzinfo=tz))
        if local < opens:
            return opens.timestamp()
        if local < closes:
            return epoch
    return epoch  # unreachable with at least one day; never lose the timer
