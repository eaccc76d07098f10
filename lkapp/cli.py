"""The ``flask --app lkapp ...`` commands (names are stable: operators and tests use them)."""

from __future__ import annotations

import os
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.exc import DBAPIError, OperationalError

from .extensions import db
from .services.mail import KEPT_DAYS

users_cli = AppGroup("users", help="Manage accounts.")
contracts_cli = AppGroup("contracts", help="Contracts and confirmation codes.")
outbox_cli = AppGroup("outbox", help="The mail outbox.")
import_cli = AppGroup("import", help="Import the billing system's CSV files (all or nothing).")
export_cli = AppGroup("export", help="Export data as CSV files (UTF-8 with BOM, ';').")
pdf_cache_cli = AppGroup("pdf-cache", help="The cache of rendered document PDFs.")
uploads_cli = AppGroup("uploads", help="The billing files uploaded in the back office.")


def register(app: Flask) -> None:
    for group in (
        users_cli,
        contracts_cli,
        outbox_cli,
        import_cli,
        export_cli,
        pdf_cache_cli,
        uploads_cli,
    ):
        app.cli.add_command(group)
    app.cli.add_command(demo)
    app.cli.add_command(notify)
    if os.path.basename(sys.argv[0]) == "flask":
        sys.excepthook = _database_errors_in_one_line


def _database_errors_in_one_line(kind, error, traceback):
    """An unreachable or broken database is an operator's problem: say so, no traceback."""
    if isinstance(error, (OperationalError, DBAPIError)):
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
        click.echo(f"Error: the database cannot be used ({reason})", err=True)
        sys.exit(1)
    sys.__excepthook__(kind, error, traceback)


@click.command("demo")
@with_appcontext
@click.option("--contracts", default=40, show_default=True, help="How many contracts.")
@click.option("--years", default=2, show_default=True, help="Years of history.")
@click.option("--seed", default=1, show_default=True, help="Random seed (same seed, same data).")
@click.option("--if-empty", is_flag=True, help="Do nothing (exit 0) when data exist already.")
def demo(contracts: int, years: int, seed: int, if_empty: bool) -> None:
    """Fill an empty database with realistic demo data and print the demo logins."""
    from .database import database_is_empty
    from .services import demo as demo_data

    if contracts < 2 or years < 1:
        raise click.BadParameter("need at least 2 contracts and 1 year")
    if current_app.config["ENV"] == "production":
        # Its accounts have published passwords; the staff one would be anyone's who signs
        # in first and sets up two-factor sign-in.
        raise click.ClickException(
            "demo data are not loaded with LKAPP_ENV=production: their passwords are published"
        )
    if not database_is_empty():
        if if_empty:
            click.echo("The database holds data already; demo data not loaded.")
            click.echo(demo_data.LOGINS_TEXT)
            return
        raise click.ClickException("the database is not empty; demo data go only into an empty one")
    summary = demo_data.generate(contracts=contracts, years=years, seed=seed, progress=True)
    click.echo(summary)
    click.echo(demo_data.LOGINS_TEXT)


@click.command("notify")
@with_appcontext
@click.option(
    "--date",
    "day",
    metavar="YYYY-MM-DD",
    help="Act as if today were this day (default: today in LKAPP_TIMEZONE). Another day than "
    "today needs --other-day.",
)
@click.option(
    "--other-day",
    is_flag=True,
    help="Allow a --date other than today, for tests and demos: the run still reads today's "
    'payments, so customers may be mailed wrong notices (a past day: "debt cleared" for a '
    'debt they have; a later one: "overdue" for an invoice not due yet).',
)
def notify(day: str | None, other_day: bool) -> None:
    """Daily: debt appeared / cleared notices, reading-window reminders; sends the outbox.

    A missed day needs no run of its own: today's run mails whatever changed since the last
    one."""
    from datetime import date

    from .domain.csvformat import FIRST_YEAR, LAST_YEAR
    from .electricity.services import local_today
    from .services import notify as notices
    from .services.mail import mail_configured

    today = None
    if day:
        try:
            today = date.fromisoformat(day.strip())
        except ValueError:
            raise click.BadParameter("use YYYY-MM-DD", param_hint="--date") from None
        if not FIRST_YEAR <= today.year <= LAST_YEAR:
            raise click.BadParameter(
                f"use a day from {FIRST_YEAR} to {LAST_YEAR}", param_hint="--date"
            )
        if today != local_today() and not other_day:
            raise click.BadParameter(
                f"{today.isoformat()} is not today ({local_today().isoformat()}): the run "
                "compares today's payments with that day's due dates and may mail customers "
                "wrong notices. A missed day needs no run of its own: run without --date. "
                "To run it anyway (tests, demos), add --other-day.",
                param_hint="--date",
            )
    summary = notices.run_daily(today)
    click.echo(str(summary))
    if not mail_configured():
        click.echo("No mail server configured (LKAPP_MAIL_SERVER): the mail stays in the outbox.")
    if summary.failed:
        sys.exit(1)


