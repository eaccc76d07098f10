"""A process killed in the middle of an import: nothing half-written, the database usable
afterwards, and the same file imported again exactly once.

Two real processes are killed with SIGKILL while they write (no cleanup code of ours runs):
``flask import documents`` (on a terminal its progress bar says when it writes), and the
gunicorn worker that runs an uploaded file's import in a thread (the job page says so). Staff
see either job "Interrupted" at once: the job records which process ran it, and that process
is gone.
"""

from __future__ import annotations

import http.client
import os
import pty
import re
import select
import signal
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from lkapp.extensions import db
from lkapp.models import AuditEvent, Document, DocumentLine, ImportJob, OutboxMail
from lkapp.services.billing import run_import
from tests.conftest import TEST_PASSWORD, TEST_TOTP_SECRET, wait_for
from tests.system.conftest import BIN, ROOT, WebClient, server_env

CONTRACTS = 200
DOCUMENTS = 25_000  # with one line each: about a second of writing on SQLite
# Rows the write pass has reached when the process is killed: the first batch (5,000 rows,
# billing.engine.BATCH_SIZE) is in the open transaction by then, the last far ahead.
KILL_AT = 6_000


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    """A billing export: contracts, documents and their lines."""
    contracts = ["number;holder_name;tax_id;address;status"] + [
        f"EL-{i:05d};Holder {i} Kft.;{10000000 + i};Pécs, Fő utca {i}.;active"
        for i in range(CONTRACTS)
    ]
    documents = ["contract_number,kind,number,issued_on,period,due_on,net,vat_rate,vat,total"]
    lines = ["document_kind;document_number;description;kwh;tariff;amount"]
    for i in range(DOCUMENTS):
        documents.append(
            f"EL-{i % CONTRACTS:05d},invoice,INV-{i:07d},2024-02-01,2024-01,2024-02-20,"
            "100.00,20,20.00,120.00"
        )
        lines.append(f"invoice;INV-{i:07d};Energy T1;500;0.2;100")
    paths = {}
    for name, rows in (("contracts", contracts), ("documents", documents), ("lines", lines)):
        paths[name] = tmp_path / f"{name}.csv"
        paths[name].write_text("\n".join(rows) + "\n", encoding="utf-8")
    return paths


@pytest.fixture
def contracts(app, files):
    with app.app_context():
        assert run_import("contracts", files["contracts"]).created == CONTRACTS


def stored(app) -> dict:
    """What an import writes (documents, lines, audit events, notices) and its finished jobs."""
    with app.app_context():

        def count(model, *where) -> int:
            return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))

        return {
            "documents": count(Document),
            "lines": count(DocumentLine),
            "audit events": count(AuditEvent),
            "imports completed": count(AuditEvent, AuditEvent.action == "import.completed"),
            "mail": count(OutboxMail),
            "jobs done": count(ImportJob, ImportJob.status == "done"),
        }


