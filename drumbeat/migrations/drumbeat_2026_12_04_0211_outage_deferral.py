"""Deliveries deferred by an SMTP outage, and messages accepted but not yet recorded.

* ``drumbeat_delivery.deferred_since`` — a connection-level failure (refused, reset,
  timeout, 421) puts a delivery back to pending without using one of its attempts, for up
  to ``DRUMBEAT_OUTAGE_WINDOW_SECONDS`` from the first such failure in a row; this column
  (epoch seconds, NULL when not deferred) is when that began (``ledger.record``).
* ``drumbeat_delivery_accepted`` — the Message-ID of each message the SMTP server accepted
  for a delivery still claimed, written at once (``ledger.mark_accepted``) and removed when
  the delivery is recorded: a delivery claimed again after its worker died is recorded
  done instead of being sent twice. A table of its own — an UPDATE of the ledger would run
  its tally triggers for every few messages.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

ID = "2026-12-04T00:21:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "outage deferral and accepted messages"


async def _run() -> None:
    engine = engine_finder()
    serial = "SERIAL" if engine.engine_type == "postgres" else "INTEGER"
    for statement in (
        "ALTER TABLE drumbeat_delivery ADD COLUMN deferred_since DOUBLE PRECISION NULL",
        f"CREATE TABLE drumbeat_delivery_accepted (id {serial} PRIMARY KEY,"
        " delivery INTEGER NOT NULL UNIQUE REFERENCES drumbeat_delivery (id) ON DELETE CASCADE,"
        " message_id VARCHAR(255) NOT NULL)",
    ):
        await engine.run_querystring(QueryString(statement))


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(_run)
    return m
