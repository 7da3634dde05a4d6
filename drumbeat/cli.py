"""The ``drumbeat`` command: serve | worker | migrate | demo | token | signing-key | plugins |
schema | import | export."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from pathlib import Path
from typing import Awaitable, Callable, Optional, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from drumbeat.operator_errors import explain, preflight
from drumbeat.platform.errors import DomainError
from drumbeat.settings import PREFIX, Settings, SettingsError

T = TypeVar("T")

app = typer.Typer(help="Drumbeat — a headless GraphQL platform for marketing campaigns.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
schema_app = typer.Typer(help="The GraphQL schema (SDL).", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(schema_app, name="schema")
console = Console()
err = Console(stderr=True, soft_wrap=True)  # an error is one line, not wrapped at 80 columns


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


def _check_database(settings: Settings, migrated: bool = True) -> None:
    """Stop with an operator's message when the database is unreachable or, with
    ``migrated``, not migrated (see :mod:`drumbeat.operator_errors`)."""
    asyncio.run(preflight(settings, migrated=migrated))


def _with_platform(settings: Settings, work: Callable[..., Awaitable[T]],
                   migrated: bool = True) -> T:
    """Run ``work(platform)`` after the database check (``migrated``: see
    :func:`_check_database`)."""
    from drumbeat.platform.runtime import open_platform

    _check_database(settings, migrated)

    async def main() -> T:
        platform = await open_platform(settings)
        try:
            return await work(platform)
        finally:
            await platform.close()

    try:
        return asyncio.run(main())
    except DomainError as exc:
        for problem in exc.problems:
            err.print(f"[red]{problem.code.value}[/red] {'.'.join(problem.field or ())} {problem.message}")
        raise typer.Exit(1) from None


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
    with_worker: bool = typer.Option(
        False, "--with-worker", help="Also consume a redis:// or amqp:// broker in this process."),
) -> None:
    """Run the API (and, with the memory:// broker, the workers) in this process."""
    import uvicorn

    from drumbeat.app import create_app
    from drumbeat.http_limits import server_options

    settings = _settings()
    # SQLite is migrated by the app at start-up; PostgreSQL by `drumbeat migrate`.
    _check_database(settings, migrated=settings.database_kind != "sqlite")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_worker = settings.embedded_worker or with_worker
    mode = "with worker" if run_worker else "API only (run `drumbeat worker`)"
    console.print(f"Drumbeat on http://{host}:{port}/graphql — {settings.database_kind}, {mode}")
    if settings.smtp_url.startswith("outbox://"):
        console.print(f"Emails are written to {settings.smtp_url[len('outbox://'):]} (.eml files)")
    app = create_app(settings, run_worker=run_worker)
    # The cyclic GC's full collections walk every live object (~400 per open subscription)
    # and stop the event loop meanwhile: with 1000 subscribers, ~0.5 s every few seconds
    # (bench/fanout). Keep what lives as long as the process (modules, the schema) out of
    # them, and let fewer young collections promote objects that then trigger full ones.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    uvicorn.run(app, host=host, port=port, log_level=log_level, ws="websockets-sansio",
                lifespan="on", **server_options(settings.max_body_bytes))


@app.command()
def worker(log_level: str = typer.Option("info", help="Log level.")) -> None:
    """Run one worker process consuming the broker of DRUMBEAT_BROKER_URL."""
    from drumbeat.worker.process import run_worker_process

    settings = _settings()
    if settings.embedded_worker:
        err.print("[red]DRUMBEAT_BROKER_URL is memory://[/red]: workers run inside `drumbeat serve`; "
                  "set a redis:// or amqp:// broker to run separate workers.")
        raise typer.Exit(2)
    _check_database(settings)  # once: a running worker retries while its database is away
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_worker_process(settings)


@app.command()
def migrate() -> None:
    """Create or upgrade the database tables."""
    from drumbeat.platform.migrate import migrate_database

    settings = _settings()
    _check_database(settings, migrated=False)
    asyncio.run(migrate_database(settings))


