"""Audience records: companies are looked up (and merged by the CSV import) by their name,
case-insensitively."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from drumbeat.platform.migration_kit import run_sql

ID = "2026-11-23T00:00:50:000000"
VERSION = "1.38.0"
DESCRIPTION = "company name index"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(run_sql("CREATE INDEX drumbeat_company_name_ci ON drumbeat_company (lower(name))"))
    return m
