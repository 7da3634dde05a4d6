"""Team members and their API tokens (bearer tokens, stored only as SHA-256 hashes).

Admins manage the team; every member manages their own tokens. A revoked token, or any
token of a deactivated member, is refused by :func:`authenticate` on the very next request;
open WebSockets using it are closed by :mod:`drumbeat.platform.token_watch`, told at once
by the revocation notice published here.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Sequence

from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.tables import ApiToken, Role, TeamMember
from drumbeat.platform.token_watch import announce_revocation
from drumbeat.platform.validation import check_email, check_text

if TYPE_CHECKING:
    from drumbeat.platform.runtime import Platform

log = logging.getLogger(__name__)

TOKEN_PREFIX = "dbt_"
TOUCH_INTERVAL = timedelta(minutes=1)  # last_used_at is written at most this often per token
MAX_NAME_CHARS = 200
MAX_LABEL_CHARS = 100
# Every column of a token but its hash: what the API may show.
TOKEN_COLUMNS = (ApiToken.id, ApiToken.member, ApiToken.prefix, ApiToken.label,
                 ApiToken.created_at, ApiToken.last_used_at, ApiToken.revoked_at)


@dataclass(frozen=True)
class Member:
    """The authenticated team member a request or command acts as."""

    id: int
    email: str
    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def now() -> datetime:
    return datetime.now(timezone.utc)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _member(row: dict) -> Member:
    return Member(id=row["id"], email=row["email"], name=row["name"], role=Role(row["role"]))


def _require_member(member: Member | None) -> Member:
    # permissions imports this module: import lazily to keep one source for the message.
    from drumbeat.platform.permissions import require_member

    return require_member(member)


def require_admin(member: Member | None) -> Member:
    member = _require_member(member)
    if not member.is_admin:
        raise DomainError.one("Only admins manage the team.", ErrorCode.FORBIDDEN)
    return member


# -- members ---------------------------------------------------------------------------

async def create_member(email: str, name: str, role: Role = Role.MARKETER,
                        field: Sequence[str] = ()) -> Member:
    """A new active member; every problem (address, duplicate, name) reported at once."""
    problems = Problems()
    email = (email or "").strip().lower()
    before = len(problems.items)
    check_email(problems, email, *field, "email")
    if len(problems.items) == before and await TeamMember.exists().where(TeamMember.email == email):
        problems.add(f"A team member with {email} exists.", ErrorCode.DUPLICATE, *field, "email")
    check_text(problems, name, MAX_NAME_CHARS, *field, "name", required=True, single_line=True)
    problems.raise_if_any()
    try:
        rows = await TeamMember.insert(
            TeamMember(email=email, name=name.strip(), role=Role(role).value, created_at=now())
        ).returning(*TeamMember.all_columns())
    except Exception as exc:  # a concurrent twin won the unique index
        text = str(exc).lower()
        if "unique" not in text or "email" not in text:
            raise
        raise DomainError.one(f"A team member with {email} exists.", ErrorCode.DUPLICATE,
                              [*field, "email"]) from None
    return _member(rows[0])


async def add_member(actor: Member | None, email: str, name: str, role: Role) -> dict:
    """Admins only: create a member (who then needs a token, e.g. from ``drumbeat token``)."""
    require_admin(actor)
    member = await create_member(email, name, role, field=("input",))
    return await TeamMember.select().where(TeamMember.id == member.id).first()


async def update_member(platform: "Platform", actor: Member | None, member_id: int,
                        **changes: Any) -> dict:
    """Admins only: change ``name``, ``role`` and/or ``active`` of a member.

    The last active admin can be neither demoted nor deactivated (the team would be locked
    out of its own administration).
    """
    actor = require_admin(actor)
    problems = Problems()
    values: dict = {}
    for key, value in changes.items():
        if value is None:
            problems.add("This field cannot be null.", ErrorCode.REQUIRED, "input", key)
        elif key == "name":
            check_text(problems, value, MAX_NAME_CHARS, "input", "name", required=True,
                       single_line=True)
            values["name"] = value.strip()
        elif key == "role":
            values["role"] = Role(value).value
        elif key == "active":
            values["active"] = bool(value)
        else:
            raise TypeError(f"unknown team member field {key!r}")
    problems.raise_if_any()
    async with platform.db.transaction():
        target = await TeamMember.select().where(TeamMember.id == member_id).first()
        if target is None:
            raise DomainError.one("No such team member.", ErrorCode.NOT_FOUND, ["id"])
        demoted = values.get("role", target["role"]) != Role.ADMIN.value
        deactivated = not values.get("active", target["active"])
        if target["role"] == Role.ADMIN.value and target["active"] and (demoted or deactivated):
            others = [i for i in await _lock_active_admins(platform) if i != member_id]
            if not others:
                field = "role" if demoted else "active"
                who = "yourself" if member_id == actor.id else "the last active admin"
                raise DomainError.one(
                    f"You cannot demote or deactivate {who}: the team needs an active admin.",
                    ErrorCode.LAST_ADMIN, ["input", field])
        if values:
            await TeamMember.update(values).where(TeamMember.id == member_id)
        row = await TeamMember.select().where(TeamMember.id == member_id).first()
    if (target["active"] and not row["active"]) or target["role"] != row["role"]:
        # after the commit, so every process's re-check reads the new state
        await announce_revocation(platform, member_id=member_id)
    return row


async def _lock_active_admins(platform: "Platform") -> list[int]:
    """Ids of the active admins, row-locked on PostgreSQL (SQLite transactions are
    exclusive already), so two admins demoting each other cannot both succeed."""
    lock = " FOR UPDATE" if platform.db.dialect == "postgres" else ""
    rows = await platform.db.fetch(
        "SELECT id FROM drumbeat_team_member WHERE role = {} AND active = {} ORDER BY id" + lock,
        Role.ADMIN.value, True)
    return [row["id"] for row in rows]


async def get_member(member_id: int) -> Member | None:
    row = await TeamMember.select().where(TeamMember.id == member_id).first()
    return _member(row) if row else None


async def find_member(email: str) -> Member | None:
    row = await TeamMember.select().where(TeamMember.email == email.strip().lower()).first()
    return _member(row) if row else None


# -- tokens ----------------------------------------------------------------------------

async def _insert_token(member_id: int, label: str) -> tuple[str, dict]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    rows = await ApiToken.insert(
        ApiToken(member=member_id, token_hash=hash_token(token), prefix=token[:10],
                 label=label[:MAX_LABEL_CHARS], created_at=now())
    ).returning(*TOKEN_COLUMNS)
    return token, rows[0]


async def issue_token(member: Member, label: str = "") -> str:
    """Create a token for ``member``; the returned plaintext is never stored or shown again."""
    token, _ = await _insert_token(member.id, label)
    return token


async def create_token(member: Member | None, label: str) -> tuple[str, dict]:
    """A new token of the signed-in member: (plaintext, shown only now; its row)."""
    member = _require_member(member)
    problems = Problems()
    check_text(problems, label, MAX_LABEL_CHARS, "label", required=True, single_line=True)
    problems.raise_if_any()
    return await _insert_token(member.id, label.strip())


def can_see_tokens(viewer: Member, member_id: int) -> bool:
    return viewer.is_admin or viewer.id == member_id


async def tokens_of(member_ids: Sequence[int]) -> list[list[dict]]:
    """Tokens per member (aligned with ``member_ids``), newest first, hashes left out."""
    rows = await ApiToken.select(*TOKEN_COLUMNS).where(
        ApiToken.member.is_in(list(member_ids))).order_by(ApiToken.id, ascending=False)
    by_member: dict[int, list[dict]] = {}
    for row in rows:
        by_member.setdefault(row["member"], []).append(row)
    return [by_member.get(i, []) for i in member_ids]


async def visible_tokens(viewer: Member | None, token_ids: Sequence[int]) -> dict[int, dict]:
    """The tokens among ``token_ids`` that ``viewer`` may see, by id."""
    viewer = _require_member(viewer)
    rows = await ApiToken.select(*TOKEN_COLUMNS).where(ApiToken.id.is_in(list(token_ids)))
    return {r["id"]: r for r in rows if can_see_tokens(viewer, r["member"])}


async def revoke_token_by_id(member: Member | None, token_id: int) -> dict:
    """Revoke one of your tokens (any token, as an admin); revoking twice changes nothing."""
    member = _require_member(member)
    if token_id not in await visible_tokens(member, [token_id]):
        raise DomainError.one("No such token.", ErrorCode.NOT_FOUND, ["id"])
    if await ApiToken.update({ApiToken.revoked_at: now()}).where(
            ApiToken.id == token_id, ApiToken.revoked_at.is_null()).returning(ApiToken.id):
        await announce_revocation(None, token_id=token_id)
    return await ApiToken.select(*TOKEN_COLUMNS).where(ApiToken.id == token_id).first()


async def revoke_token(token: str) -> bool:
    rows = await ApiToken.update({ApiToken.revoked_at: now()}).where(
        ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_null()
    ).returning(ApiToken.id)
    if rows:
        await announce_revocation(None, token_id=rows[0]["id"])
    return bool(rows)


async def authenticate(token: str | None) -> Member | None:
    """The active member owning ``token`` (not revoked), or ``None``."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = (
        await ApiToken.select(
            ApiToken.id,
            ApiToken.last_used_at,
            ApiToken.member.id,
            ApiToken.member.email,
            ApiToken.member.name,
            ApiToken.member.role,
            ApiToken.member.active,
        )
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_null())
        .first()
        .output(nested=True)
    )
    if row is None or not row["member"]["active"]:
        return None
    await _touch(row["id"], row["last_used_at"])
    return _member(row["member"])


async def _touch(token_id: int, last_used_at: datetime | None) -> None:
    """Record the use of a token, at most once per :data:`TOUCH_INTERVAL` (not a write per
    request). Advisory: a failure is logged, the request goes on."""
    stamp = now()
    if last_used_at is not None and stamp - last_used_at < TOUCH_INTERVAL:
        return
    try:
        await ApiToken.update({ApiToken.last_used_at: stamp}).where(
            ApiToken.id == token_id,
            ApiToken.last_used_at.is_null() | (ApiToken.last_used_at <= stamp - TOUCH_INTERVAL))
    except Exception:
        log.exception("recording the use of token %s failed", token_id)