def assert_database_usable(database_url: str) -> None:
    """No lock left behind by the dead process; on SQLite the file is consistent too."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(url.database, timeout=0, isolation_level=None) as conn:
            conn.execute("BEGIN IMMEDIATE")  # "database is locked" if a lock were left
            conn.execute("ROLLBACK")
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return
    # The server ends the dead client's backend, and its transaction, when it notices.
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            held = sa.text(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname IN ('documents', 'document_lines') "
                "AND l.mode <> 'AccessShareLock' AND l.pid <> pg_backend_pid()"
            )
            assert wait_for(lambda: conn.execute(held).scalar() == 0), "a lock is still held"
    finally:
        engine.dispose()


# --- the command line ---------------------------------------------------------------------


def import_command(files) -> list[str]:
    return [
        str(BIN / "flask"),
        "--app",
        "lkapp",
        "import",
        "documents",
        str(files["documents"]),
        "--lines",
        str(files["lines"]),
    ]


def wait_until_writing(process: subprocess.Popen, terminal: int, rows: int) -> None:
    """Read the progress bars on the terminal until "Writing" shows ``rows`` done."""
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if select.select([terminal], [], [], 1.0)[0]:
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # EIO: the command closed the terminal (it ended)
                chunk = b""
            if not chunk:
                break
            seen = (seen + chunk)[-4096:]
            shown = re.findall(rb"Writing\s[^\r]*?(\d+)/\d+", seen)
            if shown and int(shown[-1]) >= rows:
                return
        elif process.poll() is not None:
            break
    pytest.fail(f"the import never showed {rows} rows written: {seen[-300:]!r}")


def interrupted_in_the_back_office(client, job_id: int) -> None:
    """The job page and the list of imports call the job interrupted; the page stops polling."""
    page = client.get(f"/staff/imports/{job_id}").text
    assert "Interrupted" in page and "Nothing was written: upload the file again." in page
    assert "data-hx-trigger" not in page
    listed = client.get("/staff/imports").text
    row = re.search(rf">#{job_id}</a></th>.*?</tr>", listed, re.S)
    assert row and "Interrupted" in row.group(0), listed[-2000:]


def test_an_import_killed_while_it_writes_leaves_nothing_and_runs_again_once(
    app, client, make_user, auth, contracts, files, database_url
):
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    before = stored(app)
    terminal, child_end = pty.openpty()  # a terminal: the command draws its progress bars
    process = subprocess.Popen(
        import_command(files),
        cwd=ROOT,
        env=server_env(database_url, None),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=child_end,
        start_new_session=True,
    )
    os.close(child_end)
    try:
        wait_until_writing(process, terminal, KILL_AT)
        os.killpg(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL  # killed, not finished
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        os.close(terminal)

    assert stored(app) == before
    with app.app_context():
        [killed] = db.session.scalars(sa.select(ImportJob).where(ImportJob.kind == "documents"))
        assert killed.status != "done" and killed.created == 0
        assert killed.runner_pid == process.pid
    assert_database_usable(database_url)
    interrupted_in_the_back_office(client, killed.id)

    again = subprocess.run(
        import_command(files),
        cwd=ROOT,
        env=server_env(database_url, None),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    summary = f"documents: {DOCUMENTS:,} created, 0 updated, 0 unchanged ("
    assert again.stdout.startswith(summary), again.stdout
    assert f"{DOCUMENTS:,} document line(s) written" in again.stdout
    after = stored(app)
    assert (after["documents"], after["lines"]) == (DOCUMENTS, DOCUMENTS)
    assert after["imports completed"] == before["imports completed"] + 1
    assert after["jobs done"] == before["jobs done"] + 1


# --- an upload in the back office, its import in a gunicorn worker ------------------------


def sign_in_staff(browser: WebClient, email: str) -> None:
    browser.get("/login")
    step = browser.post("/login", {"email": email, "password": TEST_PASSWORD})
    assert step.status == 302 and "/login/two-factor" in step.location, step.text[:300]
    path = step.location
    browser.get(path)
    done = browser.post(path, {"code": pyotp.TOTP(TEST_TOTP_SECRET).now()})
    assert done.status == 302, done.text[:300]


def upload(browser: WebClient, kind: str, files: dict[str, Path]) -> str:
    """Send the upload form (multipart, which WebClient does not speak); the job page's path."""
    form_path = f"/staff/imports/new/{kind}"
    browser.get(form_path)  # the form's CSRF token
    boundary = uuid.uuid4().hex
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
    body = body.encode() + browser.csrf_token.encode() + b"\r\n"
    for field, path in files.items():
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{path.name}"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        body += path.read_bytes() + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection(browser.host, browser.port, timeout=browser.timeout)
    try:
        conn.request(
            "POST",
            form_path,
            body=body,
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items()),
            },
        )
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 302, response.status
    job_path = response.headers["Location"]
    assert re.fullmatch(r"/staff/imports/\d+", job_path), job_path
    return job_path


def rows_written(page: str) -> int:
    """The rows the job page shows done while it says the data are being written, else 0."""
    if "the data are being written" not in page:
        return 0
    done = re.search(r"([\d,]+) of [\d,]+ rows", page)
    return int(done.group(1).replace(",", "")) if done else 0


def test_a_worker_killed_during_an_uploads_import_leaves_nothing_and_the_job_interrupted(
    app, make_user, contracts, files, database_url, gunicorn_server, tmp_path
):
    make_user(email="op@example.org", role="staff")
    # One worker: the job page is answered by the process running the import (live progress).
    server = gunicorn_server(
        database_url, workers=1, LKAPP_INSTANCE_PATH=str(tmp_path / "instance")
    )
    browser = server.client()
    sign_in_staff(browser, "op@example.org")
    job_path = upload(browser, "documents", {"file": files["documents"], "lines": files["lines"]})
    before = stored(app)  # signed in and uploaded (audited); the import commits only at its end
    [worker] = server.worker_pids()
    reached = wait_for(lambda: rows_written(browser.get(job_path).text) >= KILL_AT, 120, 0.02)
    assert reached, browser.get(job_path).text[-2000:]
    os.kill(worker, signal.SIGKILL)
    assert wait_for(lambda: server.worker_pids() not in ([], [worker]), 60), server.log()

    assert stored(app) == before
    assert_database_usable(database_url)
    job_id = int(job_path.rsplit("/", 1)[1])
    with app.app_context():
        job = db.session.get(ImportJob, job_id)
        assert job.status != "done" and job.created == 0
        assert job.runner_pid == worker
    # The new worker knows nothing of the import but that the process running it is gone.
    page = wait_for(lambda: (r := browser.get(job_path)).status == 200 and r.text, 60)
    assert "Interrupted" in page and "Nothing was written: upload the file again." in page
    assert "data-hx-trigger" not in page  # the page stops polling
