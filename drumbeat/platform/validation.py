"""Input checks shared by the services; each adds to a :class:`Problems` collector."""

from __future__ import annotations

import re

from drumbeat.platform.errors import ErrorCode, Problems

# Control characters and Unicode line separators: never allowed in anything that may end
# up in an email header (names, addresses, subjects).
UNSAFE_HEADER_CHARS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
# ASCII addresses only (no SMTPUTF8 yet): a clear error beats a message no server accepts.
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


# In a search or filter value: control characters but tab and line breaks (which separate
# search terms like spaces). NUL ends a pattern on SQLite (it would match everyone) and
# cannot be sent to PostgreSQL; the others never occur in the data searched.
UNSEARCHABLE_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SEARCH_TEXT_PROBLEM = "Control characters (such as NUL) are not allowed in a search or filter."


def search_text_problem(value: str) -> str | None:
    """Why ``value`` cannot be searched for (a message), or ``None`` when it can."""
    return SEARCH_TEXT_PROBLEM if UNSEARCHABLE_CHARS.search(value) else None


def is_header_safe(value: str) -> bool:
    return UNSAFE_HEADER_CHARS.search(value) is None


def check_email(problems: Problems, value: str | None, *field: str | int, required: bool = True) -> None:
    if not value:
        if required:
            problems.add("An email address is required.", ErrorCode.REQUIRED, *field)
        return
    if len(value) > 254 or not is_header_safe(value) or not EMAIL.match(value):
        problems.add(f"{value[:80]!r} is not a valid email address.", ErrorCode.INVALID, *field)


def check_text(problems: Problems, value: str | None, max_length: int, *field: str | int,
               required: bool = False, single_line: bool = False) -> None:
    if value is None or not value.strip():
        if required:
            problems.add("This field is required.", ErrorCode.REQUIRED, *field)
        return
    if len(value) > max_length:
        problems.add(f"At most {max_length} characters.", ErrorCode.TOO_LONG, *field)
    if single_line and not is_header_safe(value):
        problems.add("Control characters and line breaks are not allowed.", ErrorCode.INVALID, *field)
