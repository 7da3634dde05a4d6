"""CSV import and export in the API: ``contactsImport`` / ``companiesImport`` /
``leadsImport`` (the CSV as a string of at most 5 MB) and the paged ``csvExport``."""

from __future__ import annotations

import strawberry

from drumbeat.platform import importing
from drumbeat.platform.errors import DomainError, ErrorCode
from drumbeat.platform.importing import ImportKind as ImportKindValue
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, UserErrorCode, user_errors
from drumbeat.schema.pagination import decode_cursor, encode_cursor

MAX_CSV_CHARS = 5_000_000
MAX_ROW_ERRORS = 100
MAX_EXPORT_PAGE = 10_000

ImportKind = strawberry.enum(ImportKindValue, name="ImportKind")


@strawberry.type(description="A bad cell (or row, when field is null) of an import.")
class ImportRowError:
    line: int = strawberry.field(description="Line of the file (1 is the header).")
    field: str | None = strawberry.field(description="The CSV column.")
    message: str
    code: UserErrorCode


@strawberry.type
class ImportResult:
    rows: int = strawberry.field(description="Data rows read.")
    inserted: int
    updated: int = strawberry.field(description="Merged into an existing record (same key).")
    merged: int = strawberry.field(description="Folded into an earlier row of the file (same key).")
    rejected: int = strawberry.field(description="Rows not imported: each has row errors.")
    row_errors: list[ImportRowError] = strawberry.field(
        description=f"The first {MAX_ROW_ERRORS} problems, in line order.")
    row_error_count: int = strawberry.field(description="Problems found in all (rowErrors lists "
                                                        f"the first {MAX_ROW_ERRORS}).")
    row_errors_truncated: bool = strawberry.field(
        description="True when rowErrors is not the whole list (rowErrorCount is).")


@strawberry.type
class ImportPayload:
    result: ImportResult | None
    errors: list[UserError] = strawberry.field(description=(
        "File-level problems (nothing imported): at most 100, then one TOO_MANY_ERRORS entry."))
    error_count: int = strawberry.field(description="File-level problems found in all.")


@strawberry.type
class CsvExportPage:
    csv: str = strawberry.field(description="The header row, then up to `first` rows.")
    end_cursor: str | None
    has_next_page: bool


async def _import(info: Info, kind: ImportKindValue, csv: str) -> ImportPayload:
    async def work():
        if len(csv) > MAX_CSV_CHARS:
            raise DomainError.one(f"At most {MAX_CSV_CHARS} characters per call; use the CLI "
                                  "(drumbeat import) for larger files.", ErrorCode.TOO_LONG, ["csv"])
        result = await importing.import_csv(info.context.platform, info.context.member, kind, csv)
        return ImportResult(
            rows=result.rows, inserted=result.inserted, updated=result.updated,
            merged=result.merged, rejected=result.rejected, row_error_count=len(result.errors),
            row_errors_truncated=len(result.errors) > MAX_ROW_ERRORS,
            row_errors=[ImportRowError(line=e.line, field=e.field, message=e.message, code=e.code)
                        for e in result.errors[:MAX_ROW_ERRORS]])

    try:
        result = await work()
    except DomainError as exc:
        return ImportPayload(result=None, errors=user_errors(exc), error_count=len(exc.problems))
    return ImportPayload(result=result, errors=[], error_count=0)


IMPORT_HELP = ("Import a CSV (UTF-8, a header row naming the columns): bad rows are reported, "
               "good ones kept; rows are merged by {key} with each other and with existing "
               "records (non-empty cells overwrite).")


@strawberry.type
class ImportMutations:
    @strawberry.mutation(description=IMPORT_HELP.format(key="email"))
    async def contacts_import(self, info: Info, csv: str) -> ImportPayload:
        return await _import(info, ImportKindValue.CONTACTS, csv)

    @strawberry.mutation(description=IMPORT_HELP.format(key="name (case-insensitive)"))
    async def companies_import(self, info: Info, csv: str) -> ImportPayload:
        return await _import(info, ImportKindValue.COMPANIES, csv)

    @strawberry.mutation(description=IMPORT_HELP.format(key="email"))
    async def leads_import(self, info: Info, csv: str) -> ImportPayload:
        return await _import(info, ImportKindValue.LEADS, csv)


@strawberry.type
class ExportQueries:
    @strawberry.field(description="One page of a CSV export (oldest first, the import's columns); "
                                  "pass endCursor as after for the next.")
    async def csv_export(self, info: Info, kind: ImportKind, first: int = 1000,
                         after: str | None = None) -> CsvExportPage:
        info.context.require_member()
        if not 1 <= first <= MAX_EXPORT_PAGE:
            raise DomainError.one(f"first must be between 1 and {MAX_EXPORT_PAGE}.",
                                  ErrorCode.INVALID, ["first"])
        after_id = decode_cursor(after, "after") if after else 0
        text, last, more = await importing.export_page(info.context.member, kind, after_id, first)
        return CsvExportPage(csv=importing.header(kind) + text,
                             end_cursor=encode_cursor(last) if last is not None else None,
                             has_next_page=more)
