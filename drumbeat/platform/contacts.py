"""Contacts: the people campaigns address — create, update, delete, tags, consent, filters.

Emails are stored lower-case and are unique among contacts (checked here and merged on by
the CSV import). Every role edits contacts; only admins delete them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

from drumbeat.platform import record_fields as f
from drumbeat.platform.errors import ErrorCode, Problems
from drumbeat.platform.permissions import require_audience_admin, require_audience_editor
from drumbeat.platform.records import check_reference, get_row, text_search
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import Company, Consent, Contact, ContactTag, TeamMember
from drumbeat.platform.team import Member, now

MAX_CONTACTS_PER_CALL = 1000
MAX_TAGS = 50

FIELDS: dict[str, f.Field] = {field.name: field for field in (
    f.Field("first_name", f.text(100, header=True)),
    f.Field("last_name", f.text(100, header=True)),
    f.Field("email", f.email, blank=None),
    f.Field("phone", f.text(50, header=True)),
    f.Field("job_title", f.text(100, header=True)),
    f.Field("language", f.language),
    f.Field("timezone", f.time_zone),
    f.Field("country", f.country),
    f.Field("city", f.text(100, header=True)),
    f.Field("birth_date", f.day, blank=None),
    f.Field("gender", f.text(20, header=True)),
    f.Field("attributes", f.attributes, blank={}),
    f.Field("consent", f.choice(Consent), blank=Consent.UNKNOWN.value),
    f.Field("consent_source", f.text(100, header=True)),
    f.Field("consent_at", f.moment, blank=None),
    f.Field("unsubscribed", f.flag, blank=False),
    f.Field("bounced", f.flag, blank=False),
)}
REFERENCES = {"company_id": ("company", Company), "owner_id": ("owner", TeamMember)}


async def _check(problems: Problems, values: Mapping[str, Any], *path: str | int,
                 creating: bool = False) -> dict:
    """Stored values of a create/update input: fields, references and tags."""
    plain = {k: v for k, v in values.items() if k in FIELDS}
    unknown = set(values) - set(plain) - set(REFERENCES) - {"tags"}
    if unknown:
        raise TypeError(f"unknown contact fields {sorted(unknown)}")
    result = f.clean_input(problems, FIELDS, plain, *path, creating=creating)
    for key, (column, table) in REFERENCES.items():
        if key in values:
            await check_reference(problems, table, values[key], *path, f.camel(key))
            result[column] = values[key]
    if values.get("tags") is not None:
        result["tags"] = _tags(problems, values["tags"], *path)
    if result.get("consent") and result["consent"] != Consent.UNKNOWN.value \
            and "consent_at" not in values:
        result["consent_at"] = now()
    return result


def _tags(problems: Problems, values: Sequence[str], *path: str | int) -> list[str]:
    """Distinct tags; more than MAX_TAGS given is refused before any is looked at."""
    if len(values) > MAX_TAGS:
        problems.add(f"At most {MAX_TAGS} tags.", ErrorCode.TOO_LONG, *path, "tags")
        return []
    try:
        return f.tags(values, MAX_TAGS)
    except f.FieldError as exc:
        problems.add(f"Tag: {exc.message}", exc.code, *path, "tags")
        return []


async def _email_taken(email: str, except_id: int | None = None) -> bool:
    query = Contact.exists().where(Contact.email == email)
    return await (query.where(Contact.id != except_id) if except_id is not None else query)


async def create_contacts(platform: Platform, member: Member | None,
                          inputs: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Create contacts, all or none; every problem of every input is reported at once.
    Inputs are snake_case field names, ``company_id``, ``owner_id`` and ``tags``."""
    member = require_audience_editor(member)
    problems = Problems()
    if not inputs:
        problems.add("Give at least one contact.", ErrorCode.REQUIRED, "input")
    if len(inputs) > MAX_CONTACTS_PER_CALL:
        problems.add(f"At most {MAX_CONTACTS_PER_CALL} contacts per call.", ErrorCode.TOO_LONG, "input")
        problems.raise_if_any()
    checked = [await _check(problems, item, "input", index, creating=True)
               for index, item in enumerate(inputs)]
    emails: dict[str, int] = {}
    for index, values in enumerate(checked):
        email = values.get("email")
        if email in emails:
            problems.add(f"{email} appears twice.", ErrorCode.DUPLICATE, "input", index, "email")
        elif email:
            emails[email] = index
    if emails:
        for row in await Contact.select(Contact.email).where(Contact.email.is_in(list(emails))):
            problems.add(f"A contact with {row['email']} exists.", ErrorCode.DUPLICATE,
                         "input", emails[row["email"]], "email")
    problems.raise_if_any()
    stamp = now()
    tags = [values.pop("tags", []) for values in checked]
    rows = [Contact(**{"owner": member.id, **values, "created_at": stamp}) for values in checked]
    async with platform.db.transaction():
        created = await Contact.insert(*rows).returning(*Contact.all_columns())
        pairs = [ContactTag(contact=row["id"], tag=tag) for row, row_tags in zip(created, tags)
                 for tag in row_tags]
        if pairs:
            await ContactTag.insert(*pairs)
    return created


