"""Distribution lists: a snapshot of a segment's (or an ad-hoc filter's) contacts, refined by
hand (include / exclude) or with further filters, and refreshed from the segment on demand.

A member row with ``excluded`` set was excluded by hand (or by a refinement): it stays
recorded, so a refresh from the segment never brings the contact back, but it is not part
of the list. Marketers and admins create lists; only a list's owner or an admin changes or
deletes one; every signed-in member reads them. Members are written set-based
(``INSERT … SELECT``), never one row at a time.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Mapping, Sequence

from drumbeat.platform import segments
from drumbeat.platform.errors import DomainError, ErrorCode, Problems, unique_violation_as
from drumbeat.platform.permissions import require_member
from drumbeat.platform.runtime import Platform
from drumbeat.platform.segments.service import check_filter
from drumbeat.platform.tables import Contact, DistributionList, MemberSource, Role
from drumbeat.platform.team import Member, now
from drumbeat.platform.validation import check_text

MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_CONTACT_IDS = 1000  # per include / exclude call
# Insert the contacts of a sub-select ``(…) s`` (with an ``id`` column) as members; a
# contact already recorded (member or excluded) is left as it is unless the caller says.
INSERT_MEMBERS = ("INSERT INTO drumbeat_list_member (list, contact, source, excluded, added_at)"
                  " SELECT {}, s.id, {}, {}, {} FROM (%s) s WHERE 1 = 1"
                  " ON CONFLICT (list, contact) DO %s")
MEMBER_ROWS = ("SELECT m.id, m.list, m.contact, m.source, m.excluded, m.added_at"
               " FROM drumbeat_list_member m")


class RefineMode(str, Enum):
    KEEP_MATCHING = "KEEP_MATCHING"  # exclude the members that do not match
    REMOVE_MATCHING = "REMOVE_MATCHING"  # exclude the members that match


# -- reading -----------------------------------------------------------------------------

async def get_list(list_id: int) -> dict | None:
    return await DistributionList.select().where(DistributionList.id == list_id).first()


async def require_list(member: Member | None, list_id: int, *field: str | int) -> dict:
    """The list, for any signed-in member (NOT_FOUND at ``field``, default ``id``)."""
    require_member(member)
    row = await get_list(list_id)
    if row is None:
        raise DomainError.one("No such distribution list.", ErrorCode.NOT_FOUND,
                              [str(f) for f in field] or ["id"])
    return row


def require_list_editor(member: Member | None, row: Mapping) -> Member:
    member = require_member(member)
    if not (member.is_admin or row["owner"] == member.id):
        raise DomainError.one("Only the list's owner or an admin may do this.",
                              ErrorCode.FORBIDDEN)
    return member


async def lists_by_id(ids: Sequence[int]) -> list[dict | None]:
    query = DistributionList.select().where(DistributionList.id.is_in(list(ids)))
    rows = await query if ids else []
    by_id = {r["id"]: r for r in rows}
    return [by_id.get(i) for i in ids]


async def list_contact_ids_sql(list_id: int) -> tuple[str, list[Any]]:
    """``SELECT … AS id`` of the list's contacts (excluded ones left out), with ``{}``
    placeholders, to embed in ``INSERT … SELECT`` or ``IN (…)`` like a segment's."""
    return ("SELECT m.contact AS id FROM drumbeat_list_member m"
            " WHERE m.list = {} AND NOT m.excluded", [list_id])


async def member_counts(platform: Platform, list_ids: Sequence[int]) -> list[int]:
    """How many contacts each list has (excluded ones not counted), in one query."""
    if not list_ids:
        return []
    rows = await platform.db.fetch(
        "SELECT list, COUNT(*) AS n FROM drumbeat_list_member WHERE NOT excluded AND list IN"
        f" ({_marks(list_ids)}) GROUP BY list", *list_ids)
    counts = {r["list"]: int(r["n"]) for r in rows}
    return [counts.get(i, 0) for i in list_ids]


async def members_page(platform: Platform, list_id: int, *, size: int, after: int | None = None,
                       before: int | None = None, backwards: bool = False,
                       include_excluded: bool = False) -> list[dict]:
    """Up to ``size`` member rows newest first (keyset on the member row id; ``backwards``
    reads towards newer ones, still returned newest first), each with its ``contact_row``."""
    where, params = ["m.list = {}"], [list_id]
    if not include_excluded:
        where.append("NOT m.excluded")
    if after is not None:
        where.append("m.id < {}")
        params.append(after)
    if before is not None:
        where.append("m.id > {}")
        params.append(before)
    return await _with_contacts(platform, (
        f"{MEMBER_ROWS} WHERE {' AND '.join(where)} ORDER BY m.id {'ASC' if backwards else 'DESC'}"
        " LIMIT {}"), *params, size)


