"""The ``drumbeat_task`` table: one call or activity task per delivery of a task step.

Columns refer to core rows by id (campaign, step, delivery, team member, target); the
unique ``delivery`` column makes "one task per delivery" hold whatever the broker does.
"""

from enum import Enum

from piccolo.columns import Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class TaskKind(str, Enum):
    CALL = "CALL"
    ACTIVITY = "ACTIVITY"


class TaskStatus(str, Enum):
    OPEN = "OPEN"
    DONE = "DONE"
    CANCELLED = "CANCELLED"


class CallOutcome(str, Enum):
    REACHED = "REACHED"
    NO_ANSWER = "NO_ANSWER"
    VOICEMAIL = "VOICEMAIL"
    BUSY = "BUSY"
    CALL_BACK = "CALL_BACK"
    WRONG_NUMBER = "WRONG_NUMBER"
    NOT_INTERESTED = "NOT_INTERESTED"


class ActivityType(str, Enum):
    MEETING = "MEETING"
    TODO = "TODO"
    VISIT = "VISIT"
    DEMO = "DEMO"
    EMAIL = "EMAIL"
    LETTER = "LETTER"
    OTHER = "OTHER"


class Task(Table, tablename="drumbeat_task"):
    kind = Varchar(length=10, choices=TaskKind)
    campaign = Integer()
    step = Integer()
    delivery = Integer(unique=True)
    target_kind = Varchar(length=10)  # contact | company | lead
    target_id = Integer()
    target_name = Varchar(length=300, default="")
    phone = Varchar(length=100, default="")
    title = Varchar(length=500)
    activity_type = Varchar(length=20, null=True, default=None)
    body = Text(default="")  # the rendered call script (CALL) or instructions (ACTIVITY)
    assignee = Integer(null=True, default=None)  # drumbeat_team_member.id
    due_at = Timestamptz(null=True, default=None)
    status = Varchar(length=10, choices=TaskStatus, default=TaskStatus.OPEN.value)
    outcome = Varchar(length=20, null=True, default=None)
    call_back_at = Timestamptz(null=True, default=None)
    calls = Integer(default=0)  # how many call outcomes were recorded
    notes = Text(default="")
    completed_at = Timestamptz(null=True, default=None)
    completed_by = Integer(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()
