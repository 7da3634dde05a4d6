"""Campaign truth: what each delivery led to, kept on its row, and a tally kept by triggers.

* ``drumbeat_delivery.marks`` — bits of what happened (``drumbeat.platform.delivery_marks``):
  bounced, opened, clicked, replied, unsubscribed, reacted, the recipient's first done
  delivery of its step / action type / campaign, the recipient converted;
  ``first_open_at``, ``first_click_at``, ``replied_at`` and ``reaction_seconds`` (first
  non-bot open, click or reply at or after sending, minus the send time).
* ``drumbeat_campaign_recipient.converted_at`` — when the recipient first converted.
* ``drumbeat_delivery_event.retry_at`` — a DEFERRED event's retry time (epoch seconds).
* ``drumbeat_delivery_tally`` — the number of deliveries per (campaign, step, variant,
  state, marks), kept by triggers on the ledger so that no writer can forget it: an
  upserted row per cell on SQLite (one writer at a time), appended deltas on PostgreSQL
  (statement triggers over transition tables; concurrent workers never wait on a counter
  row) that readers sum and ``delivery_tally.compact`` folds.
* Triggers on ``drumbeat_delivery_event`` and ``drumbeat_campaign_outcome`` set the marks
  (opens, clicks, replies, bounces, unsubscribes; conversions by recipient).

Existing rows are backfilled from the event ledger and the outcomes before the triggers
are created.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

ID = "2026-12-04T00:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "campaign truth: delivery marks and tally"

# The bits of drumbeat.platform.delivery_marks, frozen here.
BOUNCED, OPENED, CLICKED, REPLIED, UNSUBSCRIBED = 1, 2, 4, 8, 16
FIRST_IN_STEP, FIRST_IN_TYPE, FIRST_IN_CAMPAIGN, CONVERTED, REACTED = 32, 64, 128, 256, 512
EVENT_LOCK = 0x64726D62  # drumbeat.platform.ledger's advisory lock key

COLUMNS = [
    "ALTER TABLE drumbeat_delivery ADD COLUMN marks INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE drumbeat_delivery ADD COLUMN first_open_at TIMESTAMPTZ NULL",
    "ALTER TABLE drumbeat_delivery ADD COLUMN first_click_at TIMESTAMPTZ NULL",
    "ALTER TABLE drumbeat_delivery ADD COLUMN replied_at TIMESTAMPTZ NULL",
    "ALTER TABLE drumbeat_delivery ADD COLUMN reaction_seconds DOUBLE PRECISION NULL",
    "ALTER TABLE drumbeat_campaign_recipient ADD COLUMN converted_at TIMESTAMPTZ NULL",
    "ALTER TABLE drumbeat_delivery_event ADD COLUMN retry_at DOUBLE PRECISION NULL",
    "CREATE TABLE drumbeat_delivery_tally (id {serial} PRIMARY KEY, campaign INTEGER NOT NULL,"
    " step INTEGER NOT NULL, variant VARCHAR(20) NOT NULL DEFAULT '', state VARCHAR(10) NOT NULL,"
    " marks INTEGER NOT NULL, n BIGINT NOT NULL)",
    "CREATE INDEX drumbeat_delivery_reaction ON drumbeat_delivery (step, reaction_seconds)"
    " WHERE reaction_seconds IS NOT NULL AND state = 'done'",
    "CREATE INDEX drumbeat_delivery_step_state ON drumbeat_delivery (step, state, id)",
    "CREATE INDEX drumbeat_recipient_converted ON drumbeat_campaign_recipient (campaign)"
    " WHERE converted_at IS NOT NULL",
]


def _first(bit: int, scope: str) -> str:
    """``bit`` for a done delivery that is its recipient's first done one in ``scope``."""
    return (f"CASE WHEN d.state = 'done' AND d.id = (SELECT MIN(x.id) FROM drumbeat_delivery x"
            f" WHERE x.recipient = d.recipient AND x.state = 'done' {scope}) THEN {bit} ELSE 0 END")


def _event_bit(bit: int, kind: str, bots: bool) -> str:
    bot = "" if bots else " AND NOT e.suspected_bot"
    return (f"CASE WHEN EXISTS (SELECT 1 FROM drumbeat_delivery_event e WHERE e.delivery = d.id"
            f" AND e.type = '{kind}'{bot}) THEN {bit} ELSE 0 END")


def _first_at(kind: str) -> str:
    return (f"(SELECT MIN(e.created_at) FROM drumbeat_delivery_event e WHERE e.delivery = d.id"
            f" AND e.type = '{kind}' AND NOT e.suspected_bot)")


