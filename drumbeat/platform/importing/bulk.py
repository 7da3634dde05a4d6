"""The bulk write of an import: stage every valid row, then merge with set-based SQL.

Rows go into a temporary staging table — asyncpg ``copy_records_to_table`` (COPY) on
PostgreSQL, ``executemany`` on SQLite — and then, in the same transaction, a handful of
statements merge it into the target table: one ``UPDATE … FROM`` for the rows whose key
exists (only the non-empty cells overwrite) and one ``INSERT … SELECT`` for the rest. On
PostgreSQL a transaction-scoped advisory lock serialises imports into one table, so two
concurrent imports cannot both insert the same key. Never one statement per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from drumbeat.platform.importing.kinds import ImportKind, KindSpec
from drumbeat.platform.importing.reader import ParsedFile
from drumbeat.platform.runtime import Platform

STAGE = "drumbeat_import_stage"
STAGE_TAGS = "drumbeat_import_stage_tags"
CHUNK = 5000  # staged rows per progress report


@dataclass(frozen=True)
class Written:
    inserted: int
    updated: int


def _literal(value: Any) -> str:
    """SQL for a column's blank value (constants of the code, never user input)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if value == {}:
        return "json_object()"  # SQLite's; PostgreSQL gets json_build_object() (see Plan)
    assert isinstance(value, str) and (value == "" or value.isalpha()), value
    return f"'{value}'"


class Plan:
    """The staging layout and merge statements of one kind on one dialect."""

    def __init__(self, spec: KindSpec, dialect: str):
        self.spec = spec
        self.postgres = dialect == "postgres"
        self.fields = list(spec.fields)
        self.columns = ["k", *self.fields, "owner"]
        if spec.kind is ImportKind.CONTACTS:
            self.columns += ["company_name", "company"]

    def records(self, parsed: ParsedFile) -> list[tuple]:
        contacts = self.spec.kind is ImportKind.CONTACTS
        rows = []
        for key, values in parsed.records.items():
            row = [key, *(values.get(name) for name in self.fields), values.get("owner")]
            if contacts:
                row += [parsed.companies.get(key), None]
            rows.append(tuple(row))
        return rows

    def create_stage(self) -> list[str]:
        types = {"k": "text", "owner": "integer", "company_name": "text", "company": "integer"}
        cols = ", ".join(f"{c} {types.get(c) or self.spec.sql_type(c)}" for c in self.columns)
        if self.postgres:
            return [f"CREATE TEMP TABLE {STAGE} ({cols}) ON COMMIT DROP",
                    f"CREATE TEMP TABLE {STAGE_TAGS} (k text, tag text) ON COMMIT DROP"]
        return [f"DROP TABLE IF EXISTS temp.{STAGE}", f"DROP TABLE IF EXISTS temp.{STAGE_TAGS}",
                f"CREATE TEMP TABLE {STAGE} ({cols})", f"CREATE TEMP TABLE {STAGE_TAGS} (k text, tag text)"]

    def _param(self, sql_type: str) -> str:
        """A parameter in a SELECT list: PostgreSQL needs its type spelled out."""
        return f"CAST({{}} AS {sql_type})" if self.postgres else "{}"

    def _blank(self, name: str) -> str:
        sql = _literal(self.spec.fields[name].blank)
        # No braces in the SQL: they are the placeholders Database.compile replaces.
        return "CAST(json_build_object() AS text)" if self.postgres and sql == "json_object()" else sql

    def _cast(self, name: str, expression: str) -> str:
        return f"CAST({expression} AS json)" if self.postgres and name == "attributes" else expression

    def link_companies(self) -> list[str]:
        """Contacts' ``company`` names: create the missing companies, then link by name."""
        return [
            "INSERT INTO drumbeat_company (name, email, vat_id, phone, industry, country, city,"
            " owner, created_at)"
            f" SELECT min(s.company_name), NULL, '', '', '', '', '',"
            f" {self._param('integer')}, {self._param('timestamptz')} FROM {STAGE} s"
            " WHERE s.company_name IS NOT NULL AND NOT EXISTS (SELECT 1 FROM drumbeat_company c"
            " WHERE lower(c.name) = lower(s.company_name)) GROUP BY lower(s.company_name)",
            f"UPDATE {STAGE} SET company = m.id FROM (SELECT lower(name) AS n, min(id) AS id"
            " FROM drumbeat_company GROUP BY lower(name)) m"
            f" WHERE {STAGE}.company_name IS NOT NULL AND m.n = lower({STAGE}.company_name)",
        ]

    def count_existing(self) -> str:
        t = self.spec.table
        return (f"SELECT count(*) AS n FROM {STAGE} s WHERE EXISTS"
                f" (SELECT 1 FROM {t} WHERE {self._key(t)} = s.k)")

    def _key(self, table: str) -> str:
        return self.spec.key_sql.replace(self.spec.key, f"{table}.{self.spec.key}")

    def update(self) -> str:
        t = self.spec.table
        sets = []
        for name in self.fields:
            if name == "attributes":
                merged = (f"CAST(CAST({t}.attributes AS jsonb) || CAST(s.attributes AS jsonb) AS json)"
                          if self.postgres else f"json_patch({t}.attributes, s.attributes)")
                sets.append(f"attributes = CASE WHEN s.attributes IS NULL THEN {t}.attributes"
                            f" ELSE {merged} END")
            elif name == "status":
                sets.append(f"status = CASE WHEN {t}.status = 'CONVERTED' THEN {t}.status"
                            f" ELSE COALESCE(s.status, {t}.status) END")
            else:
                sets.append(f"{name} = COALESCE(s.{name}, {t}.{name})")
        sets.append(f"owner = COALESCE(s.owner, {t}.owner)")
        if self.spec.kind is ImportKind.CONTACTS:
            sets.append(f"company = COALESCE(s.company, {t}.company)")
        sets.append("updated_at = {}")
        return f"UPDATE {t} SET {', '.join(sets)} FROM {STAGE} s WHERE {self._key(t)} = s.k"

    def insert(self) -> str:
        """Parameters: the importer's id (default owner), the time (created/updated at)."""
        t = self.spec.table
        names = [*self.fields, "owner"]
        values = [self._cast(n, f"COALESCE(s.{n}, {self._blank(n)})") for n in self.fields]
        values.append("COALESCE(s.owner, {})")
        if self.spec.kind is ImportKind.CONTACTS:
            names.append("company")
            values.append("s.company")
        names.append("created_at")
        values.append(self._param("timestamptz"))
        if self.spec.has_updated_at_not_null:
            names.append("updated_at")
            values.append(self._param("timestamptz"))
        return (f"INSERT INTO {t} ({', '.join(names)}) SELECT {', '.join(values)} FROM {STAGE} s"
                f" WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE {self._key(t)} = s.k)")

    def insert_tags(self) -> str:
        return ("INSERT INTO drumbeat_contact_tag (contact, tag) SELECT c.id, st.tag"
                f" FROM {STAGE_TAGS} st JOIN drumbeat_contact c ON c.email = st.k"
                " WHERE TRUE ON CONFLICT (contact, tag) DO NOTHING")


