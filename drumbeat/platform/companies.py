"""Companies (counterparties): create, update, delete, filters.

``email`` is the company's general address (office, secretariat): the target of the
"company" dispatch strategy. Every role edits companies; only admins delete them.
"""

from __future__ import annotations

from typing import Any, Mapping

from drumbeat.platform import record_fields as f
from drumbeat.platform.errors import Problems
from drumbeat.platform.permissions import require_audience_admin, require_audience_editor
from drumbeat.platform.records import check_reference, get_row, text_search
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import Company, TeamMember
from drumbeat.platform.team import Member, now

FIELDS: dict[str, f.Field] = {field.name: field for field in (
    f.Field("name", f.text(200, header=True), required=True),
    f.Field("email", f.email, blank=None),
    f.Field("vat_id", f.text(50, header=True)),
    f.Field("phone", f.text(50, header=True)),
    f.Field("industry", f.text(100, header=True)),
    f.Field("size", f.count, blank=None),
    f.Field("country", f.country),
    f.Field("city", f.text(100, header=True)),
)}


async def _check(problems: Problems, values: Mapping[str, Any], creating: bool = False) -> dict:
    result = f.clean_input(problems, FIELDS, {k: v for k, v in values.items() if k in FIELDS},
                           "input", creating=creating)
    if "owner_id" in values:
        await check_reference(problems, TeamMember, values["owner_id"], "input", "ownerId")
        result["owner"] = values["owner_id"]
    return result


async def create_company(platform: Platform, member: Member | None,
                         values: Mapping[str, Any]) -> dict:
    member = require_audience_editor(member)
    problems = Problems()
    checked = await _check(problems, values, creating=True)
    problems.raise_if_any()
    rows = await Company.insert(Company(**{"owner": member.id, **checked, "created_at": now()})
                                ).returning(*Company.all_columns())
    return rows[0]


async def update_company(platform: Platform, member: Member | None, company_id: int,
                         changes: Mapping[str, Any]) -> dict:
    require_audience_editor(member)
    await get_row(Company, company_id)
    problems = Problems()
    checked = await _check(problems, changes)
    problems.raise_if_any()
    async with platform.db.transaction():
        await Company.update({**checked, "updated_at": now()}).where(Company.id == company_id)
        return await get_row(Company, company_id)


async def delete_company(platform: Platform, member: Member | None, company_id: int) -> None:
    """Admins only; its contacts stay, without a company; its purchases go."""
    require_audience_admin(member)
    async with platform.db.transaction():
        await get_row(Company, company_id)
        await Company.delete().where(Company.id == company_id)


def filters(search: str | None = None, country: str | None = None,
            industry: str | None = None) -> list[Any]:
    where = text_search((Company.name, Company.email, Company.vat_id), search)
    if country:
        where.append(Company.country == country.strip().upper())
    if industry:
        where.append(Company.industry.ilike(industry.strip()))
    return where


async def company_ids_by_name(platform: Platform, names: list[str]) -> dict[str, int]:
    """The oldest company of each name (case-insensitive): lower(name) → id."""
    found: dict[str, int] = {}
    for start in range(0, len(names), 500):
        chunk = [n.lower() for n in names[start:start + 500]]
        marks = ", ".join("{}" for _ in chunk)
        for row in await platform.db.fetch(
                f"SELECT lower(name) AS k, min(id) AS id FROM drumbeat_company"
                f" WHERE lower(name) IN ({marks}) GROUP BY lower(name)", *chunk):
            found[row["k"]] = row["id"]
    return found

