"""Conversions lock their recipients, not the campaign (PostgreSQL).

``ledger.record`` now takes a transaction-scoped advisory lock per recipient of its chunk
(key ``RECIPIENT_LOCK``, in id order) before marking rows done, and the campaign's event
lock only around writing its events — one campaign-wide lock around the whole record
serialised every worker (bulk email fell to half its rate). The conversion triggers take
the same recipient locks, so a recipient's first-delivery and converted marks stay exact;
they mark the recipient's deliveries whatever their state (metrics count done ones), which
reaches them through the recipient index alone.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

from drumbeat.migrations.drumbeat_2026_12_04_0200_campaign_truth import (
    _EVENT_BITS, _OUTCOME_RECIPIENTS, _pg_seconds, _sqlite_marks_update, _sqlite_seconds,
)

ID = "2026-12-04T00:20:03:000000"
VERSION = "1.38.0"
DESCRIPTION = "recipient locks for conversions"

RECIPIENT_LOCK = 0x64726D63  # drumbeat.platform.ledger_events.RECIPIENT_LOCK, frozen
CONVERTED = 256


def _convert(recipients: str, at: str) -> str:
    return (
        f"PERFORM pg_advisory_xact_lock({RECIPIENT_LOCK}, r) FROM (SELECT DISTINCT r FROM"
        f" ({recipients}) q(r) ORDER BY r) s;"
        f" UPDATE drumbeat_campaign_recipient SET converted_at = {at} WHERE id IN ({recipients})"
        f" AND (converted_at IS NULL OR converted_at > {at});"
        f" UPDATE drumbeat_delivery SET marks = marks | {CONVERTED} WHERE recipient IN"
        f" ({recipients}) AND (marks & {CONVERTED}) = 0;")


POSTGRES = [
    f"""CREATE OR REPLACE FUNCTION drumbeat_event_marks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.type = 'CONVERTED' THEN
    {_convert("SELECT recipient FROM drumbeat_delivery WHERE id = NEW.delivery", "NEW.created_at")}
  ELSE
    {_sqlite_marks_update(_EVENT_BITS).replace(
        _sqlite_seconds("NEW.created_at", "finished_at"),
        _pg_seconds("NEW.created_at", "finished_at"))}
  END IF;
  RETURN NULL;
END $$""",
    f"""CREATE OR REPLACE FUNCTION drumbeat_outcome_converted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  {_convert(_OUTCOME_RECIPIENTS, "NEW.recorded_at")}
  RETURN NULL;
END $$""",
]


async def _run() -> None:
    engine = engine_finder()
    if engine.engine_type != "postgres":
        return  # SQLite: one writer at a time, nothing to lock
    for statement in POSTGRES:
        await engine.run_querystring(QueryString(statement.replace("{", "{{").replace("}", "}}")))


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(_run)
    return m
