"""Triggers: a campaign's re-entry rule (ONCE | AFTER_EXIT | ALWAYS) for enrolments by a
trigger, and room in a journey row's ``via`` for ``TRIGGER <event>`` (SQLite does not
enforce VARCHAR lengths; PostgreSQL's column is widened)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

ID = "2026-11-23T00:18:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "trigger re-entry rule"


async def _step() -> None:
    engine = engine_finder()
    await engine.run_querystring(QueryString(
        "ALTER TABLE drumbeat_campaign ADD COLUMN reentry VARCHAR(12) NOT NULL DEFAULT 'ONCE'"))
    if engine.engine_type == "postgres":
        await engine.run_querystring(QueryString(
            "ALTER TABLE drumbeat_enrollment_step ALTER COLUMN via TYPE VARCHAR(40)"))


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(_step)
    return m
