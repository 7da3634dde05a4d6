"""The ``email`` action: a personalised email to every target, through SMTP or an outbox."""

from drumbeat import hookimpl
from drumbeat.plugins.email.action import EmailAction


@hookimpl
def drumbeat_action_types():
    return [EmailAction()]
