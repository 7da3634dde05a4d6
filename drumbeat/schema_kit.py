"""The public kit for a plugin's GraphQL types (its ``drumbeat_graphql`` hook).

A plugin's resolvers use only what is here and in ``drumbeat``: the request context
(``info.context.platform`` — its ``db``, ``settings``, ``publish`` — and
``info.context.member``), the ``UserError`` payload convention, global ids, keyset
connections, permissions and the audit log, so its part of the API behaves like the core's.
"""

from drumbeat.platform import audit
from drumbeat.platform.campaigns import require_campaign
from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.permissions import (
    can_edit_campaign,
    require_audience_editor,
    require_campaign_editor,
    require_member,
)
from drumbeat.platform.tables.team import Role
from drumbeat.platform.team import Member
from drumbeat.schema.campaigns import Campaign
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, payload, user_errors
from drumbeat.schema.ids import id_of, node_id, node_ids
from drumbeat.schema.pagination import (
    connection,
    decode_cursor,
    encode_cursor,
    keyset_connection,
    page_window,
)
from drumbeat.schema.team import TeamMember

__all__ = [
    "Campaign",
    "DomainError",
    "ErrorCode",
    "Info",
    "Member",
    "Problems",
    "Role",
    "TeamMember",
    "UserError",
    "audit",
    "can_edit_campaign",
    "connection",
    "decode_cursor",
    "encode_cursor",
    "id_of",
    "keyset_connection",
    "node_id",
    "node_ids",
    "page_window",
    "payload",
    "require_audience_editor",
    "require_campaign",
    "require_campaign_editor",
    "require_member",
    "user_errors",
]
