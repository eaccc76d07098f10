"""The operator's commands: staff accounts, confirmation codes, and clear failures."""

import os
import sqlite3
import subprocess
import sys

import pytest
import sqlalchemy as sa

from lkapp.domain.codes import normalize_code
from lkapp.extensions import db
from lkapp.models import ConfirmationCode, Contract, User
from lkapp.security import verify_password


@pytest.fixture
def contract(app):
    with app.app_context():
        row = Contract(
            number="EL-0000042",
            holder_name="Tisza Bakery Kft.",
            tax_id="12345678-2-42",
            address="Budapest, Fő utca 1.",
        )
        db.session.add(row)
        db.session.commit()
        return row.id


def test_create_staff_reads_password_from_environment(app, runner, monkeypatch):
    monkeypatch.setenv("LKAPP_NEW_PASSWORD", "operator of the night shift")
    result = runner.invoke(args=["users", "create-staff", "Op@Example.org", "--admin"])
    assert result.exit_code == 0, result.output
    assert "Created admin account Op@example.org." in result.output  # the domain lower-cased
    with app.app_context():
        user = db.session.scalar(sa.select(User))
        assert user.role == "admin" and user.confirmed_at is not None
        assert verify_password(user.password_hash, "operator of the night shift")


def test_create_staff_prompts_and_refuses_weak_or_duplicate(app, runner, monkeypatch):
    monkeypatch.delenv("LKAPP_NEW_PASSWORD", raising=False)
    weak = runner.invoke(
        args=["users", "create-staff", "op@example.org"], input="password1234\npassword1234\n"
    )
    assert weak.exit_code == 1
    assert "This password is one of the most common ones and easy to guess." in weak.output
    ok = runner.invoke(
        args=["users", "create-staff", "op@example.org"],
        input="a long staff passphrase\na long staff passphrase\n",
    )
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(
        args=["users", "create-staff", "OP@example.org"],
        input="a long staff passphrase\na long staff passphrase\n",
    )
    assert again.exit_code == 1 and "exists already" in again.output
    for wrong in ("@", "op@", "op@localhost", "op example.org"):  # "@" made a nameless account
        refused = runner.invoke(args=["users", "create-staff", wrong], input="x\nx\n")
        assert refused.exit_code == 2, wrong
        assert "Invalid value for EMAIL: not an email address" in refused.output, wrong
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1


def test_issue_code_prints_code_alone_and_stores_only_its_hash(app, runner, contract):
    first = runner.invoke(args=["contracts", "issue-code", "EL-0000042"])
    assert first.exit_code == 0, first.output
    first_code = first.output.strip().splitlines()[-1]
    assert len(normalize_code(first_code)) >= 10
    second = runner.invoke(
        args=[
            "contracts",
            "issue-code",
            "EL-0000042",
            "--representative",
            "Kovács Anna",
            "--poa",
            "PoA-77/2026",
        ]
    )
    second_code = second.output.strip().splitlines()[-1]
    assert second_code != first_code
    with app.app_context():
        codes = db.session.scalars(sa.select(ConfirmationCode).order_by(ConfirmationCode.id)).all()
        assert len(codes) == 2
        assert codes[0].revoked_at is not None, "a new code revokes the old one"
        assert codes[1].revoked_at is None and codes[1].received_by == "representative"
        assert codes[1].power_of_attorney == "PoA-77/2026"
        assert second_code not in codes[1].code_hash
        assert verify_password(codes[1].code_hash, normalize_code(second_code))
        lifetime = codes[1].expires_at - codes[1].issued_at
        assert lifetime.days == 30


def test_issue_code_errors_are_one_clear_line(runner, contract):
    unknown = runner.invoke(args=["contracts", "issue-code", "EL-9999999"])
    assert unknown.exit_code == 1 and "no contract with the number EL-9999999" in unknown.output
    half = runner.invoke(args=["contracts", "issue-code", "EL-0000042", "--representative", "X"])
    assert half.exit_code == 2 and "--representative and --poa go together" in half.output
    long = runner.invoke(
        args=["contracts", "issue-code", "EL-0000042", "--representative", "X" * 201, "--poa", "1"]
    )
    assert long.exit_code == 2 and "--representative: at most 200 characters" in long.output
    long = runner.invoke(
        args=["contracts", "issue-code", "EL-0000042", "--representative", "X", "--poa", "9" * 61]
    )
    assert long.exit_code == 2 and "--poa: at most 60 characters" in long.output


