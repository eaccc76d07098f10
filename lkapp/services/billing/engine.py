"""Running an import: check every row, then write all of it in one transaction, or nothing.

``run_import(kind, path)`` is what the CLI and the upload page call. It manages its own
connections and transactions (it does not use or commit the caller's ``db.session``):

1. a fast pass over the bytes: SHA-256 and a line count (the total for progress);
2. the check pass, on a read-only connection: every row parsed and checked, every problem
   reported with file, line, column and value; duplicate keys found by a set of 64-bit key
   hashes (about 75 bytes per row instead of the keys themselves; when hashes repeat, the
   file is read once more to compare the real keys, so a hash collision is never reported as
   a duplicate). Nothing else grows with the file (a lines file adds a small record per
   document, a readings file one per reading for the order check);
3. if anything is wrong, the report goes back and nothing is written;
4. the write pass, in ONE transaction: the file is read again, in batches of a few thousand
   rows compared with the stored rows under the same keys, bulk inserted or updated; then
   document lines, payment allocation, audit events, the registered after-write hooks and the
   ImportJob's final state, and one commit. Any exception rolls all of it back. The file's
   SHA-256 is checked again before the commit, so a file changed between the passes cannot
   write rows that were never checked.

Progress and the ImportJob row
------------------------------
``progress(phase, done, total)`` is called about every thousand rows (the CLI draws a bar). The
job row (for other processes, e.g. an upload page polling with HTMX) is updated like this:

- at the start: ``running``, ``started_at``, ``rows_total`` (estimated from the line count)
  and the runner: this process's host name, pid and start time (``runner``), so that a page
  can tell at once when that process is gone (killed, restarted) and the job with it;
- during the check: ``rows_done`` about once a second, each in its own short transaction.
  The check only reads, so this works on SQLite too;
- during the write: nothing. On SQLite the write transaction holds the database's only write
  lock until its commit, so a progress update from another connection would wait for the
  import (and time out), and one made inside the transaction stays invisible to others until
  the commit anyway. Rather than behave differently per backend, the job shows
  ``rows_done == rows_total`` with status ``running`` while writing ("checked, now writing");
- at the end: ``done`` with the counts, in the same transaction as the data, so no poller sees
  "done" before the data are there; or ``failed`` with the errors (a short transaction after
  the rollback, with an ``import.failed`` audit event, as ``import.completed`` goes with the
  data of an import that changed some).

On SQLite another import's write transaction holds the database's only write lock: the job's
own transactions wait for it as long as an import waits for its turn (``_job_transaction``),
and a progress update during the check is skipped rather than waited for.

Fine-grained write progress lives in an in-process registry (``report.current_progress``) that
a web worker running the import in a thread can read when a poll reaches that same process.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import has_request_context, request
from sqlalchemy.engine import Connection

from ...extensions import db
from ...models import AuditEvent, ImportJob, User
from .base import AUDIT_COLUMNS, Context, Importer
from .bulk import IMPORT_LOCK_WAIT, Bulk
from .contracts import ContractImporter
from .documents import DocumentImporter
from .meters import MeterImporter
from .payments import PaymentImporter
from .reader import CsvFile, FileProblem, scan
from .readings import ReadingImporter
from .report import DEFAULT_MAX_PROBLEMS, ImportReport, Problems, Progress, set_progress
from .runner import this_process

log = logging.getLogger(__name__)

IMPORTERS: dict[str, type[Importer]] = {
    importer.kind: importer
    for importer in (
        ContractImporter,
        MeterImporter,
        ReadingImporter,
        DocumentImporter,
        PaymentImporter,
    )
}
KINDS = tuple(IMPORTERS)
BATCH_SIZE = 5_000
JOB_UPDATE_SECONDS = 1.0

ProgressCallback = Callable[[str, int, int], None]
AfterWrite = Callable[[Connection, ImportReport], None]

_after_write_hooks: list[AfterWrite] = []


def register_after_write(hook: AfterWrite) -> AfterWrite:
    """Call ``hook(connection, report)`` inside every import's write transaction, after the
    data and the allocation and before the commit: the place to queue notices (new document,
    debt changes) so that they commit, or roll back, with the data. Usable as a decorator."""
    if hook not in _after_write_hooks:
        _after_write_hooks.append(hook)
    return hook


class ImportAborted(RuntimeError):
    """The write pass met something the check did not (the file or the database changed)."""


class _Strict(Problems):
    """The write pass's problem collector: any problem there stops the import."""

    def add(self, file, line, column, value, message):
        raise ImportAborted(f"{file}:{line}: {column} {value!r}: {message} (the file changed?)")


