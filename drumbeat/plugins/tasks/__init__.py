"""The built-in ``tasks`` plugin: the ``phone_call`` and ``activity`` action types, which
make one task per target (a call with its script, or an activity) assigned to team
members, and the API to work on them (``tasks``, ``taskRecordCallOutcome``, ``myTasks`` …).
"""

from drumbeat import GraphQLContribution, hookimpl

APP = "drumbeat.plugins.tasks.piccolo_app"


@hookimpl
def drumbeat_action_types():
    from drumbeat.plugins.tasks.action_types import ActivityAction, PhoneCallAction

    return [PhoneCallAction(), ActivityAction()]


@hookimpl
def drumbeat_piccolo_apps():
    return [APP]


@hookimpl
def drumbeat_graphql():
    from drumbeat.plugins.tasks.graphql_api import TaskMutations, TaskQueries, TaskSubscriptions
    from drumbeat.plugins.tasks.graphql_types import Task

    return [GraphQLContribution(query=TaskQueries, mutation=TaskMutations,
                                subscription=TaskSubscriptions, types=(Task,))]
