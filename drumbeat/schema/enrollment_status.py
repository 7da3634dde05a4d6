"""The ``EnrollmentStatus`` enum of the API (its own module: ``Campaign`` fields and the
enrollment types both use it)."""

import strawberry

from drumbeat.platform.workflows.enrollments import Status

EnrollmentStatus = strawberry.enum(Status, name="EnrollmentStatus", description=(
    "ACTIVE: its state's actions run (or it is about to move on); WAITING: for a delay, an "
    "event or a timeout; PAUSED: by hand; EXITED: a goal was met; COMPLETED: it reached a "
    "state without transitions; CANCELLED: the campaign was cancelled before it finished."))
