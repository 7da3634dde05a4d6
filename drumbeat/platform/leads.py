"""Leads: prospects not yet contacts — create, update, delete, filters, and conversion into
a contact (created, or merged with the contact of the same email)."""

from __future__ import annotations

from typing import Any, Mapping

from drumbeat.platform import record_fields as f
from drumbeat.platform.companies import company_ids_by_name
from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.permissions import require_audience_admin, require_audience_editor
from drumbeat.platform.records import check_reference, get_row, text_search
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import Company, Contact, Lead, LeadStatus, TeamMember
from drumbeat.platform.team import Member, now

FIELDS: dict[str, f.Field] = {field.name: field for field in (
    f.Field("first_name", f.text(100, header=True)),
    f.Field("last_name", f.text(100, header=True)),
    f.Field("email", f.email, blank=None),
    f.Field("phone", f.text(50, header=True)),
    f.Field("company_name", f.text(200, header=True)),
    f.Field("source", f.text(100, header=True)),
    f.Field("status", f.choice(LeadStatus), blank=LeadStatus.NEW.value),
)}


async def _check(problems: Problems, values: Mapping[str, Any], creating: bool = False) -> dict:
    result = f.clean_input(problems, FIELDS, {k: v for k, v in values.items() if k in FIELDS},
                           "input", creating=creating)
    if result.get("status") == LeadStatus.CONVERTED.value:
        problems.add("Convert a lead with leadConvert.", ErrorCode.INVALID, "input", "status")
    if "owner_id" in values:
        await check_reference(problems, TeamMember, values["owner_id"], "input", "ownerId")
        result["owner"] = values["owner_id"]
    return result


async def create_lead(platform: Platform, member: Member | None, values: Mapping[str, Any]) -> dict:
    member = require_audience_editor(member)
    problems = Problems()
    checked = await _check(problems, values, creating=True)
    problems.raise_if_any()
    stamp = now()
    rows = await Lead.insert(Lead(**{"owner": member.id, **checked, "created_at": stamp,
                                     "updated_at": stamp})).returning(*Lead.all_columns())
    return rows[0]


async def update_lead(platform: Platform, member: Member | None, lead_id: int,
                      changes: Mapping[str, Any]) -> dict:
    require_audience_editor(member)
    lead = await get_row(Lead, lead_id)
    problems = Problems()
    checked = await _check(problems, changes)
    if lead["status"] == LeadStatus.CONVERTED.value and "status" in checked:
        problems.add("A converted lead keeps its status.", ErrorCode.INVALID_STATE, "input", "status")
    problems.raise_if_any()
    async with platform.db.transaction():
        await Lead.update({**checked, "updated_at": now()}).where(Lead.id == lead_id)
        return await get_row(Lead, lead_id)


async def delete_lead(platform: Platform, member: Member | None, lead_id: int) -> None:
    require_audience_admin(member)
    async with platform.db.transaction():
        await get_row(Lead, lead_id)
        await Lead.delete().where(Lead.id == lead_id)


async def convert_lead(platform: Platform, member: Member | None, lead_id: int) -> tuple[dict, dict]:
    """Turn a lead into a contact: the contact with the lead's email gets the lead's data in
    its empty fields, or a new contact is created; the lead's company name links (or
    creates) the company of that name. The lead becomes CONVERTED. Returns (lead, contact)."""
    member = require_audience_editor(member)
    async with platform.db.transaction():
        lead = await get_row(Lead, lead_id)
        if lead["status"] == LeadStatus.CONVERTED.value:
            raise DomainError.one("This lead is converted already.", ErrorCode.INVALID_STATE, ["id"])
        if lead["status"] == LeadStatus.DISQUALIFIED.value:
            raise DomainError.one("A disqualified lead cannot be converted.",
                                  ErrorCode.INVALID_STATE, ["id"])
        stamp = now()
        company_id = await _company_for(platform, member, lead["company_name"])
        data = {"first_name": lead["first_name"], "last_name": lead["last_name"],
                "phone": lead["phone"], "company": company_id}
        contact = None
        if lead["email"]:
            contact = await Contact.select().where(Contact.email == lead["email"].lower()).first()
        if contact is None:
            rows = await Contact.insert(Contact(
                **data, email=lead["email"], owner=lead["owner"] or member.id, created_at=stamp,
            )).returning(*Contact.all_columns())
            contact = rows[0]
        else:
            fill = {k: v for k, v in data.items() if v and not contact[k]}
            if fill:
                await Contact.update({**fill, "updated_at": stamp}).where(Contact.id == contact["id"])
        await Lead.update({"status": LeadStatus.CONVERTED.value, "converted_contact": contact["id"],
                           "updated_at": stamp}).where(Lead.id == lead_id)
        return await get_row(Lead, lead_id), await get_row(Contact, contact["id"])


async def _company_for(platform: Platform, member: Member, name: str) -> int | None:
    if not name.strip():
        return None
    found = await company_ids_by_name(platform, [name.strip()])
    if found:
        return next(iter(found.values()))
    rows = await Company.insert(Company(name=name.strip(), owner=member.id, created_at=now())
                                ).returning(Company.id)
    return rows[0]["id"]


def filters(search: str | None = None, status: str | None = None,
            source: str | None = None) -> list[Any]:
    where = text_search((Lead.first_name, Lead.last_name, Lead.email, Lead.company_name), search)
    if status:
        where.append(Lead.status == LeadStatus(status).value)
    if source:
        where.append(Lead.source.ilike(source.strip()))
    return where