def create_job(
    kind: str, path: str | os.PathLike, *, uploaded_by_id: int | None = None, filename: str = ""
) -> int:
    """Record a pending ImportJob for ``path`` (committed at once) and return its id."""
    if kind not in IMPORTERS:
        raise ValueError(f"unknown import kind {kind!r}")
    facts = scan(path)
    # A command waits for another import's writing, as its import would; a request does not.
    with _job_transaction(None if has_request_context() else IMPORT_LOCK_WAIT) as conn:
        return conn.execute(
            sa.insert(ImportJob.__table__)
            .values(
                kind=kind,
                filename=(filename or os.path.basename(os.fspath(path)))[:255],
                file_sha256=facts.sha256,
                uploaded_by_id=uploaded_by_id,
                status="pending",
                rows_total=max(facts.lines - 1, 0),
                errors=[],
                created_at=_now(),
            )
            .returning(ImportJob.__table__.c.id)
        ).scalar_one()


def run_import(
    kind: str,
    path: str | os.PathLike,
    lines_path: str | os.PathLike | None = None,
    *,
    job: ImportJob | int | None = None,
    actor: User | int | None = None,
    progress: ProgressCallback | None = None,
    dry_run: bool = False,
    max_errors: int = DEFAULT_MAX_PROBLEMS,
    batch_size: int = BATCH_SIZE,
    after_write: AfterWrite | None = None,
    names: tuple[str, str | None] | None = None,
) -> ImportReport:
    """Import the exchange file ``path`` of ``kind`` (see the module docstring).

    Returns the report: ``ok`` and the counts when written, else ``errors`` (the first
    ``max_errors`` by line, and how many in all). A crash in the write pass rolls everything
    back, marks the job failed and raises. ``dry_run`` checks without writing.

    Needs an app context (a background thread pushes its own). ``job`` is updated through
    its own connections: a caller holding the ImportJob in ``db.session`` refreshes it after.
    ``actor`` (a staff user) goes into the audit events; in a request, so does the client IP.
    ``names`` are the names the report gives the two files (an upload's own names, where the
    files are stored under their hash); by default the files' names.
    """
    if kind not in IMPORTERS:
        raise ValueError(f"unknown import kind {kind!r}; one of {', '.join(KINDS)}")
    if lines_path is not None and kind != "documents":
        raise ValueError("a lines file goes only with documents")
    started = time.monotonic()
    job_id = job.id if isinstance(job, ImportJob) else job
    actor_id = actor.id if isinstance(actor, User) else actor
    importer_class = IMPORTERS[kind]
    facts = scan(path)
    lines_facts = scan(lines_path) if lines_path is not None else None
    filename, lines_filename = file_names(path, lines_path, names)
    report = ImportReport(
        kind=kind,
        filename=filename,
        lines_filename=lines_filename,
        sha256=facts.sha256,
        job_id=job_id,
        errors=Problems(max_errors),
        warnings=Problems(max_errors),
        dry_run=dry_run,
    )
    report.errors.order_files(report.filename, report.lines_filename)
    report.warnings.order_files(report.filename, report.lines_filename)
    total = max(facts.lines - 1, 0) + (max(lines_facts.lines - 1, 0) if lines_facts else 0)
    tracker = _Tracker(job_id, progress, total)
    source = CsvFile(path, importer_class.columns, report.filename)
    lines_source = None
    if lines_path is not None:
        lines_source = CsvFile(lines_path, importer_class.lines_columns, report.lines_filename)
    ip = (request.remote_addr or "") if has_request_context() else ""
    ctx = Context(report, _now(), actor_id, ip)
    importer = importer_class(ctx, source, lines_source)

    try:
        tracker.start(facts.sha256)
        _check(importer, source, lines_source, report, tracker)
    except Exception as error:
        _crashed(tracker, ctx, error)
        raise
    if not report.ok:
        report.seconds = time.monotonic() - started
        with _job_transaction() as conn:
            tracker.failed(report, conn)
            if not dry_run:  # a check alone records nothing, as when the file is good
                _audit_failed(Bulk(conn), ctx, errors=report.errors.count)
        return report
    if dry_run:
        report.seconds = time.monotonic() - started
        tracker.checked_only(report)
        return report

    try:
        with db.engine.begin() as conn:
            bulk = Bulk(conn)
            bulk.take_write_lock()
            try:
                _write(importer, source, bulk, tracker, batch_size)
            except sa.exc.IntegrityError as error:
                # Between the check and the write lock, another import or the portal stored a
                # record with a key this file adds (the importers look up what exists under the
                # lock, so this is rare). The file is not at fault.
                raise ImportAborted(
                    "the data changed while this file was being checked: another import or "
                    "the portal stored some of its records meanwhile; nothing was written. "
                    "Import the file again."
                ) from error
            importer.end_write(bulk, tracker.step("writing"))
            _verify_unchanged(source, facts.sha256)
            if lines_source is not None:
                _verify_unchanged(lines_source, lines_facts.sha256)
            ctx.flush_audit(bulk)
            if report.created or report.updated:
                _audit_completed(bulk, ctx)
            for hook in (*_after_write_hooks, after_write):
                if hook is not None:
                    hook(conn, report)
            report.seconds = time.monotonic() - started
            tracker.done(conn, report)
    except Exception as error:
        _crashed(tracker, ctx, error)
        raise
    report.written = True
    return report


