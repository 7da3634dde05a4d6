"""Signed inbound ids: each trigger and provider event once per scope.

``drumbeat_inbound_id`` replaces ``drumbeat_inbound_event`` (provider event ids only, kept
for ever): unique on (scope, event_id) — ``inbound`` for the provider's events,
``trigger:<campaign id>`` for triggers — with the signature's time and the time received
(epoch seconds; ids older than the retention are purged by the reconciler). The provider
event ids already seen move over in scope ``inbound``.
"""

import time

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from drumbeat.platform.migration_kit import run_sql

ID = "2026-12-04T00:21:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "inbound ids (triggers and provider events)"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(run_sql(
        "CREATE TABLE drumbeat_inbound_id ("
        " scope VARCHAR(40) NOT NULL, event_id VARCHAR(200) NOT NULL,"
        " signed_at DOUBLE PRECISION NOT NULL, received_at DOUBLE PRECISION NOT NULL,"
        " PRIMARY KEY (scope, event_id))",
        "CREATE INDEX drumbeat_inbound_id_received ON drumbeat_inbound_id (received_at)",
        # The ids already applied stay applied (their retention counts from now).
        "INSERT INTO drumbeat_inbound_id (scope, event_id, signed_at, received_at)"
        f" SELECT 'inbound', event_id, 0, {time.time():.3f} FROM drumbeat_inbound_event",
        "DROP TABLE drumbeat_inbound_event",
    ))
    return m
