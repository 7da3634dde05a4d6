"""The vocabulary of the filter language: operators, and the whitelist of filterable fields
with their types. Column names reach SQL only from here, never from the input."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Op(str, Enum):
    EQ = "EQ"
    NE = "NE"
    IN = "IN"
    NOT_IN = "NOT_IN"
    CONTAINS = "CONTAINS"
    STARTS_WITH = "STARTS_WITH"
    GT = "GT"
    GTE = "GTE"
    LT = "LT"
    LTE = "LTE"
    BETWEEN = "BETWEEN"
    IS_EMPTY = "IS_EMPTY"
    IS_NOT_EMPTY = "IS_NOT_EMPTY"


class TagMatch(str, Enum):
    ANY = "ANY"  # has at least one of the tags
    ALL = "ALL"  # has every one of the tags
    NONE = "NONE"  # has none of the tags


class Kind(str, Enum):
    TEXT = "text"  # compared case-insensitively; NULL counts as empty
    INTEGER = "integer"
    DATE = "date"
    DAY = "day"  # a timestamp compared by its UTC calendar day
    AGE = "age"  # whole years since the birth date, as of today
    NUMBER = "number"  # custom attributes only: any JSON number
    BOOLEAN = "boolean"  # custom attributes only


NEGATIONS = {Op.NE: Op.EQ, Op.NOT_IN: Op.IN, Op.IS_EMPTY: Op.IS_NOT_EMPTY}
NO_VALUE = {Op.IS_EMPTY, Op.IS_NOT_EMPTY}
MANY_VALUES = {Op.IN, Op.NOT_IN}
TWO_VALUES = {Op.BETWEEN}
COMPARISONS = {Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE}  # spend and purchase counts

TEXT_OPS = {Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.CONTAINS, Op.STARTS_WITH, *NO_VALUE}
ORDERED_OPS = {*COMPARISONS, Op.IN, Op.NOT_IN, Op.BETWEEN, *NO_VALUE}
OPS_BY_KIND = {
    Kind.TEXT: TEXT_OPS,
    Kind.INTEGER: ORDERED_OPS,
    Kind.DATE: ORDERED_OPS,
    Kind.DAY: ORDERED_OPS,
    Kind.AGE: ORDERED_OPS,
    Kind.NUMBER: ORDERED_OPS,
    Kind.BOOLEAN: {Op.EQ, Op.NE, *NO_VALUE},
}


@dataclass(frozen=True)
class FieldSpec:
    column: str
    kind: Kind
    company: bool = False  # a column of the contact's company
    description: str = ""


def _text(column: str, description: str = "", company: bool = False) -> FieldSpec:
    return FieldSpec(column, Kind.TEXT, company, description)


FIELDS: dict[str, FieldSpec] = {
    "FIRST_NAME": _text("first_name"),
    "LAST_NAME": _text("last_name"),
    "EMAIL": _text("email"),
    "PHONE": _text("phone"),
    "JOB_TITLE": _text("job_title"),
    "LANGUAGE": _text("language", "BCP 47 tag, e.g. hr or es-ES."),
    "TIMEZONE": _text("timezone", "IANA name, e.g. Europe/Zagreb."),
    "COUNTRY": _text("country", "ISO 3166-1 alpha-2 code."),
    "CITY": _text("city"),
    "GENDER": _text("gender"),
    "CONSENT_SOURCE": _text("consent_source"),
    "BIRTH_DATE": FieldSpec("birth_date", Kind.DATE, description="Values are dates (YYYY-MM-DD)."),
    "AGE": FieldSpec("birth_date", Kind.AGE, description="Whole years since the birth date."),
    "CREATED_AT": FieldSpec("created_at", Kind.DAY,
                            description="Compared by UTC day; values are dates (YYYY-MM-DD)."),
    "CONSENT_AT": FieldSpec("consent_at", Kind.DAY,
                            description="Compared by UTC day; values are dates (YYYY-MM-DD)."),
    "COMPANY_NAME": _text("name", company=True),
    "COMPANY_EMAIL": _text("email", "The company's general address.", company=True),
    "COMPANY_VAT_ID": _text("vat_id", company=True),
    "COMPANY_INDUSTRY": _text("industry", company=True),
    "COMPANY_COUNTRY": _text("country", company=True),
    "COMPANY_CITY": _text("city", company=True),
    "COMPANY_SIZE": FieldSpec("size", Kind.INTEGER, True, "Number of employees."),
}
