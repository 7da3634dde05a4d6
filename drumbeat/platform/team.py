"""Team members and their API tokens (bearer tokens, stored only as SHA-256 hashes)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.tables import ApiToken, Role, TeamMember
from drumbeat.platform.validation import check_email

TOKEN_PREFIX = "dbt_"


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


async def create_member(email: str, name: str, role: Role = Role.MARKETER) -> Member:
    problems = Problems()
    email = (email or "").strip().lower()
    check_email(problems, email, "email")
    if not name or not name.strip():
        problems.add("A name is required.", ErrorCode.REQUIRED, "name")
    problems.raise_if_any()
    if await TeamMember.exists().where(TeamMember.email == email):
        raise DomainError.one(f"A team member with {email} exists.", ErrorCode.DUPLICATE, ["email"])
    rows = await TeamMember.insert(
        TeamMember(email=email, name=name.strip(), role=role.value, created_at=now())
    ).returning(*TeamMember.all_columns())
    return _member(rows[0])


async def get_member(member_id: int) -> Member | None:
    row = await TeamMember.select().where(TeamMember.id == member_id).first()
    return _member(row) if row else None


async def find_member(email: str) -> Member | None:
    row = await TeamMember.select().where(TeamMember.email == email.strip().lower()).first()
    return _member(row) if row else None


async def issue_token(member: Member, label: str = "") -> str:
    """Create a token for ``member``; the returned plaintext is never stored or shown again."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await ApiToken.insert(
        ApiToken(
            member=member.id,
            token_hash=hash_token(token),
            prefix=token[:10],
            label=label[:100],
            created_at=now(),
        )
    )
    return token


async def authenticate(token: str | None) -> Member | None:
    """The active member owning ``token`` (not revoked), or ``None``."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = (
        await ApiToken.select(
            ApiToken.id,
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
    return _member(row["member"])


async def revoke_token(token: str) -> bool:
    rows = await ApiToken.update({ApiToken.revoked_at: now()}).where(
        ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_null()
    ).returning(ApiToken.id)
    return bool(rows)
