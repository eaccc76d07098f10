"""Uploading billing files in the back office: checks before anything is stored, the job page
with its progress and error report, idempotency, size limit, documents with lines."""

from __future__ import annotations

import io
import os
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import AuditEvent, Contract, Document, DocumentLine, ImportJob, utcnow
from lkapp.services.billing import engine
from lkapp.services.billing.runner import this_process
from lkapp.staff import imports as staff_imports
from tests.conftest import swapped

CONTRACTS = """\
number;holder_name;tax_id;address;status
EL-1;Tisza Bakery Kft.;12345678-2-42;Budapest, Fő utca 1.;active
EL-2;Volga LLC;7701234567;Moscow, Tverskaya 1;
"""

BAD_CONTRACTS = """\
number;holder_name;tax_id;address;status
EL-1;Tisza Bakery Kft.;12345678-2-42;Budapest, Fő utca 1.;sleeping
EL-2;Volga LLC;7701234567;Moscow, Tverskaya 1;active
EL-2;Volga LLC again;7701234567;Moscow, Tverskaya 1;active
"""

DOCUMENTS = """\
contract_number,kind,number,issued_on,period,due_on,net,vat_rate,vat,total
EL-1,invoice,INV-1,2024-02-01,2024-01,2024-02-20,100.00,20,20.00,120.00
"""

LINES = """\
document_kind;document_number;description;kwh;tariff;amount
invoice;INV-1;Energy T1;500;0,15;75
invoice;INV-1;Network fee;;;25
"""


@pytest.fixture
def app_config(app_config, tmp_path):
    app_config["IMPORT_UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    return app_config


@pytest.fixture(autouse=True)
def _imports_finish():
    yield
    assert staff_imports.wait_for_imports(30), "an import thread is still running"


@pytest.fixture
def staff(make_user, auth):
    user_id = make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    return user_id


def upload(client, kind, content, name="file.csv", lines=None, htmx=False):
    data = {"file": (io.BytesIO(content if isinstance(content, bytes) else content.encode()), name)}
    if lines is not None:
        data["lines"] = (io.BytesIO(lines.encode()), "lines.csv")
    if htmx:
        return client.htmx(
            "POST", f"/staff/imports/new/{kind}", data=data, content_type="multipart/form-data"
        )
    return client.post(f"/staff/imports/new/{kind}", data=data, content_type="multipart/form-data")


def finished_job(client, response) -> tuple[int, str]:
    """Follow an accepted upload to its job page once the import has run."""
    assert response.status_code == 302, response.text[:500]
    location = response.headers["Location"]
    job_id = int(re.fullmatch(r"/staff/imports/(\d+)", location).group(1))
    assert staff_imports.wait_for_imports(30)
    page = client.get(location)
    assert page.status_code == 200
    return job_id, page.text


def uploads(app) -> list[str]:
    folder = app.config["IMPORT_UPLOAD_FOLDER"]
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def job(app, job_id) -> ImportJob:
    with app.app_context():
        return db.session.get(ImportJob, job_id)


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# --- a good file, twice -------------------------------------------------------------------


def test_a_good_file_is_imported_and_the_job_page_shows_the_counts(app, client, staff):
    form = client.get("/staff/imports/new/contracts")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text and "holder_name" in form.text

    job_id, page = finished_job(client, upload(client, "contracts", CONTRACTS, "contracts.csv"))
    assert "Imported" in page and "2 created, 0 updated, 0 unchanged" in page
    assert "contracts.csv" in page and "op@example.org" in page
    assert "data-hx-trigger" not in page, "a finished job does not poll"
    assert count(app, Contract) == 2
    done = job(app, job_id)
    assert (done.status, done.created, done.uploaded_by_id) == ("done", 2, staff)
    # Stored under its hash, only that.
    assert uploads(app) == [f"{done.file_sha256}.csv"]
    with app.app_context():
        actions = db.session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.actor_id == staff)
        ).all()
    assert "import.uploaded" in actions and "import.completed" in actions
    listing = client.get("/staff/imports").text
    assert f'href="/staff/imports/{job_id}"' in listing and "contracts.csv" in listing