def _backfill(seconds) -> list[str]:
    reacted = ("(SELECT MIN(e.created_at) FROM drumbeat_delivery_event e WHERE e.delivery = d.id"
               " AND e.type IN ('OPENED', 'CLICKED', 'REPLIED') AND NOT e.suspected_bot"
               " AND d.finished_at IS NOT NULL AND e.created_at >= d.finished_at)")
    same_type = ("AND (SELECT action_type FROM drumbeat_workflow_action WHERE id = x.step)"
                 " = (SELECT action_type FROM drumbeat_workflow_action WHERE id = d.step)")
    return [
        "UPDATE drumbeat_campaign_recipient SET converted_at = (SELECT MIN(t) FROM ("
        " SELECT e.created_at AS t FROM drumbeat_delivery_event e JOIN drumbeat_delivery x"
        "  ON x.id = e.delivery WHERE x.recipient = drumbeat_campaign_recipient.id"
        "  AND e.type = 'CONVERTED' AND NOT e.suspected_bot"
        " UNION ALL SELECT o.recorded_at FROM drumbeat_campaign_outcome o JOIN drumbeat_delivery x"
        "  ON x.campaign = o.campaign AND x.target_kind = 'contact' AND x.target_id = o.contact"
        "  WHERE x.recipient = drumbeat_campaign_recipient.id AND o.kind IN ('LEAD', 'SALE')) c)",
        f"UPDATE drumbeat_delivery SET first_open_at = {_first_at('OPENED').replace('d.id', 'drumbeat_delivery.id')},"
        f" first_click_at = {_first_at('CLICKED').replace('d.id', 'drumbeat_delivery.id')},"
        f" replied_at = {_first_at('REPLIED').replace('d.id', 'drumbeat_delivery.id')}"
        " WHERE id IN (SELECT delivery FROM drumbeat_delivery_event WHERE delivery IS NOT NULL)",
        "UPDATE drumbeat_delivery SET reaction_seconds = (SELECT {s} FROM drumbeat_delivery d"
        " WHERE d.id = drumbeat_delivery.id) WHERE id IN (SELECT delivery FROM"
        " drumbeat_delivery_event WHERE delivery IS NOT NULL)".replace(
            "{s}", seconds(reacted, "d.finished_at")),
        "UPDATE drumbeat_delivery SET marks = (SELECT "
        + " + ".join([
            _event_bit(BOUNCED, "BOUNCED", True), _event_bit(OPENED, "OPENED", False),
            _event_bit(CLICKED, "CLICKED", False), _event_bit(REPLIED, "REPLIED", False),
            _event_bit(UNSUBSCRIBED, "UNSUBSCRIBED", True),
            f"CASE WHEN d.reaction_seconds IS NOT NULL THEN {REACTED} ELSE 0 END",
            _first(FIRST_IN_STEP, "AND x.step = d.step"), _first(FIRST_IN_TYPE, same_type),
            _first(FIRST_IN_CAMPAIGN, ""),
            f"CASE WHEN d.state = 'done' AND EXISTS (SELECT 1 FROM drumbeat_campaign_recipient r"
            f" WHERE r.id = d.recipient AND r.converted_at IS NOT NULL) THEN {CONVERTED} ELSE 0 END",
        ])
        + " FROM drumbeat_delivery d WHERE d.id = drumbeat_delivery.id)",
        "INSERT INTO drumbeat_delivery_tally (campaign, step, variant, state, marks, n)"
        " SELECT campaign, step, COALESCE(variant, ''), state, marks, COUNT(*)"
        " FROM drumbeat_delivery GROUP BY campaign, step, COALESCE(variant, ''), state, marks",
    ]


def _sqlite_seconds(later: str, earlier: str) -> str:
    return f"(julianday({later}) - julianday({earlier})) * 86400.0"


def _pg_seconds(later: str, earlier: str) -> str:
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


# -- SQLite: row triggers that upsert one tally row per cell ------------------------------
def _sqlite_cell(row: str, sign: str) -> str:
    return (f"INSERT INTO drumbeat_delivery_tally (campaign, step, variant, state, marks, n)"
            f" VALUES ({row}.campaign, {row}.step, COALESCE({row}.variant, ''), {row}.state,"
            f" {row}.marks, {sign}1) ON CONFLICT (campaign, step, variant, state, marks)"
            f" DO UPDATE SET n = n {sign} 1;")


