"""A backup restored as the README says gives back the portal of the backup's moment.

The drill of "Deploy on one VPS", steps 6 and 7, on SQLite and PostgreSQL: a portal with a
customer's contracts, documents, payments, readings and a question with an attached scan is
backed up by ``deploy/backup.sh``; then more happens (a payment imported, a reply with another
scan, a reading deleted; on SQLite the last write by a worker killed before it could fold its
log back into the file). The README's restore commands, read from the README itself, run in the
install folder, and the customer signs in to the portal of the backup: every page as it was,
the scan downloads, and nothing written after the backup is left, in the database or on disk.

On PostgreSQL the portal's database and tables belong to its own role, not a superuser, as
step 1 makes them, and the restore runs as that role: the portal must still write afterwards.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from lkapp import create_app
from lkapp.extensions import db
from lkapp.models import Attachment, Contract, Meter, Payment, Reading
from lkapp.services import demo
from tests.conftest import AuthActions, Client, _test_config, text_of
from tests.system.conftest import ROOT

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
CONTRACT = "EL-0000001"  # the demo customer's first contract
PAGES = (
    "/",
    "/electricity",
    f"/electricity/{CONTRACT}",
    f"/electricity/{CONTRACT}/documents",
    f"/electricity/{CONTRACT}/payments",
    f"/electricity/{CONTRACT}/readings",
    "/support/questions",
)


def readme_restore() -> dict[str, str]:
    """The shell commands of step 7 ("Restore"), by what they restore."""
    readme = " ".join((ROOT / "README.md").read_text().split())
    step = readme.split("7. Restore:")[1].split("8. Update to a new version")[0]
    commands = re.findall(r"`([^`]*/var/backups/lkapp/lkapp-<time>[^`]*)`", step)
    found = {
        "sqlite": [c for c in commands if ".sqlite3" in c],
        "postgresql": [c for c in commands if c.startswith("pg_restore ")],
        "attachments": [c for c in commands if "attachments.tar.gz" in c],
    }
    assert all(len(found[k]) == 1 for k in found), found
    return {k: v[0] for k, v in found.items()}


class Portal:
    """An installed portal: ``srv`` (as /srv/lkapp, with ``instance/``), its settings (``env``,
    as /etc/lkapp/env gives them) and the app the workers run."""

    def __init__(self, srv: Path, env: dict, url: str):
        self.srv = srv
        self.env = env
        self.url = url
        self.app = None

    def start(self):
        self.app = create_app(_test_config(self.url))
        self.app.test_client_class = Client
        return self.app

    def stop(self) -> None:
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()

    def shell(self, command: str) -> subprocess.CompletedProcess:
        """A command as the operator types it, in /srv/lkapp with the portal's settings."""
        return subprocess.run(
            ["bash", "-c", command], cwd=self.srv, env=self.env, capture_output=True, text=True
        )