def _flask(*args, **env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LKAPP_")}
    environment.update(env)
    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "flask"), "--app", "lkapp", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def test_broken_database_url_is_one_line_without_traceback(tmp_path):
    for url in ("not a url", "postgresql+psycopg://nobody@127.0.0.1:1/none"):
        result = _flask("db", "upgrade", LKAPP_DATABASE_URL=url, LKAPP_INSTANCE_PATH=str(tmp_path))
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert result.stderr.strip().count("\n") == 0, result.stderr
        assert result.stderr.startswith("Error:")


def test_production_without_secret_key_refuses_to_start(tmp_path):
    result = _flask("db", "upgrade", LKAPP_ENV="production", LKAPP_INSTANCE_PATH=str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: LKAPP_SECRET_KEY must be set in production"
    assert list(tmp_path.iterdir()) == [], "nothing written"


def test_production_without_server_name_refuses_to_start(tmp_path):
    result = _flask(
        "db",
        "upgrade",
        LKAPP_ENV="production",
        LKAPP_SECRET_KEY="k" * 48,
        LKAPP_INSTANCE_PATH=str(tmp_path),
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Error: LKAPP_SERVER_NAME must be set in production")


def test_upgrade_builds_the_schema_from_scratch(tmp_path):
    result = _flask("db", "upgrade", LKAPP_INSTANCE_PATH=str(tmp_path))
    assert result.returncode == 0, result.stderr
    engine = sa.create_engine(f"sqlite:///{tmp_path}/lkapp.sqlite3")
    tables = set(sa.inspect(engine).get_table_names())
    assert {"users", "contracts", "documents", "payments", "readings", "outbox_mail"} <= tables


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("LKAPP_TIMEZONE", "Europe/Budpest", "is not a time zone"),
        ("LKAPP_RATELIMIT_SIGNIN", "20 per min", "is not a rate limit"),
        ("LKAPP_RATELIMIT_STORAGE_URI", "redis//cache:6379", "cannot be used"),
    ],
)
def test_a_setting_that_would_fail_later_stops_the_start(tmp_path, setting, value, message):
    """A misspelt time zone answered 500 on every page; a misspelt limit turned the sign-in
    limit off with a line in the log per request; a misspelt storage failed every command
    with a traceback."""
    result = _flask("db", "upgrade", LKAPP_INSTANCE_PATH=str(tmp_path), **{setting: value})
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: {setting}") and message in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr


def test_production_mail_needs_a_sender_of_the_utilitys_domain(tmp_path):
    production = {
        "LKAPP_ENV": "production",
        "LKAPP_SECRET_KEY": "k" * 48,
        "LKAPP_SERVER_NAME": "my.utility.example",
        "LKAPP_MAIL_SERVER": "smtp.utility.example",
        "LKAPP_INSTANCE_PATH": str(tmp_path),
    }
    result = _flask("db", "upgrade", **production)
    assert result.returncode == 1
    assert "LKAPP_MAIL_DEFAULT_SENDER must be set in production" in result.stderr
    assert "mail from no-reply@localhost is refused" in result.stderr
    result = _flask("db", "upgrade", LKAPP_TESTING="1", **production)
    assert result.returncode == 1 and "LKAPP_TESTING is not allowed in production" in result.stderr
    sender = "City Power <no-reply@utility.example>"
    result = _flask("db", "upgrade", LKAPP_MAIL_DEFAULT_SENDER=sender, **production)
    assert result.returncode == 0, result.stderr


