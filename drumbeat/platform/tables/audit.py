"""The audit log: who changed what on a campaign, and when (old → new)."""

from piccolo.columns import JSON, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from drumbeat.platform.tables.team import TeamMember


class AuditEntry(Table, tablename="drumbeat_audit_entry"):
    campaign_id = Integer()  # not a foreign key: the log outlives a deleted campaign
    member = ForeignKey(TeamMember, null=True, on_delete=OnDelete.set_null)
    action = Varchar(length=50)  # e.g. campaign.update, campaign.transition, cost.add
    changes = JSON(default="[]")  # [{"field": …, "old": …, "new": …}]
    created_at = Timestamptz()
