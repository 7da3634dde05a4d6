"""Campaign workflows: states with actions, transitions between them, goals, and versions.

* :mod:`.model` — the vocabulary and the JSON form of a definition;
* :mod:`.validate` / :mod:`.graph` — validation (pure Python) with precise field paths;
* :mod:`.durations` — ISO 8601 durations;
* :mod:`.storage` — version rows and the state / action rows the launch runs;
* :mod:`.service` — read and set a campaign's workflow (permissions, versions, audit).

The engine that runs them:

* :mod:`.enrollments` — each recipient's place (state, status, timers) and journey;
* :mod:`.engine` — one look at an enrollment: the transitions that are due;
* :mod:`.scheduler` — the periodic tick (in the reconciler loop) over due enrollments;
* :mod:`.definitions` — a version as the engine runs it; :mod:`.windows` — send windows;
* :mod:`.clock` — the engine's (test-controllable) clock; :mod:`.control` — manual move /
  pause / resume; :mod:`.signals` — call outcomes as events.
"""

from drumbeat.platform.workflows.service import (
    VersionInfo, Workflow, get_workflow, set_workflow, workflows_of,
)

__all__ = ["VersionInfo", "Workflow", "get_workflow", "set_workflow", "workflows_of"]
