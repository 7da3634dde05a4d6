"""Triggers: enrol one person into a RUNNING workflow campaign on an event (a form was
submitted, a newsletter signup, a download), creating the contact — or the lead — when the
email is new. Used by ``campaignEnroll`` (the campaign's owner or an admin) and by the
signed public endpoint ``POST /triggers/{campaign}`` (:mod:`drumbeat.trigger_routes`).

Re-entry (the campaign's ``reentry`` column, set with :func:`set_reentry`):

* ``ONCE`` — a recipient is enrolled at most once (the launch's enrollment counts);
* ``AFTER_EXIT`` — again once its enrollment is ``COMPLETED`` or ``EXITED``;
* ``ALWAYS`` — every trigger starts it over in the start state (even a PAUSED one).

A recipient has one enrollment row per campaign (unique ``(campaign, recipient)``); a
re-entry restarts that row in the start state of the current version (its transition
number goes on, so the journey keeps the earlier rounds and shows ``TRIGGER <event>``).
Its event cursor moves past the recipient's earlier events, so an old reply does not fire
an ``onEvent`` again, nor an old conversion a goal (``since_event``). Each entry into a
state has its own ledger rows (``entry_no``), so a re-entered recipient gets the states'
actions again — once per entry.

A signed trigger carries an id (:class:`Once`): it is claimed in the transaction that
finds or creates the person and enrols them, so a replay — even concurrent — changes
nothing and is answered as a duplicate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping

from drumbeat.platform import audit, ledger
from drumbeat.platform.campaigns import get_campaign, require_campaign
from drumbeat.platform.contacts import create_contacts
from drumbeat.platform.errors import DomainError, ErrorCode, Problem
from drumbeat.platform.leads import create_lead
from drumbeat.platform.permissions import require_campaign_editor
from drumbeat.platform.team import Member, get_member, now as utc_now
from drumbeat.platform.tracking import inbound_ids
from drumbeat.platform.workflows import clock
from drumbeat.platform.workflows import enrollments as rows_
from drumbeat.platform.workflows.definitions import Definitions, current_version, load_version

log = logging.getLogger(__name__)

EVENTS = ("FORM_SUBMITTED", "NEWSLETTER_SIGNUP", "DOWNLOAD", "OTHER")
CONTACT_KEYS = ("email", "first_name", "last_name", "phone", "job_title", "language",
                "timezone", "country", "city")
LEAD_KEYS = ("email", "first_name", "last_name", "phone", "company_name")


class Reentry(str, Enum):
    ONCE = "ONCE"
    AFTER_EXIT = "AFTER_EXIT"
    ALWAYS = "ALWAYS"


@dataclass(frozen=True)
class TriggerResult:
    enrolled: bool
    reason: str | None  # ALREADY_ENROLLED (ONCE) | STILL_ENROLLED (AFTER_EXIT) | CHANGED
    enrollment_id: int | None
    contact_id: int | None
    lead_id: int | None
    created: bool
    duplicate: bool = False


DUPLICATE = TriggerResult(False, "DUPLICATE", None, None, None, False, duplicate=True)


@dataclass(frozen=True)
class Once:
    """A signed trigger's id, applied at most once in its scope (see ``inbound_ids``)."""
    scope: str
    event_id: str
    signed_at: float


def _fail(message: str, code: ErrorCode, *field: str) -> DomainError:
    return DomainError.one(message, code, list(field))


async def set_reentry(platform, member: Member | None, campaign_id: int, rule: Reentry) -> dict:
    """Set the campaign's re-entry rule (its owner or an admin; audited)."""
    campaign = await require_campaign(member, campaign_id, "campaignId")
    require_campaign_editor(member, campaign)
    db = platform.db
    async with db.transaction():
        old = await db.fetchval("SELECT reentry FROM drumbeat_campaign WHERE id = {}",
                                campaign_id)
        if old != rule.value:
            await db.execute("UPDATE drumbeat_campaign SET reentry = {} WHERE id = {}",
                             rule.value, campaign_id)
            await audit.record(member, campaign_id, "campaign.reentry",
                               [audit.Change("reentry", old, rule.value)])
    return await get_campaign(campaign_id)


async def enroll_by_member(platform, member: Member | None, campaign_id: int, event: str,
                           person: Mapping[str, Any] | None, contact_id: int | None,
                           as_lead: bool) -> TriggerResult:
    """``campaignEnroll``: the campaign's owner or an admin enrols a person."""
    campaign = await require_campaign(member, campaign_id, "campaignId")
    require_campaign_editor(member, campaign)
    return await _enroll(platform, member, campaign, event, person, contact_id, as_lead)


