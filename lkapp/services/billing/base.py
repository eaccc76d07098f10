"""What every kind of import shares: cell parsing with problem reports, lookups, audit rows.

An importer (one per kind: contracts, meters, readings, documents, payments) is driven by the
engine in two passes over its file:

1. check: ``prepare`` loads the lookups the checks need (contract numbers, meters), ``row``
   parses one row into a plain tuple (or reports every bad cell and returns None), the engine
   finds duplicate keys, ``accept`` keeps what cross-row checks need, ``after_check`` runs
   them (and reads the document lines file);
2. write (only when the check found nothing): ``write`` gets the parsed rows in batches and
   compares them with the rows already stored under the same keys, then inserts, updates or
   leaves them; ``end_write`` finishes (document lines, payment allocation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from flask import current_app

from ...domain.csvformat import (
    CellError,
    format_cell,
    format_period,
    parse_date,
    parse_period,
    strip_formula_guard,
)
from ...models import AuditEvent, Contract
from .bulk import Bulk
from .reader import CsvFile
from .report import ImportReport, Problems

BAD = object()  # a cell that did not parse (its problem is reported already)
PROGRESS_STEP = 1_000


class Context:
    """The import's shared state: report, time, who runs it, and the audit rows to write."""

    def __init__(
        self,
        report: ImportReport,
        now: datetime,
        actor_id: int | None,
        ip: str,
    ):
        self.report = report
        self.now = now
        self.today = local_today(now)
        self.actor_id = actor_id
        self.ip = ip
        self.audit_rows: list[tuple] = []

    def audit_updated(self, object_type: str, object_id: int, key: str, before, after) -> None:
        """An ``import.updated`` event: which record (by its import key) and what changed."""
        self.audit_rows.append(
            (
                self.actor_id,
                "import.updated",
                object_type,
                str(object_id),
                self.ip,
                {
                    "kind": self.report.kind,
                    "key": key,
                    "before": before,
                    "after": after,
                    "file": self.report.filename,
                    "sha256": self.report.sha256,
                    "job_id": self.report.job_id,
                },
                self.now,
            )
        )

    def flush_audit(self, bulk: Bulk) -> None:
        if self.audit_rows:
            bulk.insert(AuditEvent.__table__, AUDIT_COLUMNS, self.audit_rows)
            self.audit_rows.clear()


AUDIT_COLUMNS = ("actor_id", "action", "object_type", "object_id", "ip", "details", "created_at")


def shown(value: object) -> str | None:
    """A stored or imported value as the audit log shows it."""
    return None if value is None else format_cell(value)


def changes(names: Sequence[str], old: Sequence, new: Sequence, periods=()) -> tuple[dict, dict]:
    """Before and after of the fields that differ (periods shown as YYYY-MM)."""
    before, after = {}, {}
    for name, a, b in zip(names, old, new, strict=True):
        if a != b:
            if name in periods:
                before[name] = format_period(a) if a else None
                after[name] = format_period(b) if b else None
            else:
                before[name], after[name] = shown(a), shown(b)
    return before, after


