"""Back office: upload the billing system's CSV files and follow their import.

Why the import runs in a background thread (option b), not inside the upload request
-----------------------------------------------------------------------------------
A file may be up to ``MAX_CONTENT_LENGTH`` (200 MB by default, about two million document
rows, one to two minutes of work), while gunicorn kills a sync worker whose request takes longer
than its ``timeout`` (60 s, deploy/gunicorn.conf.py). A synchronous import would be killed
half-way on the big files, with a 502 for the operator and the job row left "running". So:

1. the upload request checks the file (extension, UTF-8 text with a header row, size), stores it
   under ``instance/uploads/<sha256>.csv`` (never served back, never executed), records a
   pending ImportJob (``billing.create_job``, committed), audits the upload, commits, starts the
   import in a thread and redirects to the job page;
2. the thread runs ``billing.run_import`` in its own app and request context (so the client IP
   goes into the audit events and ``url_for(_external=True)`` works in notice hooks). The
   import uses its own connections and ONE write transaction: everything or nothing. Any
   exception is logged and recorded in the job (``failed``, with the message); the thread
   removes its scoped session at the end;
3. the job page shows status, counts, progress and the error report; while the job runs, its
   block polls itself every second (``data-hx-get`` + ``every 1s``) and stops polling as soon
   as the answer has no trigger (done or failed). Without JavaScript, a "Refresh" link does it.

A process that dies mid-import (a worker killed or out of memory, a restart, a killed
``flask import``) rolls the import back with its connection: nothing is written, and the job
would stay "running". The job records which process runs it (host name, pid, start time:
``billing.runner``), so the job page calls it "interrupted" as soon as that process is gone
from this host, says that nothing was written, and stops polling. A process on another host
cannot be seen from here: such a job is "interrupted" once it has been running or waiting for
more than ``STALE_AFTER`` without progress in this process.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import abort, current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms.validators import ValidationError

from ..auth.decorators import staff_required
from ..extensions import db
from ..formatting import lazy_gettext as _l
from ..htmx import redirect as htmx_redirect
from ..htmx import render
from ..main.errors import render_error
from ..models import ImportJob, User, utcnow
from ..security import uploads
from ..services import audit
from ..services.billing import KINDS, create_job, current_progress, file_names, run_import
from ..services.billing.runner import recorded_runner_alive
from .views import bp

log = logging.getLogger(__name__)

PER_PAGE = 20
SNIFF_BYTES = 64 * 1024
CHUNK = 1 << 20
STALE_AFTER = timedelta(hours=1)

# What each kind of file holds (the columns: DESIGN.md, "Billing exchange files").
KIND_LABELS = {
    "contracts": _l("Contracts"),
    "meters": _l("Meters"),
    "readings": _l("Readings (history from billing)"),
    "documents": _l("Documents"),
    "payments": _l("Payments"),
}
KIND_COLUMNS = {
    "contracts": "number, holder_name, tax_id, address, status",
    "meters": "contract_number, serial, zones, digits, ct_ratio, installed_on, removed_on",
    "readings": "contract_number, meter_serial, zone, period, value",
    "documents": "contract_number, kind, number, issued_on, period, due_on, net, vat_rate, vat, "
    "total",
    "payments": "contract_number, paid_on, amount, reference",
}
LINES_COLUMNS = "document_kind, document_number, description, kwh, tariff, amount"


# --- the form -----------------------------------------------------------------------------


def _looks_like_csv_text(storage) -> str | None:
    """Why the start of an uploaded file is not CSV text, or None when it looks right.

    Only the first 64 KB are read here: the import itself reports a bad line further down with
    its line number. The stream is put back where it was.
    """
    stream = storage.stream
    start = stream.read(SNIFF_BYTES)
    stream.seek(0)
    if not start:
        return _("The file is empty.")
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _("The file is in UTF-16. Save it as CSV in UTF-8 and upload it again.")
    if b"\x00" in start:
        return _("This is not a text file. Upload the CSV file exported from billing.")
    if start.startswith(b"\xef\xbb\xbf"):
        start = start[3:]
    try:
        text = start.decode("utf-8")
    except UnicodeDecodeError as error:
        # A character cut at the 64 KB boundary is not an error.
        if len(start) < SNIFF_BYTES or error.start < len(start) - 4:
            return _("The file is not UTF-8 text. Save it as CSV in UTF-8 and upload it again.")
        text = start[: error.start].decode("utf-8")
    header = text.splitlines()[0].strip() if text.strip() else ""
    if not header:
        return _("The file has no header row: its first line must name the columns.")
    return None


class CsvFile:
    """Validator: the upload must look like UTF-8 CSV text with a header row."""

    def __call__(self, form, field):
        if field.data:
            problem = _looks_like_csv_text(field.data)
            if problem:
                raise ValidationError(problem)


ONLY_CSV = _l("Only CSV files (.csv) are accepted.")


class ImportForm(FlaskForm):
    file = FileField(
        _l("CSV file"),
        validators=[FileRequired(_l("Choose the file to import.")), FileAllowed(["csv"], ONLY_CSV)],
        render_kw={"accept": ".csv,text/csv"},
    )
    lines = FileField(
        _l("Document lines (optional)"),
        validators=[FileAllowed(["csv"], ONLY_CSV)],
        render_kw={"accept": ".csv,text/csv"},
    )

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        if kind != "documents":
            del self.lines

    def validate_file(self, field):
        CsvFile()(self, field)

    def validate_lines(self, field):
        CsvFile()(self, field)


# --- storage ------------------------------------------------------------------------------


def upload_folder() -> str:
    """Where uploads are kept: ``IMPORT_UPLOAD_FOLDER``, else ``instance/uploads``."""
    folder = current_app.config.get("IMPORT_UPLOAD_FOLDER") or os.path.join(
        current_app.instance_path, "uploads"
    )
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return folder


def store_upload(storage) -> str:
    """Save an upload as ``<sha256>.csv`` in the upload folder; returns its path.

    Written to a private temporary file first and renamed into place, so an import reading the
    same content under that name keeps reading whole bytes. The name the browser sent is never
    used for the path.
    """
    folder = upload_folder()
    digest = hashlib.sha256()
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            storage.stream.seek(0)
            while block := storage.stream.read(CHUNK):
                digest.update(block)
                out.write(block)
        path = os.path.join(folder, digest.hexdigest() + ".csv")
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def prune_uploads(older_than: timedelta) -> tuple[int, int]:
    """Delete the uploaded files older than ``older_than``; returns (files, bytes) deleted.

    Once imported, a file's rows are in the database and its job keeps the counts and the
    error report; the file itself (customers' names, tax numbers, addresses) is not kept
    longer than needed to look into an import. The file of a job still pending or running is
    kept whatever its age.
    """
    folder = upload_folder()
    unfinished = db.session.scalars(
        sa.select(ImportJob).where(ImportJob.status.not_in(("done", "failed")))
    ).all()
    keep = {
        f"{job.file_sha256}.csv"
        for job in unfinished
        if job_state(job) in ("pending", "checking", "writing")
    }
    cutoff = time.time() - older_than.total_seconds()
    removed = freed = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name in keep or not entry.is_file(follow_symlinks=False):
                continue
            stat = entry.stat(follow_symlinks=False)
            if stat.st_mtime < cutoff:
                try:
                    os.unlink(entry.path)
                except FileNotFoundError:  # pruned by another run meanwhile
                    continue
                removed += 1
                freed += stat.st_size
    return removed, freed


def _shown_name(storage) -> str:
    name = (storage.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable())[:120] or "upload.csv"


# --- the background run -------------------------------------------------------------------

_threads: list[threading.Thread] = []
_threads_lock = threading.Lock()


def _mark_failed(job_id: int, message: str) -> None:
    """Record an import that stopped before the engine could (e.g. the file vanished)."""
    table = ImportJob.__table__
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(table)
            .where(table.c.id == job_id, table.c.status.in_(("pending", "running")))
            .values(
                status="failed",
                finished_at=utcnow(),
                errors=[
                    {
                        "level": "error",
                        "file": "",
                        "line": 0,
                        "column": "",
                        "value": "",
                        "message": message[:2000],
                    }
                ],
            )
        )


def start_import(
    job_id: int,
    kind: str,
    path: str,
    lines_path: str | None,
    actor_id: int,
    names: tuple[str, str | None] | None = None,
):
    """Run the import of job ``job_id`` in a thread of this process (see the module docstring);
    ``names``: what its report calls the files."""
    app = current_app._get_current_object()
    base_url = request.url_root
    ip = request.remote_addr or ""

    def work():
        with app.test_request_context(base_url=base_url, environ_base={"REMOTE_ADDR": ip}):
            try:
                run_import(kind, path, lines_path, job=job_id, actor=actor_id, names=names)
            except Exception as error:  # noqa: BLE001 - recorded in the job, not lost
                log.exception("import job %s failed", job_id)
                try:
                    _mark_failed(job_id, f"the import stopped and wrote nothing: {error}")
                except Exception:  # noqa: BLE001
                    log.exception("could not mark import job %s failed", job_id)
            finally:
                db.session.remove()

    # Not a daemon: a worker shutting down lets a running import finish if it can.
    thread = threading.Thread(target=work, name=f"import-job-{job_id}")
    with _threads_lock:
        _threads[:] = [t for t in _threads if t.is_alive()]
        _threads.append(thread)
    thread.start()
    return thread


def wait_for_imports(timeout: float = 30.0) -> bool:
    """Wait for this process's import threads (tests, shutdown); True when all finished."""
    with _threads_lock:
        running = list(_threads)
    for thread in running:
        thread.join(timeout)
    return not any(thread.is_alive() for thread in running)


# --- views --------------------------------------------------------------------------------


def _kind_or_404(kind: str) -> str:
    if kind not in KINDS:
        abort(404)
    return kind


@bp.errorhandler(413)
def upload_too_large(error):
    """A file over the size limit: say what the limit is, not only "413"."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return render_error(
        413,
        _("File too large"),
        _(
            "The file is larger than %(limit)s MB, the most this page accepts. Nothing was "
            "stored or imported. Split the file, or import it with the command line "
            "(flask import).",
            limit=f"{limit / (1024 * 1024):g}",
        ),
    )


@bp.get("/imports")
@staff_required
def imports():
    """Upload links per kind and the recent imports with their outcome."""
    page = max(request.args.get("page", 1, type=int), 1)
    total = db.session.scalar(sa.select(sa.func.count(ImportJob.id))) or 0
    pages = max(1, -(-total // PER_PAGE))
    page = min(page, pages)
    jobs = db.session.execute(
        sa.select(ImportJob, User.email)
        .outerjoin(User, User.id == ImportJob.uploaded_by_id)
        .order_by(ImportJob.created_at.desc(), ImportJob.id.desc())
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).all()
    return render(
        "staff/imports/index.html",
        "staff/imports/_jobs.html",
        jobs=jobs,
        page_number=page,
        pages=pages,
        total=total,
        kinds=KINDS,
        kind_labels=KIND_LABELS,
        job_state=job_state,
        error_count=error_count,
        url_for_page=lambda number: url_for("staff.imports", page=number),
    )


def _render_upload(form: ImportForm, status: int = 200):
    return render(
        "staff/imports/upload.html",
        "staff/imports/_upload_form.html",
        status=status,
        form=form,
        kind=form.kind,
        kind_label=KIND_LABELS[form.kind],
        columns=KIND_COLUMNS[form.kind],
        lines_columns=LINES_COLUMNS,
        limit_mb=(current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024),
    )


@bp.route("/imports/new/<kind>", methods=["GET", "POST"])
@uploads()
@staff_required
def upload(kind: str):
    """The upload form of one kind of file; a good file starts its import."""
    form = ImportForm(kind=_kind_or_404(kind))
    if not form.validate_on_submit():
        return _render_upload(form, status=422 if request.method == "POST" else 200)
    path = store_upload(form.file.data)
    lines_path = lines_name = None
    if kind == "documents" and form.lines.data:
        lines_path = store_upload(form.lines.data)
        lines_name = _shown_name(form.lines.data)
    # The files are stored under their hash; the job and its problems use the names sent.
    names = file_names(path, lines_path, (_shown_name(form.file.data), lines_name))
    name = " + ".join(part for part in names if part)
    db.session.commit()  # end the read transaction: the job is written on its own connection
    job_id = create_job(kind, path, uploaded_by_id=current_user.id, filename=name)
    job = db.session.get(ImportJob, job_id)
    audit.record(
        "import.uploaded",
        actor=current_user,
        obj=job,
        kind=kind,
        file=name,
        sha256=job.file_sha256,
    )
    db.session.commit()
    start_import(job_id, kind, path, lines_path, current_user.id, names)
    flash(_("The file was uploaded; its import has started."), "success")
    return htmx_redirect(url_for("staff.import_job", job_id=job_id))


def job_state(job: ImportJob, now=None) -> str:
    """pending | checking | writing | done | failed | interrupted (see the module docstring)."""
    if job.status in ("done", "failed"):
        return job.status
    live = current_progress(job.id)
    if live is not None:
        return live.phase
    now = now or utcnow()
    if now - (job.started_at or job.created_at) > STALE_AFTER:
        return "interrupted"
    if recorded_runner_alive(job.runner_host, job.runner_pid, job.runner_started) is False:
        # The process may have committed its end and exited since ``job`` was read.
        db.session.refresh(job)
        return job.status if job.status in ("done", "failed") else "interrupted"
    if job.status == "pending":
        return "pending"
    return "writing" if job.rows_total and job.rows_done >= job.rows_total else "checking"


def error_count(job: ImportJob) -> int:
    """How many errors a failed import found: those listed and those only counted (a job keeps
    the first thousand and one entry saying how many more there were)."""
    if job.status != "failed":
        return 0
    return sum(
        item.get("more", 1) for item in job.errors or [] if item.get("level", "error") == "error"
    )


@bp.get("/imports/<int:job_id>")
@staff_required
def import_job(job_id: int):
    """One import: status, progress, counts and the error report; polls itself while it runs."""
    row = db.session.execute(
        sa.select(ImportJob, User.email)
        .outerjoin(User, User.id == ImportJob.uploaded_by_id)
        .where(ImportJob.id == job_id)
    ).first()
    if row is None:
        abort(404)
    job, uploader = row
    state = job_state(job)
    live = current_progress(job.id)
    done, total = job.rows_done, job.rows_total
    if live is not None:
        done, total = live.done, live.total
    problems = job.errors or []
    errors = [item for item in problems if item.get("level", "error") == "error"]
    warnings = [item for item in problems if item.get("level") == "warning"]
    earlier = None
    if job.status == "done":
        earlier = db.session.execute(
            sa.select(ImportJob.id, ImportJob.finished_at)
            .where(
                ImportJob.file_sha256 == job.file_sha256,
                ImportJob.kind == job.kind,
                ImportJob.status == "done",
                ImportJob.id < job.id,
            )
            .order_by(ImportJob.id.desc())
            .limit(1)
        ).first()
    return render(
        "staff/imports/job.html",
        "staff/imports/_job.html",
        job=job,
        uploader=uploader,
        state=state,
        running=state in ("pending", "checking", "writing"),
        done_rows=done,
        total_rows=total,
        errors=errors,
        warnings=warnings,
        several_files=len({item.get("file") for item in problems if item.get("file")}) > 1,
        # A problem of no file: the import stopped for its own reason, not the file's rows.
        stopped=bool(errors) and not any(item.get("file") for item in errors),
        earlier=earlier,
        kind_label=KIND_LABELS.get(job.kind, job.kind),
    )
