"""Templates as first-class objects: emails, phone-call scripts, documents."""

from enum import Enum

from piccolo.columns import ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from drumbeat.platform.tables.team import TeamMember


class TemplateKind(str, Enum):
    EMAIL = "EMAIL"  # subject, text, html
    CALL_SCRIPT = "CALL_SCRIPT"  # text
    DOCUMENT = "DOCUMENT"  # html (and an optional text version)


class Template(Table, tablename="drumbeat_template"):
    name = Varchar(length=200)  # unique case-insensitively (index on lower(name))
    kind = Varchar(length=20, choices=TemplateKind)
    subject = Text(default="")
    text = Text(default="")
    html = Text(default="")
    owner = ForeignKey(TeamMember, null=False, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    updated_at = Timestamptz()
