"""Segments (saved filters, evaluated when used) and distribution lists (snapshots refined
by hand)."""

from enum import Enum

from piccolo.columns import JSON, Boolean, ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from drumbeat.platform.tables.audience import Contact
from drumbeat.platform.tables.team import TeamMember


class MemberSource(str, Enum):
    SEGMENT = "SEGMENT"  # came from the segment snapshot or a filter
    MANUAL = "MANUAL"  # included by hand


class Segment(Table, tablename="drumbeat_segment"):
    name = Varchar(length=200)  # unique case-insensitively
    description = Text(default="")
    filter = JSON(default="{}")  # the typed filter (see drumbeat.platform.segments)
    owner = ForeignKey(TeamMember, null=False, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class DistributionList(Table, tablename="drumbeat_distribution_list"):
    name = Varchar(length=200)  # unique case-insensitively
    description = Text(default="")
    segment = ForeignKey(Segment, null=True, on_delete=OnDelete.set_null)  # built from
    owner = ForeignKey(TeamMember, null=False, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class ListMember(Table, tablename="drumbeat_list_member"):
    """A contact of a list; ``excluded`` members stay recorded (so a refresh from the
    segment does not bring them back) but are not part of the list."""

    list = ForeignKey(DistributionList, null=False, on_delete=OnDelete.cascade)
    contact = ForeignKey(Contact, null=False, on_delete=OnDelete.cascade)
    source = Varchar(length=20, choices=MemberSource, default=MemberSource.MANUAL.value)
    excluded = Boolean(default=False)
    added_at = Timestamptz()
