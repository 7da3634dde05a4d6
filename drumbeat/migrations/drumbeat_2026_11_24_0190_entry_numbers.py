"""Entries: a workflow recipient gets a state's actions each time it enters that state.

* ``drumbeat_delivery.entry_no`` — the enrollment's transition number (``step_no``) at
  which the recipient entered the state the delivery belongs to (0 for a launch, an
  ad-hoc send, and a campaign without a workflow). It joins the ledger's key, so a
  re-entry (trigger with AFTER_EXIT / ALWAYS, a loop back through a delay, a manual move,
  a migration to another state) gets fresh rows while a repeated entry stays a no-op.
* ``drumbeat_enrollment.entry_no`` — which entry the enrollment's current state is (its
  actions are those deliveries); ``since_event`` — the newest event id when the recipient
  was (re-)enrolled: goals look at later events only.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from drumbeat.platform.migration_kit import run_sql

ID = "2026-11-24T00:19:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "workflow entry numbers"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(run_sql(
        "ALTER TABLE drumbeat_delivery ADD COLUMN entry_no INTEGER NOT NULL DEFAULT 0",
        "DROP INDEX drumbeat_delivery_key",
        "CREATE UNIQUE INDEX drumbeat_delivery_key"
        " ON drumbeat_delivery (step, recipient, target_kind, target_id, entry_no)",
        "ALTER TABLE drumbeat_enrollment ADD COLUMN entry_no INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE drumbeat_enrollment ADD COLUMN since_event INTEGER NOT NULL DEFAULT 0",
    ))
    return m
