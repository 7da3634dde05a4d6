"""Enrollment indexes (after 0160: Piccolo runs a migration's raw steps before its tables).

* one enrollment per campaign recipient;
* the scheduler's scan: what is due to be examined;
* one journey row per transition number — the safety net of "each transition once";
* a recipient's deliveries (the engine's lookups per enrollment).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from drumbeat.platform.migration_kit import run_sql

ID = "2026-11-23T00:16:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "enrollment indexes"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(run_sql(
        "CREATE UNIQUE INDEX drumbeat_enrollment_recipient"
        " ON drumbeat_enrollment (campaign, recipient)",
        "CREATE INDEX drumbeat_enrollment_due ON drumbeat_enrollment (status, check_at)",
        "CREATE UNIQUE INDEX drumbeat_enrollment_step_no"
        " ON drumbeat_enrollment_step (enrollment, step_no)",
        "CREATE INDEX drumbeat_enrollment_step_campaign ON drumbeat_enrollment_step (campaign)",
        # The engine reads one recipient's deliveries (are its actions done? its events?).
        "CREATE INDEX drumbeat_delivery_recipient ON drumbeat_delivery (recipient, step)",
    ))
    return m
