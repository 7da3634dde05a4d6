"""What a transport is given (an :class:`Envelope` per message) and returns."""

from __future__ import annotations

from dataclasses import dataclass

from drumbeat.platform.actions import Outcome, Target


@dataclass(frozen=True)
class Envelope:
    target: Target
    sender: str
    recipient: str
    message_id: str
    data: bytes


@dataclass(frozen=True)
class SendResult:
    """A delivery's outcome; ``hard_bounce`` when the server refused its mailbox."""

    outcome: Outcome
    hard_bounce: bool = False
