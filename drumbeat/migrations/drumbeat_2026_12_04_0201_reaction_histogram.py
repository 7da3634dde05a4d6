"""Reaction histogram: how many sent messages reacted within each time bucket, per
(campaign, step, variant), kept by the same triggers as the delivery tally.

A median reaction is then found by summing the buckets up to the middle rank and reading
the one or two middle rows of the reaction index from that bucket's lower edge
(``drumbeat.platform.reaction_histogram``): its cost no longer grows with the number of
messages. Buckets (``bucket_of``): 1 s up to a minute, 10 s up to an hour, 1 min up to a
day, 1 h beyond. Also an index on ``drumbeat_delivery.finished_at`` for the SKIPPED events
the ledger writes after an UPDATE of rows it just finished.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

ID = "2026-12-04T00:20:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "reaction histogram"


def bucket_sql(value: str, postgres: bool) -> str:
    """The bucket of ``value`` seconds (frozen copy of reaction_histogram.bucket_sql)."""
    def floor(x: str) -> str:
        return f"CAST(FLOOR({x}) AS INTEGER)" if postgres else f"CAST({x} AS INTEGER)"
    return (f"(CASE WHEN {value} < 60 THEN {floor(value)}"
            f" WHEN {value} < 3600 THEN 60 + {floor(f'({value} - 60) / 10.0')}"
            f" WHEN {value} < 86400 THEN 414 + {floor(f'({value} - 3600) / 60.0')}"
            f" ELSE 1794 + {floor(f'({value} - 86400) / 3600.0')} END)")


def _qualifies(row: str) -> str:
    return f"{row}.state = 'done' AND {row}.reaction_seconds IS NOT NULL"


def _sqlite_cell(row: str, sign: str) -> str:
    return (f"INSERT INTO drumbeat_reaction_tally (campaign, step, variant, bucket, n)"
            f" SELECT {row}.campaign, {row}.step, COALESCE({row}.variant, ''),"
            f" {bucket_sql(row + '.reaction_seconds', False)}, {sign}1 WHERE {_qualifies(row)}"
            f" ON CONFLICT (campaign, step, variant, bucket) DO UPDATE SET n = n {sign} 1;")


SQLITE = [
    "CREATE UNIQUE INDEX drumbeat_reaction_tally_cell ON drumbeat_reaction_tally"
    " (campaign, step, variant, bucket)",
    "CREATE TRIGGER drumbeat_reaction_insert AFTER INSERT ON drumbeat_delivery"
    f" WHEN {_qualifies('NEW')} BEGIN " + _sqlite_cell("NEW", "+") + " END",
    "CREATE TRIGGER drumbeat_reaction_update AFTER UPDATE OF state, reaction_seconds, variant,"
    " step ON drumbeat_delivery WHEN (OLD.state IS NOT NEW.state"
    " OR OLD.reaction_seconds IS NOT NEW.reaction_seconds OR OLD.variant IS NOT NEW.variant"
    " OR OLD.step IS NOT NEW.step) AND ((" + _qualifies("OLD") + ") OR (" + _qualifies("NEW")
    + ")) BEGIN " + _sqlite_cell("OLD", "-") + " " + _sqlite_cell("NEW", "+") + " END",
    "CREATE TRIGGER drumbeat_reaction_delete AFTER DELETE ON drumbeat_delivery"
    f" WHEN {_qualifies('OLD')} BEGIN " + _sqlite_cell("OLD", "-") + " END",
]

_PG_KEY = "campaign, step, COALESCE(variant, '') AS variant, state, marks"
_PG_CHANGED = ("(n.state, n.marks, COALESCE(n.variant, ''), n.step) IS DISTINCT FROM"
               " (o.state, o.marks, COALESCE(o.variant, ''), o.step)")
_PG_REACTION_CHANGED = ("(n.state, n.reaction_seconds, COALESCE(n.variant, ''), n.step)"
                        " IS DISTINCT FROM (o.state, o.reaction_seconds,"
                        " COALESCE(o.variant, ''), o.step)")


def _pg_bucket(row: str) -> str:
    return bucket_sql(f"{row}.reaction_seconds", True)


# The delivery tally's function (migration 0200), now also keeping the histogram.
POSTGRES = [
    "CREATE INDEX drumbeat_reaction_tally_campaign ON drumbeat_reaction_tally (campaign)",
    f"""CREATE OR REPLACE FUNCTION drumbeat_tally_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO drumbeat_delivery_tally (campaign, step, variant, state, marks, n)
    SELECT {_PG_KEY}, COUNT(*) FROM new_rows GROUP BY 1, 2, 3, 4, 5;
    INSERT INTO drumbeat_reaction_tally (campaign, step, variant, bucket, n)
    SELECT n.campaign, n.step, COALESCE(n.variant, ''), {_pg_bucket('n')}, COUNT(*)
    FROM new_rows n WHERE {_qualifies('n')} GROUP BY 1, 2, 3, 4;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO drumbeat_delivery_tally (campaign, step, variant, state, marks, n)
    SELECT {_PG_KEY}, -COUNT(*) FROM old_rows GROUP BY 1, 2, 3, 4, 5;
    INSERT INTO drumbeat_reaction_tally (campaign, step, variant, bucket, n)
    SELECT o.campaign, o.step, COALESCE(o.variant, ''), {_pg_bucket('o')}, -COUNT(*)
    FROM old_rows o WHERE {_qualifies('o')} GROUP BY 1, 2, 3, 4;
  ELSE
    INSERT INTO drumbeat_delivery_tally (campaign, step, variant, state, marks, n)
    SELECT campaign, step, variant, state, marks, SUM(k) FROM (
      SELECT n.campaign, n.step, COALESCE(n.variant, '') AS variant, n.state, n.marks, 1 AS k
      FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE {_PG_CHANGED}
      UNION ALL
      SELECT o.campaign, o.step, COALESCE(o.variant, ''), o.state, o.marks, -1
      FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE {_PG_CHANGED}
    ) c GROUP BY 1, 2, 3, 4, 5 HAVING SUM(k) <> 0;
    INSERT INTO drumbeat_reaction_tally (campaign, step, variant, bucket, n)
    SELECT campaign, step, variant, bucket, SUM(k) FROM (
      SELECT n.campaign, n.step, COALESCE(n.variant, '') AS variant, {_pg_bucket('n')} AS bucket,
             1 AS k
      FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE {_PG_REACTION_CHANGED} AND {_qualifies('n')}
      UNION ALL
      SELECT o.campaign, o.step, COALESCE(o.variant, ''), {_pg_bucket('o')}, -1
      FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE {_PG_REACTION_CHANGED} AND {_qualifies('o')}
    ) c GROUP BY 1, 2, 3, 4 HAVING SUM(k) <> 0;
  END IF;
  RETURN NULL;