def file_names(path, lines_path=None, names=None) -> tuple[str, str]:
    """What the report calls the file and its lines file: ``names`` or the files' own names,
    never the same for both (a problem names the file it is in)."""
    main, lines = names or (None, None)
    main = main or os.path.basename(os.fspath(path))
    if lines_path is None:
        return main, ""
    lines = lines or os.path.basename(os.fspath(lines_path))
    return main, lines if lines != main else f"{lines} (lines)"


def _now() -> datetime:
    return datetime.now(UTC)


def _check(
    importer: Importer,
    source: CsvFile,
    lines_source: CsvFile | None,
    report: ImportReport,
    tracker: _Tracker,
) -> None:
    seen: set[int] = set()
    suspects: set[int] = set()
    step = tracker.step("checking")
    key, accept = importer.key, importer.accept
    try:
        with db.engine.connect() as conn:
            bulk = Bulk(conn)
            importer.prepare(bulk)
            for line, record in importer.rows_of(source, step, importer.row):
                accept(line, record)
                digest = hash(key(record))
                if digest in seen:
                    suspects.add(digest)
                else:
                    seen.add(digest)
            report.rows = source.rows_read
            seen.clear()
            if suspects:
                _report_duplicates(importer, source, suspects)
            importer.after_check(bulk, step)
            if lines_source is not None:
                report.line_rows = lines_source.rows_read
            conn.rollback()
    except FileProblem as problem:
        report.errors.add(problem.file, problem.line, problem.column, problem.value, str(problem))