def _sqlite_marks_update(bits: str) -> str:
    """The event trigger's UPDATE of the event's delivery (``bits``: the marks to add)."""
    seconds = _sqlite_seconds("NEW.created_at", "finished_at")
    human = "NOT NEW.suspected_bot"
    reaction = (f"{human} AND NEW.type IN ('OPENED', 'CLICKED', 'REPLIED')"
                " AND finished_at IS NOT NULL AND NEW.created_at >= finished_at")
    return (
        "UPDATE drumbeat_delivery SET"
        f" marks = marks | {bits} | CASE WHEN {reaction} THEN {REACTED} ELSE 0 END,"
        + ", ".join(
            f" {col} = CASE WHEN {human} AND NEW.type = '{kind}' AND ({col} IS NULL"
            f" OR NEW.created_at < {col}) THEN NEW.created_at ELSE {col} END"
            for col, kind in (("first_open_at", "OPENED"), ("first_click_at", "CLICKED"),
                              ("replied_at", "REPLIED")))
        + f", reaction_seconds = CASE WHEN {reaction} AND (reaction_seconds IS NULL"
          f" OR {seconds} < reaction_seconds) THEN {seconds} ELSE reaction_seconds END"
        " WHERE id = NEW.delivery;")


_EVENT_BITS = (f"(CASE NEW.type WHEN 'BOUNCED' THEN {BOUNCED} WHEN 'UNSUBSCRIBED' THEN {UNSUBSCRIBED}"
               f" ELSE CASE WHEN NEW.suspected_bot THEN 0 ELSE CASE NEW.type"
               f" WHEN 'OPENED' THEN {OPENED} WHEN 'CLICKED' THEN {CLICKED}"
               f" WHEN 'REPLIED' THEN {REPLIED} ELSE 0 END END END)")

# Mark a recipient converted (``{recipients}``: a subquery of drumbeat_campaign_recipient ids).
_CONVERT = [
    "UPDATE drumbeat_campaign_recipient SET converted_at = {at} WHERE id IN ({recipients})"
    " AND (converted_at IS NULL OR converted_at > {at});",
    f"UPDATE drumbeat_delivery SET marks = marks | {CONVERTED} WHERE recipient IN ({{recipients}})"
    f" AND state = 'done' AND (marks & {CONVERTED}) = 0;",
]
_OUTCOME_RECIPIENTS = ("SELECT x.recipient FROM drumbeat_delivery x WHERE x.campaign = NEW.campaign"
                       " AND x.target_kind = 'contact' AND x.target_id = NEW.contact")


def _convert(recipients: str, at: str) -> str:
    return " ".join(s.replace("{recipients}", recipients).replace("{at}", at) for s in _CONVERT)


SQLITE = [
    "CREATE UNIQUE INDEX drumbeat_delivery_tally_cell ON drumbeat_delivery_tally"
    " (campaign, step, variant, state, marks)",
    "CREATE TRIGGER drumbeat_tally_insert AFTER INSERT ON drumbeat_delivery BEGIN "
    + _sqlite_cell("NEW", "+") + " END",
    "CREATE TRIGGER drumbeat_tally_update AFTER UPDATE OF state, marks, variant, step"
    " ON drumbeat_delivery WHEN OLD.state IS NOT NEW.state OR OLD.marks IS NOT NEW.marks"
    " OR OLD.variant IS NOT NEW.variant OR OLD.step IS NOT NEW.step BEGIN "
    + _sqlite_cell("OLD", "-") + " " + _sqlite_cell("NEW", "+") + " END",
    "CREATE TRIGGER drumbeat_tally_delete AFTER DELETE ON drumbeat_delivery BEGIN "
    + _sqlite_cell("OLD", "-") + " END",
    "CREATE TRIGGER drumbeat_event_marks AFTER INSERT ON drumbeat_delivery_event"
    " WHEN NEW.delivery IS NOT NULL AND NEW.type IN"
    " ('BOUNCED', 'UNSUBSCRIBED', 'OPENED', 'CLICKED', 'REPLIED') BEGIN "
    + _sqlite_marks_update(_EVENT_BITS) + " END",
    "CREATE TRIGGER drumbeat_event_converted AFTER INSERT ON drumbeat_delivery_event"
    " WHEN NEW.delivery IS NOT NULL AND NEW.type = 'CONVERTED' AND NOT NEW.suspected_bot BEGIN "
    + _convert("SELECT recipient FROM drumbeat_delivery WHERE id = NEW.delivery",
               "NEW.created_at") + " END",
    "CREATE TRIGGER drumbeat_outcome_converted AFTER INSERT ON drumbeat_campaign_outcome"
    " WHEN NEW.kind IN ('LEAD', 'SALE') AND NEW.contact IS NOT NULL BEGIN "
    + _convert(_OUTCOME_RECIPIENTS, "NEW.recorded_at") + " END",
]