class Importer:
    kind = ""
    columns: tuple[str, ...] = ()
    key_columns: tuple[str, ...] = ()  # the columns of the import key (DESIGN.md)
    lines_columns: tuple[str, ...] = ()

    def __init__(self, ctx: Context, source: CsvFile, lines_source: CsvFile | None = None):
        self.ctx = ctx
        self.source = source
        self.lines_source = lines_source
        self.at = source.index  # column name -> position (filled when the header is read)
        self.problems: Problems = ctx.report.errors
        self.file = source.label
        self.contracts: dict[str, int] = {}
        self._bad = False
        # Dates repeat a lot in a big file: parse each distinct text once.
        self.date = memoized(parse_date)
        self.period = memoized(parse_period)

    # --- the check pass -------------------------------------------------------------------

    def prepare(self, bulk: Bulk) -> None:
        """Load what the checks look up (run once, before the first row)."""

    def row(self, cells: list[str], line: int):
        """The parsed row, or None after reporting every problem it has."""
        self._bad = False
        record = self.parse(cells, line)
        return None if self._bad else record

    def write_row(self, cells: list[str], line: int):
        """The parsed row in the write pass, where every row is known to be valid (the file's
        SHA-256 is checked again before the commit). An importer may parse faster here, as
        long as the values are the same as ``row`` gives."""
        return self.row(cells, line)

    def parse(self, cells: list[str], line: int) -> tuple:
        raise NotImplementedError

    def key(self, record: tuple) -> tuple:
        raise NotImplementedError

    def describe_key(self, key: tuple) -> str:
        return " ".join(str(part) for part in key)

    def accept(self, line: int, record: tuple) -> None:
        """Keep what the cross-row checks need of a valid row."""

    def after_check(self, bulk: Bulk, progress: Callable[[int], None]) -> None:
        """Checks across rows, after the whole file was read."""

    # --- the write pass -------------------------------------------------------------------

    def begin_write(self, bulk: Bulk) -> None:
        """Called in the write transaction before the first batch."""

    def write(self, bulk: Bulk, batch: list[tuple[int, tuple]]) -> None:
        raise NotImplementedError

    def end_write(self, bulk: Bulk, progress: Callable[[int], None]) -> None:
        """Called in the write transaction after the last batch."""

    def upsert(
        self,
        bulk: Bulk,
        batch: list[tuple[int, tuple]],
        key: str,
        fields: Sequence[str],
        audit: Callable[[tuple, tuple], None],
        **on_insert: object,
    ) -> None:
        """Insert the batch's new records and update the changed ones, matched by ``key`` (a
        record's first value, then ``fields``) against the stored rows; ``audit(row, record)``
        is called for each changed one. ``on_insert`` columns are set on new rows only."""
        report = self.ctx.report
        keys = [record[0] for _, record in batch]
        existing = {
            row[1]: row for row in bulk.select_in(self.table, key, keys, ("id", key, *fields))
        }
        new, changed = [], []
        for _, record in batch:
            row = existing.get(record[0])
            if row is None:
                new.append(record)
            elif tuple(row[2:]) == record[1:]:
                report.unchanged += 1
            else:
                changed.append((*record[1:], row[0]))
                audit(row, record)
        ids = bulk.next_ids(self.table, len(new))
        bulk.insert(
            self.table,
            ("id", key, *fields, *on_insert),
            [(id_, *record, *on_insert.values()) for id_, record in zip(ids, new, strict=True)],
        )
        bulk.update(self.table, fields, changed)
        report.created += len(new)
        report.updated += len(changed)

    # --- helpers for parse ----------------------------------------------------------------

    def rows_of(self, source: CsvFile, progress: Callable[[int], None], parse: Callable):
        """``(line, record)`` of the valid rows of ``source``; every other row is reported.

        ``progress`` hears about every row read, in steps. ``source.rows_read`` is the number
        of data rows when the pass is over.
        """
        count = 0
        for line, cells in source.rows():  # the first row comes after the header is read
            count += 1
            if count % PROGRESS_STEP == 0:
                progress(PROGRESS_STEP)
            width = source.width
            if len(cells) != width and len(cells) != source.named:
                # Too many: a delimiter in a cell split it; too few: the row ends early, or a
                # line break in a cell without quotes ended it (its rest is the next "row").
                # A delimiter after a line break in a cell: a '"' opened it and never closed,
                # and it took the lines below as its text (the quote is the mistake to fix).
                if any(source.delimiter in cell.partition("\n")[2] for cell in cells):
                    why = (
                        "a cell in quotes opens on this line and does not close: is a '\"' missing?"
                    )
                elif len(cells) > width:
                    why = f"is a cell with a '{source.delimiter}' not in quotes?"
                else:
                    why = "is the row cut short, or a line break in a cell not in quotes?"
                self.fail(
                    line,
                    "",
                    "",
                    f"has {len(cells)} cells where the header has {width} ({why})",
                    file=source.label,
                )
                continue
            if any(cells[source.named :]):
                self.fail(
                    line,
                    "",
                    "",
                    "has a value in a column without a name (after the last named column)",
                    file=source.label,
                )
                continue
            record = parse(cells, line)
            if record is not None:
                yield line, record
        progress(count % PROGRESS_STEP)
        for line, message in source.decode_problems:
            self.fail(line, "", "", message, file=source.label)
        source.rows_read = count

    def fail(self, line: int, column: str, value: object, message: str, file: str = "") -> None:
        self._bad = True
        self.problems.add(file or self.file, line, column, value, message)

    def take(self, cells: list[str], line: int, name: str, parse: Callable, *args, **kwargs):
        text = cells[self.at[name]]
        try:
            return parse(text, *args, **kwargs)
        except CellError as error:
            self.fail(line, name, text, str(error))
            return BAD

    def optional(self, cells: list[str], line: int, name: str, parse: Callable, *args, **kwargs):
        """None for an empty cell ("empty means none"), else the parsed value."""
        if not cells[self.at[name]]:
            return None
        return self.take(cells, line, name, parse, *args, **kwargs)

    def contract(self, cells: list[str], line: int, name: str = "contract_number"):
        # An export guards a number that starts like a formula ("'+7-100"): read it back.
        number = strip_formula_guard(cells[self.at[name]])
        contract_id = self.contracts.get(number)
        if contract_id is None:
            self.fail(line, name, number, "is required" if not number else "no such contract")
            return BAD
        return contract_id

    def load_contracts(self, bulk: Bulk) -> None:
        table = Contract.__table__
        rows = bulk.conn.execute(sa.select(table.c.number, table.c.id))
        self.contracts = {number: id_ for number, id_ in rows}

    def contracts_with_rows(self, bulk: Bulk) -> set[int]:
        """The contracts with rows in this importer's table: only theirs need a look-up. Read
        in ``begin_write``, under the write lock, to see what an import that wrote while this
        one was checked has added."""
        return set(bulk.conn.execute(sa.select(self.table.c.contract_id).distinct()).scalars())


def local_today(now: datetime) -> date:
    """Today in the deployment's time zone (``TIMEZONE``), where "in the future" is judged."""
    try:
        return now.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()
    except (KeyError, RuntimeError, ZoneInfoNotFoundError):
        return now.date()


def memoized(parse: Callable, limit: int = 20_000) -> Callable:
    """``parse`` with a cache of its results by text (errors are not cached)."""
    cache: dict[str, object] = {}

    def cached(text: str):
        value = cache.get(text)
        if value is None:
            value = parse(text)
            if len(cache) >= limit:
                cache.clear()
            cache[text] = value
        return value

    return cached


def month_of(day: date | None) -> date | None:
    return day.replace(day=1) if day is not None else None