async def enroll_public(platform, campaign_id: int, event: str, person: Mapping[str, Any] | None,
                        as_lead: bool, once: Once) -> TriggerResult:
    """The signed endpoint (the signature is checked by the caller): what it creates is
    owned by the campaign's owner; ``once``'s id is applied once (else :data:`DUPLICATE`)."""
    campaign = await get_campaign(campaign_id)
    if campaign is None:
        raise _fail("No such campaign.", ErrorCode.NOT_FOUND, "campaignId")
    if await inbound_ids.seen(platform.db, once.scope, once.event_id):
        return DUPLICATE  # a quick answer; the claim below is what decides
    owner = await get_member(campaign["owner"])
    return await _enroll(platform, owner, campaign, event, person, None, as_lead, once)


async def _enroll(platform, actor: Member | None, campaign: dict, event: str,
                  person: Mapping[str, Any] | None, contact_id: int | None,
                  as_lead: bool, once: Once | None = None) -> TriggerResult:
    db = platform.db
    campaign_id = campaign["id"]
    if event not in EVENTS:
        raise _fail(f"One of {', '.join(EVENTS)}.", ErrorCode.INVALID, "event")
    if campaign["state"] != "RUNNING":
        raise _fail(f"A {campaign['state']} campaign takes no triggers (it must be RUNNING).",
                    ErrorCode.INVALID_STATE, "campaignId")
    number = await current_version(db, campaign_id)
    version = await load_version(db, campaign_id, number) if number else None
    start = next((k for k, s in (version.states if version else {}).items() if s.get("start")),
                 None)
    if start is None:
        raise _fail("The campaign has no workflow to enrol into.", ErrorCode.INVALID_STATE,
                    "campaignId")
    via = f"TRIGGER {event}"
    async with db.transaction():
        if once is not None and not await inbound_ids.claim(db, once.scope, once.event_id,
                                                            once.signed_at):
            return DUPLICATE
        kind, target, created = await _person(platform, actor, person, contact_id, as_lead)
        rule = Reentry(await db.fetchval("SELECT reentry FROM drumbeat_campaign WHERE id = {}",
                                         campaign_id) or Reentry.ONCE.value)
        at = clock.now()
        await db.execute(
            f"INSERT INTO drumbeat_campaign_recipient (campaign, kind, {kind}, added_at)"
            " VALUES ({}, {}, {}, {}) ON CONFLICT DO NOTHING",
            campaign_id, kind, target, utc_now())
        recipient = await db.fetchval(
            f"SELECT id FROM drumbeat_campaign_recipient WHERE campaign = {{}} AND {kind} = {{}}",
            campaign_id, target)
        row, reason = await _enter(db, campaign_id, recipient, kind == "contact" and target
                                   or None, number, start, rule, via, at)
        skipped: list[int] = []
        chunks = [] if row is None else await rows_.enter_actions(
            db, platform.plugins, Definitions(db), row,
            platform.settings.redeliver_after_seconds, skipped)
    result = TriggerResult(row is not None, reason, row["id"] if row else
                           await _enrollment_id(db, campaign_id, recipient),
                           target if kind == "contact" else None,
                           target if kind == "lead" else None, created)
    if row is not None:
        await ledger.announce(db, platform.publish, skipped)
        await _run(platform, campaign_id, chunks)
    return result


async def _enrollment_id(db, campaign_id: int, recipient: int) -> int | None:
    return await db.fetchval("SELECT id FROM drumbeat_enrollment WHERE campaign = {}"
                             " AND recipient = {}", campaign_id, recipient)


async def _enter(db, campaign_id: int, recipient: int, contact: int | None, version: int,
                 start: str, rule: Reentry, via: str, at: float
                 ) -> tuple[dict | None, str | None]:
    """Enrol (or re-enrol) the recipient per ``rule``: (the enrollment row, None) or
    (None, why not) — in the caller's transaction."""
    existing = await db.fetchrow(
        f"SELECT {rows_.COLUMNS} FROM drumbeat_enrollment e WHERE e.campaign = {{}}"
        " AND e.recipient = {}", campaign_id, recipient)
    if existing is None:
        new_id = await db.fetchval(
            "INSERT INTO drumbeat_enrollment (campaign, recipient, contact, version, state_key,"
            " status, step_no, entered_at, due_at, check_at, event_cursor, paused_status,"
            " finished_at) VALUES ({}, {}, {}, {}, {}, 'ACTIVE', 0, {}, NULL, {}, 0, NULL, NULL)"
            " ON CONFLICT DO NOTHING RETURNING id",
            campaign_id, recipient, contact, version, start, at, at)
        if new_id is None:  # a concurrent trigger enrolled it first
            return None, "CHANGED"
        await _journey(db, campaign_id, new_id, 0, None, start, via, at)
        return await rows_.get(db, new_id), None
    if rule is Reentry.ONCE:
        return None, "ALREADY_ENROLLED"
    if rule is Reentry.AFTER_EXIT and existing["status"] in rows_.UNFINISHED:
        return None, "STILL_ENROLLED"
    cursor = await db.fetchval(
        "SELECT max(v.id) FROM drumbeat_delivery_event v JOIN drumbeat_delivery d"
        " ON d.id = v.delivery WHERE d.recipient = {}", recipient) or 0
    step_no = await db.fetchval(
        "UPDATE drumbeat_enrollment SET version = {}, state_key = {}, status = 'ACTIVE',"
        " step_no = step_no + 1, entry_no = step_no + 1, entered_at = {}, due_at = NULL,"
        " check_at = {}, event_cursor = {}, since_event = {}, paused_status = NULL,"
        " finished_at = NULL WHERE id = {} AND step_no = {} RETURNING step_no",
        version, start, at, at, max(cursor, existing["event_cursor"]), cursor, existing["id"],
        existing["step_no"])
    if step_no is None:
        return None, "CHANGED"
    await _journey(db, campaign_id, existing["id"], step_no, existing["state_key"], start, via, at)
    return await rows_.get(db, existing["id"]), None


