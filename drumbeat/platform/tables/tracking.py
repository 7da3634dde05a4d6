"""What happens after a message goes out: the event ledger and the tracked links."""

from enum import Enum

from piccolo.columns import Boolean, DoublePrecision, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from drumbeat.platform.tables.campaigns import Campaign
from drumbeat.platform.tables.deliveries import Delivery


class EventType(str, Enum):
    SENT = "SENT"  # a message went out (a delivery of a MESSAGE action type done)
    DONE = "DONE"  # a work item was made (a task, a document, an update)
    DELIVERED = "DELIVERED"
    OPENED = "OPENED"
    CLICKED = "CLICKED"
    REPLIED = "REPLIED"
    BOUNCED = "BOUNCED"
    UNSUBSCRIBED = "UNSUBSCRIBED"
    CONVERTED = "CONVERTED"
    FAILED = "FAILED"  # the delivery failed for good (detail: the error)
    SKIPPED = "SKIPPED"  # the delivery was skipped (detail: the skip reason)
    DEFERRED = "DEFERRED"  # a failed attempt will be retried (detail: the error; retry_at)


class DeliveryEvent(Table, tablename="drumbeat_delivery_event"):
    """One event of one delivery (``delivery`` is empty for a conversion not tied to one)."""

    campaign = ForeignKey(Campaign, null=False, on_delete=OnDelete.cascade)
    delivery = ForeignKey(Delivery, null=True, on_delete=OnDelete.cascade)
    type = Varchar(length=20, choices=EventType)
    detail = Text(default="")  # the clicked URL, a bounce reason, …
    client_hash = Varchar(length=32, null=True, default=None)  # keyed hash of IP + user agent
    suspected_bot = Boolean(default=False)
    created_at = Timestamptz()
    retry_at = DoublePrecision(null=True, default=None)  # DEFERRED: epoch s of the next try


class TrackedLink(Table, tablename="drumbeat_tracked_link"):
    """The URL behind link ``idx`` of a delivery's message, stored when it is sent."""

    delivery = ForeignKey(Delivery, null=False, on_delete=OnDelete.cascade)
    idx = Integer()
    url = Text()
    created_at = Timestamptz()
