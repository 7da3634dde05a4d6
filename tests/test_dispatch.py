"""Dispatch × sender resolution, table-tested over all nine combinations, with contacts
without a company and companies without a general address."""

from __future__ import annotations

import pytest

from drumbeat.platform.actions import Sender
from drumbeat.platform.dispatch import Party, Recipient, resolve, sender_for
from drumbeat.platform.tables import DispatchStrategy as D
from drumbeat.platform.tables import SenderStrategy as S

CREATOR = Sender("Cree", "creator@team.example")
OWNER = Sender("Owen", "owner@team.example")
ANA = Sender("Ana", "ana@team.example")  # owns contacts and companies

ACME = Party("company", 10, "office@acme.example", owner=ANA)
NOMAIL = Party("company", 11, None, owner=ANA)  # no general address
ALICE = Party("contact", 1, "alice@acme.example", owner=ANA)
BOB = Party("contact", 2, "bob@acme.example")  # nobody owns Bob
CAROL = Party("contact", 3, "carol@home.example", owner=ANA)  # no company
DAN = Party("contact", 4, None)  # no address of his own, works at Acme

AUDIENCE = [
    Recipient(1, "contact", ALICE, company=ACME),
    Recipient(2, "contact", CAROL),
    Recipient(3, "contact", DAN, company=ACME),
    Recipient(4, "company", NOMAIL, contacts=(BOB,)),
    Recipient(5, "company", Party("company", 12, None)),  # no address, no contacts
]

# strategy → [(recipient, target kind, target id, skip reason)]
EXPECTED = {
    D.CONTACT: [
        (1, "contact", 1, None),
        (2, "contact", 3, None),
        (3, "contact", 4, "NO_ADDRESS_FOR_STRATEGY"),
        (4, "contact", 2, None),
        (5, "company", 12, "NO_ADDRESS_FOR_STRATEGY"),
    ],
    D.COMPANY: [
        (1, "company", 10, None),
        (2, "contact", 3, "NO_ADDRESS_FOR_STRATEGY"),  # Carol has no company
        (3, "company", 10, "DUPLICATE"),  # Acme again, through Dan
        (4, "company", 11, "NO_ADDRESS_FOR_STRATEGY"),  # no general address
        (5, "company", 12, "NO_ADDRESS_FOR_STRATEGY"),
    ],
    D.BOTH: [
        (1, "contact", 1, None),
        (1, "company", 10, None),
        (2, "contact", 3, None),  # no company: the person only, not a skip
        (3, "company", 10, "DUPLICATE"),  # Dan has no address; Acme is already addressed
        (4, "contact", 2, None),  # no general address: the contact only
        (5, "company", 12, "NO_ADDRESS_FOR_STRATEGY"),
    ],
}


@pytest.mark.parametrize("strategy", list(D))
def test_who_is_addressed_for_each_dispatch_strategy(strategy):
    rows = resolve(AUDIENCE, strategy, needs_address=True)
    assert [(r.recipient_id, r.kind, r.id, r.skip_reason) for r in rows] == EXPECTED[strategy]


# (dispatch, sender) → the sender of each executed target, in order
@pytest.mark.parametrize("dispatch", list(D))
@pytest.mark.parametrize("sender", list(S))
def test_all_nine_dispatch_and_sender_combinations(dispatch, sender):
    rows = [r for r in resolve(AUDIENCE, dispatch, needs_address=True) if r.skip_reason is None]
    senders = [sender_for(sender, CREATOR, OWNER, r.owner) for r in rows]
    if sender is S.CREATOR:
        assert set(senders) == {CREATOR}
    elif sender is S.OWNER:
        assert set(senders) == {OWNER}
    else:  # each target's owner; Bob belongs to nobody → the campaign's owner
        expected = {("contact", 1): ANA, ("contact", 3): ANA, ("contact", 2): OWNER,
                    ("company", 10): ANA}
        assert senders == [expected[(r.kind, r.id)] for r in rows]
    assert len(rows) == len({(r.kind, r.id) for r in rows}), "every target once"


def test_skip_reasons_and_their_precedence():
    people = [
        Party("contact", 21, "gone@x.example", unsubscribed=True),
        Party("contact", 22, "bounce@x.example", bounced=True),
        Party("contact", 23, "denied@x.example", consent="DENIED", unsubscribed=True),
        Party("contact", 24, "Blocked@X.example"),
        Party("contact", 25, "unknown@x.example"),
        Party("contact", 26, "granted@x.example", consent="GRANTED"),
        Party("contact", 27, "GRANTED@x.example", consent="GRANTED"),  # same address, other case
    ]
    recipients = [Recipient(i, "contact", p) for i, p in enumerate(people, 1)]
    reasons = [r.skip_reason for r in resolve(recipients, D.CONTACT, needs_address=True,
                                              suppressed=["blocked@x.example"])]
    assert reasons == ["UNSUBSCRIBED", "BOUNCED", "NO_CONSENT", "SUPPRESSED", None, None,
                       "DUPLICATE"]
    strict = [r.skip_reason for r in resolve(recipients, D.CONTACT, needs_address=True,
                                             require_consent=True)]
    assert strict[4] == "NO_CONSENT" and strict[5] is None


def test_an_action_without_messages_ignores_addresses_but_not_consent():
    recipients = [Recipient(1, "contact", DAN, company=ACME),
                  Recipient(2, "contact", Party("contact", 5, None, consent="DENIED")),
                  Recipient(3, "contact", Party("contact", 6, "x@y.example", unsubscribed=True))]
    rows = resolve(recipients, D.CONTACT, needs_address=False)
    assert [(r.id, r.skip_reason) for r in rows] == [(4, None), (5, "NO_CONSENT"), (6, None)]


def test_a_lead_is_addressed_by_its_own_email():
    lead = Recipient(1, "lead", Party("lead", 7, "lead@prospect.example"))
    assert [(r.kind, r.skip_reason) for r in resolve([lead], D.CONTACT, needs_address=True)] == [
        ("lead", None)]
    assert [r.skip_reason for r in resolve([lead], D.COMPANY, needs_address=True)] == [
        "NO_ADDRESS_FOR_STRATEGY"]
