"""Workflow enrollments: where each recipient of a workflow campaign is (state, version,
status, timers) and its journey, one row per transition taken.

Times are epoch seconds (like the ledger's leases), read from the engine's clock, so
comparisons behave the same on SQLite and PostgreSQL."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import DoublePrecision, ForeignKey, Integer, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from drumbeat.platform.migration_kit import create_table

ID = "2026-11-23T00:16:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "workflow enrollments"


class Campaign(Table, tablename="drumbeat_campaign"):
    pass


class CampaignRecipient(Table, tablename="drumbeat_campaign_recipient"):
    pass


class TeamMember(Table, tablename="drumbeat_team_member"):
    pass


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    create_table(
        m, "Enrollment", "drumbeat_enrollment",
        campaign=ForeignKey(references=Campaign, null=False, on_delete=OnDelete.cascade),
        recipient=ForeignKey(references=CampaignRecipient, null=False,
                             on_delete=OnDelete.cascade),
        contact=Integer(null=True, default=None),
        version=Integer(default=1),
        state_key=Varchar(length=100, default=""),
        status=Varchar(length=10, default="ACTIVE"),
        step_no=Integer(default=0),
        entered_at=DoublePrecision(default=0),
        due_at=DoublePrecision(null=True, default=None),
        check_at=DoublePrecision(null=True, default=None),
        event_cursor=Integer(default=0),
        paused_status=Varchar(length=10, null=True, default=None),
        finished_at=DoublePrecision(null=True, default=None),
    )
    create_table(
        m, "EnrollmentStep", "drumbeat_enrollment_step",
        # The campaign (cascade) and the enrollment's id: a foreign key to a table made in
        # the same migration is not possible (Piccolo's step order); both die together.
        campaign=ForeignKey(references=Campaign, null=False, on_delete=OnDelete.cascade),
        enrollment=Integer(),
        step_no=Integer(default=0),
        from_state=Varchar(length=100, null=True, default=None),
        to_state=Varchar(length=100, default=""),
        via=Varchar(length=20, default=""),
        at=DoublePrecision(default=0),
        member=ForeignKey(references=TeamMember, null=True, on_delete=OnDelete.set_null),
    )
    return m
