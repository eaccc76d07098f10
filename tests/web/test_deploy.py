"""The deployment kit: proxy headers trusted only when configured, the SQLite backup, the
gunicorn workers' garbage collector, the headers of the static files nginx serves and the
systemd units."""

import gc
import os
import re
import runpy
import sqlite3
import subprocess
import tarfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.cli import FlaskGroup, ScriptInfo

from lkapp import create_app
from lkapp.extensions import db
from lkapp.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]


def _failed_login_ip(app, forwarded_for):
    client = app.test_client()
    client.post(
        "/login",
        data={"email": "x@example.com", "password": "whatever it is"},
        headers={"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https"},
    )
    with app.app_context():
        return db.session.scalar(sa.select(AuditEvent.ip).order_by(AuditEvent.id.desc()))


@pytest.mark.sqlite_only
def test_forwarded_for_is_trusted_only_behind_a_configured_proxy(app_config):
    app_config["WTF_CSRF_ENABLED"] = False
    assert _failed_login_ip(create_app(app_config), "203.0.113.9") == "127.0.0.1"
    app_config["TRUSTED_PROXIES"] = 1
    assert _failed_login_ip(create_app(app_config), "203.0.113.9") == "203.0.113.9"


def test_production_behind_an_untrusted_proxy_says_so_once(tmp_path, monkeypatch, caplog):
    """Behind nginx with LKAPP_TRUSTED_PROXIES left at 0, every client is 127.0.0.1: one
    client's failed sign-ins lock everyone out of signing in. The log says how to fix it."""
    for name in [name for name in os.environ if name.startswith("LKAPP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LKAPP_ENV", "production")
    monkeypatch.setenv("LKAPP_SECRET_KEY", "k" * 48)
    monkeypatch.setenv("LKAPP_SERVER_NAME", "my.utility.example")
    monkeypatch.setenv("LKAPP_INSTANCE_PATH", str(tmp_path))
    app = create_app()
    client = app.test_client()
    https = {"base_url": "https://my.utility.example"}
    client.get("/healthz", **https)  # straight to the app: nothing to say
    assert "LKAPP_TRUSTED_PROXIES" not in caplog.text
    for _ in range(2):
        client.get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"}, **https)
    warnings = [r for r in caplog.records if "LKAPP_TRUSTED_PROXIES is 0" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"
    assert "Set LKAPP_TRUSTED_PROXIES=1 behind nginx." in warnings[0].getMessage()
    monkeypatch.setenv("LKAPP_TRUSTED_PROXIES", "1")
    caplog.clear()
    create_app().test_client().get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"}, **https)
    assert "LKAPP_TRUSTED_PROXIES" not in caplog.text


def _backup(tmp_path, **settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LKAPP_")}
    env.update(LKAPP_INSTANCE_PATH=str(tmp_path / "instance"), BACKUP_DIR=str(tmp_path / "backups"))
    env.update(settings)
    return subprocess.run(
        ["bash", "deploy/backup.sh"], cwd=ROOT, env=env, capture_output=True, text=True
    ), env


def test_sqlite_backup_is_a_checked_private_copy_with_the_attachments(tmp_path):
    """The database where the app finds it (a relative URL is in the instance folder), copied
    with the online backup API, and the question attachments, readable by the owner alone."""
    result, env = _backup(tmp_path, LKAPP_DATABASE_URL="sqlite:///portal.sqlite3")
    assert result.returncode != 0  # no database yet
    assert "there is no SQLite database at" in result.stderr
    assert not (tmp_path / "instance" / "portal.sqlite3").exists()  # not created either
    assert list((tmp_path / "backups").iterdir()) == []

    flask = [str(ROOT / ".venv/bin/flask"), "--app", "lkapp"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    attachments = tmp_path / "instance" / "attachments"
    attachments.mkdir()
    (attachments / "ab12").write_bytes(b"a customer's scan")
    result, _ = _backup(tmp_path, LKAPP_DATABASE_URL="sqlite:///portal.sqlite3")
    assert result.returncode == 0, result.stderr
    archive, backup = (Path(line) for line in result.stdout.strip().splitlines()[-2:])
    assert backup.parent == tmp_path / "backups" and backup.suffix == ".sqlite3"
    with sqlite3.connect(backup) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"users", "contracts", "documents"} <= tables
    with tarfile.open(archive) as tar:
        assert tar.extractfile("attachments/ab12").read() == b"a customer's scan"
    assert {path.stat().st_mode & 0o777 for path in (backup, archive)} == {0o600}


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_failed_backup_leaves_nothing_that_looks_like_one(tmp_path, database):
    """A 0-byte "lkapp-<time>.dump" or ".sqlite3" stayed behind, the newest file an operator
    would restore; and the failure was a Python traceback."""
    if database == "sqlite":
        broken = tmp_path / "broken.sqlite3"
        broken.write_bytes(b"not a database, but a file where one should be" * 100)
        url = f"sqlite:///{broken}"
    else:  # nothing listens there
        url = "postgresql://nobody@127.0.0.1:9/lkapp"
    result, _ = _backup(tmp_path, LKAPP_DATABASE_URL=url)
    assert result.returncode != 0
    assert list((tmp_path / "backups").iterdir()) == []
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("backup.sh: ") and last.endswith("; no backup made")
    assert "Traceback" not in result.stderr


def test_gunicorn_workers_put_what_they_loaded_out_of_the_collectors_way(app):
    """Once the app is loaded, a worker freezes it: a full collection then walks only what
    requests made (a 60 ms stall every few hundred requests otherwise, the p99 of table pages).
    """
    config = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    try:
        config["post_worker_init"](None)
        assert gc.get_freeze_count() > 10_000  # the app, its modules and templates
    finally:
        gc.unfreeze()


def test_postgresql_backup_is_a_checked_private_dump(pg_cluster, tmp_path):
    name = f"backup{os.getpid()}"
    pg_cluster.admin(f"CREATE DATABASE {name} TEMPLATE lkapp_template")
    try:
        result, _ = _backup(tmp_path, LKAPP_DATABASE_URL=pg_cluster.url(name))
    finally:
        pg_cluster.admin(f"DROP DATABASE {name} WITH (FORCE)")
    assert result.returncode == 0, result.stderr
    dump = Path(result.stdout.strip().splitlines()[-1])
    assert dump.suffix == ".dump" and dump.stat().st_mode & 0o777 == 0o600
    listing = subprocess.run(["pg_restore", "--list", dump], capture_output=True, text=True)
    assert "TABLE public users" in listing.stdout and "TABLE public contracts" in listing.stdout


SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Permissions-Policy",
    "Cross-Origin-Opener-Policy",
    "Strict-Transport-Security",
)


@pytest.mark.sqlite_only
def test_static_files_carry_the_security_headers_of_the_pages(app_config):
    """nginx serves /static/ itself: its files went out with nosniff alone, without the
    Content-Security-Policy, HSTS and the rest that every response of the app carries."""
    app_config.update(ENV="production", SERVER_NAME="localhost")
    app = create_app(app_config)
    page = app.test_client().get("/login", base_url="https://localhost")
    with app.app_context():
        db.engine.dispose()
    site = (ROOT / "deploy" / "nginx-lkapp.conf").read_text()
    static = re.search(r"\n    location /static/ \{\n(.*?)\n    \}", site, re.DOTALL).group(1)
    added = dict(re.findall(r'^\s*add_header ([\w-]+) "([^"]*)" always;$', static, re.MULTILINE))
    for name in SECURITY_HEADERS:
        assert added.get(name) == page.headers[name], name


def _unit(name):
    """A systemd unit of the kit as {key: [values]} (a key may come several times)."""
    settings = {}
    for line in (ROOT / "deploy" / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


SERVICES = sorted(path.name for path in (ROOT / "deploy").glob("*.service"))
HARDENING = {  # what lkapp.service's settings promise: write access to the instance alone
    "NoNewPrivileges": ["true"],
    "CapabilityBoundingSet": [""],
    "PrivateTmp": ["true"],
    "PrivateDevices": ["true"],
    "ProtectSystem": ["strict"],
    "ProtectHome": ["true"],
    "ProtectKernelTunables": ["true"],
    "ProtectKernelModules": ["true"],
    "ProtectControlGroups": ["true"],
    "RestrictSUIDSGID": ["true"],
    "UMask": ["0077"],
}


@pytest.mark.parametrize("name", SERVICES)
def test_every_unit_runs_as_the_portal_does_with_write_access_to_its_files_alone(name):
    """The timers' jobs run the same code with the same settings as the portal, but could
    write anywhere the lkapp user can (its code too); a migration of more than systemd's
    default 90 s was stopped half-way and started again, without end."""
    unit = _unit(name)
    assert unit["User"] == ["lkapp"] and unit["WorkingDirectory"] == ["/srv/lkapp"]
    assert unit["EnvironmentFile"] == ["/etc/lkapp/env"]
    for key, value in HARDENING.items():
        assert unit.get(key) == value, f"{name}: {key}"
    writable = ["/srv/lkapp/instance"]
    if name == "lkapp-backup.service":
        writable.append(unit["Environment"][0].removeprefix("BACKUP_DIR="))
    assert unit["ReadWritePaths"] == [" ".join(writable)]
    if name == "lkapp.service":
        assert unit["ExecStartPre"] == ["/srv/lkapp/.venv/bin/flask --app lkapp db upgrade"]
        timeout = unit["TimeoutStartSec"][0]
        assert timeout.endswith("min") and int(timeout[:-3]) >= 15
    else:
        assert unit["Type"] == ["oneshot"] and unit.get("TimeoutStartSec"), name
        assert (ROOT / "deploy" / name.replace(".service", ".timer")).exists()


@pytest.mark.sqlite_only
def test_the_units_commands_run_on_a_working_portal(app):
    """Each unit's ``flask`` command (with its options) is one the CLI has, and succeeds."""
    commands = [
        command.removeprefix("/srv/lkapp/.venv/bin/flask --app lkapp ").split()
        for name in SERVICES
        for key in ("ExecStartPre", "ExecStart")
        for command in _unit(name).get(key, [])
        if "/bin/flask " in command
    ]
    assert len(commands) == 6, commands  # db upgrade, notify, outbox send/prune, two prunes
    group = FlaskGroup(create_app=lambda: app)
    for args in commands:
        result = app.test_cli_runner().invoke(group, args, obj=ScriptInfo(create_app=lambda: app))
        assert result.exit_code == 0, (args, result.output)


def test_the_readme_installs_the_fonts_the_pdfs_need():
    """A fresh Debian has no DejaVu fonts: every PDF download of a portal installed as the
    README said failed (a PDF without its font would come out blank, so it is an error)."""
    from lkapp.services.pdf import PdfError, check_fonts

    with pytest.raises(PdfError) as missing:
        check_fonts(ROOT / "no-fonts-here")
    package = re.search(r"install Debian's (\S+)", str(missing.value)).group(1)
    readme = " ".join((ROOT / "README.md").read_text().split())
    requirements = readme.split("Requirements on the machine:")[1].split("Other targets")[0]
    first_step = readme.split("1. Install Python 3.11")[1].split("PostgreSQL: a role")[0]
    for section in (requirements, first_step):
        assert re.search(rf"`sudo apt install [^`]*\b{re.escape(package)}\b[^`]*`", section)


def test_the_readme_installs_the_nginx_site_in_place_of_debians_default():
    """The site answers other host names itself (``default_server``), as Debian's own default
    site does: installed beside it, as the README said nothing of, nginx refused both ("a
    duplicate default server for 0.0.0.0:80") and the portal had no front."""
    site = (ROOT / "deploy" / "nginx-lkapp.conf").read_text()
    assert re.search(r"^\s*listen 80 default_server;", site, re.MULTILINE)
    readme = " ".join((ROOT / "README.md").read_text().split())
    step = readme.split("4. Serve with gunicorn")[1].split("5. The periodic jobs")[0]
    commands = " && ".join(re.findall(r"`(sudo [^`]*)`", step))
    for command in (
        "sudo cp deploy/nginx-lkapp.conf /etc/nginx/sites-available/lkapp",
        "sudo ln -s /etc/nginx/sites-available/lkapp /etc/nginx/sites-enabled/lkapp",
        "sudo rm /etc/nginx/sites-enabled/default",
        "sudo nginx -t",
    ):
        assert command in commands, command