@app.command()
def demo() -> None:
    """Load a small demo data set (idempotent) and print an API token for its admin."""
    from drumbeat.platform.demo import load_demo
    from drumbeat.platform.migrate import migrate as run_migrations

    async def work(platform):
        await run_migrations(platform.plugins.piccolo_apps)
        return await load_demo(platform)

    result = _with_platform(_settings(), work, migrated=False)
    console.print(f"Demo data: {result.contacts} contacts, campaign {result.campaign!r}.")
    console.print(f"Admin {result.email} — token (shown once):")
    print(result.token, flush=True)


@token_app.command("create")
def token_create(
    email: str,
    name: Optional[str] = typer.Option(None, help="Create the member with this name if new."),
    role: str = typer.Option("MARKETER", help="Role of a new member: ADMIN, MARKETER or SALES."),
    label: str = typer.Option("cli", help="A label to recognise the token by."),
) -> None:
    """Print a new API token for a team member (created when --name is given and new)."""
    from drumbeat.platform.tables import Role
    from drumbeat.platform.team import create_member, find_member, issue_token

    try:
        role_value = Role(role.upper())
    except ValueError:
        err.print(f"[red]unknown role {role!r}[/red]: ADMIN, MARKETER or SALES")
        raise typer.Exit(2) from None

    async def work(platform):
        member = await find_member(email)
        if member is None:
            if not name:
                err.print(f"[red]no team member {email}[/red]; give --name to create one")
                raise typer.Exit(1)
            member = await create_member(email, name, role_value)
        return await issue_token(member, label)

    print(_with_platform(_settings(), work), flush=True)


@app.command("signing-key")
def signing_key(kind: str = typer.Argument(..., help="trigger or inbound")) -> None:
    """Print the kid and the signing key that senders of triggers (or of the mail provider's
    inbound events) sign their requests with (see the README, "Signed requests")."""
    from drumbeat.platform.tracking.signed_requests import LABELS, signing_key as key_of
    from drumbeat.platform.tracking.tokens import keyring_for

    if kind not in LABELS:
        err.print(f"[red]unknown kind {kind!r}[/red]: {' or '.join(LABELS)}")
        raise typer.Exit(2)
    try:
        current = keyring_for(_settings()).current
    except SettingsError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    print(f"kid={current.kid} key={key_of(current.secret, kind)}", flush=True)


@app.command()
def plugins() -> None:
    """List the plugins, where each came from, and the action types each provides."""
    from drumbeat.platform.plugins import PluginError, build_plugins

    settings = _settings()
    try:
        loaded = build_plugins(settings.plugins_allow, settings.plugins_block)
    except PluginError as exc:
        err.print(f"[red]plugin error:[/red] {exc}")
        raise typer.Exit(1) from None
    table = Table("plugin", "source", "action types")
    for info in loaded.infos:
        table.add_row(info.name, info.source, ", ".join(info.action_types) or "—")
    console.print(table)


