"""Send limits shared by every process: a rate schedule and connection slots per SMTP
transport (drumbeat.platform.mail.rate_limit)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from drumbeat.platform.migration_kit import run_sql

ID = "2026-11-23T00:13:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "send limits"


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(run_sql(
        "CREATE TABLE drumbeat_send_rate ("
        " key VARCHAR(500) PRIMARY KEY,"
        " next_at DOUBLE PRECISION NOT NULL)",
        "CREATE TABLE drumbeat_send_slot ("
        " key VARCHAR(500) NOT NULL,"
        " slot INTEGER NOT NULL,"
        " holder VARCHAR(200),"
        " lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,"
        " PRIMARY KEY (key, slot))",
    ))
    return m
