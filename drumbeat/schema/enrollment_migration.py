"""``enrollmentsMigrate``: move a running campaign's in-flight enrollments from one workflow
version to another (the campaign's owner or an admin, audited). The rules are in
:mod:`drumbeat.platform.workflows.migration`."""

from __future__ import annotations

from typing import Optional

import strawberry
from strawberry import relay

from drumbeat.platform.workflows import migration
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.ids import node_id, node_ids


@strawberry.input(description="Where the enrollments in a state of the old version go.")
class EnrollmentStateMapping:
    from_: str = strawberry.field(name="from", description="A state key of `fromVersion`.")
    to: str = strawberry.field(description="A state key of `toVersion`.")


@strawberry.input
class EnrollmentsMigrateInput:
    campaign_id: relay.GlobalID
    from_version: int
    to_version: int
    states: list[EnrollmentStateMapping] = strawberry.field(
        default_factory=list, description=(
            "Where each state's enrollments go. A state left out goes to the state of the "
            "same key in `toVersion` (it keeps its place and timers; its actions are not "
            "repeated); a state mapped elsewhere is entered now (its actions run). A state "
            "with enrollments that `toVersion` lacks must be mapped (UNMAPPED_STATE)."))
    enrollment_ids: Optional[list[relay.GlobalID]] = strawberry.field(
        default=None, description="Only these enrollments (each unfinished and on "
                                  "`fromVersion`); all of the version's when left out.")
    dry_run: bool = strawberry.field(
        default=False, description="Only check the request and count: `migrated` and "
                                   "`states` tell what would move; nothing changes.")


@strawberry.type(description="How many enrollments went from a state to a state.")
class EnrollmentStateMigrated:
    from_: str = strawberry.field(name="from")
    to: str
    count: int


@strawberry.type
class EnrollmentsMigratePayload:
    migrated: int = strawberry.field(description="Enrollments now on `toVersion` (that "
                                                 "would be, with `dryRun`).")
    states: list[EnrollmentStateMigrated]
    errors: list[UserError]


@strawberry.type
class EnrollmentMigrationMutations:
    @strawberry.mutation(description=(
        "Move the unfinished enrollments of one workflow version (or the listed ones) to "
        "another version of the campaign's workflow. Recipients in flight otherwise stay on "
        "the version they started with. RUNNING or PAUSED campaigns; the owner or an admin."))
    async def enrollments_migrate(self, info: Info,
                                  input: EnrollmentsMigrateInput) -> EnrollmentsMigratePayload:
        async def work():
            campaign_id = node_id(input.campaign_id, "Campaign", "campaignId")
            ids = None if input.enrollment_ids is None else node_ids(
                input.enrollment_ids, "Enrollment", "enrollmentIds")
            result = await migration.migrate_enrollments(
                info.context.platform, info.context.member, campaign_id, input.from_version,
                input.to_version, [migration.StateMapping(m.from_, m.to) for m in input.states],
                ids, dry_run=input.dry_run)
            return {"migrated": result.migrated, "states": [
                EnrollmentStateMigrated(from_=m.from_key, to=m.to_key, count=m.count)
                for m in result.states]}

        return await payload(EnrollmentsMigratePayload, work, migrated=0, states=[])
