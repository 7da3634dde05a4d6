"""The sales tables: invoices, invoice counters, opportunities, offers."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import BigInt, Date, Integer, Text, Timestamptz, Varchar

from drumbeat import migration_kit

ID = "2026-11-24T00:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "sales tables"
APP = "drumbeat_sales"


def _document_columns():
    return dict(
        delivery=BigInt(unique=True), campaign=BigInt(), step=BigInt(),
        target_kind=Varchar(length=10), target_id=BigInt(),
    )


def _email_columns():
    return dict(
        recipient_address=Varchar(length=254, null=True, default=None),
        email_status=Varchar(length=12), email_error=Text(default=""),
        message_id=Varchar(length=255, null=True, default=None),
        created_at=Timestamptz(), updated_at=Timestamptz(),
    )


async def forwards():
    m = MigrationManager(migration_id=ID, app_name=APP, description=DESCRIPTION)
    migration_kit.create_table(
        m, "Invoice", "drumbeat_invoice", **_document_columns(),
        year=Integer(), number=Integer(), display_number=Varchar(length=20),
        currency=Varchar(length=3), lines=Text(),
        net_cents=BigInt(), tax_cents=BigInt(), gross_cents=BigInt(),
        issue_date=Date(), due_date=Date(), status=Varchar(length=10),
        paid_at=Timestamptz(null=True, default=None), cancel_reason=Text(default=""),
        document=Text(), **_email_columns(),
    )
    migration_kit.create_table(
        m, "InvoiceCounter", "drumbeat_invoice_counter",
        year=Integer(unique=True), last_number=Integer(),
    )
    migration_kit.create_table(
        m, "Opportunity", "drumbeat_opportunity", **_document_columns(),
        title=Varchar(length=300), stage=Varchar(length=20), value_cents=BigInt(),
        currency=Varchar(length=3), probability=Integer(),
        owner=BigInt(null=True, default=None), expected_close=Date(null=True, default=None),
        stage_history=Text(), closed_at=Timestamptz(null=True, default=None),
        created_at=Timestamptz(), updated_at=Timestamptz(),
    )
    migration_kit.create_table(
        m, "Offer", "drumbeat_offer", **_document_columns(),
        currency=Varchar(length=3), items=Text(),
        net_cents=BigInt(), tax_cents=BigInt(), gross_cents=BigInt(),
        valid_until=Date(), status=Varchar(length=10),
        decided_at=Timestamptz(null=True, default=None),
        document=Text(), **_email_columns(),
    )
    return m
