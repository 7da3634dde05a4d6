"""The configs of the ``phone_call`` and ``activity`` steps (their JSON Schema is what
``actionTypes`` shows): who gets each task, when it is due, and what it says."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

from drumbeat.plugins.tasks.tables import ActivityType

MAX_MEMBERS = 200
# Config keys are camelCase like the rest of the API (snake_case is accepted too).


class Strategy(str, Enum):
    ROUND_ROBIN = "ROUND_ROBIN"
    CONTACT_OWNER = "CONTACT_OWNER"
    MEMBER = "MEMBER"


class Assignment(BaseModel):
    """Who gets the tasks. ``members`` are team members' emails or ids (``TeamMember``
    global ids or plain numbers): several for ``ROUND_ROBIN`` (tasks are dealt out in
    recipient order, evenly), exactly one for ``MEMBER``, none for ``CONTACT_OWNER`` (each
    task goes to the owner of its contact, company or lead, else to the campaign's owner)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    strategy: Strategy = Strategy.CONTACT_OWNER
    members: list[str | int] = Field(default_factory=list, max_length=MAX_MEMBERS,
                                   validate_default=True)

    @field_validator("members")
    @classmethod
    def _members_fit_strategy(cls, members: list, info: ValidationInfo) -> list:
        strategy = info.data.get("strategy")
        refs = [str(m).strip() for m in members]
        if any(not r for r in refs):
            raise ValueError("a member is an email or a team member id, not empty")
        if len({r.lower() for r in refs}) != len(refs):
            raise ValueError("each member only once")
        if strategy is Strategy.ROUND_ROBIN and not refs:
            raise ValueError("ROUND_ROBIN needs at least one member")
        if strategy is Strategy.MEMBER and len(refs) != 1:
            raise ValueError("MEMBER needs exactly one member")
        if strategy is Strategy.CONTACT_OWNER and refs:
            raise ValueError("CONTACT_OWNER takes no members")
        return refs


class Due(BaseModel):
    """When a task is due: ``dueInHours`` or ``dueInDays`` after it is created, or
    ``dueAt`` a fixed time (with a timezone). At most one; none means no due date."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    due_in_hours: int | None = Field(default=None, ge=0, le=24 * 366,
                                     description="Due this many hours after creation")
    due_in_days: int | None = Field(default=None, ge=0, le=366,
                                    description="Due this many days after creation")
    due_at: datetime | None = Field(default=None, description="A fixed due time (with timezone)")

    @field_validator("due_in_days")
    @classmethod
    def _one_relative(cls, value, info: ValidationInfo):
        if value is not None and info.data.get("due_in_hours") is not None:
            raise ValueError("give due_in_hours or due_in_days, not both")
        return value

    @field_validator("due_at")
    @classmethod
    def _absolute(cls, value: datetime | None, info: ValidationInfo):
        if value is None:
            return value
        if value.tzinfo is None:
            raise ValueError("give a timezone, e.g. 2027-01-31T09:00:00Z")
        if info.data.get("due_in_hours") is not None or info.data.get("due_in_days") is not None:
            raise ValueError("give due_at or a relative due time, not both")
        return value.astimezone(timezone.utc)

    def due_from(self, created: datetime) -> datetime | None:
        if self.due_at is not None:
            return self.due_at
        if self.due_in_hours is not None:
            return created + timedelta(hours=self.due_in_hours)
        if self.due_in_days is not None:
            return created + timedelta(days=self.due_in_days)
        return None


class PhoneCallConfig(Due):
    """A call task per target, with its call script rendered for the target."""

    title: str = Field(default="Call {{ contact.full_name or company.name }}", min_length=1,
                       max_length=500, description="Title template (Jinja2)")
    script: str | None = Field(default=None, min_length=1, max_length=100_000,
                               description="Call script template (default: the campaign's "
                                           "CALL_SCRIPT template)")
    assignment: Assignment = Field(default_factory=Assignment)


class ActivityConfig(Due):
    """A generic activity task per target (a meeting, a visit, a to-do …)."""

    title: str = Field(min_length=1, max_length=500, description="Title template (Jinja2)")
    activity_type: ActivityType = ActivityType.OTHER
    description: str | None = Field(default=None, max_length=100_000,
                                    description="Instructions template (Jinja2)")
    assignment: Assignment = Field(default_factory=Assignment)
