"""Fields of ``Campaign`` about its workflow: the workflow itself, its enrollments and how
many are where — the same as ``campaignWorkflow``, ``campaignEnrollments`` and
``campaignEnrollmentCounts``, reachable from the campaign. The types are lazy: their modules
refer to ``Campaign`` themselves."""

from __future__ import annotations

from typing import Annotated, Optional

import strawberry

from drumbeat.schema.context import Info
from drumbeat.schema.enrollment_status import EnrollmentStatus

_ENROLLMENTS = "drumbeat.schema.enrollments"
_WORKFLOWS = "drumbeat.schema.workflows"


@strawberry.type
class CampaignWorkflowFields:
    """Mixed into ``Campaign`` (``self`` is one; whoever sees the campaign sees these)."""

    @strawberry.field(description="Its workflow: the current version's states and goals.")
    async def workflow(self, info: Info
                       ) -> Annotated["Workflow", strawberry.lazy(_WORKFLOWS)]:
        from drumbeat.platform.workflows import service
        from drumbeat.schema.workflows import Workflow

        return Workflow.of((await service.workflows_of(info.context.platform, [self.row]))[0])

    @strawberry.field(description="Its enrollments (one per recipient of a workflow "
                                  "campaign), oldest first.")
    async def enrollments(
            self, info: Info, status: Optional[EnrollmentStatus] = None,
            state_key: Optional[str] = None, first: Optional[int] = None,
            after: Optional[str] = None,
    ) -> Annotated["EnrollmentConnection", strawberry.lazy(_ENROLLMENTS)]:
        from drumbeat.schema.enrollments import enrollment_page

        return await enrollment_page(info, self.id, status, state_key, first, after)

    @strawberry.field(description="How many enrollments are in each version, state and "
                                  "status.")
    async def enrollment_counts(self, info: Info
                                ) -> list[Annotated["EnrollmentCount",
                                                    strawberry.lazy(_ENROLLMENTS)]]:
        from drumbeat.schema.enrollments import enrollment_counts

        return await enrollment_counts(info, self.id)
