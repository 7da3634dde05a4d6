"""CSV import and export of contacts, companies and leads (the CLI and GraphQL share it).

``import_csv`` validates every row, keeps the good ones and reports each bad cell as
(line, column, message); rows of the same key (email; a company's name) are merged, within
the file and into the existing records — only non-empty cells overwrite. The write is one
transaction on the database's bulk path (see :mod:`.bulk`). ``export_pages`` streams the
same columns in keyset pages.

Reading and validating the CSV is CPU work in proportion to the file: it runs in a worker
thread (``asyncio.to_thread``) so the event loop keeps answering other requests; the
database reads and the write stay on the loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable

from drumbeat.platform.importing.bulk import write
from drumbeat.platform.importing.export import export_page, export_pages, header
from drumbeat.platform.importing.kinds import SPECS, ImportKind
from drumbeat.platform.importing.reader import RowError, read_csv
from drumbeat.platform.permissions import require_audience_editor
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import TeamMember
from drumbeat.platform.team import Member, now

__all__ = ["ImportKind", "ImportResult", "RowError", "export_page", "export_pages", "header",
           "import_csv"]


@dataclass(frozen=True)
class ImportResult:
    rows: int  # data rows read (blank lines aside)
    inserted: int
    updated: int  # merged into an existing record
    merged: int  # folded into an earlier row of the same file
    rejected: int  # rows with at least one error
    errors: list[RowError]


Progress = Callable[[str, int, int], None]  # (phase, done, total)


async def import_csv(platform: Platform, member: Member | None, kind: ImportKind, text: str,
                     progress: Progress | None = None) -> ImportResult:
    """Import the CSV ``text``; a file-level problem (header) raises ``DomainError``."""
    member = require_audience_editor(member)
    spec = SPECS[ImportKind(kind)]
    members = {r["email"]: r["id"] for r in await TeamMember.select(TeamMember.id, TeamMember.email)}
    stamp = now()
    estimate = max(text.count("\n"), 1)
    parsed = await asyncio.to_thread(
        read_csv, spec, text, members, stamp,
        progress and (lambda done: progress("checking", done, max(done, estimate))))
    total = len(parsed.records)
    written = await write(platform, spec, parsed, member.id, stamp,
                          progress and (lambda done: progress("writing", done, total)))
    rejected = len({e.line for e in parsed.errors})
    return ImportResult(rows=parsed.rows, inserted=written.inserted, updated=written.updated,
                        merged=parsed.merged, rejected=rejected, errors=parsed.errors)
