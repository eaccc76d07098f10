"""The ``flask --app lkapp ...`` commands (names are stable: operators and tests use them)."""

from __future__ import annotations

import os
import sys

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy.exc import DBAPIError, OperationalError

from .extensions import db

users_cli = AppGroup("users", help="Manage accounts.")
contracts_cli = AppGroup("contracts", help="Contracts and confirmation codes.")
outbox_cli = AppGroup("outbox", help="The mail outbox.")


def register(app: Flask) -> None:
    for group in (users_cli, contracts_cli, outbox_cli):
        app.cli.add_command(group)
    app.cli.add_command(demo)
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
    if not database_is_empty():
        if if_empty:
            click.echo("The database holds data already; demo data not loaded.")
            click.echo(demo_data.LOGINS_TEXT)
            return
        raise click.ClickException("the database is not empty; demo data go only into an empty one")
    summary = demo_data.generate(contracts=contracts, years=years, seed=seed, progress=True)
    click.echo(summary)
    click.echo(demo_data.LOGINS_TEXT)


@users_cli.command("create-staff")
@click.argument("email")
@click.option("--admin", is_flag=True, help="An administrator rather than an operator.")
def create_staff(email: str, admin: bool) -> None:
    """Create a staff account; the password comes from LKAPP_NEW_PASSWORD or a prompt."""
    from .auth.services import find_user_by_email
    from .domain.passwords import password_problems
    from .models import User, utcnow
    from .security import hash_password
    from .services import audit

    email = email.strip()
    if "@" not in email:
        raise click.BadParameter("not an email address", param_hint="EMAIL")
    if find_user_by_email(email) is not None:
        raise click.ClickException(f"an account with the email {email} exists already")
    password = os.environ.get("LKAPP_NEW_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    problems = password_problems(password, email=email)
    if problems:
        raise click.ClickException("the password is not accepted: " + ", ".join(problems))
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
    from .electricity.services import find_contract
    from .electricity.services import issue_code as issue

    if bool(representative.strip()) != bool(poa.strip()):
        raise click.UsageError("--representative and --poa go together")
    contract = find_contract(number)
    if contract is None:
        raise click.ClickException(f"no contract with the number {number}")
    code = issue(
        contract,
        issued_by_label="cli",
        representative=representative.strip(),
        power_of_attorney=poa.strip(),
    )
    db.session.commit()
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
    sent, failed = send_pending()
    click.echo(f"Sent {sent} message(s); {failed} failed and stay in the outbox.")
    if failed:
        sys.exit(1)
