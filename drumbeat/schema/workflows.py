"""Workflows in the API: ``campaignWorkflow`` (the current definition, typed, with its
versions) and ``campaignWorkflowSet`` (replace the draft, or publish a new version of a
running campaign's workflow). The rules are in :mod:`drumbeat.platform.workflows`."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Optional

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from drumbeat.platform import workflows as service
from drumbeat.platform.tables import Campaign as CampaignTable
from drumbeat.platform.workflows.durations import DurationUnit as DurationUnitEnum
from drumbeat.platform.workflows.durations import format_iso
from drumbeat.platform.workflows.model import TransitionKind
from drumbeat.platform.workflows.model import Weekday as WeekdayEnum
from drumbeat.platform.workflows.model import WorkflowEvent as WorkflowEventEnum
from drumbeat.schema.campaign_mutations import ActionInput
from drumbeat.schema.campaigns import Campaign
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.ids import id_of, node_id
from drumbeat.schema.segment_filter import SegmentFilter, filter_for_api, filter_json
from drumbeat.schema.team import TeamMember

DurationUnit = strawberry.enum(DurationUnitEnum, name="DurationUnit")
Weekday = strawberry.enum(WeekdayEnum, name="Weekday")
WorkflowEvent = strawberry.enum(WorkflowEventEnum, name="WorkflowEvent", description=(
    "What a recipient did (or what happened to its message); CALL_OUTCOME: a call task's "
    "outcome was recorded (`outcome` names which)."))
WorkflowTransitionKind = strawberry.enum(
    Enum("WorkflowTransitionKind", {k.name: k.name for k in TransitionKind}),
    name="WorkflowTransitionKind")


# -- inputs ------------------------------------------------------------------------------

@strawberry.input(description="`iso` (ISO 8601 without years or months: P3D, PT12H, P1DT6H) "
                               "or `amount` and `unit`; more than zero, at most 365 days.")
class WorkflowDurationInput:
    iso: Optional[str] = strawberry.UNSET
    amount: Optional[int] = strawberry.UNSET
    unit: Optional[DurationUnit] = strawberry.UNSET


@strawberry.input(description="Moves happen only within these hours of these days.")
class WorkflowWindowInput:
    days: list[Weekday]
    from_hour: int = strawberry.field(description="0–23, inclusive.")
    to_hour: int = strawberry.field(description="1–24, exclusive; after fromHour.")
    timezone: str = strawberry.field(
        default="RECIPIENT",
        description="RECIPIENT (each recipient's own timezone) or an IANA name (Europe/Berlin).")


@strawberry.input(description="When the state's actions are done, go to `to`.")
class WorkflowOnCompleteInput:
    to: str


@strawberry.input(description="`delay` after entering the state (then the next moment inside "
                               "`window`, if given), go to `to`.")
class WorkflowAfterDelayInput:
    to: str
    delay: WorkflowDurationInput
    window: Optional[WorkflowWindowInput] = None


@strawberry.input(description="No such event within `after`: go to `to` instead.")
class WorkflowTimeoutInput:
    after: WorkflowDurationInput
    to: str


@strawberry.input(description="On the event, go to `to`.")
class WorkflowOnEventInput:
    to: str
    event: WorkflowEvent
    outcome: Optional[str] = strawberry.field(
        default=None, description="For CALL_OUTCOME: the outcome (e.g. REACHED).")
    timeout: Optional[WorkflowTimeoutInput] = None


@strawberry.input(description="When the state's actions are done: `then` if the recipient's "
                               "contact matches the filter, else `else`.")
class WorkflowConditionInput:
    if_: SegmentFilter = strawberry.field(name="if")
    then: str
    else_: str = strawberry.field(name="else")


@strawberry.input
class WorkflowPathInput:
    to: str
    weight: int = strawberry.field(description="Relative weight, more than zero.")


@strawberry.input(description="When the state's actions are done, a random path by weight.")
class WorkflowRandomSplitInput:
    paths: list[WorkflowPathInput]


@strawberry.input(one_of=True, description="A transition out of a state: exactly one key.")
class WorkflowTransitionInput:
    on_complete: Optional[WorkflowOnCompleteInput] = strawberry.UNSET
    after_delay: Optional[WorkflowAfterDelayInput] = strawberry.UNSET
    on_event: Optional[WorkflowOnEventInput] = strawberry.UNSET
    condition: Optional[WorkflowConditionInput] = strawberry.UNSET
    random_split: Optional[WorkflowRandomSplitInput] = strawberry.UNSET


@strawberry.input
class WorkflowStateInput:
    key: str = strawberry.field(description="Stable key (letters, digits, - _ .), unique.")
    name: str
    start: bool = strawberry.field(default=False, description="Exactly one state is the start.")
    actions: list[ActionInput] = strawberry.field(default_factory=list)
    transitions: list[WorkflowTransitionInput] = strawberry.field(
        default_factory=list, description="None: the workflow ends in this state.")


@strawberry.input(one_of=True, description="An exit criterion: a recipient whose contact "
                                           "matches `if`, or who does `event`, leaves.")
class WorkflowGoalInput:
    if_: Optional[SegmentFilter] = strawberry.field(default=strawberry.UNSET, name="if")
    event: Optional[WorkflowEvent] = strawberry.UNSET


@strawberry.input
class WorkflowInput:
    states: list[WorkflowStateInput]
    goals: list[WorkflowGoalInput] = strawberry.field(
        default_factory=list, description="Workflow-wide exit criteria, checked in any state.")


# -- outputs -----------------------------------------------------------------------------

@strawberry.type
class WorkflowDuration:
    seconds: int
    iso: str


def _duration(value: dict) -> WorkflowDuration:
    return WorkflowDuration(seconds=value["seconds"], iso=format_iso(value["seconds"]))


@strawberry.type
class WorkflowWindow:
    days: list[Weekday]
    from_hour: int
    to_hour: int
    timezone: str


@strawberry.type
class WorkflowTimeout:
    after: WorkflowDuration
    to: str


@strawberry.type
class WorkflowPath:
    to: str
    weight: int


@strawberry.type(description="A transition; the fields of its kind are set, the others null.")
class WorkflowTransition:
    kind: WorkflowTransitionKind
    to: Optional[str] = None
    delay: Optional[WorkflowDuration] = None
    window: Optional[WorkflowWindow] = None
    event: Optional[WorkflowEvent] = None
    outcome: Optional[str] = None
    timeout: Optional[WorkflowTimeout] = None
    if_: Optional[JSON] = strawberry.field(default=None, name="if",
                                           description="CONDITION: a SegmentFilter as JSON.")
    then: Optional[str] = None
    else_: Optional[str] = strawberry.field(default=None, name="else")
    paths: Optional[list[WorkflowPath]] = None


def _transition(data: dict) -> WorkflowTransition:
    kind = TransitionKind(next(iter(data)))
    body = data[kind.value]
    result = WorkflowTransition(kind=WorkflowTransitionKind[kind.name], to=body.get("to"))
    if "delay" in body:
        result.delay = _duration(body["delay"])
    if body.get("window"):
        w = body["window"]
        result.window = WorkflowWindow(days=[WeekdayEnum(d) for d in w["days"]],
                                       from_hour=w["fromHour"], to_hour=w["toHour"],
                                       timezone=w["timezone"])
    if "event" in body:
        result.event = WorkflowEventEnum(body["event"])
        result.outcome = body.get("outcome")
    if body.get("timeout"):
        result.timeout = WorkflowTimeout(after=_duration(body["timeout"]["after"]),
                                         to=body["timeout"]["to"])
    if kind is TransitionKind.CONDITION:
        result.if_, result.then, result.else_ = (filter_for_api(body["if"]), body["then"],
                                                 body["else"])
    if "paths" in body:
        result.paths = [WorkflowPath(to=p["to"], weight=p["weight"]) for p in body["paths"]]
    return result


@strawberry.type(name="WorkflowStateAction")
class WorkflowStateAction:
    type: str
    config: JSON
    step_id: Optional[int] = strawberry.field(
        description="The workflow step running it (see Campaign.steps).")


@strawberry.type(name="WorkflowState")
class WorkflowStateType:
    key: str
    name: str
    start: bool
    actions: list[WorkflowStateAction]
    transitions: list[WorkflowTransition]


@strawberry.type
class WorkflowGoal:
    if_: Optional[JSON] = strawberry.field(default=None, name="if")
    event: Optional[WorkflowEvent] = None


@strawberry.type
class WorkflowVersion:
    number: int
    created_at: datetime
    created_by_id: strawberry.Private[Optional[int]]

    @strawberry.field
    async def created_by(self, info: Info) -> Optional[TeamMember]:
        if self.created_by_id is None:
            return None
        row = await info.context.loaders.member.load(self.created_by_id)
        return TeamMember.from_row(row) if row else None


@strawberry.type(description="A campaign's workflow: its current version's states and goals.")
class Workflow:
    version: int = strawberry.field(description="The current version's number.")
    published: bool = strawberry.field(description="The campaign was launched: recipients may "
                                                   "be on this or an older version.")
    states: list[WorkflowStateType]
    goals: list[WorkflowGoal]
    versions: list[WorkflowVersion] = strawberry.field(description="Oldest first.")
    data: strawberry.Private[service.Workflow]

    @strawberry.field(description="The definition as JSON in the shape of WorkflowInput (it "
                                  "can be sent back as an input as is).")
    def definition(self) -> JSON:
        return _as_input(self.data.definition)

    @strawberry.field
    async def campaign(self, info: Info) -> Optional[Campaign]:
        nodes = await Campaign.resolve_nodes(info=info, node_ids=[str(self.data.campaign_id)])
        return nodes[0]

    @classmethod
    def of(cls, workflow: service.Workflow) -> "Workflow":
        definition = workflow.definition
        return cls(
            version=workflow.version, published=workflow.published, data=workflow,
            states=[WorkflowStateType(
                key=s["key"], name=s["name"], start=s["start"],
                actions=[WorkflowStateAction(type=a["type"], config=a["config"],
                                             step_id=a.get("stepId")) for a in s["actions"]],
                transitions=[_transition(t) for t in s["transitions"]])
                for s in definition["states"]],
            goals=[WorkflowGoal(if_=filter_for_api(g["if"]) if "if" in g else None,
                                event=WorkflowEventEnum(g["event"]) if "event" in g else None)
                   for g in definition["goals"]],
            versions=[WorkflowVersion(number=v.number, created_at=v.created_at,
                                      created_by_id=v.created_by) for v in workflow.versions],
        )


def _as_input(value):
    """Stored JSON → the input's shape: durations as ISO, no step ids, global product ids."""
    if isinstance(value, list):
        return [_as_input(v) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"seconds"}:
        return {"iso": format_iso(value["seconds"])}
    result = {}
    for key, item in value.items():
        if key == "stepId":
            continue
        if key == "if":
            result[key] = filter_for_api(item)
        elif key == "config":
            result[key] = item
        else:
            result[key] = _as_input(item)
    return result


