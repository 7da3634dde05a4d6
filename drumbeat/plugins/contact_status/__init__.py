"""The built-in ``contact_status`` plugin: the ``contact_status`` action type, which updates
the status of each target contact by adding and removing tags (e.g. add ``no-reply`` when
a follow-up timed out). Segments filter on tags, so later conditions and goals can use it.

Only public API is used (``drumbeat``): the tags are written with ``Outcome.done(persist=)``
inside the transaction that marks the delivery done, so a retried batch never doubles them
(and ``drumbeat_contact_tag`` is unique per contact and tag).
"""

from drumbeat import hookimpl


@hookimpl
def drumbeat_action_types():
    from drumbeat.plugins.contact_status.action import ContactStatusAction

    return [ContactStatusAction()]
