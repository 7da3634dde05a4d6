"""What can be imported and exported: the columns of each kind, its merge key, its table.

The CSV columns are the record's field names (snake_case) plus, where a kind has them,
``owner`` (a team member's email), and for contacts ``company`` (a company name, matched
case-insensitively and created when missing) and ``tags`` (separated by ``;``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from drumbeat.platform import companies, contacts, leads
from drumbeat.platform import record_fields as f


class ImportKind(str, Enum):
    CONTACTS = "CONTACTS"
    COMPANIES = "COMPANIES"
    LEADS = "LEADS"


# Staging column types per parser (PostgreSQL names; SQLite ignores them).
SQL_TYPES = {f.day: "date", f.moment: "timestamptz", f.count: "integer", f.flag: "boolean"}
TAG_SEPARATOR = ";"


@dataclass(frozen=True)
class KindSpec:
    kind: ImportKind
    table: str
    fields: dict[str, f.Field]  # CSV column → field (the table column of the same name)
    key: str  # the CSV column rows are merged on
    key_sql: str  # the same key on the table's rows (uses an index)
    extras: tuple[str, ...]  # owner, company, tags
    has_updated_at_not_null: bool = False

    @property
    def columns(self) -> list[str]:
        """Every CSV column, in export order."""
        return [*self.fields, *self.extras]

    def sql_type(self, name: str) -> str:
        if name == "attributes":
            return "text"
        return SQL_TYPES.get(self.fields[name].parse, "text")


def _without(fields: dict[str, f.Field], *names: str) -> dict[str, f.Field]:
    return {k: v for k, v in fields.items() if k not in names}


SPECS = {
    ImportKind.CONTACTS: KindSpec(
        ImportKind.CONTACTS, "drumbeat_contact",
        # bounced is the platform's to set; unsubscribed can only be set (never reset) here.
        _without(contacts.FIELDS, "bounced"), key="email", key_sql="email",
        extras=("company", "owner", "tags"),
    ),
    ImportKind.COMPANIES: KindSpec(
        ImportKind.COMPANIES, "drumbeat_company", companies.FIELDS,
        key="name", key_sql="lower(name)", extras=("owner",),
    ),
    ImportKind.LEADS: KindSpec(
        ImportKind.LEADS, "drumbeat_lead", leads.FIELDS, key="email", key_sql="lower(email)",
        extras=("owner",), has_updated_at_not_null=True,
    ),
}