def test_the_same_file_twice_changes_nothing(app, client, staff):
    finished_job(client, upload(client, "contracts", CONTRACTS))
    job_id, page = finished_job(client, upload(client, "contracts", CONTRACTS))
    second = job(app, job_id)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 2)
    assert "0 created, 0 updated, 2 unchanged" in page
    assert "The same file was imported before" in page
    assert count(app, Contract) == 2
    assert len(uploads(app)) == 1


def test_documents_take_the_optional_lines_file(app, client, staff):
    finished_job(client, upload(client, "contracts", CONTRACTS))
    assert 'name="lines"' in client.get("/staff/imports/new/documents").text
    assert 'name="lines"' not in client.get("/staff/imports/new/payments").text
    job_id, page = finished_job(client, upload(client, "documents", DOCUMENTS, lines=LINES))
    assert job(app, job_id).created == 1
    assert count(app, Document) == 1 and count(app, DocumentLine) == 2
    assert "file.csv + lines.csv" in page
    assert len(uploads(app)) == 3


# --- a bad file: the report ----------------------------------------------------------------


def test_a_bad_file_writes_nothing_and_reports_line_column_value(app, client, staff):
    job_id, page = finished_job(client, upload(client, "contracts", BAD_CONTRACTS))
    assert job(app, job_id).status == "failed"
    assert count(app, Contract) == 0
    assert "Not imported" in page and "Nothing was imported" in page
    table = page[page.index('id="import-errors"') :]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows[1:]]
    assert [c.strip() for c in cells[0][:3]] == ["2", "status", "<code>sleeping</code>"]
    assert cells[1][0].strip() == "4" and "the same key as line 3" in cells[1][3]


def failure_events(app) -> list[tuple]:
    with app.app_context():
        return db.session.execute(
            sa.select(AuditEvent.actor_id, AuditEvent.object_type, AuditEvent.object_id,
                      AuditEvent.details)
            .where(AuditEvent.action == "import.failed")
        ).all()  # fmt: skip


def test_a_failed_import_is_in_the_audit_log_with_its_error_count(app, client, staff):
    job_id, _ = finished_job(client, upload(client, "contracts", BAD_CONTRACTS, "bad.csv"))
    [(actor, object_type, object_id, details)] = failure_events(app)
    assert (actor, object_type, object_id) == (staff, "ImportJob", str(job_id))
    assert (details["kind"], details["file"], details["errors"]) == ("contracts", "bad.csv", 2)
    log = client.get("/staff/audit?kind=import").text
    assert "<code>import.failed</code>" in log and "errors: 2" in log
    assert "import.completed" not in log


def test_an_import_stopped_on_the_way_is_in_the_audit_log_with_the_reason(
    app, client, staff, monkeypatch
):
    def clash(*args, **kwargs):
        raise sa.exc.IntegrityError("INSERT INTO contracts ...", {}, Exception("UNIQUE failed"))

    monkeypatch.setattr(engine, "_write", clash)
    job_id, _ = finished_job(client, upload(client, "contracts", CONTRACTS, "c.csv"))
    [(actor, object_type, object_id, details)] = failure_events(app)
    assert (actor, object_type, object_id) == (staff, "ImportJob", str(job_id))
    assert details["file"] == "c.csv" and "the data changed" in details["error"]