# -- PostgreSQL: statement triggers that append deltas; row triggers for events -------------
_PG_KEY = "campaign, step, COALESCE(variant, '') AS variant, state, marks"
_PG_CHANGED = ("(n.state, n.marks, COALESCE(n.variant, ''), n.step) IS DISTINCT FROM"
               " (o.state, o.marks, COALESCE(o.variant, ''), o.step)")
POSTGRES = [
    "CREATE INDEX drumbeat_delivery_tally_campaign ON drumbeat_delivery_tally (campaign)",
    f"""CREATE FUNCTION drumbeat_tally_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO drumbeat_delivery_tally (campaign, step, variant, state, marks, n)
    SELECT {_PG_KEY}, COUNT(*) FROM new_rows GROUP BY 1, 2, 3, 4, 5;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO drumbeat_delivery_tally (campaign, step, variant, state, marks, n)
    SELECT {_PG_KEY}, -COUNT(*) FROM old_rows GROUP BY 1, 2, 3, 4, 5;
  ELSE
    INSERT INTO drumbeat_delivery_tally (campaign, step, variant, state, marks, n)
    SELECT campaign, step, variant, state, marks, SUM(k) FROM (
      SELECT n.campaign, n.step, COALESCE(n.variant, '') AS variant, n.state, n.marks, 1 AS k
      FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE {_PG_CHANGED}
      UNION ALL
      SELECT o.campaign, o.step, COALESCE(o.variant, ''), o.state, o.marks, -1
      FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE {_PG_CHANGED}
    ) c GROUP BY 1, 2, 3, 4, 5 HAVING SUM(k) <> 0;
  END IF;
  RETURN NULL;
END $$""",
    "CREATE TRIGGER drumbeat_tally_insert AFTER INSERT ON drumbeat_delivery"
    " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
    " EXECUTE FUNCTION drumbeat_tally_delivery()",
    "CREATE TRIGGER drumbeat_tally_update AFTER UPDATE ON drumbeat_delivery"
    " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT"
    " EXECUTE FUNCTION drumbeat_tally_delivery()",
    "CREATE TRIGGER drumbeat_tally_delete AFTER DELETE ON drumbeat_delivery"
    " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT"
    " EXECUTE FUNCTION drumbeat_tally_delivery()",
    f"""CREATE FUNCTION drumbeat_event_marks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.type = 'CONVERTED' THEN
    PERFORM pg_advisory_xact_lock({EVENT_LOCK}, NEW.campaign);
    {_convert("SELECT recipient FROM drumbeat_delivery WHERE id = NEW.delivery", "NEW.created_at")}
  ELSE
    {_sqlite_marks_update(_EVENT_BITS).replace(
        _sqlite_seconds("NEW.created_at", "finished_at"),
        _pg_seconds("NEW.created_at", "finished_at"))}
  END IF;
  RETURN NULL;
END $$""",
    "CREATE TRIGGER drumbeat_event_marks AFTER INSERT ON drumbeat_delivery_event FOR EACH ROW"
    " WHEN (NEW.delivery IS NOT NULL AND (NEW.type IN"
    " ('BOUNCED', 'UNSUBSCRIBED', 'OPENED', 'CLICKED', 'REPLIED')"
    " OR (NEW.type = 'CONVERTED' AND NOT NEW.suspected_bot)))"
    " EXECUTE FUNCTION drumbeat_event_marks()",
    f"""CREATE FUNCTION drumbeat_outcome_converted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock({EVENT_LOCK}, NEW.campaign);
  {_convert(_OUTCOME_RECIPIENTS, "NEW.recorded_at")}
  RETURN NULL;
END $$""",
    "CREATE TRIGGER drumbeat_outcome_converted AFTER INSERT ON drumbeat_campaign_outcome"
    " FOR EACH ROW WHEN (NEW.kind IN ('LEAD', 'SALE') AND NEW.contact IS NOT NULL)"
    " EXECUTE FUNCTION drumbeat_outcome_converted()",
]


async def _run() -> None:
    engine = engine_finder()
    postgres = engine.engine_type == "postgres"
    serial = "SERIAL" if postgres else "INTEGER"
    seconds = _pg_seconds if postgres else _sqlite_seconds
    statements = [s.replace("{serial}", serial) for s in COLUMNS]
    statements += _backfill(seconds) + (POSTGRES if postgres else SQLITE)
    for statement in statements:
        await engine.run_querystring(QueryString(statement.replace("{", "{{").replace("}", "}}")))


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(_run)
    return m
