"""Deliveries deferred by an SMTP outage: ``drumbeat_delivery.deferred_since``.

A connection-level failure (refused, reset, timeout, 421) puts a delivery back to pending
without using one of its attempts, for up to ``DRUMBEAT_OUTAGE_WINDOW_SECONDS`` from the
first such failure in a row; this column (epoch seconds, NULL when not deferred) is when
that began. See ``drumbeat.platform.ledger.record``.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from drumbeat.platform.migration_kit import run_sql

ID = "2026-12-04T00:21:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "outage deferral of deliveries"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(run_sql(
        "ALTER TABLE drumbeat_delivery ADD COLUMN deferred_since DOUBLE PRECISION NULL",
    ))
    return m