def test_the_list_counts_every_error_not_only_the_ones_listed(app, client, staff):
    bad = "number;holder_name;tax_id;address;status\n" + "".join(
        f"EL-{n};Holder;1;Address;sleeping\n" for n in range(1500)
    )
    job_id, page = finished_job(client, upload(client, "contracts", bad))
    assert "500 more error(s) not listed" in page
    listing = client.get("/staff/imports").text
    row = re.search(rf'href="/staff/imports/{job_id}".*?</tr>', listing, re.S).group(0)
    errors = re.findall(r"<td class=\"num\"[^>]*>([^<]*)</td>", row)[-1]
    assert errors == "1,500", "not the 1,001 entries the report keeps"
    # On a phone and a tablet each import is a card whose cells say what they are: the outcome was a
    # column off the screen's edge.
    assert '<table class="stack stack-wide">' in listing
    assert re.search(r'<td data-label="Outcome">\s*<span class="badge badge-bad">Not imp', listing)
    assert '<table id="import-errors" class="stack">' in page
    assert '<td data-label="What is wrong">must be one of: active, terminated</td>' in page


def test_a_quote_that_swallows_the_file_does_not_fill_the_report(app, client, staff):
    """A stray '"' on line 2 makes one cell of the next two thousand lines, closed by another
    stray one: the report names the line and shows the start of the cell, not all of it."""
    rows = "".join(f"EL-{n};Holder;1;Address;active\n" for n in range(2000))
    bad = f'number;holder_name;tax_id;address;status\nEL-A;"Holder;1;Address;active\n{rows}'
    bad += 'EL-B;Holder";1;Address;active\n'
    job_id, page = finished_job(client, upload(client, "contracts", bad))
    (error,) = job(app, job_id).errors
    assert (error["line"], error["column"]) == (2, "holder_name")
    assert error["value"].startswith("Holder;1;Address;active\nEL-0;")
    assert len(error["value"]) == 200 and error["value"].endswith("...")
    assert "EL-1999" not in page


def test_a_crash_of_the_import_is_recorded_in_the_job(app, client, staff, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(staff_imports, "run_import", explode)
    job_id, page = finished_job(client, upload(client, "contracts", CONTRACTS))
    assert job(app, job_id).status == "failed"
    assert "disk on fire" in page and "Not imported" in page
    assert count(app, Contract) == 0


# --- refused before anything is stored ----------------------------------------------------


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("contracts.txt", CONTRACTS.encode(), "Only CSV files (.csv) are accepted."),
        ("contracts.xlsx", b"PK\x03\x04\x00\x00", "Only CSV files (.csv) are accepted."),
        ("picture.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "This is not a text file."),
        ("latin1.csv", "number;holder_name\nEL-1;Caf\xe9\n".encode("latin-1"), "not UTF-8"),
        ("utf16.csv", CONTRACTS.encode("utf-16"), "UTF-16"),
        ("empty.csv", b"", "The file is empty."),
        ("blank.csv", b"\n\n  \n", "no header row"),
    ],
)
def test_what_is_not_csv_text_is_refused_beside_the_field(
    app, client, staff, name, content, message
):
    response = upload(client, "contracts", content, name)
    assert response.status_code == 422
    assert message in response.text
    assert 'id="file-error"' in response.text
    assert uploads(app) == [] and count(app, ImportJob) == 0


def test_no_file_and_unknown_kind(app, client, staff):
    response = client.post("/staff/imports/new/contracts", data={})
    assert response.status_code == 422 and "Choose the file to import." in response.text
    assert client.get("/staff/imports/new/invoices").status_code == 404
    assert upload(client, "invoices", CONTRACTS).status_code == 404
    assert count(app, ImportJob) == 0


def test_a_billing_file_may_be_larger_than_a_form(app, client, staff):
    """Other pages take a form's worth of body (1 MB); the upload takes MAX_CONTENT_LENGTH:
    a 2 MB file reaches the checks (here: a picture, refused beside the field, not a 413)."""
    picture = b"\x89PNG\r\n\x1a\n" + b"\0" * (2 * 1024 * 1024)
    response = upload(client, "contracts", picture, "picture.csv")
    assert response.status_code == 422 and "This is not a text file." in response.text
    assert uploads(app) == [] and count(app, ImportJob) == 0