@app.command()
def watch(
    campaign_id: str = typer.Argument(..., help="The campaign's global id."),
    token: str = typer.Option(..., envvar="DRUMBEAT_TOKEN", help="API token (or DRUMBEAT_TOKEN)."),
    url: str = typer.Option("ws://127.0.0.1:8000/graphql", help="The GraphQL WebSocket URL."),
) -> None:
    """Print a campaign's progress live (the campaignProgress subscription) until it ends."""
    from drumbeat.watch import watch_progress

    def show(progress: dict) -> None:
        c = progress["counters"]
        console.print(f"{progress['state']:<15} total {c['total']:>7}  pending {c['pending']:>7}  "
                      f"done {c['done']:>7}  failed {c['failed']:>5}  skipped {c['skipped']:>5}")

    try:
        asyncio.run(watch_progress(url, token, campaign_id, show))
    except (OSError, RuntimeError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


@schema_app.command("export")
def schema_export(path: Path = typer.Argument(Path("schema.graphql"))) -> None:
    """Write the GraphQL SDL to PATH (default schema.graphql)."""
    from drumbeat.schema import build_schema

    path.write_text(build_schema().as_str() + "\n")
    console.print(f"wrote {path}")


IMPORT_KINDS = ("contacts", "companies", "leads")


async def _acting_member(email: Optional[str]):
    """The team member an import or export acts as: ``email``'s, or the oldest active admin."""
    from drumbeat.platform.tables import Role, TeamMember
    from drumbeat.platform.team import find_member, get_member

    if email:
        member = await find_member(email)
    else:
        row = await TeamMember.select(TeamMember.id).where(
            (TeamMember.role == Role.ADMIN.value) & (TeamMember.active == True)  # noqa: E712
        ).order_by(TeamMember.id).first()
        member = await get_member(row["id"]) if row else None
    if member is None:
        err.print(f"[red]no team member {email}[/red]" if email else
                  "[red]no active admin[/red]: create one with `drumbeat token create`, or pass --as")
        raise typer.Exit(1)
    return member


def _kind(kind: str):
    from drumbeat.platform.importing import ImportKind

    if kind.lower() not in IMPORT_KINDS:
        err.print(f"[red]unknown kind {kind!r}[/red]: {', '.join(IMPORT_KINDS)}")
        raise typer.Exit(2)
    return ImportKind(kind.upper())


@app.command("import")
def import_(
    kind: str = typer.Argument(..., help="contacts, companies or leads"),
    path: Path = typer.Argument(..., help="A UTF-8 CSV file (with or without BOM) with a header row."),
    errors: Optional[Path] = typer.Option(None, "--errors", help="Write every row error to this CSV."),
    show: int = typer.Option(20, "--show", help="How many row errors to print."),
    as_member: Optional[str] = typer.Option(None, "--as", help="Act as this team member (email); "
                                            "default: the oldest active admin."),
) -> None:
    """Import a CSV: good rows are kept (merged by email; companies by name), bad rows reported.
    Exits 0 even with bad rows; 1 when the file cannot be read or its header is wrong."""
    import csv

    from rich.progress import Progress

    from drumbeat.platform.importing import import_csv

    import_kind = _kind(kind)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"[red]cannot read {path}[/red]: {exc}")
        raise typer.Exit(1) from None

    async def work(platform):
        member = await _acting_member(as_member)
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("checking", total=None)

            def progress(phase: str, done: int, total: int) -> None:
                bar.update(task, description=phase, completed=done, total=total)

            return await import_csv(platform, member, import_kind, text, progress)

    result = _with_platform(_settings(), work)
    console.print(f"{result.rows} rows: {result.inserted} inserted, {result.updated} updated, "
                  f"{result.merged} merged within the file, {result.rejected} rejected "
                  f"({len(result.errors)} errors).")
    for error in result.errors[:show]:
        console.print(f"  line {error.line} {error.field or '(row)'}: {error.message}", markup=False)
    if len(result.errors) > show:
        console.print(f"  … and {len(result.errors) - show} more" +
                      ("" if errors else " (write them all with --errors FILE)"))
    if errors:
        with errors.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(("line", "field", "code", "message"))
            writer.writerows((e.line, e.field or "", e.code.value, e.message) for e in result.errors)
        console.print(f"wrote {len(result.errors)} errors to {errors}")


@app.command("export")
def export(
    kind: str = typer.Argument(..., help="contacts, companies or leads"),
    path: Path = typer.Argument(..., help="The CSV file to write (the import's columns)."),
) -> None:
    """Export every contact, company or lead as CSV, read in pages (never all at once)."""
    from drumbeat.platform.importing import export_pages

    export_kind = _kind(kind)

    async def work(platform):
        member = await _acting_member(None)
        lines = 0
        with path.open("w", newline="", encoding="utf-8") as out:
            async for chunk in export_pages(member, export_kind):
                out.write(chunk)
                lines += chunk.count("\n")
        return lines - 1

    console.print(f"wrote {_with_platform(_settings(), work)} {kind} to {path}")


def main() -> None:
    """The ``drumbeat`` command. A database failure the operator fixes (unreachable,
    missing, not migrated) is one or two lines on stderr and exit code 1, never a traceback."""
    try:
        app()
    except Exception as exc:
        url = os.environ.get(PREFIX + "DATABASE_URL") or Settings.database_url
        message = explain(exc, url)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr, flush=True)
        sys.exit(1)