@users_cli.command("create-staff")
@click.argument("email")
@click.option("--admin", is_flag=True, help="An administrator rather than an operator.")
def create_staff(email: str, admin: bool) -> None:
    """Create a staff account; the password comes from LKAPP_NEW_PASSWORD or a prompt."""
    from email_validator import EmailNotValidError, validate_email
    from flask_babel import force_locale

    from .auth.forms import password_messages
    from .auth.services import find_user_by_email, normalize_email
    from .domain.passwords import password_problems
    from .models import User, utcnow
    from .security import hash_password
    from .services import audit

    email = normalize_email(email)
    try:  # the check of the web forms (wtforms' Email)
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        raise click.BadParameter(f"not an email address: {error}", param_hint="EMAIL") from None
    if find_user_by_email(email) is not None:
        raise click.ClickException(f"an account with the email {email} exists already")
    password = os.environ.get("LKAPP_NEW_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    problems = password_problems(password, email=email)
    if problems:
        with force_locale("en"):  # an operator's command speaks English, as its others do
            reasons = " ".join(password_messages(problems))
        raise click.ClickException("the password is not accepted: " + reasons)
    user = User(
        email=email,
        password_hash=hash_password(password),
        name=email.split("@")[0],
        role="admin" if admin else "staff",
        confirmed_at=utcnow(),
    )
    db.session.add(user)
    db.session.flush()
    audit.record("user.staff_created", obj=user, role=user.role)
    db.session.commit()
    click.echo(f"Created {user.role} account {email}.")


@contracts_cli.command("issue-code")
@click.argument("number")
@click.option("--representative", default="", help="Name of the representative receiving it.")
@click.option("--poa", default="", help="Number of the representative's power of attorney.")
def issue_code(number: str, representative: str, poa: str) -> None:
    """Issue a confirmation code for contract NUMBER; prints the code alone on the last line."""
    from .database import lock_row
    from .electricity.services import find_contract, issue_code_record
    from .models import Contract

    representative, poa = " ".join(representative.split()), poa.strip()
    if bool(representative) != bool(poa):
        raise click.UsageError("--representative and --poa go together")
    # The limits of the office's form (and of the columns).
    if len(representative) > 200:
        raise click.BadParameter("at most 200 characters", param_hint="--representative")
    if len(poa) > 60:
        raise click.BadParameter("at most 60 characters", param_hint="--poa")
    contract = find_contract(number)
    if contract is None:
        raise click.ClickException(f"no contract with the number {number}")
    # Read again and held to the commit, as the office's form does: a customer attaching with
    # the old code meanwhile is waited for, and seen.
    contract = lock_row(Contract, contract.id)
    if contract.account_id is not None:
        # Detaching withdraws every unused code: one issued now could never be used.
        raise click.ClickException(
            f"contract {number} is attached to an account: detach it first, then issue the code"
        )
    code, record = issue_code_record(
        contract,
        issued_by_label="cli",
        representative=representative,
        power_of_attorney=poa,
    )
    db.session.commit()
    receiver = (
        f"representative {record.representative_name} (power of attorney "
        f"{record.power_of_attorney})"
        if record.received_by == "representative"
        else "the holder"
    )
    click.echo(f"Valid until {record.expires_at:%Y-%m-%d %H:%M} UTC; for {receiver}.")
    click.echo(f"Confirmation code for contract {contract.number} ({contract.holder_name}):")
    click.echo(code)


@outbox_cli.command("send")
def outbox_send() -> None:
    """Send the mail waiting in the outbox (run from cron or a systemd timer)."""
    from .services.mail import mail_configured, send_pending

    if not mail_configured():
        raise click.ClickException(
            "no mail server configured (LKAPP_MAIL_SERVER); mail stays queued"
        )
    delivery = send_pending()
    click.echo(
        f"Sent {delivery.sent} message(s); {delivery.kept} failed and stay in the outbox for a "
        f"later try; {delivery.given_up} given up (see the log)."
    )
    if delivery.kept or delivery.given_up:
        sys.exit(1)


@outbox_cli.command("prune")
@click.option(
    "--days", type=click.IntRange(min=7), default=KEPT_DAYS, show_default=True,
    help="Delete the mail sent or given up more than this many days ago.",
)  # fmt: skip
def outbox_prune(days: int) -> None:
    """Delete mail sent (or given up) more than N days ago from the outbox (run daily: cron or
    systemd timer); mail still waiting to be sent stays."""
    from datetime import timedelta

    from .services.mail import prune_outbox

    removed = prune_outbox(timedelta(days=days))
    click.echo(f"Deleted {removed} mail(s) sent or given up more than {days} days ago.")


@pdf_cache_cli.command("prune")
@click.option(
    "--days", type=click.IntRange(min=1), default=90, show_default=True,
    help="Delete the PDFs not downloaded for this many days.",
)  # fmt: skip
def pdf_cache_prune(days: int) -> None:
    """Delete cached PDFs nobody has downloaded for a while (run daily: cron or systemd timer);
    they are rendered again when next asked for."""
    from datetime import timedelta

    from .services.pdf import instance_cache_dir, prune_cache

    try:
        removed, freed = prune_cache(instance_cache_dir(), timedelta(days=days))
    except OSError as error:  # a cache that cannot be pruned grows unnoticed: say so, exit 1
        raise click.ClickException(f"cannot prune {error.filename}: {error.strerror}") from None
    click.echo(
        f"Deleted {removed} PDF(s) not downloaded for {days} days ({freed / 1_000_000:.1f} MB)."
    )


@uploads_cli.command("prune")
@click.option(
    "--days", type=click.IntRange(min=1), default=30, show_default=True,
    help="Delete the uploaded files older than this many days.",
)  # fmt: skip
def uploads_prune(days: int) -> None:
    """Delete billing files uploaded in the back office once they are older than N days (run
    daily: cron or systemd timer); their imports' counts and error reports stay."""
    from datetime import timedelta

    from .staff.imports import prune_uploads

    try:
        removed, freed = prune_uploads(timedelta(days=days))
    except OSError as error:
        raise click.ClickException(f"cannot prune {error.filename}: {error.strerror}") from None
    click.echo(
        f"Deleted {removed} uploaded file(s) older than {days} days ({freed / 1_000_000:.1f} MB)."
    )


# --- billing exchange: import and export ---------------------------------------------------


class _ProgressBars:
    """One progress bar per phase of an import ("checking", "writing") on stderr (a terminal:
    cron and pipes get no bar)."""

    def __init__(self):
        self.bar = None
        self.phase = ""
        self.shown = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase != self.phase:
            self.close()
            self.phase, self.shown = phase, 0
            self.bar = click.progressbar(
                length=max(total, 1),
                label=phase.capitalize().ljust(8),
                file=sys.stderr,
                show_pos=True,
            )
            self.bar.__enter__()
        if total > self.bar.length:
            self.bar.length = total
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _run_import(kind: str, file: str, lines: str | None, dry_run: bool) -> None:
    from .services.billing import ImportAborted, create_job, file_names, run_import

    shown = " + ".join(name for name in file_names(file, lines) if name)
    job_id = None if dry_run else create_job(kind, file, filename=shown)
    bars = _ProgressBars() if sys.stderr.isatty() else None
    try:
        report = run_import(kind, file, lines, job=job_id, progress=bars, dry_run=dry_run)
    except ImportAborted as error:
        raise click.ClickException(str(error)) from None
    finally:
        if bars is not None:
            bars.close()
    for warning in report.warnings.items:
        click.echo(f"Warning: {warning}", err=True)
    if report.warnings.count > len(report.warnings.items):
        hidden = report.warnings.count - len(report.warnings.items)
        click.echo(f"Warning: ... and {hidden:,} more warning(s)", err=True)
    if not report.ok:
        for problem in report.errors.items:
            click.echo(str(problem), err=True)
        if report.errors.count > len(report.errors.items):
            hidden = report.errors.count - len(report.errors.items)
            click.echo(f"... and {hidden:,} more error(s)", err=True)
        click.echo(f"Error: {report.summary()}", err=True)
        sys.exit(1)
    click.echo(report.summary())


def _import_command(kind: str, lines: bool = False) -> click.Command:
    def command(file: str, dry_run: bool, lines: str | None = None) -> None:
        _run_import(kind, file, lines, dry_run)

    from .services.billing.engine import IMPORTERS

    columns = ", ".join(IMPORTERS[kind].columns)
    command.__doc__ = (
        f"Import {kind} from FILE (CSV: UTF-8, ';' or ',', a header row).\n\n"
        f"Columns, in any order: {columns}. Every row is checked first; any error, and "
        "nothing is written."
    )
    command = click.option(
        "--dry-run", is_flag=True, help="Check every row and report; write nothing."
    )(command)
    if lines:
        command = click.option(
            "--lines",
            type=click.Path(exists=True, dir_okay=False),
            help="The documents' lines: document_kind, document_number, description, kwh, "
            "tariff, amount.",
        )(command)
    command = click.argument("file", type=click.Path(exists=True, dir_okay=False))(command)
    return import_cli.command(kind, short_help=f"Import {kind} from a CSV file.")(command)


for _kind in ("contracts", "meters", "readings", "documents", "payments"):
    _import_command(_kind, lines=_kind == "documents")


_period_option = click.option(
    "--period", required=True, metavar="YYYY-MM", help="The month to export."
)


def _parse_period(text: str):
    from .domain.csvformat import CellError, parse_period

    try:
        return parse_period(text.strip())
    except CellError as error:
        raise click.BadParameter(str(error), param_hint="--period") from None


def _export(what: str, writer, period_text: str, out: str | None, decimal_comma: bool) -> int:
    """Write one export to ``out`` (atomically: a temporary file renamed) or to stdout."""
    period = _parse_period(period_text)
    if out is None or out == "-":
        try:
            count = writer(sys.stdout, period, decimal_comma=decimal_comma)
            # Written now, not at exit: a full disk or a closed pipe then fails the export
            # before the readings are marked exported (they were, and the file was empty).
            sys.stdout.flush()
        except OSError as error:
            # What stays buffered goes nowhere: flushed again at exit, it would fail again
            # (a second message, exit code 120). The idiom of Python's docs (signal, SIGPIPE).
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.ClickException(
                f"cannot write to standard output: {error.strerror or error}"
            ) from None
        click.echo(f"Exported {count:,} {what} of {period_text}.", err=True)
        return count
    temporary = f"{out}.part"
    try:
        with open(temporary, "w", encoding="utf-8", newline="") as handle:
            count = writer(handle, period, decimal_comma=decimal_comma)
        os.replace(temporary, out)
    except OSError as error:
        raise click.ClickException(f"cannot write {out}: {error.strerror or error}") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    click.echo(f"Exported {count:,} {what} of {period_text} to {out}.")
    return count


_out_option = click.option(
    "--out", type=click.Path(dir_okay=False), help="The file to write (default: standard output)."
)
_comma_option = click.option(
    "--decimal-comma", is_flag=True, help="Write amounts with a decimal comma (12,50)."
)


@export_cli.command("documents")
@_period_option
@_out_option
@click.option(
    "--lines", "lines_out", type=click.Path(dir_okay=False), help="Also write their lines here."
)
@_comma_option
def export_documents_command(
    period: str, out: str | None, lines_out: str | None, decimal_comma: bool
) -> None:
    """Export the documents of billing period YYYY-MM (the import's columns)."""
    from .services.billing import export_document_lines, export_documents

    _export("document(s)", export_documents, period, out, decimal_comma)
    if lines_out:
        _export("document line(s)", export_document_lines, period, lines_out, decimal_comma)


@export_cli.command("payments")
@_period_option
@_out_option
@_comma_option
def export_payments_command(period: str, out: str | None, decimal_comma: bool) -> None:
    """Export the payments received in the month YYYY-MM (the import's columns)."""
    from .services.billing import export_payments

    _export("payment(s)", export_payments, period, out, decimal_comma)


@export_cli.command("readings")
@_period_option
@_out_option
@click.option(
    "--all", "everything", is_flag=True, help="Every live reading, also those exported before."
)
@_comma_option
def export_readings_command(
    period: str, out: str | None, everything: bool, decimal_comma: bool
) -> None:
    """Export the accepted readings of month YYYY-MM for billing and mark them exported.

    A second export of the month has only the readings new or corrected since the last one,
    unless --all. The marks are committed only once the file is written; --out never
    replaces a file.
    """
    from .readings.services import export_readings

    if out not in (None, "-") and os.path.exists(out):
        # Each export holds only what is new since the last: replacing an earlier file that
        # billing has not collected yet would lose its readings (they are marked exported).
        raise click.ClickException(
            f"{out} exists (an earlier export billing may not have collected yet); write to "
            "a new file, for example with today's date in its name"
        )

    def writer(handle, month, decimal_comma=False):
        return export_readings(handle, month, everything=everything, decimal_comma=decimal_comma)

    try:
        _export("reading(s)", writer, period, out, decimal_comma)
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