@pytest.mark.sqlite_only
def test_only_the_office_may_send_a_billing_file_s_worth_of_body(app, client, make_user, auth):
    """The 200 MB limit was granted before anyone was asked who they are: any visitor could
    make a worker read and spool that much before the sign-in check refused it."""
    picture = b"\x89PNG\r\n\x1a\n" + b"\0" * (2 * 1024 * 1024)
    anonymous = upload(client, "contracts", picture, "picture.csv")
    assert anonymous.status_code == 413
    make_user(email="ann@example.com")
    auth.login(email="ann@example.com")
    assert upload(client, "contracts", picture, "picture.csv").status_code == 413
    assert uploads(app) == [] and count(app, ImportJob) == 0


def test_a_file_over_the_limit_gets_a_clear_page(app, client, staff):
    app.config["MAX_CONTENT_LENGTH"] = 4096
    big = CONTRACTS + "".join(f"EL-{n};Holder {n};{n};Street {n};active\n" for n in range(3, 300))
    response = upload(client, "contracts", big)
    assert response.status_code == 413
    assert "File too large" in response.text
    assert "the most this page accepts" in response.text and "Nothing was stored" in response.text
    assert "<header" in response.text, "a page in the layout, not a bare 413"
    assert uploads(app) == [] and count(app, ImportJob) == 0


# --- htmx ----------------------------------------------------------------------------------


def test_with_htmx_errors_come_back_in_place_and_success_navigates(app, client, staff):
    refused = upload(client, "contracts", b"", "empty.csv", htmx=True)
    assert refused.status_code == 422
    assert swapped(refused.text).startswith('<form id="import-upload"')
    assert "<header" not in refused.text and "HX-Request" in refused.headers["Vary"]
    accepted = upload(client, "contracts", CONTRACTS, htmx=True)
    assert accepted.status_code == 204
    assert re.fullmatch(r"/staff/imports/\d+", accepted.headers["HX-Redirect"])
    staff_imports.wait_for_imports(30)


def test_a_running_job_polls_and_a_stale_one_stops(app, client, staff):
    with app.app_context():
        running = ImportJob(
            kind="payments",
            filename="p.csv",
            file_sha256="a" * 64,
            status="running",
            rows_total=1000,
            rows_done=250,
            started_at=utcnow(),
        )
        stale = ImportJob(
            kind="payments",
            filename="p.csv",
            file_sha256="b" * 64,
            status="running",
            started_at=utcnow() - timedelta(hours=3),
        )
        db.session.add_all([running, stale])
        db.session.commit()
        running_id, stale_id = running.id, stale.id

    page = client.get(f"/staff/imports/{running_id}")
    assert page.status_code == 200 and "<header" in page.text
    assert 'data-hx-trigger="every 1s"' in page.text
    assert '<progress id="import-progress" max="1000" value="250"' in page.text
    fragment = client.htmx("GET", f"/staff/imports/{running_id}")
    assert swapped(fragment.text).startswith('<section id="import-job"')
    assert "<header" not in fragment.text and "HX-Request" in fragment.headers["Vary"]
    assert 'data-hx-trigger="every 1s"' in fragment.text

    stale_page = client.get(f"/staff/imports/{stale_id}").text
    assert "Interrupted" in stale_page and "Nothing was written" in stale_page
    assert "data-hx-trigger" not in stale_page
    assert client.get("/staff/imports/999999").status_code == 404


def running_job(app, file_sha256: str = "c" * 64) -> int:
    """A payments import a quarter done, run by this test process (on this host)."""
    runner = this_process()
    with app.app_context():
        job = ImportJob(
            kind="payments",
            filename="p.csv",
            file_sha256=file_sha256,
            status="running",
            rows_total=1000,
            rows_done=250,
            started_at=utcnow() - timedelta(minutes=5),
            runner_host=runner.host,
            runner_pid=runner.pid,
            runner_started=runner.started,
        )
        db.session.add(job)
        db.session.commit()
        return job.id