async def members_by_id(platform: Platform, ids: Sequence[int]) -> list[dict | None]:
    """Member rows (each with its ``contact_row``) aligned with ``ids``."""
    if not ids:
        return []
    rows = await _with_contacts(
        platform, f"{MEMBER_ROWS} WHERE m.id IN ({_marks(ids)})", *ids)
    by_id = {r["id"]: r for r in rows}
    return [by_id.get(i) for i in ids]


async def _with_contacts(platform: Platform, sql: str, *params: Any) -> list[dict]:
    rows = await platform.db.fetch(sql, *params)
    contacts = await Contact.select().where(Contact.id.is_in([r["contact"] for r in rows])) \
        if rows else []
    by_id = {c["id"]: c for c in contacts}
    for row in rows:
        row["excluded"] = bool(row["excluded"])
        row["contact_row"] = by_id[row["contact"]]
    return rows


# -- creating, changing, deleting --------------------------------------------------------

async def create_list(platform: Platform, member: Member | None, name: str, description: str = "",
                      segment_id: int | None = None, filter: Any = None) -> dict:
    """A list built from a segment's contacts now, from an ad-hoc filter's, or empty."""
    member = require_member(member)
    if member.role not in (Role.ADMIN, Role.MARKETER):
        raise DomainError.one("Only marketers and admins create distribution lists.",
                              ErrorCode.FORBIDDEN)
    problems = Problems()
    values = await _check(platform, problems, {"name": name, "description": description})
    source = None
    if segment_id is not None and filter is not None:
        problems.add("Give a segment or a filter, not both.", ErrorCode.INVALID, "input", "filter")
    elif segment_id is not None:
        segment = await segments.get_segment(segment_id)
        if segment is None:
            problems.add("No such segment.", ErrorCode.NOT_FOUND, "input", "segmentId")
        else:
            source = await check_filter(problems, segment["filter"], "input", "segmentId")
    elif filter is not None:
        source = await check_filter(problems, filter, "input", "filter")
    problems.raise_if_any()
    matching = await segments.matching_contact_ids_sql(platform, source) \
        if source is not None else None
    stamp = now()
    async with _unique_name(values["name"]), platform.db.transaction():
        row = (await DistributionList.insert(DistributionList(
            **values, segment=segment_id, owner=member.id, created_at=stamp, updated_at=stamp,
        )).returning(DistributionList.id))[0]
        if matching is not None:
            await _insert_matching(platform, row["id"], *matching, stamp)
    return await get_list(row["id"])


async def update_list(platform: Platform, member: Member | None, list_id: int,
                      fields: Mapping[str, Any]) -> dict:
    """Change the given fields (``name``, ``description``)."""
    row = await require_list(member, list_id)
    require_list_editor(member, row)
    problems = Problems()
    values = await _check(platform, problems, fields, list_id)
    problems.raise_if_any()
    if values:
        async with _unique_name(values.get("name", "")), platform.db.transaction():
            await DistributionList.update({
                **{getattr(DistributionList, k): v for k, v in values.items()},
                DistributionList.updated_at: now()}).where(DistributionList.id == list_id)
    return await get_list(list_id)


async def delete_list(platform: Platform, member: Member | None, list_id: int) -> None:
    row = await require_list(member, list_id)
    require_list_editor(member, row)
    async with platform.db.transaction():  # members go with it (ON DELETE CASCADE)
        await DistributionList.delete().where(DistributionList.id == list_id)


# -- refining ----------------------------------------------------------------------------

async def include(platform: Platform, member: Member | None, list_id: int,
                  contact_ids: Sequence[int]) -> dict:
    """Add contacts by hand (source MANUAL, kept by every refresh); an excluded one is
    included again."""
    return await _set_by_hand(platform, member, list_id, contact_ids, excluded=False)


async def exclude(platform: Platform, member: Member | None, list_id: int,
                  contact_ids: Sequence[int]) -> dict:
    """Exclude contacts by hand; one not yet a member is recorded as excluded, so a refresh
    does not add it."""
    return await _set_by_hand(platform, member, list_id, contact_ids, excluded=True)


async def refine(platform: Platform, member: Member | None, list_id: int, filter: Any,
                 mode: RefineMode) -> dict:
    """Exclude the members not matching ``filter`` (KEEP_MATCHING) or those matching it
    (REMOVE_MATCHING); excluded, they stay out on refresh."""
    row = await require_list(member, list_id, "listId")
    require_list_editor(member, row)
    problems = Problems()
    node = await check_filter(problems, filter, "filter")
    problems.raise_if_any()
    matching, params = await segments.matching_contact_ids_sql(platform, node)
    negation = "NOT " if RefineMode(mode) is RefineMode.KEEP_MATCHING else ""
    async with platform.db.transaction():
        await platform.db.execute(
            "UPDATE drumbeat_list_member SET excluded = {} WHERE list = {} AND NOT excluded"
            f" AND contact {negation}IN ({matching})", True, list_id, *params)
        await _touch(list_id)
    return await get_list(list_id)