def _report_duplicates(importer: Importer, source: CsvFile, suspects: set[int]) -> None:
    """Read the file again for the rows whose key hash repeats; report the true repeats."""
    first_line: dict[tuple, int] = {}
    problems, importer.problems = importer.problems, Problems(0)  # quiet: reported already
    duplicates = []
    try:
        for line, record in importer.rows_of(source, lambda n: None, importer.row):
            key = importer.key(record)
            if hash(key) in suspects:
                if key in first_line:
                    duplicates.append((line, key, first_line[key]))
                else:
                    first_line[key] = line
    finally:
        importer.problems = problems
    for line, key, first in duplicates:
        importer.fail(
            line,
            "+".join(importer.key_columns),
            importer.describe_key(key),
            f"the same key as line {first}: each {importer.kind[:-1]} may appear once per file",
        )


def _write(importer: Importer, source: CsvFile, bulk: Bulk, tracker: _Tracker, size: int) -> None:
    importer.problems = _Strict(0)
    importer.begin_write(bulk)
    step = tracker.step("writing")
    batch: list[tuple[int, tuple]] = []
    for line, record in importer.rows_of(source, step, importer.write_row):
        batch.append((line, record))
        if len(batch) >= size:
            importer.write(bulk, batch)
            importer.ctx.flush_audit(bulk)
            batch = []
    if batch:
        importer.write(bulk, batch)


def _verify_unchanged(source: CsvFile, sha256: str) -> None:
    if source.sha256 != sha256:
        raise ImportAborted(f"{source.label} changed while it was being imported; nothing written")


def _audit_completed(bulk: Bulk, ctx: Context) -> None:
    report = ctx.report
    _audit(
        bulk,
        ctx,
        "import.completed",
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        lines_written=report.lines_written,
    )


def _audit_failed(bulk: Bulk, ctx: Context, **why) -> None:
    """An ``import.failed`` event: the file, and how many errors it had (or why the import
    stopped). The job's page lists the errors."""
    _audit(bulk, ctx, "import.failed", **why)


def _audit(bulk: Bulk, ctx: Context, action: str, **outcome) -> None:
    """An import's audit event: the file and its rows, and ``outcome``."""
    report = ctx.report
    details = {
        "kind": report.kind,
        "file": report.filename,
        "lines_file": report.lines_filename,
        "sha256": report.sha256,
        "rows": report.rows,
        **outcome,
    }
    object_type, object_id = ("ImportJob", str(report.job_id)) if report.job_id else ("", "")
    bulk.insert(
        AuditEvent.__table__,
        AUDIT_COLUMNS,
        [(ctx.actor_id, action, object_type, object_id, ctx.ip, details, ctx.now)],
    )


@contextmanager
def _job_transaction(wait: float | None = IMPORT_LOCK_WAIT) -> Iterator[Connection]:
    """A short transaction of an import's own (its job row, its failure's audit event).

    On SQLite another import holds the database's only write lock for as long as it writes
    (minutes for a big file); a job written beside it waits ``wait`` seconds for it, as long as
    an import waits for its turn to write (``None``: a request's few seconds; 0: not at all),
    instead of failing the import after a request's few seconds with "database is locked".
    PostgreSQL locks rows, and no other import writes this job's row.
    """
    with db.engine.begin() as conn:
        if wait is None or conn.dialect.name != "sqlite":
            yield conn
            return
        usual = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(wait * 1000)}")
        try:
            yield conn
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(usual)}")


def _crashed(tracker: _Tracker, ctx: Context, error: BaseException) -> None:
    """The import stopped on ``error`` and wrote nothing: the job says so, and the audit log."""
    tracker.crashed(error)
    if ctx.report.dry_run:
        return
    try:
        with _job_transaction() as conn:
            _audit_failed(Bulk(conn), ctx, error=str(error)[:500])
    except Exception:  # noqa: BLE001 - the original error matters more; it is re-raised
        log.exception("could not record the failed import of %s", ctx.report.filename)


