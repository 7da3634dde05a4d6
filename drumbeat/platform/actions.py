"""The action-type contract: what a plugin implements and what the worker hands it.

An action type is registered by a plugin through the ``drumbeat_action_types`` hook. The
worker claims a chunk of deliveries, builds one :class:`Target` per delivery and awaits
``execute(ctx, batch)``, which returns one :class:`Outcome` per target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, ClassVar, Iterable, Mapping, Protocol, Sequence

from pydantic import BaseModel, ConfigDict


#: ``ActionType.delivery_kind`` values.
MESSAGE = "MESSAGE"
WORK_ITEM = "WORK_ITEM"


class NoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Sender:
    name: str
    email: str


@dataclass(frozen=True)
class TemplateContent:
    """A campaign's template: Jinja2 sources, rendered with :meth:`ActionContext.render_context`."""

    kind: str  # EMAIL | CALL_SCRIPT | DOCUMENT
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class CampaignInfo:
    """What an action knows of its campaign (see ``load_campaign_info``)."""

    id: int
    name: str
    owner: Sender
    #: Who sends and receives replies, by the campaign's sender strategy (for
    #: ``CONTACT_OWNER``, the owner; each target then carries its own ``sender``).
    sender: Sender | None = None
    state: str = "RUNNING"
    sender_strategy: str = "OWNER"  # CREATOR | OWNER | CONTACT_OWNER
    template: TemplateContent | None = None
    #: The campaign's ``sendEmails``: off, actions make their documents and tasks but
    #: send no email (the ``email`` action's deliveries are skipped at launch).
    send_emails: bool = True

    def context(self, sender: Sender | None = None) -> dict[str, Any]:
        """The template variables about the campaign: ``campaign`` and ``sender``."""
        sender = sender or self.sender or self.owner
        return {
            "campaign": {"id": self.id, "name": self.name,
                         "owner": {"name": self.owner.name, "email": self.owner.email}},
            "sender": {"name": sender.name, "email": sender.email},
        }


@dataclass(frozen=True)
class Target:
    """One delivery of a batch: who is addressed and the data to personalise with."""

    delivery_id: int
    key: str  # stable across retries: "c<campaign>.s<step>.<kind><id>[.e<workflow entry>]"
    kind: str  # contact | company | lead
    id: int
    address: str | None
    attempt: int
    #: The template context: contact, company, lead, owner (see drumbeat.platform.personalisation).
    data: Mapping[str, Any] = field(default_factory=dict)
    #: This target's sender when the campaign sends as each contact's owner; else ``None``.
    sender: Sender | None = None
    #: A test send (``campaignTestSend``): nothing is recorded (``delivery_id`` is 0, no
    #: ledger row, ``persist`` never runs); actions must only send — no tracking, no
    #: documents or tasks.
    test: bool = False


#: A plugin's writes for one delivery, awaited with the platform's ``Database`` inside the
#: transaction that marks the delivery done (see :meth:`Outcome.done`).
Persist = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    status: str  # done | failed | retry
    message_id: str | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds, for status == "retry"
    persist: Persist | None = None
    #: False for a retry that only waits (e.g. an A/B test's rest waiting for the winner):
    #: its claim is not counted against ``max_attempts``.
    counts: bool = True
    #: A connection-level failure (the server unreachable, a reset, a timeout, a 421): the
    #: retry uses no attempt during ``DRUMBEAT_OUTAGE_WINDOW_SECONDS`` (see :meth:`deferred`).
    outage: bool = False

    @classmethod
    def done(cls, target: Target, message_id: str | None = None,
             persist: Persist | None = None) -> "Outcome":
        """The target was handled. ``persist(db)`` — e.g. inserting the document the
        action made — runs in the same transaction that marks the delivery done, and only
        when this worker still holds the delivery: a document exists exactly when its
        delivery is done, once, however often a chunk message is delivered."""
        return cls(target.delivery_id, "done", message_id=message_id, persist=persist)

    @classmethod
    def failed(cls, target: Target, error: str) -> "Outcome":
        return cls(target.delivery_id, "failed", error=error)

    @classmethod
    def retry(cls, target: Target, error: str, after: float | None = None,
              counts: bool = True) -> "Outcome":
        """Try again later (after ``after`` seconds, or the backoff). ``counts=False``: the
        target is only waiting, not failing — this attempt is not counted."""
        return cls(target.delivery_id, "retry", error=error, retry_after=after, counts=counts)

    @classmethod
    def deferred(cls, target: Target, error: str) -> "Outcome":
        """Not sent because the server could not be reached or dropped the connection
        (refused, reset, timeout, 421): retried with a backoff by the outage's length,
        without using an attempt until the outage lasted ``DRUMBEAT_OUTAGE_WINDOW_SECONDS``."""
        return cls(target.delivery_id, "retry", error=error, counts=False, outage=True)


class SuppressionList(Protocol):
    """The platform's addresses never to email again (``ctx.suppression``)."""

    async def suppressed(self, addresses: Iterable[str]) -> dict[str, str]:
        """Which of ``addresses`` are suppressed: {lower-case address: reason}."""

    async def add(self, address: str, reason: str, note: str = "") -> None:
        """Suppress ``address`` (reason HARD_BOUNCE, COMPLAINT or MANUAL); a hard bounce
        also marks the contacts with that email ``bounced``."""


