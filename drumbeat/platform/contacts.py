"""Contacts: the people campaigns address (the audience issue grows this into full CRUD,
import and segments)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from drumbeat.platform.errors import ErrorCode, Problems
from drumbeat.platform.permissions import require_member
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import Contact
from drumbeat.platform.team import Member, now
from drumbeat.platform.validation import check_email, check_text

MAX_CONTACTS_PER_CALL = 1000


@dataclass(frozen=True)
class ContactInput:
    email: str | None
    first_name: str = ""
    last_name: str = ""


async def create_contacts(
    platform: Platform, member: Member | None, inputs: Sequence[ContactInput]
) -> list[dict]:
    """Create contacts, all or none; every problem of every row is reported at once."""
    member = require_member(member)
    problems = Problems()
    if not inputs:
        problems.add("Give at least one contact.", ErrorCode.REQUIRED, "input")
    if len(inputs) > MAX_CONTACTS_PER_CALL:
        problems.add(f"At most {MAX_CONTACTS_PER_CALL} contacts per call.", ErrorCode.TOO_LONG, "input")
    emails: dict[str, int] = {}
    for index, item in enumerate(inputs[:MAX_CONTACTS_PER_CALL]):
        email = (item.email or "").strip().lower() or None
        check_email(problems, email, "input", index, "email", required=False)
        check_text(problems, item.first_name, 100, "input", index, "firstName", single_line=True)
        check_text(problems, item.last_name, 100, "input", index, "lastName", single_line=True)
        if email:
            if email in emails:
                problems.add(f"{email} appears twice.", ErrorCode.DUPLICATE, "input", index, "email")
            emails[email] = index
    if emails:
        for row in await Contact.select(Contact.email).where(Contact.email.is_in(list(emails))):
            problems.add(f"A contact with {row['email']} exists.", ErrorCode.DUPLICATE,
                         "input", emails[row["email"]], "email")
    problems.raise_if_any()
    stamp = now()
    rows = [
        Contact(first_name=(i.first_name or "").strip(), last_name=(i.last_name or "").strip(),
                email=(i.email or "").strip().lower() or None, owner=member.id, created_at=stamp)
        for i in inputs
    ]
    async with platform.db.transaction():
        created = await Contact.insert(*rows).returning(*Contact.all_columns())
    return created
