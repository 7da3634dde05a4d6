"""Dispatch and sender resolution: who is actually addressed for each campaign recipient,
from whom, and why a recipient is excluded.

Pure functions over loaded rows, so every combination is table-testable and the launch
(``ledger.snapshot``) and ``campaign.audiencePreview`` use exactly the same resolution.

* A **contact** recipient: ``CONTACT`` → the person; ``COMPANY`` → their company's general
  address; ``BOTH`` → both.
* A **company** recipient: ``CONTACT`` → each of its contacts; ``COMPANY`` → its general
  address; ``BOTH`` → both.
* A **lead** recipient: the lead's own address (a lead has no company record), whatever
  the strategy; ``COMPANY`` alone has nothing to address.

Under ``BOTH`` a missing side is not a skip; ``NO_ADDRESS_FOR_STRATEGY`` is recorded only
when a recipient has no address at all for the strategy. The same address reached twice
(or the same target through two recipients) is addressed once: the later ones are
``DUPLICATE``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, Sequence

from drumbeat.platform.actions import Sender
from drumbeat.platform.tables import DispatchStrategy, SenderStrategy

D = DispatchStrategy


@dataclass(frozen=True)
class Party:
    """A contact, company or lead as dispatch sees it."""

    kind: str  # contact | company | lead
    id: int
    email: str | None
    owner: Sender | None = None
    unsubscribed: bool = False
    bounced: bool = False
    consent: str = "UNKNOWN"  # GRANTED | DENIED | UNKNOWN (companies: UNKNOWN)


@dataclass(frozen=True)
class Recipient:
    id: int
    kind: str  # contact | company | lead
    party: Party
    company: Party | None = None  # a contact's company
    contacts: tuple[Party, ...] = field(default=())  # a company's contacts


@dataclass(frozen=True)
class TargetRow:
    recipient_id: int
    kind: str
    id: int
    address: str | None
    skip_reason: str | None = None
    owner: Sender | None = None  # whose sender a CONTACT_OWNER campaign uses
    recipient_kind: str = ""  # the kind of the recipient it comes from


def _target(recipient: Recipient, party: Party) -> TargetRow:
    return TargetRow(recipient.id, party.kind, party.id, party.email or None, owner=party.owner,
                     recipient_kind=recipient.kind)


def targets_for(recipient: Recipient, strategy: DispatchStrategy) -> list[TargetRow]:
    """The parties addressed for one recipient under ``strategy`` (no skip reasons yet)."""
    person_side = strategy in (D.CONTACT, D.BOTH)
    company_side = strategy in (D.COMPANY, D.BOTH)
    if recipient.kind == "lead":
        return [_target(recipient, recipient.party)] if person_side else []
    if recipient.kind == "contact":
        people = [recipient.party] if person_side else []
        companies = [recipient.company] if company_side and recipient.company else []
    else:  # company
        people = list(recipient.contacts) if person_side else []
        companies = [recipient.party] if company_side else []
    return [_target(recipient, p) for p in (*people, *companies)]


def resolve(recipients: Sequence[Recipient], strategy: DispatchStrategy, *,
            needs_address: bool, require_consent: bool = False,
            suppressed: Iterable[str] = ()) -> list[TargetRow]:
    """Every recipient's targets with their skip reason (``None``: it will be executed).

    ``needs_address``: the action sends something (email), so a target without an address
    cannot be reached and unsubscribed/bounced/suppressed addresses are skipped.
    """
    suppressed = {a.lower() for a in suppressed}
    rows: list[TargetRow] = []
    seen_targets: set[tuple[str, int]] = set()
    seen_addresses: set[str] = set()
    for recipient in sorted(recipients, key=lambda r: r.id):
        targets = targets_for(recipient, strategy)
        reachable = [t for t in targets if t.address] if needs_address else targets
        if not reachable:
            rows.append(TargetRow(recipient.id, recipient.kind, recipient.party.id,
                                  recipient.party.email, "NO_ADDRESS_FOR_STRATEGY",
                                  recipient_kind=recipient.kind))
            continue
        parties = _parties(recipient)
        for target in reachable:
            party = parties[(target.kind, target.id)]
            reason = _reason(party, target, needs_address, require_consent, suppressed)
            address = (target.address or "").lower()
            if reason is None:
                if (target.kind, target.id) in seen_targets or (
                        needs_address and address in seen_addresses):
                    reason = "DUPLICATE"
                else:
                    seen_targets.add((target.kind, target.id))
                    if needs_address:
                        seen_addresses.add(address)
            rows.append(replace(target, skip_reason=reason))
    return rows


def _parties(recipient: Recipient) -> dict[tuple[str, int], Party]:
    parties = [recipient.party, *recipient.contacts]
    if recipient.company is not None:
        parties.append(recipient.company)
    return {(p.kind, p.id): p for p in parties}


def _reason(party: Party, target: TargetRow, needs_address: bool, require_consent: bool,
            suppressed: set[str]) -> str | None:
    if party.consent == "DENIED" or (require_consent and party.kind != "company"
                                     and party.consent != "GRANTED"):
        return "NO_CONSENT"
    if needs_address:
        if party.unsubscribed:
            return "UNSUBSCRIBED"
        if party.bounced:
            return "BOUNCED"
        if (target.address or "").lower() in suppressed:
            return "SUPPRESSED"
    return None


def sender_for(strategy: SenderStrategy, creator: Sender, owner: Sender,
               target_owner: Sender | None) -> Sender:
    """Who a message to a target comes from (and whom replies reach)."""
    if strategy is SenderStrategy.CREATOR:
        return creator
    if strategy is SenderStrategy.CONTACT_OWNER and target_owner is not None:
        return target_owner
    return owner  # OWNER, or a CONTACT_OWNER target nobody owns


def reasons_count(rows: Iterable[TargetRow]) -> Mapping[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        if row.skip_reason:
            counts[row.skip_reason] = counts.get(row.skip_reason, 0) + 1
    return counts