async def _journey(db, campaign_id: int, enrollment_id: int, step_no: int,
                   from_state: str | None, to_state: str, via: str, at: float) -> None:
    await db.execute(
        "INSERT INTO drumbeat_enrollment_step (campaign, enrollment, step_no, from_state,"
        " to_state, via, at, member) VALUES ({}, {}, {}, {}, {}, {}, {}, NULL)",
        campaign_id, enrollment_id, step_no, from_state, to_state, via, at)


async def _run(platform, campaign_id: int, chunks) -> None:
    """After commit: send the start state's actions and take its instant transitions."""
    from drumbeat.platform.workflows.scheduler import tick

    if chunks:
        try:
            await platform.dispatch(chunks)
        except Exception:  # in the ledger: the reconciler re-sends them
            log.exception("trigger: enqueueing campaign %s failed", campaign_id)
    await platform.publish(campaign_id, rows_.ENROLLMENTS_CHANGED)
    try:
        await tick(platform, campaign_id=campaign_id)
    except Exception:
        log.exception("trigger: workflow tick of campaign %s failed", campaign_id)


async def _person(platform, actor: Member | None, person: Mapping[str, Any] | None,
                  contact_id: int | None, as_lead: bool) -> tuple[str, int, bool]:
    """(recipient kind, its id, created?) — an existing contact (by id or by email, any
    case), else an existing lead (``as_lead``), else a new contact or lead."""
    db = platform.db
    if contact_id is not None:
        if person is not None:
            raise _fail("Give contact or contactId, not both.", ErrorCode.INVALID, "contactId")
        if await db.fetchval("SELECT id FROM drumbeat_contact WHERE id = {}", contact_id) is None:
            raise _fail("No such contact.", ErrorCode.NOT_FOUND, "contactId")
        return "contact", contact_id, False
    if person is None:
        raise _fail("Give the person (contact) or a contactId.", ErrorCode.REQUIRED, "contact")
    email = person.get("email")
    if not isinstance(email, str) or not email.strip():
        raise _fail("An email is required.", ErrorCode.REQUIRED, "contact", "email")
    address = email.strip().lower()
    found = await db.fetchval("SELECT id FROM drumbeat_contact WHERE lower(email) = {}", address)
    if found is not None:
        return "contact", found, False
    if as_lead:
        lead = await db.fetchval("SELECT id FROM drumbeat_lead WHERE lower(email) = {}"
                                 " ORDER BY id LIMIT 1", address)
        if lead is not None:
            return "lead", lead, False
    keys = LEAD_KEYS if as_lead else CONTACT_KEYS
    unknown = sorted(k for k, v in person.items() if k not in keys and v is not None)
    if unknown:
        raise _fail(f"Not a {'lead' if as_lead else 'contact'} field: {unknown[0]}.",
                    ErrorCode.UNKNOWN_FIELD, "contact", _camel(unknown[0]))
    values = {k: v for k, v in person.items() if v is not None}
    try:
        if as_lead:
            row = await create_lead(platform, actor, {**values, "source": "trigger"})
            return "lead", row["id"], True
        rows = await create_contacts(platform, actor, [values])
        return "contact", rows[0]["id"], True
    except DomainError as exc:
        found = await db.fetchval("SELECT id FROM drumbeat_contact WHERE lower(email) = {}",
                                  address)
        if found is not None and not as_lead:  # created meanwhile by a concurrent trigger
            return "contact", found, False
        raise DomainError([_under_contact(p) for p in exc.problems]) from None


def _under_contact(problem: Problem) -> Problem:
    """A create problem's field ``input.0.email`` / ``input.email`` as ``contact.email``."""
    field = [f for f in problem.field or () if f != "input" and not f.isdigit()]
    return Problem(problem.message, problem.code, ("contact", *field))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
