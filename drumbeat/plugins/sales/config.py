"""The config models of the sales action types (validated when a campaign is saved; their
JSON Schema is what ``actionTypes`` shows). Keys are camelCase, like the API's."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic.alias_generators import to_camel

from drumbeat.plugins.sales.money import parse_decimal

_MONEY_SCHEMA = {"type": "string", "pattern": r"^-?\d+(\.\d{1,2})?$",
                 "description": "A decimal string with at most two decimal places, e.g. \"12.50\""}

Money = Annotated[Decimal, BeforeValidator(lambda v: parse_decimal(v, 2, "amount")),
                  WithJsonSchema(_MONEY_SCHEMA)]
Quantity = Annotated[Decimal, BeforeValidator(lambda v: parse_decimal(v, 3, "quantity")),
                     WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d{1,3})?$"})]
Rate = Annotated[Decimal, BeforeValidator(lambda v: parse_decimal(v, 2, "tax rate")),
                 WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d{1,2})?$",
                                 "description": "Percent, e.g. \"19\" or \"7.7\""})]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. EUR")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Line(_Model):
    """One line of an invoice or an offer."""

    description: str = Field(min_length=1, max_length=500)
    quantity: Quantity = Decimal(1)
    unit_price: Money
    tax_rate: Rate = Decimal(0)

    @model_validator(mode="after")
    def _ranges(self):
        if self.quantity <= 0:
            raise ValueError("the quantity must be more than zero")
        if self.unit_price < 0:
            raise ValueError("the unit price cannot be negative")
        if not 0 <= self.tax_rate <= 100:
            raise ValueError("the tax rate is a percentage between 0 and 100")
        return self


class _Mailed(_Model):
    document: str | None = Field(default=None, max_length=500_000, description=(
        "HTML document template (Jinja, sandboxed). Default: the campaign's DOCUMENT "
        "template, else a built-in layout."))
    subject: str | None = Field(default=None, min_length=1, max_length=998,
                                description="Email subject template (default built in).")
    text: str | None = Field(default=None, min_length=1, max_length=100_000,
                             description="Email text template (default built in).")


class InvoiceConfig(_Mailed):
    """One invoice per target, numbered without gaps per year and emailed (the document
    as the HTML body) unless the campaign's sendEmails is off."""

    lines: list[Line] = Field(min_length=1, max_length=200)
    currency: Currency = "EUR"
    due_in_days: int = Field(default=30, ge=0, le=365)


class OfferConfig(_Mailed):
    """One offer per target, valid for some days, emailed unless sendEmails is off."""

    items: list[Line] = Field(min_length=1, max_length=200)
    currency: Currency = "EUR"
    valid_for_days: int = Field(default=30, ge=1, le=365)


class Stage(str, Enum):
    PROSPECTING = "PROSPECTING"
    QUALIFICATION = "QUALIFICATION"
    PROPOSAL = "PROPOSAL"
    NEGOTIATION = "NEGOTIATION"
    WON = "WON"
    LOST = "LOST"


CLOSED_STAGES = (Stage.WON, Stage.LOST)
#: The probability a stage implies when none is given.
STAGE_PROBABILITY = {Stage.PROSPECTING: 10, Stage.QUALIFICATION: 25, Stage.PROPOSAL: 50,
                     Stage.NEGOTIATION: 75, Stage.WON: 100, Stage.LOST: 0}


class OwnerStrategy(str, Enum):
    CAMPAIGN_OWNER = "CAMPAIGN_OWNER"
    CONTACT_OWNER = "CONTACT_OWNER"  # the target's owner, else the campaign's
    MEMBER = "MEMBER"


class OpportunityConfig(_Model):
    """One sales opportunity per target (no email)."""

    title: str = Field(default="{{ campaign.name }}", min_length=1, max_length=1000,
                       description="Title template (Jinja, sandboxed).")
    stage: Stage = Stage.PROSPECTING
    value: Money = Decimal(0)
    currency: Currency = "EUR"
    probability: int | None = Field(default=None, ge=0, le=100,
                                    description="Percent; default: the stage's.")
    owner: OwnerStrategy = OwnerStrategy.CAMPAIGN_OWNER
    owner_member_id: str | None = Field(default=None, description=(
        "The TeamMember's global id, with owner MEMBER."))
    expected_close_in_days: int | None = Field(default=None, ge=0, le=3650)

    @model_validator(mode="after")
    def _member(self):
        if self.value < 0:
            raise ValueError("the value cannot be negative")
        if (self.owner is OwnerStrategy.MEMBER) != (self.owner_member_id is not None):
            raise ValueError("give ownerMemberId exactly when owner is MEMBER")
        return self
