"""A campaign's audience as dispatch sees it: load the recipients (with their companies,
contacts and owners) in a few set-based queries, resolve them (``dispatch.resolve``), and
write the result to the ledger or show it as a preview."""

from __future__ import annotations

from typing import Any, Sequence

from drumbeat.platform.actions import Sender
from drumbeat.platform.database import Database
from drumbeat.platform.dispatch import Party, Recipient, TargetRow, resolve
from drumbeat.platform.tables import DispatchStrategy

_OWNER = "m.name AS owner_name, m.email AS owner_email"


def _owner(row: dict, prefix: str = "owner") -> Sender | None:
    email = row.get(f"{prefix}_email")
    return Sender(row[f"{prefix}_name"], email) if email else None


def _contact(row: dict, prefix: str = "") -> Party:
    return Party("contact", row[f"{prefix}id"], row[f"{prefix}email"],
                 owner=_owner(row, f"{prefix}owner"), unsubscribed=bool(row[f"{prefix}unsubscribed"]),
                 bounced=bool(row[f"{prefix}bounced"]), consent=row[f"{prefix}consent"])


def _company(row: dict, prefix: str = "") -> Party:
    return Party("company", row[f"{prefix}id"], row[f"{prefix}email"],
                 owner=_owner(row, f"{prefix}owner"))


async def load_recipients(db: Database, campaign_id: int,
                          only: Sequence[int] | None = None) -> list[Recipient]:
    """Every recipient of the campaign with what dispatch needs (four queries in all);
    ``only``: just the recipients with those ids."""
    recipients: list[Recipient] = []
    # Inlined integers (never user text): the same filter in each of the four queries.
    only_sql = "" if only is None else (
        f"AND r.id IN ({', '.join(str(int(i)) for i in only) or 'NULL'})")
    for row in await db.fetch(
        f"""
        SELECT r.id AS rid, c.id, c.email, c.unsubscribed, c.bounced, c.consent,
               m.name AS owner_name, m.email AS owner_email,
               co.id AS co_id, co.email AS co_email,
               cm.name AS co_owner_name, cm.email AS co_owner_email
        FROM drumbeat_campaign_recipient r
        JOIN drumbeat_contact c ON c.id = r.contact
        LEFT JOIN drumbeat_team_member m ON m.id = c.owner
        LEFT JOIN drumbeat_company co ON co.id = c.company
        LEFT JOIN drumbeat_team_member cm ON cm.id = co.owner
        WHERE r.campaign = {{}} AND r.kind = 'contact' {only_sql}
        """, campaign_id):
        company = _company(row, "co_") if row["co_id"] is not None else None
        recipients.append(Recipient(row["rid"], "contact", _contact(row), company=company))
    companies = await db.fetch(
        f"""
        SELECT r.id AS rid, co.id, co.email, {_OWNER}
        FROM drumbeat_campaign_recipient r
        JOIN drumbeat_company co ON co.id = r.company
        LEFT JOIN drumbeat_team_member m ON m.id = co.owner
        WHERE r.campaign = {{}} AND r.kind = 'company' {only_sql}
        """, campaign_id)
    staff: dict[int, list[Party]] = {}
    if companies:
        for row in await db.fetch(
            f"""
            SELECT c.id, c.email, c.unsubscribed, c.bounced, c.consent, c.company, {_OWNER}
            FROM drumbeat_contact c LEFT JOIN drumbeat_team_member m ON m.id = c.owner
            WHERE c.company IN (SELECT company FROM drumbeat_campaign_recipient r
                                WHERE r.campaign = {{}} AND r.kind = 'company' {only_sql})
            ORDER BY c.id
            """, campaign_id):
            staff.setdefault(row["company"], []).append(_contact(row))
    for row in companies:
        recipients.append(Recipient(row["rid"], "company", _company(row),
                                    contacts=tuple(staff.get(row["id"], ()))))
    for row in await db.fetch(
        f"""
        SELECT r.id AS rid, l.id, l.email, {_OWNER}
        FROM drumbeat_campaign_recipient r
        JOIN drumbeat_lead l ON l.id = r.lead
        LEFT JOIN drumbeat_team_member m ON m.id = l.owner
        WHERE r.campaign = {{}} AND r.kind = 'lead' {only_sql}
        """, campaign_id):
        recipients.append(Recipient(row["rid"], "lead",
                                    Party("lead", row["id"], row["email"], owner=_owner(row))))
    return recipients


async def suppressed_addresses(db: Database, campaign_id: int) -> set[str]:
    """The suppressed addresses among the campaign's possible targets."""
    rows = await db.fetch(
        """
        SELECT s.address FROM drumbeat_suppression s WHERE s.address IN (
            SELECT lower(c.email) FROM drumbeat_campaign_recipient r
            JOIN drumbeat_contact c ON c.id = r.contact OR c.company = r.company
            WHERE r.campaign = {} AND c.email IS NOT NULL
            UNION SELECT lower(co.email) FROM drumbeat_campaign_recipient r
            JOIN drumbeat_contact c ON c.id = r.contact
            JOIN drumbeat_company co ON co.id = c.company OR co.id = r.company
            WHERE r.campaign = {} AND co.email IS NOT NULL
            UNION SELECT lower(l.email) FROM drumbeat_campaign_recipient r
            JOIN drumbeat_lead l ON l.id = r.lead WHERE r.campaign = {} AND l.email IS NOT NULL)
        """, campaign_id, campaign_id, campaign_id)
    return {r["address"] for r in rows}


async def resolve_audience(db: Database, campaign: dict[str, Any], needs_address: bool,
                           only: Sequence[int] | None = None) -> list[TargetRow]:
    """The campaign's targets and exclusions, exactly as a launch would record them
    (``only``: for just the recipients with those ids, as an ad-hoc send does)."""
    recipients = await load_recipients(db, campaign["id"], only)
    return resolve(recipients, DispatchStrategy(campaign["dispatch_strategy"]),
                   needs_address=needs_address,
                   require_consent=bool(campaign.get("require_consent")),
                   suppressed=await suppressed_addresses(db, campaign["id"]))