async def update_contact(platform: Platform, member: Member | None, contact_id: int,
                         changes: Mapping[str, Any]) -> dict:
    """Change the given fields (``tags`` replaces the set); all problems at once."""
    require_audience_editor(member)
    await get_row(Contact, contact_id)
    problems = Problems()
    values = await _check(problems, changes, "input")
    if values.get("email") and await _email_taken(values["email"], contact_id):
        problems.add(f"A contact with {values['email']} exists.", ErrorCode.DUPLICATE, "input", "email")
    problems.raise_if_any()
    tags = values.pop("tags", None)
    async with platform.db.transaction():
        await Contact.update({**values, "updated_at": now()}).where(Contact.id == contact_id)
        if tags is not None:
            await _replace_tags(contact_id, tags)
        return await get_row(Contact, contact_id)


async def set_tags(platform: Platform, member: Member | None, contact_id: int,
                   tags: Sequence[str]) -> dict:
    return await update_contact(platform, member, contact_id, {"tags": tags})


async def set_consent(platform: Platform, member: Member | None, contact_id: int,
                      consent: str, source: str = "", at: datetime | None = None) -> dict:
    """Record consent with its source and time (default: now)."""
    return await update_contact(platform, member, contact_id, {
        "consent": consent, "consent_source": source, "consent_at": at or now()})


async def _replace_tags(contact_id: int, tags: Sequence[str]) -> None:
    await ContactTag.delete().where(ContactTag.contact == contact_id)
    if tags:
        await ContactTag.insert(*(ContactTag(contact=contact_id, tag=t) for t in tags))


async def delete_contact(platform: Platform, member: Member | None, contact_id: int) -> None:
    """Admins only; tags, purchases and interests go with the contact."""
    require_audience_admin(member)
    async with platform.db.transaction():
        await get_row(Contact, contact_id)
        await Contact.delete().where(Contact.id == contact_id)


async def tags_of(contact_ids: Sequence[int]) -> list[list[str]]:
    """Each contact's tags, sorted (a DataLoader batch function)."""
    rows = await ContactTag.select(ContactTag.contact, ContactTag.tag).where(
        ContactTag.contact.is_in(list(contact_ids))).order_by(ContactTag.tag)
    found: dict[int, list[str]] = {}
    for row in rows:
        found.setdefault(row["contact"], []).append(row["tag"])
    return [found.get(i, []) for i in contact_ids]


def filters(search: str | None = None, company_id: int | None = None, tag: str | None = None,
            consent: str | None = None, country: str | None = None) -> list[Any]:
    """Piccolo conditions of the ``contacts`` connection's filters (all must hold)."""
    where = text_search((Contact.first_name, Contact.last_name, Contact.email), search)
    if company_id is not None:
        where.append(Contact.company == company_id)
    if tag:
        where.append(Contact.id.is_in(ContactTag.select(ContactTag.contact).where(
            ContactTag.tag == tag.strip())))
    if consent:
        where.append(Contact.consent == Consent(consent).value)
    if country:
        where.append(Contact.country == country.strip().upper())
    return where

