"""Who may do what. Enforced in the services, so every entry point obeys the same rules.

* ``ADMIN`` — everything.
* ``MARKETER`` — creates campaigns; edits, launches and manages the ones they own.
* ``SALES`` — reads campaigns; works on the tasks and documents assigned to them.
"""

from __future__ import annotations

from typing import Mapping

from drumbeat.platform.errors import DomainError, ErrorCode
from drumbeat.platform.tables import Role
from drumbeat.platform.team import Member


def require_member(member: Member | None) -> Member:
    if member is None:
        raise DomainError.one("Sign in with a bearer token.", ErrorCode.UNAUTHENTICATED)
    return member


def can_edit_campaign(member: Member, campaign: Mapping) -> bool:
    return member.is_admin or campaign["owner"] == member.id


def require_campaign_editor(member: Member | None, campaign: Mapping) -> None:
    member = require_member(member)
    if not can_edit_campaign(member, campaign):
        raise DomainError.one(
            "Only the campaign's owner or an admin may do this.", ErrorCode.FORBIDDEN
        )


def require_campaign_creator(member: Member | None) -> Member:
    member = require_member(member)
    if member.role not in (Role.ADMIN, Role.MARKETER):
        raise DomainError.one("Only marketers and admins create campaigns.", ErrorCode.FORBIDDEN)
    return member


def require_audience_editor(member: Member | None) -> Member:
    """Contacts, companies, leads and products: every role creates and edits them (sales
    works them daily); only admins delete (see :func:`require_audience_admin`)."""
    member = require_member(member)
    if member.role not in (Role.ADMIN, Role.MARKETER, Role.SALES):
        raise DomainError.one("Your role may not change audience records.", ErrorCode.FORBIDDEN)
    return member


def require_audience_admin(member: Member | None) -> Member:
    member = require_member(member)
    if not member.is_admin:
        raise DomainError.one("Only admins delete audience records.", ErrorCode.FORBIDDEN)
    return member