def test_a_job_whose_process_still_runs_is_not_called_interrupted(app, client, staff):
    job_id = running_job(app)
    page = client.get(f"/staff/imports/{job_id}").text
    assert "Checking the file" in page and "Interrupted" not in page
    assert 'data-hx-trigger="every 1s"' in page
    listed = client.get("/staff/imports").text
    assert "Checking the file" in listed and "Interrupted" not in listed


def test_pruning_deletes_old_uploads_but_not_the_file_of_a_running_import(
    app, client, staff, runner
):
    done_id, _ = finished_job(client, upload(client, "contracts", CONTRACTS))
    done_file = f"{job(app, done_id).file_sha256}.csv"
    running_file, recent_file, cut_off = f"{'c' * 64}.csv", f"{'d' * 64}.csv", ".upload-x.part"
    running_job(app, "c" * 64)
    folder = Path(app.config["IMPORT_UPLOAD_FOLDER"])
    for name in (running_file, recent_file, cut_off):
        (folder / name).write_text(CONTRACTS)
    month_ago = time.time() - 31 * 86400
    for name in (done_file, running_file, cut_off):
        os.utime(folder / name, (month_ago, month_ago))

    refused = runner.invoke(args=["uploads", "prune", "--days", "0"])
    assert refused.exit_code == 2 and "--days" in refused.output
    assert len(uploads(app)) == 4

    result = runner.invoke(args=["uploads", "prune"])
    assert result.exit_code == 0, result.output
    assert "Deleted 2 uploaded file(s) older than 30 days" in result.output
    assert uploads(app) == sorted([running_file, recent_file])
    # What the import did is still on its page.
    assert "2 created, 0 updated, 0 unchanged" in client.get(f"/staff/imports/{done_id}").text


def test_a_problem_names_the_file_it_is_in_as_it_was_uploaded(app, client, staff):
    """The files are stored under their hash; the report used to quote those names ("its
    lines in 0bd8…3042.csv add up to 50.00")."""
    finished_job(client, upload(client, "contracts", CONTRACTS))
    bad_lines = LINES.replace("invoice;INV-1;Network fee;;;25", "invoice;INV-404;Network fee;;;25")
    response = upload(client, "documents", DOCUMENTS, name="docs.csv", lines=bad_lines)
    job_id, page = finished_job(client, response)
    stored = job(app, job_id)
    assert stored.status == "failed" and stored.filename == "docs.csv + lines.csv"
    assert count(app, Document) == 0
    table = page[page.index('id="import-errors"') :]
    assert '<th scope="col">File</th>' in table
    rows = re.findall(r"<tr>\s*<td[^>]*>([^<]*)</td>.*?</tr>", table, re.S)
    assert "lines.csv" in rows and "docs.csv" in rows
    assert "INV-404" in table and "its lines in lines.csv add up to" in table
    assert stored.file_sha256 not in table
    assert "Nothing was imported: fix the rows below in the file" in page


def test_an_import_stopped_by_the_database_says_so_and_blames_no_row(
    app, client, staff, monkeypatch
):
    """A key another import stored between this one's check and its write: the job says the
    data changed and to import again, not "fix the rows below", and shows no SQL."""

    def clash(*args, **kwargs):
        raise sa.exc.IntegrityError("INSERT INTO contracts ...", {}, Exception("UNIQUE failed"))

    monkeypatch.setattr(engine, "_write", clash)
    job_id, page = finished_job(client, upload(client, "contracts", CONTRACTS))
    assert job(app, job_id).status == "failed" and count(app, Contract) == 0
    assert "Nothing was imported: the import stopped for the reason below." in page
    assert "fix the rows below" not in page
    assert "another import or the portal stored some of its records meanwhile" in page
    assert "INSERT" not in page and "UNIQUE" not in page