class _Tracker:
    """Progress for the caller's callback, the in-process registry and the ImportJob row."""

    def __init__(self, job_id: int | None, callback: ProgressCallback | None, total: int):
        self.job_id = job_id
        self.callback = callback
        self.total = total
        self.phase = ""
        self.done_rows = 0
        self.last_job_update = 0.0

    def step(self, phase: str) -> Callable[[int], None]:
        """A counter for ``phase``: call it with the number of rows just handled."""
        if phase != self.phase:
            self.phase, self.done_rows = phase, 0
            self._tell()

        def advance(rows: int) -> None:
            if rows:
                self.done_rows += rows
                self._tell()

        return advance

    def _tell(self) -> None:
        total = max(self.total, self.done_rows)
        if self.callback is not None:
            self.callback(self.phase, self.done_rows, total)
        if self.job_id is None:
            return
        set_progress(self.job_id, Progress(self.phase, self.done_rows, total))
        now = time.monotonic()
        if self.phase == "checking" and now - self.last_job_update >= JOB_UPDATE_SECONDS:
            self.last_job_update = now
            try:  # not worth waiting for: the next one tells
                self._update_job(wait=0, rows_done=self.done_rows, rows_total=total)
            except sa.exc.OperationalError:
                log.debug("import job %s: progress not recorded (database locked)", self.job_id)

    def _update_job(
        self, conn: Connection | None = None, wait: float = IMPORT_LOCK_WAIT, **values
    ) -> None:
        if self.job_id is None:
            return
        statement = (
            sa.update(ImportJob.__table__)
            .where(ImportJob.__table__.c.id == self.job_id)
            .values(**values)
        )
        if conn is not None:
            conn.execute(statement)
            return
        with _job_transaction(wait) as own:
            own.execute(statement)

    def start(self, sha256: str) -> None:
        if self.job_id is None:
            return
        with _job_transaction() as conn:
            table = ImportJob.__table__
            job_sha = conn.execute(
                sa.select(table.c.file_sha256).where(table.c.id == self.job_id)
            ).scalar_one_or_none()
            if job_sha is None:
                raise ValueError(f"no import job {self.job_id}")
            if job_sha and job_sha != sha256:
                raise ImportAborted("the file changed since it was uploaded (SHA-256 differs)")
            runner = this_process()
            conn.execute(
                sa.update(table)
                .where(table.c.id == self.job_id)
                .values(
                    status="running",
                    started_at=_now(),
                    finished_at=None,
                    rows_total=self.total,
                    rows_done=0,
                    errors=[],
                    runner_host=runner.host,
                    runner_pid=runner.pid,
                    runner_started=runner.started,
                )
            )

    def _finish(self, conn: Connection | None, status: str, report: ImportReport, errors) -> None:
        if self.job_id is not None:
            set_progress(self.job_id, None)
        self._update_job(
            conn,
            status=status,
            rows_total=report.rows + report.line_rows,
            rows_done=report.rows + report.line_rows,
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
            errors=errors,
            finished_at=_now(),
        )

    def failed(self, report: ImportReport, conn: Connection | None = None) -> None:
        errors = [dict(problem.as_dict(), level="error") for problem in report.errors.items]
        if report.errors.count > len(errors):
            errors.append(
                {
                    "level": "error",
                    "file": report.filename,
                    "line": 0,
                    "column": "",
                    "value": "",
                    "message": f"{report.errors.count - len(errors):,} more error(s) not listed",
                    "more": report.errors.count - len(errors),  # counted in the list of imports
                }
            )
        self._finish(conn, "failed", report, errors)

    def checked_only(self, report: ImportReport) -> None:
        self._finish(None, "done", report, [])

    def done(self, conn: Connection, report: ImportReport) -> None:
        warnings = [dict(problem.as_dict(), level="warning") for problem in report.warnings.items]
        self._finish(conn, "done", report, warnings)

    def crashed(self, error: BaseException) -> None:
        if self.job_id is None:
            return
        set_progress(self.job_id, None)
        message = f"the import stopped and wrote nothing: {error}"
        try:
            self._update_job(
                status="failed",
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
                finished_at=_now(),
            )
        except Exception:  # noqa: BLE001 - the original error matters more; it is re-raised
            log.exception("could not mark import job %s failed", self.job_id)
