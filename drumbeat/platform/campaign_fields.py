"""Validation of a campaign's editable fields, shared by create and update.

Every problem of an input is collected (with its field path) before anything is written;
the result is the set of column values to store.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Mapping

from drumbeat.platform.errors import ErrorCode, Problems
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import (
    CampaignState,
    DispatchStrategy,
    Role,
    SenderStrategy,
    TeamMember,
)
from drumbeat.platform.team import now
from drumbeat.platform.templates import require_template_for_campaign
from drumbeat.platform.validation import check_text, is_header_safe

MAX_TAGS = 20
MAX_TAG_CHARS = 50
TEXT_LIMITS = {"goal": 2_000, "description": 20_000, "results": 20_000}
#: Fields that shape the execution: fixed once the audience is snapshotted at launch.
PREPARATION_ONLY = ("sender_strategy", "dispatch_strategy", "template", "send_emails",
                    "require_consent", "scheduled_start", "action")
#: What may still change once a campaign is over.
AFTER_THE_END = ("description", "results", "tags")
PREPARING = (CampaignState.PROPOSED, CampaignState.IN_PREPARATION, CampaignState.READY)
OVER = (CampaignState.COMPLETED, CampaignState.CANCELLED)


async def check_fields(platform: Platform, problems: Problems, fields: Mapping[str, Any],
                       campaign: Mapping | None, *prefix: str) -> dict[str, Any]:
    """Validate the given ``fields`` (API names in snake case) and return column values.

    ``campaign`` is the current row on update (``None`` on create); fields that the
    campaign's state no longer allows to change are reported as ``INVALID_STATE``.
    """
    values: dict[str, Any] = {}
    if campaign is not None:
        _check_state_allows(problems, fields, CampaignState(campaign["state"]), *prefix)
    if "name" in fields:
        name = (fields["name"] or "").strip()
        check_text(problems, name, 200, *prefix, "name", required=True, single_line=True)
        if name and await platform.db.name_taken("drumbeat_campaign", name,
                                                 campaign["id"] if campaign else None):
            problems.add(f"A campaign named {name!r} exists.", ErrorCode.DUPLICATE, *prefix, "name")
        values["name"] = name
    for name, limit in TEXT_LIMITS.items():
        if name in fields:
            text = fields[name] or ""
            check_text(problems, text, limit, *prefix, _api(name))
            values[name] = text
    if fields.get("owner_id") is not None:
        values["owner"] = await _check_owner(problems, fields["owner_id"], *prefix, "ownerId")
    for name, enum in (("sender_strategy", SenderStrategy), ("dispatch_strategy", DispatchStrategy)):
        if fields.get(name) is not None:
            values[name] = enum(fields[name]).value
    if "template_id" in fields:
        await require_template_for_campaign(problems, fields["template_id"], *prefix, "templateId")
        values["template"] = fields["template_id"]
    for flag in ("send_emails", "require_consent", "evergreen"):
        if fields.get(flag) is not None:
            values[flag] = bool(fields[flag])
    if "scheduled_start" in fields:
        values["scheduled_start"] = _check_schedule(problems, fields["scheduled_start"], *prefix)
    if fields.get("tags") is not None:
        values["tags"] = _check_tags(problems, fields["tags"], *prefix)
    return values


def _api(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _check_state_allows(problems: Problems, fields: Mapping[str, Any], state: CampaignState,
                        *prefix: str) -> None:
    for name in fields:
        column = "template" if name == "template_id" else name
        if state in OVER and column not in AFTER_THE_END:
            problems.add(f"A {state.value} campaign's {_api(name)} cannot change.",
                         ErrorCode.INVALID_STATE, *prefix, _api(name))
        elif state not in PREPARING and column in PREPARATION_ONLY:
            problems.add(f"{_api(name)} is fixed once the campaign has been launched.",
                         ErrorCode.INVALID_STATE, *prefix, _api(name))


async def _check_owner(problems: Problems, member_id: int, *field: str) -> int | None:
    row = await TeamMember.select(TeamMember.id, TeamMember.role, TeamMember.active).where(
        TeamMember.id == member_id).first()
    if row is None:
        problems.add("No such team member.", ErrorCode.NOT_FOUND, *field)
        return None
    if not row["active"] or Role(row["role"]) not in (Role.ADMIN, Role.MARKETER):
        problems.add("A campaign's owner is an active marketer or admin.", ErrorCode.INVALID, *field)
        return None
    return member_id


def _check_schedule(problems: Problems, value: datetime | None, *prefix: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        problems.add("Give the time with its UTC offset (e.g. 2027-01-31T09:00:00+01:00).",
                     ErrorCode.INVALID, *prefix, "scheduledStart")
        return None
    if value < now() - timedelta(minutes=1):
        problems.add("The scheduled start is in the past.", ErrorCode.INVALID, *prefix,
                     "scheduledStart")
        return None
    return value


def _check_tags(problems: Problems, tags: list[str], *prefix: str) -> list[str]:
    """Trimmed, unique case-insensitively, in the order given."""
    result: dict[str, str] = {}
    if len(tags) > MAX_TAGS:
        problems.add(f"At most {MAX_TAGS} tags.", ErrorCode.TOO_LONG, *prefix, "tags")
    for index, raw in enumerate(tags[:MAX_TAGS]):
        tag = (raw or "").strip()
        if not tag:
            problems.add("A tag cannot be empty.", ErrorCode.REQUIRED, *prefix, "tags", index)
        elif len(tag) > MAX_TAG_CHARS or not is_header_safe(tag):
            problems.add(f"A tag is one line of at most {MAX_TAG_CHARS} characters.",
                         ErrorCode.INVALID, *prefix, "tags", index)
        else:
            result.setdefault(tag.lower(), tag)
    return list(result.values())
