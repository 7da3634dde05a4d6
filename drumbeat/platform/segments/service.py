"""Segments: named, saved filters, evaluated whenever they are used (dynamic).

Marketers and admins create them; only a segment's owner or an admin changes or deletes it;
every signed-in member reads them.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from drumbeat.platform.errors import DomainError, ErrorCode, Problems, unique_violation_as
from drumbeat.platform.permissions import require_member
from drumbeat.platform.runtime import Platform
from drumbeat.platform.segments.filter import parse_into
from drumbeat.platform.segments.nodes import Node, product_ids
from drumbeat.platform.tables import Product, Role, Segment
from drumbeat.platform.team import Member, now
from drumbeat.platform.validation import check_text

MAX_NAME = 200
MAX_DESCRIPTION = 2000


async def check_filter(problems: Problems, data: Any, *field: str | int) -> Node | None:
    """Validate a filter (structure, values and that its products exist)."""
    node = parse_into(problems, data, *field)
    if node is None:
        return None
    wanted = product_ids(node)
    if wanted:
        rows = await Product.select(Product.id).where(Product.id.is_in(sorted(wanted)))
        missing = wanted - {r["id"] for r in rows}
        if missing:
            problems.add(f"No such product: {', '.join(map(str, sorted(missing)))}.",
                         ErrorCode.NOT_FOUND, *field)
            return None
    return node


async def validated_filter(data: Any, *field: str | int) -> Node:
    problems = Problems()
    node = await check_filter(problems, data, *field)
    problems.raise_if_any()
    return node


async def get_segment(segment_id: int) -> dict | None:
    return await Segment.select().where(Segment.id == segment_id).output(load_json=True).first()


async def require_segment(member: Member | None, segment_id: int, field: str = "id") -> dict:
    require_member(member)
    segment = await get_segment(segment_id)
    if segment is None:
        raise DomainError.one("No such segment.", ErrorCode.NOT_FOUND, [field])
    return segment


async def segments_by_id(ids: Sequence[int]) -> list[dict | None]:
    query = Segment.select().where(Segment.id.is_in(list(ids))).output(load_json=True)
    rows = {r["id"]: r for r in await query} if ids else {}
    return [rows.get(i) for i in ids]


async def create_segment(platform: Platform, member: Member | None, name: str,
                         filter: Any, description: str = "") -> dict:
    member = require_member(member)
    if member.role not in (Role.ADMIN, Role.MARKETER):
        raise DomainError.one("Only marketers and admins create segments.", ErrorCode.FORBIDDEN)
    values = await _check(platform, {"name": name, "description": description, "filter": filter})
    stamp = now()
    async with _unique_name(values["name"]), platform.db.transaction():
        row = (await Segment.insert(Segment(**values, owner=member.id, created_at=stamp,
                                            updated_at=stamp)).returning(Segment.id))[0]
    return await get_segment(row["id"])


async def update_segment(platform: Platform, member: Member | None, segment_id: int,
                         fields: Mapping[str, Any]) -> dict:
    """Change the given fields (``name``, ``description``, ``filter``)."""
    segment = await require_segment(member, segment_id)
    _require_editor(member, segment)
    values = await _check(platform, fields, segment_id)
    if not values:
        return segment
    async with _unique_name(values.get("name", "")), platform.db.transaction():
        await Segment.update({**{getattr(Segment, k): v for k, v in values.items()},
                              Segment.updated_at: now()}).where(Segment.id == segment_id)
    return await get_segment(segment_id)


async def delete_segment(platform: Platform, member: Member | None, segment_id: int) -> None:
    """Delete a segment; distribution lists built from it keep their members."""
    segment = await require_segment(member, segment_id)
    _require_editor(member, segment)
    async with platform.db.transaction():
        await Segment.delete().where(Segment.id == segment_id)


def _require_editor(member: Member, segment: Mapping) -> None:
    if not (member.is_admin or segment["owner"] == member.id):
        raise DomainError.one("Only the segment's owner or an admin may do this.",
                              ErrorCode.FORBIDDEN)


async def _check(platform: Platform, fields: Mapping[str, Any], segment_id: int | None = None) -> dict:
    problems = Problems()
    values: dict[str, Any] = {}
    if "name" in fields:
        name = (fields["name"] or "").strip()
        check_text(problems, name, MAX_NAME, "input", "name", required=True, single_line=True)
        if name and await platform.db.name_taken("drumbeat_segment", name, segment_id):
            problems.add(f"A segment named {name!r} exists.", ErrorCode.DUPLICATE, "input", "name")
        values["name"] = name
    if "description" in fields:
        description = fields["description"] or ""
        check_text(problems, description, MAX_DESCRIPTION, "input", "description")
        values["description"] = description
    if "filter" in fields:
        await check_filter(problems, fields["filter"], "input", "filter")
        values["filter"] = json.dumps(fields["filter"], default=str)
    problems.raise_if_any()
    return values


def _unique_name(name: str):
    """A concurrent twin slipping past the check above becomes a DUPLICATE problem."""
    return unique_violation_as("drumbeat_segment_name_ci", f"A segment named {name!r} exists.",
                               "input", "name")