@dataclass(frozen=True)
class ActionContext:
    """What ``execute`` may use: the step's validated config and the platform's services."""

    campaign: CampaignInfo
    step_id: int
    config: BaseModel
    sender: Sender
    settings: Any  # drumbeat.settings.Settings
    templates: Any  # drumbeat.platform.templating.TemplateRenderer
    #: The suppression list (``None`` outside a worker, e.g. in a plugin's unit tests).
    suppression: SuppressionList | None = None
    #: ``await publish(channel, message)`` on the event bus (e.g. ``member:<id>``), for
    #: :meth:`ActionType.after_record` (``None`` outside a worker).
    publish: Callable[[str, dict], Awaitable[None]] | None = None
    #: The platform's ``drumbeat.Database`` (``None`` outside a worker), for an action that
    #: must write before it sends (e.g. an invoice numbered before it is emailed).
    db: Any = None
    #: The running chunk (``drumbeat.platform.chunk_progress.ChunkProgress``; ``None``
    #: outside a worker). An action that sends messages one by one asks
    #: ``await progress.may_send(target)`` before handing each out — on ``False`` it leaves
    #: the target unsent, with ``progress.not_sent(target)`` as its outcome — and calls
    #: ``progress.report(outcome)`` as soon as a target's outcome is final, so that the
    #: ledger records it at once (a crash then sends again only what was under way).
    progress: Any = None

    def sender_for(self, target: Target) -> Sender:
        """Who ``target``'s message comes from (and whom its replies reach)."""
        return target.sender or self.sender

    def render_context(self, target: Target) -> dict[str, Any]:
        """The variables a template sees for ``target`` (the same as in a preview):
        ``contact``, ``company``, ``lead``, ``owner``, ``campaign`` and ``sender``."""
        return {**target.data, **self.campaign.context(self.sender_for(target))}


class ActionType:
    """Base class of every action type. Subclass it, set the class attributes, implement
    :meth:`execute`, and return an instance from your plugin's ``drumbeat_action_types``."""

    key: ClassVar[str]
    label: ClassVar[str]
    Config: ClassVar[type[BaseModel]] = NoConfig
    recipient_kinds: ClassVar[tuple[str, ...]] = ("contact",)
    #: True when every target must have an address (targets without one are skipped
    #: with ``NO_ADDRESS_FOR_STRATEGY`` at launch).
    needs_address: ClassVar[bool] = False
    #: True when the action does nothing but email: with the campaign's ``sendEmails``
    #: off its deliveries are skipped at launch with ``SEND_EMAILS_OFF``. (Actions that
    #: also make documents or tasks read ``ctx.campaign.send_emails`` instead.)
    email_only: ClassVar[bool] = False
    #: What each executed target produces, as a dry run reports it (e.g. "email",
    #: "call task", "invoice").
    produces: ClassVar[str] = "action"
    #: What its deliveries are, for the metrics: ``MESSAGE`` — a message to the recipient
    #: (email, SMS, any channel that reaches the person: sent, delivered, opens, clicks,
    #: replies, bounces and unsubscribes count these only) — or ``WORK_ITEM`` — a task, a
    #: document, a CRM update (counted apart: created, failed, skipped).
    delivery_kind: ClassVar[str] = WORK_ITEM

    def parse_config(self, raw: Mapping[str, Any]) -> BaseModel:
        """Validate a step's config (raises ``pydantic.ValidationError``)."""
        return self.Config.model_validate(dict(raw))

    def check_config(self, config: BaseModel, templates: Any) -> list[tuple[tuple[str, ...], str]]:
        """Further checks beyond the model (e.g. template syntax): ``[(field_path, message)]``."""
        return []

    def check_launch(self, config: BaseModel, campaign: CampaignInfo
                     ) -> list[tuple[tuple[str, ...], str]]:
        """Can this step run for ``campaign`` (e.g. is there something to send)?
        Called at launch: ``[(field_path, message)]``, empty when it can."""
        return []

    async def check_references(self, config: BaseModel, db: Any
                               ) -> list[tuple[tuple[str, ...], str]]:
        """Do the records the config names exist and may be used now (team members,
        products…)? Called with the database when a step is saved and again at launch (and
        by dry runs, test and ad-hoc sends): ``[(field_path, message)]``, empty when they
        do. ``execute`` still copes with a record that goes away after the launch."""
        return []

    def render_sample(self, ctx: ActionContext, target: Target) -> Mapping[str, str] | None:
        """What this action would make for ``target``, rendered for a dry run (e.g. an
        email's subject and text) — no side effects. ``None``: nothing to show. May raise
        ``TemplateProblem``."""
        return None

    @classmethod
    def config_schema(cls) -> dict:
        return cls.Config.model_json_schema()

    async def execute(self, ctx: ActionContext, batch: Sequence[Target]) -> Sequence[Outcome]:
        raise NotImplementedError

    async def after_record(self, ctx: ActionContext, done: Sequence[Target]) -> None:
        """Called once a batch's outcomes are committed, with its targets marked done —
        e.g. to announce the documents or tasks made (they are readable now). An error
        here is logged; it never changes an outcome."""

    async def close(self) -> None:
        """Release process-wide resources (called when the process stops)."""
