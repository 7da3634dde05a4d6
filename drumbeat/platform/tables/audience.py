"""Who campaigns reach: companies and contacts."""

from piccolo.columns import Boolean, ForeignKey, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from drumbeat.platform.tables.team import TeamMember


class Company(Table, tablename="drumbeat_company"):
    name = Varchar(length=200)
    email = Varchar(length=254, null=True, default=None)  # general address (office, secretariat)
    owner = ForeignKey(TeamMember, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()


class Contact(Table, tablename="drumbeat_contact"):
    first_name = Varchar(length=100, default="")
    last_name = Varchar(length=100, default="")
    email = Varchar(length=254, null=True, default=None, index=True)  # stored lower-case
    company = ForeignKey(Company, null=True, on_delete=OnDelete.set_null)
    owner = ForeignKey(TeamMember, null=True, on_delete=OnDelete.set_null)
    unsubscribed = Boolean(default=False)
    bounced = Boolean(default=False)
    created_at = Timestamptz()