@pytest.fixture
def portal(backend, request, tmp_path, monkeypatch):
    srv = tmp_path / "srv"
    instance = srv / "instance"
    instance.mkdir(parents=True, mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LKAPP_")}
    env.update(LKAPP_INSTANCE_PATH=str(instance), BACKUP_DIR=str(tmp_path / "backups"))
    for name in [name for name in os.environ if name.startswith("LKAPP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LKAPP_INSTANCE_PATH", str(instance))
    if backend == "sqlite":
        # No LKAPP_DATABASE_URL: the default database, instance/lkapp.sqlite3.
        portal = Portal(srv, env, f"sqlite:///{instance / 'lkapp.sqlite3'}")
        with portal.start().app_context():
            upgrade()
        portal.stop()
        yield portal
        return
    # Step 1: a role for the portal (no superuser) and a database it owns; step 3 migrates.
    cluster = request.getfixturevalue("pg_cluster")
    role = name = f"portal_restore_{os.getpid()}"
    cluster.admin(f"CREATE ROLE {role} LOGIN")
    cluster.admin(f"CREATE DATABASE {name} OWNER {role} TEMPLATE template0")
    url = f"postgresql+psycopg://{role}@/{name}?host={cluster.root}&port={cluster.port}"
    env["LKAPP_DATABASE_URL"] = url
    portal = Portal(srv, env, url)
    try:
        with portal.start().app_context():
            upgrade()
        portal.stop()
        yield portal
    finally:
        cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cluster.admin(f"DROP ROLE {role}")


def back_up(portal: Portal) -> Path:
    """Step 6: ``deploy/backup.sh`` with the portal's settings; the backup's ``lkapp-<time>``."""
    backup = subprocess.run(
        ["bash", "deploy/backup.sh"], cwd=ROOT, env=portal.env, capture_output=True, text=True
    )
    assert backup.returncode == 0, backup.stderr
    archive, database = (Path(line) for line in backup.stdout.strip().splitlines()[-2:])
    stamp = database.parent / database.name.split(".")[0]
    assert archive == Path(f"{stamp}-attachments.tar.gz")
    return stamp


def restore(portal: Portal, backend: str, stamp: Path) -> None:
    """Step 7, the portal stopped: the README's commands, as they are written there."""
    commands = readme_restore()
    for kind in (backend, "attachments"):
        command = commands[kind].replace("/var/backups/lkapp/lkapp-<time>", str(stamp))
        restored = portal.shell(command)
        assert restored.returncode == 0, (command, restored.stderr)
        assert restored.stderr == "", (command, restored.stderr)


def signed_in(app) -> Client:
    client = app.test_client()
    AuthActions(client).login(demo.CUSTOMER_EMAIL, demo.CUSTOMER_PASSWORD)
    return client


def what_the_customer_sees(client: Client, reference: str, attachment_id: int) -> dict:
    seen = {}
    for path in (*PAGES, f"/support/questions/{reference}"):
        response = client.get(path)
        assert response.status_code == 200, path
        seen[path] = text_of(response.get_data(as_text=True))
    download = client.get(f"/support/attachments/{attachment_id}")
    seen["attachment"] = (download.status_code, download.data)
    return seen


def test_a_backup_restored_as_the_readme_says_is_the_portal_of_that_moment(portal, backend):
    readme_restore()  # the README has the commands, before the test takes its time
    app = portal.start()
    with app.app_context():
        demo.generate(contracts=2, years=1, seed=7)
    client = signed_in(app)
    asked = client.post(
        "/support/ask",
        data={
            "subject": "documents",
            "contract": "",
            "question": "The meter, photographed.",
            "files": [(BytesIO(PDF + b"meter"), "meter.pdf")],
        },
        content_type="multipart/form-data",
    )
    assert asked.status_code == 302, asked.get_data(as_text=True)[:2000]
    reference = asked.headers["Location"].rsplit("/", 1)[1]
    with app.app_context():
        (scan_id,) = db.session.scalars(sa.select(Attachment.id)).all()
    before = what_the_customer_sees(signed_in(app), reference, scan_id)
    assert before["attachment"] == (200, PDF + b"meter")

    stamp = back_up(portal)  # the daily backup, while the portal runs

    # After the backup: a payment imported, a reply with another scan, a reading deleted.
    payments = portal.srv / "payments.csv"
    payments.write_text(
        "contract_number;paid_on;amount;reference\n"
        f"{CONTRACT};{date.today().replace(day=1)};12345.67;AFTER-BACKUP\n"
    )
    imported = app.test_cli_runner().invoke(args=["import", "payments", str(payments)])
    assert imported.exit_code == 0, imported.output
    replied = client.post(
        f"/support/questions/{reference}/reply",
        data={"body": "And the seal.", "files": [(BytesIO(PDF + b"seal"), "seal.pdf")]},
        content_type="multipart/form-data",
    )
    assert replied.status_code == 302
    with app.app_context():
        seal_id = db.session.scalar(sa.select(sa.func.max(Attachment.id)))
        newest_reading = db.session.scalar(
            sa.select(sa.func.max(Reading.id))
            .join(Meter)
            .join(Contract)
            .where(Contract.number == CONTRACT)
        )
    assert "AFTER-BACKUP" in text_of(client.get(f"/electricity/{CONTRACT}/payments").text)
    assert client.get(f"/support/attachments/{seal_id}").data == PDF + b"seal"
    with app.app_context():
        seal_file = Path(app.instance_path) / db.session.get(Attachment, seal_id).storage_path
    assert seal_file.is_file()

    deleted = "DELETE FROM readings WHERE id = :id"
    if backend == "postgresql":
        with app.app_context():
            assert db.session.execute(sa.text(deleted), {"id": newest_reading}).rowcount == 1
            db.session.commit()
    portal.stop()
    if backend == "sqlite":
        # A worker killed after its last write: its log (-wal) is left beside the database.
        database_path = portal.srv / "instance" / "lkapp.sqlite3"
        killed = subprocess.run(
            [
                sys.executable,
                "-c",
                "import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
                " assert c.execute(sys.argv[2], {'id': sys.argv[3]}).rowcount == 1;"
                " c.commit(); os._exit(0)",
                str(database_path),
                deleted,
                str(newest_reading),
            ],
        )
        assert killed.returncode == 0
        assert Path(f"{database_path}-wal").stat().st_size > 0

    restore(portal, backend, stamp)

    # Started again: the customer signs in to the portal of the backup (a sign-in writes: on
    # PostgreSQL the restored tables are the portal role's own).
    app = portal.start()
    client = signed_in(app)
    after = what_the_customer_sees(client, reference, scan_id)
    for page, seen in before.items():
        assert after[page] == seen, page
    assert "And the seal." not in after[f"/support/questions/{reference}"]
    assert client.get(f"/support/attachments/{seal_id}").status_code == 404
    assert not seal_file.exists()  # no customer's file that no question names any more
    with app.app_context():
        assert db.session.scalar(sa.select(Payment).filter_by(reference="AFTER-BACKUP")) is None
        assert db.session.get(Reading, newest_reading) is not None
    portal.stop()


@pytest.mark.sqlite_only  # the attachments' folder is under test, not the database
def test_a_backup_before_the_first_attachment_takes_the_later_ones_away(portal, backend):
    """Before any customer attached a file, backup.sh wrote no archive: the README's restore
    had none to unpack, and a scan attached after the backup stayed on the disk."""
    stamp = back_up(portal)
    scan = portal.srv / "instance" / "attachments" / ("ab" * 32)
    scan.parent.mkdir()
    scan.write_bytes(PDF)
    restore(portal, backend, stamp)
    assert list((portal.srv / "instance" / "attachments").iterdir()) == []
