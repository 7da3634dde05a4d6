"""Field rules of audience records, shared by the CRUD services and the CSV import.

Each :class:`Field` turns a value — typed (from GraphQL) or a CSV cell string — into the
value stored, or raises :class:`FieldError`. A blank value parses to ``None``; the caller
decides whether that clears the column (``Field.blank``) or, in an import, keeps it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import Enum
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

from drumbeat.platform import bounded_json
from drumbeat.platform.errors import ErrorCode, Problems
from drumbeat.platform.validation import EMAIL, is_header_safe

# ISO 3166-1 alpha-2.
COUNTRIES = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW""".split())
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
MAX_ATTRIBUTES_CHARS = 10_000
MAX_TAG_CHARS = 50


class FieldError(ValueError):
    def __init__(self, message: str, code: ErrorCode = ErrorCode.INVALID):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Field:
    """One column: ``parse`` → stored value (``None`` when blank); ``blank`` is what a
    cleared column holds."""

    name: str
    parse: Callable[[Any], Any]
    blank: Any = ""
    required: bool = False


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def text(max_length: int, header: bool = False) -> Callable[[Any], str | None]:
    """Trimmed text of at most ``max_length`` characters; ``header`` texts (names, anything
    that may reach an email header) refuse control and line-separator characters."""
    def parse(value: Any) -> str | None:
        value = value.strip() if isinstance(value, str) else value
        if not value:
            return None
        value = str(value)
        if len(value) > max_length:
            raise FieldError(f"At most {max_length} characters.", ErrorCode.TOO_LONG)
        if header and not is_header_safe(value):
            raise FieldError("Control characters and line breaks are not allowed.")
        return value
    return parse


def email(value: Any) -> str | None:
    value = value.strip().lower() if isinstance(value, str) else value
    if not value:
        return None
    if len(value) > 254 or not is_header_safe(value) or not EMAIL.match(value):
        raise FieldError(f"{value[:80]!r} is not a valid email address.")
    return value


def country(value: Any) -> str | None:
    if _blank(value):
        return None
    code = str(value).strip().upper()
    if code not in COUNTRIES:
        raise FieldError(f"{str(value)[:20]!r} is not an ISO 3166-1 alpha-2 country code.")
    return code


def language(value: Any) -> str | None:
    if _blank(value):
        return None
    value = str(value).strip()
    if len(value) > 10 or not LANGUAGE.match(value):
        raise FieldError(f"{value[:20]!r} is not a language tag such as en or es-ES.")
    return value


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    from zoneinfo import available_timezones

    return frozenset(available_timezones())


def time_zone(value: Any) -> str | None:
    if _blank(value):
        return None
    value = str(value).strip()
    if value not in _timezones():
        raise FieldError(f"{value[:50]!r} is not an IANA time zone such as Europe/Zagreb.")
    return value


def day(value: Any) -> date | None:
    if _blank(value):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise FieldError(f"{str(value)[:20]!r} is not a date (YYYY-MM-DD).") from None


def moment(value: Any) -> datetime | None:
    """A time with its zone (UTC when none is given)."""
    if _blank(value):
        return None
    if not isinstance(value, datetime):
        try:
            value = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise FieldError(f"{str(value)[:30]!r} is not a time (ISO 8601).") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def count(value: Any) -> int | None:
    if _blank(value):
        return None
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise FieldError(f"{str(value)[:20]!r} is not a whole number.") from None
    if not 0 <= number <= 10_000_000:
        raise FieldError("Must be between 0 and 10000000.")
    return number


def flag(value: Any) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    word = str(value).strip().lower()
    if not word:
        return None
    if word in ("1", "true", "yes", "y"):
        return True
    if word in ("0", "false", "no", "n"):
        return False
    raise FieldError(f"{str(value)[:20]!r} is not true or false.")


def choice(enum: type[Enum]) -> Callable[[Any], str | None]:
    names = [m.value for m in enum]

    def parse(value: Any) -> str | None:
        if _blank(value):
            return None
        word = (value.value if isinstance(value, Enum) else str(value)).strip().upper()
        if word not in names:
            raise FieldError(f"{str(value)[:20]!r} is not one of {', '.join(names)}.")
        return word
    return parse


def attributes(value: Any) -> dict | None:
    """Custom attributes: a flat object of names to strings, numbers or booleans."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = bounded_json.loads(value)
        except ValueError:
            raise FieldError("Not a JSON object.") from None
    if not isinstance(value, dict):
        raise FieldError("Give an object of names to strings, numbers or booleans.")
    for key, item in value.items():
        if not key or len(key) > 100 or not is_header_safe(key):
            raise FieldError(f"{key[:30]!r} is not a usable attribute name.")
        if not isinstance(item, (str, int, float, bool)):
            raise FieldError(f"Attribute {key[:30]!r} must be a string, number or boolean.")
    if len(json.dumps(value)) > MAX_ATTRIBUTES_CHARS:
        raise FieldError(f"At most {MAX_ATTRIBUTES_CHARS} characters of attributes.", ErrorCode.TOO_LONG)
    return value


def tags(values: Sequence[str], max_count: int) -> list[str]:
    """Distinct, trimmed tags (order kept); more than ``max_count`` given is refused before
    any is looked at (``TOO_LONG``). Linear: duplicates are found with a dict."""
    if len(values) > max_count:
        raise FieldError(f"At most {max_count} tags.", ErrorCode.TOO_LONG)
    parse = text(MAX_TAG_CHARS, header=True)
    clean = dict.fromkeys(tag for tag in map(parse, values) if tag is not None)
    return list(clean)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def clean_input(problems: Problems, fields: Mapping[str, Field], values: Mapping[str, Any],
                *path: str | int, creating: bool = False) -> dict:
    """The stored values of ``values`` (snake_case names); each problem at
    ``(*path, camelCaseName)``. Blank values become the column's ``blank``."""
    result: dict = {}
    for name, value in values.items():
        field = fields[name]
        try:
            parsed = field.parse(value)
        except FieldError as exc:
            problems.add(exc.message, exc.code, *path, camel(name))
            continue
        if parsed is None and field.required:
            problems.add("This field is required.", ErrorCode.REQUIRED, *path, camel(name))
        result[name] = field.blank if parsed is None else parsed
    if creating:
        for field in fields.values():
            if field.required and field.name not in values:
                problems.add("This field is required.", ErrorCode.REQUIRED, *path, camel(field.name))
    return result