def test_the_database_url_may_be_set_in_the_instance_config_too(tmp_path):
    """The README lets instance/config.py carry the settings without their prefix; its
    DATABASE_URL was ignored, and the commands ran on an empty instance/lkapp.sqlite3."""
    elsewhere = tmp_path / "elsewhere.sqlite3"
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(f'DATABASE_URL = "sqlite:///{elsewhere}"\n')
    result = _flask("db", "upgrade", LKAPP_INSTANCE_PATH=str(instance))
    assert result.returncode == 0, result.stderr
    assert elsewhere.exists() and not (instance / "lkapp.sqlite3").exists()


def test_two_servers_upgrading_one_postgresql_at_once_both_succeed(pg_cluster, tmp_path):
    """Every app server runs `db upgrade` as it starts (the unit's ExecStartPre): one
    migrates, the other waits and finds the schema up to date. The second failed half-way
    on a type the first had just made, and its unit did not start."""
    name = f"upgrade{os.getpid()}"
    pg_cluster.admin(f"CREATE DATABASE {name}")
    env = {"LKAPP_DATABASE_URL": pg_cluster.url(name), "LKAPP_INSTANCE_PATH": str(tmp_path)}
    command = [os.path.join(os.path.dirname(sys.executable), "flask"), "--app", "lkapp"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LKAPP_")} | env
    try:
        servers = [
            subprocess.Popen(
                [*command, "db", "upgrade"],
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        results = [(server.wait(60), server.stderr.read()) for server in servers]
        assert [code for code, _ in results] == [0, 0], results
        current = _flask("db", "current", **env)
        assert "(head)" in current.stdout, current.stdout + current.stderr
    finally:
        pg_cluster.admin(f"DROP DATABASE {name} WITH (FORCE)")


def test_production_refuses_a_short_secret_key_and_hides_a_database_password(tmp_path):
    short = _flask(
        "db",
        "upgrade",
        LKAPP_ENV="production",
        LKAPP_SECRET_KEY="x",
        LKAPP_SERVER_NAME="my.utility.example",
        LKAPP_INSTANCE_PATH=str(tmp_path),
    )
    assert short.returncode == 1
    assert "LKAPP_SECRET_KEY must have at least 32 characters in production" in short.stderr
    broken = _flask(
        "db",
        "upgrade",
        LKAPP_DATABASE_URL="postgresql//lkapp:s3cret-pass@db.internal/lkapp",
        LKAPP_INSTANCE_PATH=str(tmp_path),
    )
    assert broken.returncode == 1 and "is not a database URL" in broken.stderr
    assert "s3cret-pass" not in broken.stderr and "lkapp:***@db.internal" in broken.stderr


def test_a_readings_export_that_cannot_be_written_marks_nothing_exported(tmp_path):
    """``export readings > file`` on a full disk said "Exported 10 reading(s)", left the file
    empty and marked the readings exported: no later export had them (the output was written
    at exit, after the marks were committed). Run as cron and systemd do, stdout buffered."""
    env = {"LKAPP_INSTANCE_PATH": str(tmp_path), "PYTHONUNBUFFERED": ""}
    assert _flask("db", "upgrade", **env).returncode == 0
    assert _flask("demo", "--contracts", "2", "--years", "1", **env).returncode == 0
    with sqlite3.connect(tmp_path / "lkapp.sqlite3") as connection:
        period, waiting = connection.execute(
            "SELECT substr(period, 1, 7), count(*) FROM readings WHERE status = 'accepted'"
            " GROUP BY 1 ORDER BY 1 DESC"
        ).fetchone()
    assert waiting > 0
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LKAPP_")} | env
    command = [os.path.join(os.path.dirname(sys.executable), "flask"), "--app", "lkapp"]
    with open("/dev/full", "w") as full:  # every write: "No space left on device"
        failed = subprocess.run(
            [*command, "export", "readings", "--period", period],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
            timeout=60,
        )
    assert failed.returncode == 1
    assert failed.stderr == "Error: cannot write to standard output: No space left on device\n"
    again = _flask("export", "readings", "--period", period, **env)
    assert again.returncode == 0, again.stderr
    assert again.stderr.strip() == f"Exported {waiting} reading(s) of {period}."
    assert len(again.stdout.strip().splitlines()) == waiting + 1  # the header
