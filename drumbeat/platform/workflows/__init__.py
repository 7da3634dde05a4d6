"""Campaign workflows: states with actions, transitions between them, goals, and versions.

* :mod:`.model` — the vocabulary and the JSON form of a definition;
* :mod:`.validate` / :mod:`.graph` — validation (pure Python) with precise field paths;
* :mod:`.durations` — ISO 8601 durations;
* :mod:`.storage` — version rows and the state / action rows the launch runs;
* :mod:`.service` — read and set a campaign's workflow (permissions, versions, audit).

The execution engine (enrollments, timers, triggers) builds on the stored versions.
"""

from drumbeat.platform.workflows.service import (
    VersionInfo, Workflow, get_workflow, set_workflow, workflows_of,
)

__all__ = ["VersionInfo", "Workflow", "get_workflow", "set_workflow", "workflows_of"]
