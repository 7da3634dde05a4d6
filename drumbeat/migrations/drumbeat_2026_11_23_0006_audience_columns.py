"""Audience: the profile columns of contacts and companies, and leads as campaign recipients."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import JSON, Date, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

ID = "2026-11-23T00:00:06:000000"
VERSION = "1.38.0"
DESCRIPTION = "audience columns"


class Lead(Table, tablename="drumbeat_lead"):
    pass


CONTACT_COLUMNS = (
    ("phone", Varchar, {"length": 50, "default": ""}),
    ("job_title", Varchar, {"length": 100, "default": ""}),
    ("language", Varchar, {"length": 10, "default": ""}),
    ("timezone", Varchar, {"length": 50, "default": ""}),
    ("country", Varchar, {"length": 2, "default": ""}),
    ("city", Varchar, {"length": 100, "default": ""}),
    ("birth_date", Date, {"null": True, "default": None}),
    ("gender", Varchar, {"length": 20, "default": ""}),
    ("attributes", JSON, {"default": "{}"}),
    ("consent", Varchar, {"length": 10, "default": "UNKNOWN"}),
    ("consent_source", Varchar, {"length": 100, "default": ""}),
    ("consent_at", Timestamptz, {"null": True, "default": None}),
    ("updated_at", Timestamptz, {"null": True, "default": None}),
)
COMPANY_COLUMNS = (
    ("vat_id", Varchar, {"length": 50, "default": ""}),
    ("phone", Varchar, {"length": 50, "default": ""}),
    ("industry", Varchar, {"length": 100, "default": ""}),
    ("size", Integer, {"null": True, "default": None}),
    ("country", Varchar, {"length": 2, "default": ""}),
    ("city", Varchar, {"length": 100, "default": ""}),
    ("updated_at", Timestamptz, {"null": True, "default": None}),
)


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    for class_name, tablename, columns in (("Contact", "drumbeat_contact", CONTACT_COLUMNS),
                                           ("Company", "drumbeat_company", COMPANY_COLUMNS)):
        for name, column_class, params in columns:
            m.add_column(table_class_name=class_name, tablename=tablename, column_name=name,
                         db_column_name=name, column_class_name=column_class.__name__,
                         column_class=column_class, params=params)
    m.add_column(table_class_name="CampaignRecipient", tablename="drumbeat_campaign_recipient",
                 column_name="lead", db_column_name="lead", column_class_name="ForeignKey",
                 column_class=ForeignKey,
                 params={"references": Lead, "null": True, "on_delete": OnDelete.cascade})
    return m
