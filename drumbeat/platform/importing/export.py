"""CSV export: the import's columns, read in keyset pages (id ascending), never all at once.

Text cells that a spreadsheet would run as a formula are neutralised
(:mod:`~drumbeat.platform.importing.formula_cells`); the import restores them."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, AsyncIterator

from drumbeat.platform.contacts import tags_of
from drumbeat.platform.importing.formula_cells import neutralise
from drumbeat.platform.importing.kinds import SPECS, TAG_SEPARATOR, ImportKind
from drumbeat.platform.permissions import require_member
from drumbeat.platform.tables import Company, Contact, Lead, TeamMember
from drumbeat.platform.team import Member

TABLES = {ImportKind.CONTACTS: Contact, ImportKind.COMPANIES: Company, ImportKind.LEADS: Lead}
PAGE_SIZE = 1000


def _cell(value: Any) -> str:
    """A stored value as CSV text: numbers as they are, text safe from spreadsheet formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    return neutralise(str(value))


def _attributes(value: Any) -> str:
    """Custom attributes as a JSON object, empty when there are none."""
    value = json.loads(value) if isinstance(value, str) else (value or {})
    return json.dumps(value, ensure_ascii=False) if value else ""


def header(kind: ImportKind) -> str:
    return _csv([SPECS[ImportKind(kind)].columns])


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


async def export_page(member: Member | None, kind: ImportKind, after_id: int = 0,
                      limit: int = PAGE_SIZE) -> tuple[str, int | None, bool]:
    """(CSV lines without the header, the last id, more rows?) of the rows after ``after_id``."""
    require_member(member)
    spec = SPECS[ImportKind(kind)]
    table = TABLES[spec.kind]
    rows = await table.select().where(table.id > after_id).order_by(table.id).limit(limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    owners = {r["id"]: r["email"] for r in await TeamMember.select(TeamMember.id, TeamMember.email)
              .where(TeamMember.id.is_in(sorted({r["owner"] for r in rows if r["owner"]}) or [-1]))}
    extra: dict[str, dict[int, str]] = {"owner": {r["id"]: owners.get(r["owner"], "") for r in rows}}
    if spec.kind is ImportKind.CONTACTS:
        ids = [r["id"] for r in rows]
        extra["tags"] = {i: TAG_SEPARATOR.join(t) for i, t in zip(ids, await tags_of(ids))}
        names = {r["id"]: r["name"] for r in await Company.select(Company.id, Company.name).where(
            Company.id.is_in(sorted({r["company"] for r in rows if r["company"]}) or [-1]))}
        extra["company"] = {r["id"]: names.get(r["company"], "") for r in rows}
    def cell(row: dict, name: str) -> str:
        if name not in spec.fields:
            return neutralise(extra[name][row["id"]])
        return _attributes(row[name]) if name == "attributes" else _cell(row[name])

    lines = [[cell(row, name) for name in spec.columns] for row in rows]
    return _csv(lines), (rows[-1]["id"] if rows else None), more


async def export_pages(member: Member | None, kind: ImportKind,
                       page_size: int = PAGE_SIZE) -> AsyncIterator[str]:
    """The whole CSV, header first, one page of lines at a time."""
    yield header(kind)
    after = 0
    while True:
        text, last, more = await export_page(member, kind, after, page_size)
        if text:
            yield text
        if not more or last is None:
            return
        after = last