@strawberry.type
class WorkflowPayload:
    workflow: Optional[Workflow]
    errors: list[UserError]


@strawberry.type
class WorkflowQueries:
    @strawberry.field(description="A campaign's workflow (a quick campaign's is one state).")
    async def campaign_workflow(self, info: Info, campaign_id: relay.GlobalID
                                ) -> Optional[Workflow]:
        info.context.require_member()
        if (cid := id_of(campaign_id, "Campaign")) is None:
            return None
        row = await CampaignTable.select().where(CampaignTable.id == cid).first()
        if row is None:
            return None
        return Workflow.of((await service.workflows_of(info.context.platform, [row]))[0])


@strawberry.type
class WorkflowMutations:
    @strawberry.mutation(description=(
        "Set a campaign's workflow (its owner or an admin). In preparation it replaces the "
        "draft; on a RUNNING or PAUSED campaign it publishes a new version (recipients in "
        "flight stay on theirs). A COMPLETED or CANCELLED campaign's workflow cannot change."))
    async def campaign_workflow_set(self, info: Info, campaign_id: relay.GlobalID,
                                    input: WorkflowInput) -> WorkflowPayload:
        async def work():
            workflow = await service.set_workflow(
                info.context.platform, info.context.member,
                node_id(campaign_id, "Campaign", "campaignId"), filter_json(input))
            return {"workflow": Workflow.of(workflow)}

        return await payload(WorkflowPayload, work, workflow=None)
