"""Billing exchange: import the billing system's CSV files, export documents and payments.

Formats and keys: DESIGN.md, "Billing exchange files". The entry points:

- ``run_import(kind, path, lines_path=None, job=None, ...)`` -> ``ImportReport``
  (``engine``: two passes, all or nothing, progress, the ImportJob row);
- ``create_job(kind, path, uploaded_by_id=...)`` records a pending ImportJob for a file, shown
  under ``file_names`` (the names a report gives a file and its lines file);
- ``export_documents`` / ``export_payments`` and the shared ``write_csv`` (``export``).
"""

from .engine import (
    KINDS,
    ImportAborted,
    create_job,
    file_names,
    register_after_write,
    run_import,
)
from .export import export_document_lines, export_documents, export_payments, write_csv
from .report import ImportReport, Problem, Progress, current_progress

__all__ = [
    "KINDS",
    "ImportAborted",
    "ImportReport",
    "Problem",
    "Progress",
    "create_job",
    "current_progress",
    "export_document_lines",
    "export_documents",
    "export_payments",
    "file_names",
    "register_after_write",
    "run_import",
    "write_csv",
]
