"""Spreadsheet formula cells (CSV injection): neutralised on export, restored on import.

The OWASP rule (https://owasp.org/www-community/attacks/CSV_Injection): a cell that begins
with ``=``, ``+``, ``-``, ``@``, a tab (0x09) or a carriage return (0x0D) is read as a
formula by Excel, LibreOffice and Google Sheets, so it gets a leading single quote ``'``,
which spreadsheets take as "this is text" and do not show. Also prefixed here: a leading
NUL (OWASP ASVS 5 V1.2.10) and the full-width forms ``＝ ＋ － ＠`` (some spreadsheets
in East-Asian locales read them as the ASCII ones). Quoting and separators inside a cell
are the CSV writer's (RFC 4180), so a ``,=`` or ``"`` in the middle of a value cannot
start a new cell.

The prefix is reversible: a cell that already begins with quotes followed by a trigger
(``'=x``) gets one more, and :func:`restore` drops exactly one — so a file exported here
imports back to the same values (a phone number ``+44 …`` stays ``+44 …``).

Numbers of numeric columns (e.g. a company's ``size`` of ``-5``) are written as they are:
:func:`neutralise` only changes text.
"""

from __future__ import annotations

import re

TRIGGERS = "=+-@\t\r\x00＝＋－＠"
_FORMULA = re.compile(f"'*[{re.escape(TRIGGERS)}]")
_RESTORABLE = re.compile(f"''*[{re.escape(TRIGGERS)}]")


def neutralise(cell: str) -> str:
    """``cell`` as a spreadsheet shows it as text (a leading ``'`` when it would be a formula)."""
    return "'" + cell if _FORMULA.match(cell) else cell


def restore(cell: str) -> str:
    """The value :func:`neutralise` was given (one leading ``'`` before a trigger dropped)."""
    return cell[1:] if _RESTORABLE.match(cell) else cell
