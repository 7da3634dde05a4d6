"""The template context of each target: who is addressed, their company, their owner.

Documented variables (every missing value is an empty string, never an error):

* ``contact``: id, first_name, last_name, full_name, email, phone, job_title, city,
  country, language, attributes (the custom attributes, a mapping)
* ``company``: id, name, email (the general address), phone, city, country, industry, vat_id
* ``lead``: id, first_name, last_name, email, company_name, source, status (lead targets)
* ``owner``: name, email — who owns the addressed contact, company or lead

plus, added by the action's context, ``campaign`` (id, name, owner) and ``sender`` (name,
email). A company target has an empty ``contact``; a lead target fills ``contact`` from the
lead too, so one template serves every kind of recipient.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from drumbeat.platform.actions import CampaignInfo, Sender
from drumbeat.platform.database import Database

CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "job_title", "city", "country",
                  "language")
COMPANY_FIELDS = ("name", "email", "phone", "city", "country", "industry", "vat_id")
LEAD_FIELDS = ("first_name", "last_name", "email", "company_name", "source", "status")


def _values(row: dict, fields: Iterable[str], prefix: str = "") -> dict[str, Any]:
    return {name: row.get(prefix + name) or "" for name in fields}


def _attributes(raw: Any) -> dict:
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    return raw if isinstance(raw, dict) else {}


def _contact(row: dict) -> dict[str, Any]:
    contact = {"id": row["id"], **_values(row, CONTACT_FIELDS),
               "attributes": _attributes(row.get("attributes"))}
    contact["full_name"] = " ".join(p for p in (contact["first_name"], contact["last_name"]) if p)
    return contact


def _owner(row: dict) -> dict[str, str]:
    return {"name": row.get("owner_name") or "", "email": row.get("owner_email") or ""}


def empty_data() -> dict[str, Any]:
    """The context of a target that no longer exists: every value empty."""
    return {"contact": {"attributes": {}}, "company": {}, "lead": {}, "owner": {}}


def target_sender(campaign: CampaignInfo, data: dict[str, Any]) -> Sender | None:
    """A target's own sender: its owner when the campaign sends as each contact's owner
    (``None`` otherwise, or when nobody owns it — the campaign's sender then sends)."""
    owner = data.get("owner") or {}
    if campaign.sender_strategy != "CONTACT_OWNER" or not owner.get("email"):
        return None
    return Sender(owner["name"], owner["email"])


async def target_data(db: Database, targets: Iterable[tuple[str, int]]
                      ) -> dict[tuple[str, int], dict[str, Any]]:
    """The context of each (kind, id) target, in at most three queries."""
    ids: dict[str, list[int]] = {"contact": [], "company": [], "lead": []}
    for kind, target_id in targets:
        ids.setdefault(kind, []).append(target_id)
    result: dict[tuple[str, int], dict[str, Any]] = {}
    if ids["contact"]:
        for row in await _fetch(db, f"""
            SELECT c.id, c.attributes, {_cols('c', CONTACT_FIELDS)},
                   co.id AS co_id, {_cols('co', COMPANY_FIELDS, 'co_')},
                   m.name AS owner_name, m.email AS owner_email
            FROM drumbeat_contact c
            LEFT JOIN drumbeat_company co ON co.id = c.company
            LEFT JOIN drumbeat_team_member m ON m.id = c.owner
            WHERE c.id IN ({{ids}})""", ids["contact"]):
            company = {"id": row["co_id"] or "", **_values(row, COMPANY_FIELDS, "co_")}
            result[("contact", row["id"])] = {"contact": _contact(row), "company": company,
                                              "lead": {}, "owner": _owner(row)}
    if ids["company"]:
        for row in await _fetch(db, f"""
            SELECT co.id, {_cols('co', COMPANY_FIELDS)},
                   m.name AS owner_name, m.email AS owner_email
            FROM drumbeat_company co LEFT JOIN drumbeat_team_member m ON m.id = co.owner
            WHERE co.id IN ({{ids}})""", ids["company"]):
            result[("company", row["id"])] = {
                "contact": {"attributes": {}}, "company": {"id": row["id"],
                                                           **_values(row, COMPANY_FIELDS)},
                "lead": {}, "owner": _owner(row)}
    if ids["lead"]:
        for row in await _fetch(db, f"""
            SELECT l.id, {_cols('l', LEAD_FIELDS)},
                   m.name AS owner_name, m.email AS owner_email
            FROM drumbeat_lead l LEFT JOIN drumbeat_team_member m ON m.id = l.owner
            WHERE l.id IN ({{ids}})""", ids["lead"]):
            lead = {"id": row["id"], **_values(row, LEAD_FIELDS)}
            contact = _contact({**row, "attributes": {}})
            result[("lead", row["id"])] = {"contact": contact,
                                           "company": {"name": lead["company_name"]},
                                           "lead": lead, "owner": _owner(row)}
    return result


def _cols(alias: str, fields: Iterable[str], prefix: str = "") -> str:
    return ", ".join(f"{alias}.{name} AS {prefix}{name}" for name in fields)


async def _fetch(db: Database, sql: str, ids: list[int]) -> list[dict]:
    unique = list(dict.fromkeys(ids))
    return await db.fetch(sql.replace("{ids}", ", ".join("{}" for _ in unique)), *unique)
