"""A/B tests of messages: the variant each delivery was sent with, and each step's decision
(when the test ends, then the winner and the scores it was chosen by) — one row per step."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from drumbeat.platform.migration_kit import run_sql

ID = "2026-11-23T00:17:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "A/B variants"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(run_sql(
        "ALTER TABLE drumbeat_delivery ADD COLUMN variant VARCHAR(20) NULL",
        "CREATE TABLE drumbeat_ab_decision ("
        " step INTEGER PRIMARY KEY REFERENCES drumbeat_workflow_action (id) ON DELETE CASCADE,"
        " decide_at DOUBLE PRECISION NOT NULL,"  # epoch seconds: the test ends
        " winner VARCHAR(20) NULL,"
        " metric VARCHAR(40) NULL,"
        " scores TEXT NULL,"  # JSON {variant: score or null}
        " decided_at DOUBLE PRECISION NULL)",
    ))
    return m
