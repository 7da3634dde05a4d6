"""The audit log: every change to a campaign, its budget, costs or recipients — who, when,
what (old → new). Written in the same transaction as the change it describes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Iterable, Mapping

from drumbeat.platform.tables import AuditEntry
from drumbeat.platform.team import Member, now


@dataclass(frozen=True)
class Change:
    field: str
    old: Any
    new: Any

    def as_json(self) -> dict:
        return {"field": self.field, "old": plain(self.old), "new": plain(self.new)}


def plain(value: Any) -> Any:
    """A JSON-safe form of a value (decimals and dates as strings, enums as their value)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain(v) for v in value]
        return sorted(items) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The fields of ``new`` whose value differs from ``old`` (compared in their plain form)."""
    return [Change(name, old.get(name), value) for name, value in new.items()
            if plain(old.get(name)) != plain(value)]


async def record(member: Member | None, campaign_id: int, action: str,
                 changes: Iterable[Change] = ()) -> None:
    """Write one audit entry. Call it inside the transaction that makes the change."""
    await AuditEntry.insert(AuditEntry(
        campaign_id=campaign_id, member=member.id if member else None, action=action,
        changes=[c.as_json() for c in changes], created_at=now(),
    ))
