"""Team members (the platform's users) and their API tokens."""

from enum import Enum

from piccolo.columns import Boolean, ForeignKey, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table


class Role(str, Enum):
    ADMIN = "ADMIN"
    MARKETER = "MARKETER"
    SALES = "SALES"


class TeamMember(Table, tablename="drumbeat_team_member"):
    email = Varchar(length=254, unique=True)  # stored lower-case
    name = Varchar(length=200)
    role = Varchar(length=20, choices=Role, default=Role.MARKETER.value)
    active = Boolean(default=True)
    created_at = Timestamptz()


class ApiToken(Table, tablename="drumbeat_api_token"):
    """A bearer token. Only its SHA-256 is stored; the token itself is shown once."""

    member = ForeignKey(TeamMember, null=False, on_delete=OnDelete.cascade)
    token_hash = Varchar(length=64, unique=True)
    prefix = Varchar(length=16)  # the first characters, to recognise a token in lists
    label = Varchar(length=100, default="")
    created_at = Timestamptz()
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