async def refresh(platform: Platform, member: Member | None, list_id: int) -> dict:
    """Re-snapshot from the list's segment: new matches join (SEGMENT), SEGMENT members no
    longer matching leave; MANUAL members and exclusions stay as they are."""
    row = await require_list(member, list_id, "listId")
    require_list_editor(member, row)
    segment = await segments.get_segment(row["segment"]) if row["segment"] is not None else None
    if segment is None:
        raise DomainError.one("This list has no segment to refresh from (it was built from a "
                              "filter, or its segment was deleted).", ErrorCode.INVALID_STATE,
                              ["listId"])
    problems = Problems()
    node = await check_filter(problems, segment["filter"], "segment", "filter")
    problems.raise_if_any()
    matching, params = await segments.matching_contact_ids_sql(platform, node)
    async with platform.db.transaction():
        await platform.db.execute(
            "DELETE FROM drumbeat_list_member WHERE list = {} AND source = {} AND NOT excluded"
            f" AND contact NOT IN ({matching})", list_id, MemberSource.SEGMENT.value, *params)
        await _insert_matching(platform, list_id, matching, params, now())
        await _touch(list_id)
    return await get_list(list_id)


async def _set_by_hand(platform: Platform, member: Member | None, list_id: int,
                       contact_ids: Sequence[int], *, excluded: bool) -> dict:
    row = await require_list(member, list_id, "listId")
    require_list_editor(member, row)
    problems = Problems()
    wanted = await _check_contacts(platform, problems, contact_ids)
    problems.raise_if_any()
    # Including by hand pins the contact (MANUAL); excluding keeps how it came.
    on_conflict = "UPDATE SET excluded = {}" + ("" if excluded else ", source = {}")
    extra = [excluded] if excluded else [excluded, MemberSource.MANUAL.value]
    chosen = f"SELECT c.id FROM drumbeat_contact c WHERE c.id IN ({_marks(wanted)})"
    async with platform.db.transaction():
        await platform.db.execute(
            INSERT_MEMBERS % (chosen, on_conflict), list_id, MemberSource.MANUAL.value, excluded,
            now(), *wanted, *extra)
        await _touch(list_id)
    return await get_list(list_id)


async def _check_contacts(platform: Platform, problems: Problems,
                          contact_ids: Sequence[int]) -> list[int]:
    """The distinct ids; each unknown one reported at ``contactIds.<index>``."""
    if not contact_ids:
        problems.add("Give at least one contact.", ErrorCode.REQUIRED, "contactIds")
        return []
    if len(contact_ids) > MAX_CONTACT_IDS:
        problems.add(f"At most {MAX_CONTACT_IDS} contacts at a time.", ErrorCode.INVALID,
                     "contactIds")
        return []
    wanted = sorted(set(contact_ids))
    rows = await platform.db.fetch(
        f"SELECT id FROM drumbeat_contact WHERE id IN ({_marks(wanted)})", *wanted)
    known = {r["id"] for r in rows}
    for index, contact_id in enumerate(contact_ids):
        if contact_id not in known:
            problems.add("No such contact.", ErrorCode.NOT_FOUND, "contactIds", index)
    return wanted


async def _insert_matching(platform: Platform, list_id: int, matching: str,
                           params: Sequence[Any], stamp: datetime) -> None:
    """Add the contacts of ``matching`` as SEGMENT members (recorded ones untouched)."""
    await platform.db.execute(INSERT_MEMBERS % (matching, "NOTHING"), list_id,
                              MemberSource.SEGMENT.value, False, stamp, *params)


def _marks(values: Sequence) -> str:
    """``{}, {}, …``: one placeholder per value, for ``IN (…)``."""
    return ", ".join("{}" for _ in values)


async def _touch(list_id: int) -> None:
    await DistributionList.update({DistributionList.updated_at: now()}).where(
        DistributionList.id == list_id)


async def _check(platform: Platform, problems: Problems, fields: Mapping[str, Any],
                 list_id: int | None = None) -> dict:
    values: dict[str, Any] = {}
    if "name" in fields:
        name = (fields["name"] or "").strip()
        check_text(problems, name, MAX_NAME, "input", "name", required=True, single_line=True)
        if name and await platform.db.name_taken("drumbeat_distribution_list", name, list_id):
            problems.add(f"A list named {name!r} exists.", ErrorCode.DUPLICATE, "input", "name")
        values["name"] = name
    if "description" in fields:
        description = fields["description"] or ""
        check_text(problems, description, MAX_DESCRIPTION, "input", "description")
        values["description"] = description
    return values


def _unique_name(name: str):
    """A concurrent twin slipping past the check above becomes a DUPLICATE problem."""
    return unique_violation_as("drumbeat_list_name_ci", f"A list named {name!r} exists.",
                               "input", "name")