END $$""",
]


async def _run() -> None:
    engine = engine_finder()
    postgres = engine.engine_type == "postgres"
    statements = [
        f"CREATE TABLE drumbeat_reaction_tally (id {'SERIAL' if postgres else 'INTEGER'}"
        " PRIMARY KEY, campaign INTEGER NOT NULL, step INTEGER NOT NULL,"
        " variant VARCHAR(20) NOT NULL DEFAULT '', bucket INTEGER NOT NULL, n BIGINT NOT NULL)",
        "INSERT INTO drumbeat_reaction_tally (campaign, step, variant, bucket, n)"
        f" SELECT campaign, step, COALESCE(variant, ''), {bucket_sql('reaction_seconds', postgres)},"
        " COUNT(*) FROM drumbeat_delivery WHERE state = 'done' AND reaction_seconds IS NOT NULL"
        f" GROUP BY campaign, step, COALESCE(variant, ''), {bucket_sql('reaction_seconds', postgres)}",
        "CREATE INDEX drumbeat_delivery_finished ON drumbeat_delivery (finished_at)",
        *(POSTGRES if postgres else SQLITE),
    ]
    for statement in statements:
        await engine.run_querystring(QueryString(statement.replace("{", "{{").replace("}", "}}")))


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    m.add_raw(_run)
    return m
