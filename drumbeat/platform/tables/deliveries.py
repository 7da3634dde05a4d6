"""The deliveries ledger: one row per (campaign, workflow step, recipient target).

State machine: ``pending → claimed (with a lease) → done | failed``, or ``skipped`` with a
reason at snapshot time; a retried row goes back to ``pending`` with a ``retry_at``. ``lease_until`` is epoch seconds: for a claimed row, when its
claim expires; for a pending row, until when the reconciler leaves it to the message that
was sent for it.
"""

from enum import Enum

from piccolo.columns import BigInt, DoublePrecision, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from drumbeat.platform.tables.campaigns import Campaign, CampaignRecipient, WorkflowAction


class DeliveryState(str, Enum):
    PENDING = "pending"
    CLAIMED = "claimed"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


FINAL_STATES = (DeliveryState.DONE, DeliveryState.FAILED, DeliveryState.SKIPPED)


class SkipReason(str, Enum):
    DUPLICATE = "DUPLICATE"
    UNSUBSCRIBED = "UNSUBSCRIBED"
    BOUNCED = "BOUNCED"
    NO_CONSENT = "NO_CONSENT"
    NO_ADDRESS_FOR_STRATEGY = "NO_ADDRESS_FOR_STRATEGY"
    SUPPRESSED = "SUPPRESSED"
    CANCELLED = "CANCELLED"  # the campaign was cancelled before this delivery ran
    SEND_EMAILS_OFF = "SEND_EMAILS_OFF"  # an email-only action of a campaign with sendEmails off


class Delivery(Table, tablename="drumbeat_delivery"):
    campaign = ForeignKey(Campaign, null=False, on_delete=OnDelete.cascade)
    step = ForeignKey(WorkflowAction, null=False, on_delete=OnDelete.cascade)
    recipient = ForeignKey(CampaignRecipient, null=False, on_delete=OnDelete.cascade)
    target_kind = Varchar(length=10)  # contact | company
    target_id = Integer()
    address = Varchar(length=254, null=True, default=None)
    state = Varchar(length=10, default=DeliveryState.PENDING.value)
    skip_reason = Varchar(length=40, null=True, default=None)
    attempts = Integer(default=0)
    lease_until = DoublePrecision(null=True, default=None)
    retry_at = DoublePrecision(null=True, default=None)  # epoch s: a retry is not claimable before
    #: epoch s: when a run of connection-level failures (an SMTP outage) began; NULL when
    #: the delivery is not deferred by one (see ``ledger.record``).
    deferred_since = DoublePrecision(null=True, default=None)
    claim_token = Varchar(length=32, null=True, default=None)
    last_error = Text(null=True, default=None)
    message_id = Varchar(length=255, null=True, default=None)
    created_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
    #: The A/B variant it was sent with (an action that sends variants sets it).
    variant = Varchar(length=20, null=True, default=None)
    #: The workflow entry it belongs to (part of the ledger's key; 0 outside workflows).
    entry_no = Integer(default=0)
    #: What came of it, as bits (``drumbeat.platform.delivery_marks``), kept by triggers.
    marks = Integer(default=0)
    first_open_at = Timestamptz(null=True, default=None)  # first non-bot open
    first_click_at = Timestamptz(null=True, default=None)
    replied_at = Timestamptz(null=True, default=None)  # first reply
    #: Seconds from sending to the first non-bot open, click or reply at or after it.
    reaction_seconds = DoublePrecision(null=True, default=None)


class DeliveryAccepted(Table, tablename="drumbeat_delivery_accepted"):
    """A message the SMTP server accepted for a delivery not recorded yet
    (``ledger.mark_accepted``); removed when the delivery is recorded."""

    delivery = ForeignKey(Delivery, null=False, unique=True, on_delete=OnDelete.cascade)
    message_id = Varchar(length=255)


class DeliveryTally(Table, tablename="drumbeat_delivery_tally"):
    """How many deliveries are in each cell (campaign, step, variant, state, marks): kept by
    triggers on ``drumbeat_delivery`` (see ``drumbeat.platform.delivery_tally``). On
    PostgreSQL a cell may have several rows (deltas) whose ``n`` add up."""

    campaign = Integer()
    step = Integer()
    variant = Varchar(length=20, default="")
    state = Varchar(length=10)
    marks = Integer()
    n = BigInt()


class SuppressionReason(str, Enum):
    HARD_BOUNCE = "HARD_BOUNCE"
    COMPLAINT = "COMPLAINT"
    MANUAL = "MANUAL"
    UNSUBSCRIBED = "UNSUBSCRIBED"  # the recipient used a List-Unsubscribe link


class Suppression(Table, tablename="drumbeat_suppression"):
    """An address never to email again (checked at launch and at send time)."""

    address = Varchar(length=254)  # lower-case, unique
    reason = Varchar(length=30, choices=SuppressionReason)
    note = Text(default="")
    created_at = Timestamptz()
