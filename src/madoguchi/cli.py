"""The ``madoguchi`` command."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError

from madoguchi.config import Settings, get_settings
from madoguchi.events import InProcessBus
from madoguchi.kit.context import Actor, Ctx
from madoguchi.kit.db import Database
from madoguchi.kit.errors import DomainError

T = TypeVar("T")

app = typer.Typer(
    help="Madoguchi: a self-hosted multi-channel 1:1 chat inbox with a customer CRM.",
    no_args_is_help=True,
    add_completion=False,
)
member_app = typer.Typer(help="Members (staff accounts).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
channel_app = typer.Typer(help="Channels.", no_args_is_help=True)
app.add_typer(member_app, name="member")
app.add_typer(token_app, name="token")
app.add_typer(channel_app, name="channel")
import_app = typer.Typer(help="Import contacts from a file.", no_args_is_help=True)
export_app = typer.Typer(help="Export contacts to a file.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
contacts_app = typer.Typer(help="Contacts.", no_args_is_help=True)
app.add_typer(contacts_app, name="contacts")
stats_app = typer.Typer(help="Statistics.", no_args_is_help=True)
app.add_typer(stats_app, name="stats")
webhooks_app = typer.Typer(
    help="Webhook bodies kept but not yet stored (LINE, Instagram).", no_args_is_help=True
)
app.add_typer(webhooks_app, name="webhooks")


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def settings_or_exit(**overrides: object) -> Settings:
    """The settings, or one sentence per bad setting and exit status 2."""
    try:
        return get_settings(**overrides)
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            name = str(problem["loc"][0]) if problem.get("loc") else ""
            variable = f"MADOGUCHI_{name.upper()}" if name else "a setting"
            lines.append(f"{variable}={problem.get('input')!s}: {problem['msg']}")
        raise fail("Madoguchi cannot start with these settings:\n" + "\n".join(lines), 2) from None


@contextlib.asynccontextmanager
async def command_ctx(settings: Settings) -> AsyncIterator[Ctx]:
    """A writer context for one command. Events go to a local bus: no browser listens here."""
    database = Database(settings.sqlalchemy_url, pool=False)
    try:
        async with database.write_sessions() as session:
            # What a command changes, the system changes (the audit log says: the command line).
            yield Ctx(
                db=session,
                bus=InProcessBus(),
                settings=settings,
                actor=Actor(kind="system", name="cli"),
            )
    finally:
        await database.dispose()


def run_command(settings: Settings, action: Callable[[Ctx], Awaitable[T]]) -> T:
    """Migrate, run ``action`` in a context, and turn domain errors into a sentence and exit 1."""
    from madoguchi.kit.migrate import upgrade

    upgrade(settings)

    async def main() -> T:
        async with command_ctx(settings) as ctx:
            return await action(ctx)

    try:
        return asyncio.run(main())
    except DomainError as error:
        raise fail(str(error)) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (1-65535).", min=1, max=65535)
    ] = None,
) -> None:
    """Migrate if needed and serve the web UI, the API, WebSockets and webhooks."""
    import uvicorn

    from madoguchi.app import create_app
    from madoguchi.kit.migrate import upgrade

    given = {name: value for name, value in (("host", host), ("port", port)) if value}
    settings = settings_or_exit(**given)
    upgrade(settings)
    host, port = settings.host, settings.port
    typer.echo(f"Madoguchi: http://{host}:{port}  (data: {_where(settings)})")
    if settings.smtp_listen:
        typer.echo(f"Receiving e-mail by SMTP on {settings.smtp_listen}")
    uvicorn.run(
        create_app(settings, freeze_start=True),
        host=host,
        port=port,
        log_level=settings.log_level,
        # Forwarded headers are believed from MADOGUCHI_TRUSTED_PROXIES only (kit/proxies.py).
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        # The live frames are a few hundred bytes of JSON: compressing each for each socket
        # saved little and kept a zlib context per connection (~11 MB a process with 250
        # members connected, bench/live.py).
        ws_per_message_deflate=False,
    )


@app.command()
def worker() -> None:
    """Run the timed work alone (scheduled messages, snooze wake-ups, deliveries, auto-close,
    broadcasts, rules, steps, pushes), for web processes started with MADOGUCHI_WORKER=false.
    Stops on Ctrl-C or SIGTERM once the job in hand is done."""
    import signal

    from madoguchi.events import create_bus
    from madoguchi.jobs import Worker
    from madoguchi.kit.migrate import upgrade

    settings = settings_or_exit()
    upgrade(settings)

    async def work() -> None:
        database = Database(settings.sqlalchemy_url)
        bus = create_bus(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await database.analyze(missing_only=True)
            await bus.start()
            typer.echo(f"Madoguchi worker: running the timed work (data: {_where(settings)})")
            await Worker(settings=settings, database=database, bus=bus).run(stop)
        finally:
            await bus.close()
            await database.dispose()
        typer.echo("Madoguchi worker: stopped.")

    asyncio.run(work())


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Where to write the copy.")],
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
) -> None:
    """Copy the embedded SQLite database to FILE while the server runs (SQLite's online backup).
    On PostgreSQL, use pg_dump."""
    from sqlalchemy import make_url

    from madoguchi.kit.backup import BackupError, backup_sqlite

    settings = settings_or_exit()
    if not settings.is_sqlite:
        raise fail(
            "This installation keeps its data in PostgreSQL (DATABASE_URL): back it up with "
            'pg_dump, e.g. pg_dump -Fc -f madoguchi.dump "$DATABASE_URL" (docs/deployment.md).',
            2,
        )
    source = Path(make_url(settings.sqlalchemy_url).database or "")
    try:
        made = backup_sqlite(source, file, replace=force)
    except BackupError as error:
        raise fail(str(error)) from None
    typer.echo(f"Backed up the database to {made.path} ({made.bytes / 1_000_000:.1f} MB).")
    typer.echo(f"Uploaded files are not in it: copy {settings.files_dir} as well.")


def _where(settings: Settings) -> str:
    return str(settings.data_dir.resolve()) if settings.is_sqlite else "DATABASE_URL"


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from madoguchi.kit.migrate import upgrade

    settings = settings_or_exit()
    upgrade(settings)
    typer.echo(f"The database is up to date ({_where(settings)}).")


@app.command()
def demo(
    scale: Annotated[
        int | None,
        typer.Option(min=1, help="Make N contacts with conversation histories, fast (benchmarks)."),
    ] = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Only when the database has no members yet.")
    ] = False,
) -> None:
    """Load realistic Japanese demo data (a salon with members, contacts and conversations)."""
    from madoguchi import demo as demo_data
    from madoguchi.members import service as members

    settings = settings_or_exit()
    if if_empty:
        count = run_command(settings, lambda ctx: members.count_members(ctx.db))
        if count:
            return
    if scale is not None:

        async def load(ctx: Ctx) -> demo_data.ScaleResult:
            made = await demo_data.load_scale(ctx, contacts=scale)
            await ctx.db.commit()
            # Fresh statistics, so the first requests on the new data walk the right indexes.
            database = Database(settings.sqlalchemy_url, pool=False)
            try:
                await database.analyze()
            finally:
                await database.dispose()
            return made

        made = run_command(settings, load)
        typer.echo(f"Made {made.contacts} contacts with {made.messages} messages.")
        return
    result = run_command(settings, demo_data.load_demo)
    typer.echo("")
    typer.secho(f"Demo data loaded. Sign in at {settings.base_url} with:", bold=True)
    typer.echo(f"  e-mail:   {result.owner_email}")
    typer.echo(f"  password: {result.owner_password}")
    typer.echo("")


@stats_app.command("rebuild")
def stats_rebuild() -> None:
    """Count the statistics again from every stored message (after an upgrade, or after the
    opening hours or the time zone changed). Running it twice gives the same numbers."""
    from madoguchi.stats import service as stats

    rebuilt = run_command(settings_or_exit(), stats.rebuild)
    typer.echo(
        f"Statistics rebuilt: {rebuilt.conversations} conversations "
        f"from {rebuilt.messages} messages."
    )


@member_app.command("create")
def member_create(
    email: str,
    name: Annotated[str, typer.Option(help="The name colleagues see.")],
    role: Annotated[str, typer.Option(help="owner, admin or agent.")] = "agent",
    password: Annotated[
        str | None, typer.Option(help="At least 8 characters; one is generated when left out.")
    ] = None,
) -> None:
    """Create a member who can sign in to the inbox."""
    from madoguchi.kit.security import new_password
    from madoguchi.members import service as members

    generated = password is None
    secret = password or new_password()
    member = run_command(
        settings_or_exit(),
        lambda ctx: members.create_member(ctx, email=email, name=name, role=role, password=secret),
    )
    typer.echo(f"Member {member.id} created: {member.email} ({member.role}).")
    if generated:
        typer.echo(f"Password: {secret}")


@token_app.command("create")
def token_create(
    email: str,
    name: Annotated[str, typer.Option(help="What the token is for.")] = "",
) -> None:
    """Print a new API token for a member (shown once; only its hash is stored)."""
    from madoguchi.members import service as members

    async def action(ctx: Ctx) -> str:
        member = await members.get_member_by_email(ctx.db, email=email)
        return await members.create_token(
            ctx, member=member, name=name or members.COMMAND_LINE_TOKEN
        )

    typer.echo(run_command(settings_or_exit(), action))


@token_app.command("list")
def token_list(
    email: Annotated[str | None, typer.Argument(help="Only this member's tokens.")] = None,
) -> None:
    """List API tokens (never their secrets): id, member, name, created, last used."""
    from madoguchi.members import service as members

    async def action(ctx: Ctx) -> list[members.TokenRow]:
        if email is None:
            return await members.list_tokens(ctx.db)
        member = await members.get_member_by_email(ctx.db, email=email)
        return await members.list_tokens(ctx.db, member_ids=[member.id])

    rows = run_command(settings_or_exit(), action)
    if not rows:
        typer.echo("No API tokens.")
        return
    typer.echo("ID\tMEMBER\tNAME\tCREATED\tLAST USED")
    for row in rows:
        token = row.token
        used = token.last_used_at.isoformat(timespec="minutes") if token.last_used_at else "never"
        created = token.created_at.isoformat(timespec="minutes")
        typer.echo(f"{token.id}\t{row.member.email}\t{token.name or '-'}\t{created}\t{used}")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Revoke an API token: it answers 401 from now on."""
    from madoguchi.members import service as members

    token = run_command(
        settings_or_exit(), lambda ctx: members.revoke_token(ctx, token_id=token_id)
    )
    typer.echo(f"Token {token.id} ({token.name or 'unnamed'}) revoked.")


@webhooks_app.command("list")
def webhooks_list() -> None:
    """Bodies a channel sent that are kept but not yet stored: id, channel, kind, received,
    attempts. The worker stores one a minute after it came; after 10 failed attempts it is
    left here (the log says why) until ``madoguchi webhooks retry``."""
    from madoguchi.connectors import webhooks

    bodies = run_command(settings_or_exit(), webhooks.kept)
    if not bodies:
        typer.echo("No webhook bodies are waiting.")
        return
    typer.echo("ID\tCHANNEL\tKIND\tRECEIVED\tATTEMPTS")
    for body in bodies:
        received = body.received_at.isoformat(timespec="seconds")
        given_up = " (given up)" if body.attempts >= webhooks.MAX_ATTEMPTS else ""
        typer.echo(
            f"{body.id}\t{body.channel_id}\t{body.kind}\t{received}\t{body.attempts}{given_up}"
        )


@webhooks_app.command("retry")
def webhooks_retry(body_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Give a kept body to the worker again (once what made it fail is mended): the next tick of
    a running worker stores it."""
    from madoguchi.connectors import webhooks

    run_command(settings_or_exit(), lambda ctx: webhooks.retry(ctx, body_id))
    typer.echo(f"Webhook body {body_id} goes to the worker again.")


@member_app.command("reset-password")
def member_reset_password(email: str) -> None:
    """Print a one-time password for a member (such as an owner who forgot theirs): they are
    signed out everywhere and choose their own at their next sign-in."""
    from madoguchi.members import service as members

    async def action(ctx: Ctx) -> str:
        member = await members.get_member_by_email(ctx.db, email=email)
        return await members.reset_password(ctx, member_id=member.id, actor=None)

    password = run_command(settings_or_exit(), action)
    typer.echo(f"One-time password: {password}")
    typer.echo("At their next sign-in they choose their own.")


@channel_app.command("create")
def channel_create(
    kind: Annotated[str, typer.Argument(help="api, web, line, instagram or email.")],
    name: Annotated[str, typer.Option(help="The name members see.")],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="A setting as KEY=VALUE (repeatable)."),
    ] = None,
) -> None:
    """Create a channel and print its id."""
    from madoguchi.channels import service as channels

    settings: dict[str, str] = {}
    for pair in set_ or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise fail(f"--set takes KEY=VALUE, not {pair!r}.", 2)
        settings[key.strip()] = value
    channel = run_command(
        settings_or_exit(),
        lambda ctx: channels.create_channel(ctx, kind=kind, name=name, settings=settings),
    )
    typer.echo(channel.id)


@contacts_app.command("readings")
def contacts_readings() -> None:
    """Suggest a reading (フリガナ) for every contact without one, from their name: contacts
    from before readings existed. Prints how many got one."""
    from madoguchi.contacts import service as contacts

    filled = run_command(settings_or_exit(), contacts.fill_readings)
    typer.echo(f"{filled} contacts got a reading.")


@import_app.command("contacts")
def import_contacts(
    file: Annotated[Path, typer.Argument(help="A .csv (UTF-8 or Shift_JIS) or .xlsx file.")],
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="COLUMN=TARGET (repeatable); TARGET is display_name, reading, email, phone, "
            "external_id, tags, status, mail_opt_in, memo or field:<key>.",
        ),
    ] = None,
    encoding: Annotated[str, typer.Option(help="auto, utf-8 or cp932.")] = "auto",
) -> None:
    """Import contacts; a row matching an existing contact (external_id, e-mail or phone)
    updates it. Every rejected row is listed; the exit status is 1 when any was rejected."""
    from rich.progress import Progress

    from madoguchi.contacts import transfer
    from madoguchi.crm import fields

    if not file.is_file():
        raise fail(f"No such file: {file}", 2)
    explicit: dict[str, str] = {}
    for pair in map_ or []:
        column, sep, target = pair.partition("=")
        if not sep or not column.strip() or not target.strip():
            raise fail(f"--map takes COLUMN=TARGET, not {pair!r}.", 2)
        explicit[column.strip()] = target.strip()

    async def action(ctx: Ctx) -> transfer.ImportResult:
        table = transfer.read_table(file.name, file.read_bytes(), encoding)
        try:
            transfer.check_columns(table.headers, explicit)
        except DomainError as error:
            raise fail(str(error), 2) from None
        mapping = transfer.auto_mapping(table.headers, await fields.list_fields(ctx.db), explicit)
        columns = ", ".join(f"{table.headers[i]} → {t}" for i, t in mapping.items())
        typer.echo(f"Columns: {columns}", err=True)
        with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
            task = progress.add_task("Importing", total=len(table.rows))
            return await transfer.import_contacts(
                ctx,
                table,
                mapping=mapping,
                progress=lambda done: progress.update(task, completed=done),
            )

    result = run_command(settings_or_exit(), action)
    for rejected in result.rejected:
        typer.secho(f"line {rejected.line}: {rejected.reason}", err=True, fg=typer.colors.RED)
    typer.echo(
        f"{result.created} created, {result.updated} updated, {len(result.rejected)} rejected "
        f"({result.total} rows)."
    )
    if result.rejected:
        raise typer.Exit(1)


Encoding = Annotated[str, typer.Option(help="utf-8 (with a BOM, for Excel) or cp932 (Shift_JIS).")]


def _export(
    file: Path, encoding: str, noun: str, write: Callable[[Ctx, io.StringIO], Awaitable[int]]
) -> None:
    """Write what ``write`` puts in a CSV to ``file`` in the encoding, and say how many."""
    from madoguchi.kit import spreadsheet

    if encoding not in spreadsheet.CSV_ENCODINGS:
        raise fail("--encoding is utf-8 or cp932.", 2)

    async def action(ctx: Ctx) -> tuple[int, spreadsheet.EncodedCsv]:
        buffer = io.StringIO()
        written = await write(ctx, buffer)
        return written, spreadsheet.encode_csv(buffer.getvalue(), encoding)

    written, encoded = run_command(settings_or_exit(), action)
    try:
        file.write_bytes(encoded.data)
    except OSError as error:
        raise fail(f"Cannot write {file}: {error.strerror}.") from None
    typer.echo(f"{written} {noun} written to {file}.")
    if encoded.replaced_cells:
        typer.echo(
            f"Cells where a character Shift_JIS cannot hold (an emoji, a rare kanji) is written "
            f"as {spreadsheet.STAND_IN}: {encoded.replaced_cells}.",
            err=True,
        )


@export_app.command("records")
def export_records(
    file: Annotated[Path, typer.Argument(help="The .csv file to write.")],
    encoding: Encoding = "utf-8",
) -> None:
    """Write every record (カルテ) with its contact, book, date and fields to a CSV file."""
    from madoguchi.contacts import transfer

    _export(file, encoding, "records", transfer.export_records)


@export_app.command("contacts")
def export_contacts(
    file: Annotated[Path, typer.Argument(help="The .csv file to write.")],
    encoding: Encoding = "utf-8",
) -> None:
    """Write every contact with tags, status and profile fields to a CSV file."""
    from rich.progress import Progress

    from madoguchi.contacts import transfer

    async def write(ctx: Ctx, out: io.StringIO) -> int:
        total = await transfer.count_contacts(ctx)
        with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
            task = progress.add_task("Exporting", total=total)
            return await transfer.export_contacts(
                ctx, out, progress=lambda done: progress.update(task, completed=done)
            )

    _export(file, encoding, "contacts", write)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