async def write(platform: Platform, spec: KindSpec, parsed: ParsedFile, owner_id: int,
                stamp: datetime, progress: Callable[[int], None] | None = None) -> Written:
    """Merge the valid rows of ``parsed`` into the kind's table, all in one transaction."""
    plan = Plan(spec, platform.db.dialect)
    records = plan.records(parsed)
    tags = [(key, tag) for key, values in parsed.tags.items() for tag in values]
    if platform.db.dialect == "postgres":
        return await _write_postgres(platform, plan, records, tags, owner_id, stamp, progress)
    return await _write_sqlite(platform, plan, records, tags, owner_id, stamp, progress)


def _statements(plan: Plan, owner_id: int, stamp: datetime) -> tuple[list, list]:
    """(statements before the count, statements after it) as (sql, args) pairs."""
    before = []
    if plan.spec.kind is ImportKind.CONTACTS:
        link, attach = plan.link_companies()
        before = [(link, (owner_id, stamp)), (attach, ())]
    after = [(plan.update(), (stamp,)),
             (plan.insert(), (owner_id, stamp) + ((stamp,) if plan.spec.has_updated_at_not_null else ()))]
    if plan.spec.kind is ImportKind.CONTACTS:
        after.append((plan.insert_tags(), ()))
    return before, after


async def _write_postgres(platform, plan, records, tags, owner_id, stamp, progress) -> Written:
    db = platform.db
    before, after = _statements(plan, owner_id, stamp)
    async with db.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"import:{plan.spec.table}")
        for sql in plan.create_stage():
            await conn.execute(sql)
        for start in range(0, len(records), CHUNK):
            await conn.copy_records_to_table(STAGE, records=records[start:start + CHUNK],
                                             columns=plan.columns)
            if progress:
                progress(min(start + CHUNK, len(records)))
        if tags:
            await conn.copy_records_to_table(STAGE_TAGS, records=tags, columns=["k", "tag"])
        for sql, args in before:
            await conn.execute(db.compile(sql), *args)
        existing = await conn.fetchval(plan.count_existing())
        for sql, args in after:
            await conn.execute(db.compile(sql), *args)
    return Written(inserted=len(records) - existing, updated=existing)


async def _write_sqlite(platform, plan, records, tags, owner_id, stamp, progress) -> Written:
    db = platform.db
    before, after = _statements(plan, owner_id, stamp)
    marks = ", ".join("?" for _ in plan.columns)
    async with db.transaction() as tx:
        conn = tx.connection
        for sql in plan.create_stage():
            await conn.execute(sql)
        for start in range(0, len(records), CHUNK):
            await conn.executemany(f"INSERT INTO {STAGE} ({', '.join(plan.columns)}) VALUES ({marks})",
                                   records[start:start + CHUNK])
            if progress:
                progress(min(start + CHUNK, len(records)))
        await conn.executemany(f"INSERT INTO {STAGE_TAGS} (k, tag) VALUES (?, ?)", tags)
        await conn.execute(f"CREATE INDEX temp.{STAGE}_k ON {STAGE} (k)")
        for sql, args in before:
            await conn.execute(db.compile(sql), args)
        async with conn.execute(plan.count_existing()) as cursor:
            existing = (await cursor.fetchone())["n"]
        for sql, args in after:
            await conn.execute(db.compile(sql), args)
        for name in (STAGE, STAGE_TAGS):
            await conn.execute(f"DROP TABLE temp.{name}")
    return Written(inserted=len(records) - existing, updated=existing)
