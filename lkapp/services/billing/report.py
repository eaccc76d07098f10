"""What an import tells its caller: problems by line, counts, and the hooks for notices."""

from __future__ import annotations

import threading
from array import array
from dataclasses import dataclass, field

DEFAULT_MAX_PROBLEMS = 1000
# The most of a bad cell a problem keeps: a '"' that never closes until a thousand lines
# further on makes one cell of all of them, which the job's report and page need not hold.
MAX_VALUE = 200


@dataclass(frozen=True, slots=True)
class Problem:
    """One bad cell or row: where (file, line, column), what it holds, and what is wrong."""

    file: str
    line: int
    column: str
    value: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if self.column:
            shown = self.value if len(self.value) <= 60 else self.value[:57] + "..."
            return f'{where}: {self.column} "{shown}": {self.message}'
        return f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "value": self.value,
            "message": self.message,
        }


class Problems:
    """Problems in line order, keeping the first ``limit`` and counting all of them.

    A file of a million bad rows must not become a million objects: the report shows the first
    ``limit`` (by line) and says how many there were in all.
    """

    def __init__(self, limit: int = DEFAULT_MAX_PROBLEMS):
        self.limit = limit
        self.count = 0
        self._items: list[Problem] = []
        self._sorted = True
        self._files: dict[str, int] = {}  # file -> rank: the first file reported comes first

    def order_files(self, *files: str) -> None:
        """List the problems of ``files`` in this order (else: in the order first reported)."""
        for file in files:
            self._files.setdefault(file, len(self._files))

    def add(self, file: str, line: int, column: str, value: object, message: str) -> None:
        self.count += 1
        self._files.setdefault(file, len(self._files))
        if len(self._items) < self.limit * 2:
            text = str(value)
            if len(text) > MAX_VALUE:
                text = text[: MAX_VALUE - 3] + "..."
            self._items.append(Problem(file, line, column, text, message))
            self._sorted = False
        if len(self._items) >= self.limit * 2:
            self._trim()

    def _trim(self) -> None:
        # Stable: the problems of one row stay in the order of its columns.
        self._items.sort(key=lambda p: (self._files[p.file], p.line))
        del self._items[self.limit :]
        self._sorted = True

    @property
    def items(self) -> list[Problem]:
        if not self._sorted or len(self._items) > self.limit:
            self._trim()
        return self._items

    def __bool__(self) -> bool:
        return self.count > 0

    def __len__(self) -> int:
        return self.count


@dataclass
class ImportReport:
    """The outcome of one import (or of a failed check: then ``errors`` says why).

    For notices (new document, debt changes) the report carries ``new_document_ids`` (compact:
    8 bytes per id) and ``affected_contract_ids``: the contracts whose documents or payments
    were created or changed, whose payments were therefore reallocated.
    """

    kind: str
    filename: str
    lines_filename: str = ""
    sha256: str = ""
    job_id: int | None = None
    rows: int = 0
    line_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    lines_written: int = 0
    errors: Problems = field(default_factory=Problems)
    warnings: Problems = field(default_factory=Problems)
    written: bool = False
    dry_run: bool = False
    seconds: float = 0.0
    new_document_ids: array = field(default_factory=lambda: array("q"))
    affected_contract_ids: set[int] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.errors

    def error_list(self) -> list[dict]:
        """The errors kept (the first ones by line) as JSON-ready dicts, e.g. for ImportJob."""
        return [problem.as_dict() for problem in self.errors.items]

    def summary(self) -> str:
        """One line for an operator."""
        if self.errors:
            rows = f"{self.rows:,} row(s)"
            return (
                f"{self.kind}: nothing imported; {self.errors.count:,} error(s) in {rows} "
                f"of {self.filename}"
            )
        if self.dry_run:
            return (
                f"{self.kind}: {self.rows:,} row(s) of {self.filename} are valid (nothing written)"
            )
        text = (
            f"{self.kind}: {self.created:,} created, {self.updated:,} updated, "
            f"{self.unchanged:,} unchanged ({self.rows:,} row(s) of {self.filename}"
        )
        if self.lines_filename:
            text += f"; {self.lines_written:,} document line(s) written"
        return text + f"; {self.seconds:.1f} s)"


# --- progress -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    phase: str  # "checking" | "writing"
    done: int
    total: int


_progress: dict[int, Progress] = {}
_progress_lock = threading.Lock()


def set_progress(job_id: int, progress: Progress | None) -> None:
    with _progress_lock:
        if progress is None:
            _progress.pop(job_id, None)
        else:
            _progress[job_id] = progress


def current_progress(job_id: int) -> Progress | None:
    """Fine-grained progress of an import running in this process, if one runs for the job.

    The job row shows checking progress to every process, and "writing" only as a whole (see
    ``engine``); a web worker that runs an import in a thread can answer a progress poll it
    receives itself with this.
    """
    with _progress_lock:
        return _progress.get(job_id)
