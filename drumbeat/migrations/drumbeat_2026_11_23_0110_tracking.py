"""Tracking: the delivery event ledger and the links of sent messages."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from drumbeat.platform.migration_kit import create_table

ID = "2026-11-23T00:01:10:000000"
VERSION = "1.38.0"
DESCRIPTION = "tracking events and links"


class Campaign(Table, tablename="drumbeat_campaign"):
    pass


class Delivery(Table, tablename="drumbeat_delivery"):
    pass


def fk(table, null=False):
    return ForeignKey(references=table, null=null, on_delete=OnDelete.cascade)


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    create_table(
        m, "DeliveryEvent", "drumbeat_delivery_event",
        campaign=fk(Campaign),
        delivery=fk(Delivery, null=True),
        type=Varchar(length=20),
        detail=Text(default=""),
        client_hash=Varchar(length=32, null=True, default=None),
        suspected_bot=Boolean(default=False),
        created_at=Timestamptz(),
    )
    create_table(
        m, "TrackedLink", "drumbeat_tracked_link",
        delivery=fk(Delivery),
        idx=Integer(),
        url=Text(),
        created_at=Timestamptz(),
    )
    return m
