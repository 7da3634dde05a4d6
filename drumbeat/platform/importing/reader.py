"""Reading an import CSV: header check, per-row validation, merging rows of the same key.

A row with any bad cell is rejected whole, with one :class:`RowError` per bad cell; the
other rows are kept. Rows sharing a key (email, or a company's name, case-insensitively)
are merged: later non-empty cells win, tags add up.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from drumbeat.platform import record_fields as f
from drumbeat.platform.errors import DomainError, ErrorCode, Problem
from drumbeat.platform.contacts import MAX_TAGS
from drumbeat.platform.importing.formula_cells import restore
from drumbeat.platform.importing.kinds import TAG_SEPARATOR, ImportKind, KindSpec
from drumbeat.platform.tables import Consent, LeadStatus

PROGRESS_EVERY = 2000
MAX_FIELD_CHARS = 100_000


@dataclass(frozen=True)
class RowError:
    line: int  # 1 is the header; a row spanning lines is reported at its first line
    field: str | None  # the CSV column, or None for the row as a whole
    message: str
    code: ErrorCode


@dataclass
class ParsedFile:
    """Valid rows by key: each a dict of the non-empty cells' stored values."""

    records: dict[str, dict] = field(default_factory=dict)
    tags: dict[str, dict[str, None]] = field(default_factory=dict)  # key → ordered tag set
    companies: dict[str, str] = field(default_factory=dict)  # key → company name
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0
    merged: int = 0  # rows folded into an earlier row of the same key


def _header(spec: KindSpec, names: list[str]) -> list[str]:
    """Normalised column names; unknown, repeated or missing key columns refuse the file.
    Linear in the header: each distinct bad name is reported once, and the valid columns
    are listed once (with the first unknown one); the API shows the first 100 problems."""
    columns = [n.strip().lower().replace(" ", "_").replace("-", "_") for n in names]
    counts = Counter(columns)
    known = set(spec.columns)
    unknown = [name for name in counts if name not in known]
    repeated = [name for name, n in counts.items() if n > 1 and name in known]
    problems = []
    for name in unknown:
        listing = f"; the columns are: {', '.join(spec.columns)}" if not problems else ""
        problems.append(Problem(f"Unknown column {name[:50]!r}{listing}.", ErrorCode.INVALID,
                                ("csv", name[:50])))
    for name in repeated:
        problems.append(Problem(f"Column {name!r} appears {counts[name]} times.",
                                ErrorCode.DUPLICATE, ("csv", name)))
    if spec.key not in counts:
        problems.append(Problem(f"The header needs the column {spec.key!r}.", ErrorCode.REQUIRED,
                                ("csv", spec.key)))
    if problems:
        raise DomainError(dict.fromkeys(problems))
    return columns


def read_csv(spec: KindSpec, text: str, members: dict[str, int], stamp: datetime,
             progress: Callable[[int], None] | None = None) -> ParsedFile:
    """Validate every row of ``text`` (a BOM is ignored); ``members`` maps team emails to
    ids (the ``owner`` column); ``stamp`` is the consent time of rows giving none."""
    csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DomainError.one("The file is empty: give a header row.", ErrorCode.REQUIRED, ["csv"]) from None
    columns = _header(spec, header)
    parsers = [(i, name, spec.fields.get(name)) for i, name in enumerate(columns)]
    result = ParsedFile()
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            result.errors.append(RowError(line, None, f"Unreadable CSV: {exc}.", ErrorCode.INVALID))
            line = reader.line_num + 1
            continue
        start, line = line, reader.line_num + 1
        if not cells or cells == [""] * len(cells):
            continue
        result.rows += 1
        if progress and result.rows % PROGRESS_EVERY == 0:
            progress(result.rows)
        if len(cells) != len(columns):
            result.errors.append(RowError(start, None, f"{len(cells)} cells; the header has "
                                          f"{len(columns)}.", ErrorCode.INVALID))
            continue
        _row(spec, result, start, cells, parsers, members, stamp)
    if progress:
        progress(result.rows)
    return result


def _row(spec: KindSpec, result: ParsedFile, line: int, cells: list[str], parsers, members,
         stamp: datetime) -> None:
    values: dict = {}
    errors: list[RowError] = []
    tags: list[str] = []
    company = ""
    for index, name, parser in parsers:
        cell = restore(cells[index])  # an exported '=… or '+44 … is the value without the '
        if not cell:
            continue
        try:
            if parser is not None:
                value = parser.parse(cell)
                if value is not None:
                    values[name] = value
            elif name == "owner":
                owner = members.get(cell.strip().lower())
                if owner is None and cell.strip():
                    raise f.FieldError(f"No team member {cell.strip()[:80]!r}.", ErrorCode.NOT_FOUND)
                if owner is not None:
                    values["owner"] = owner
            elif name == "company":
                company = f.text(200, header=True)(cell) or ""
            elif name == "tags":
                tags = f.tags([t for t in cell.split(TAG_SEPARATOR) if t.strip()], MAX_TAGS)
        except f.FieldError as exc:
            errors.append(RowError(line, name, exc.message, exc.code))
    key = values.get(spec.key)
    if key is None and not any(e.field == spec.key for e in errors):
        errors.append(RowError(line, spec.key, "This field is required.", ErrorCode.REQUIRED))
    if spec.kind is ImportKind.LEADS and values.get("status") == LeadStatus.CONVERTED.value:
        errors.append(RowError(line, "status", "Convert a lead with leadConvert.", ErrorCode.INVALID))
    if errors:
        result.errors.extend(errors)
        return
    _keep(spec, result, key.lower(), values, tags, company, stamp)


def _keep(spec: KindSpec, result: ParsedFile, key: str, values: dict, tags: list[str],
          company: str, stamp: datetime) -> None:
    if "attributes" in values:
        values["attributes"] = json.dumps(values["attributes"])
    if values.get("unsubscribed") is False:
        del values["unsubscribed"]  # an import never re-subscribes
    if values.get("consent") not in (None, Consent.UNKNOWN.value):
        values.setdefault("consent_at", stamp)
    earlier = result.records.get(key)
    if earlier is None:
        result.records[key] = values
    else:
        result.merged += 1
        if "attributes" in values and "attributes" in earlier:
            values["attributes"] = json.dumps({**json.loads(earlier["attributes"]),
                                               **json.loads(values["attributes"])})
        earlier.update(values)
    if tags:
        result.tags.setdefault(key, {}).update(dict.fromkeys(tags))
    if company:
        result.companies[key] = company
