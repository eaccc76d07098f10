"""documents: ``contract_number, kind, number, issued_on, period, due_on, net, vat_rate, vat,
total``, and optionally their lines: ``document_kind, document_number, description, kwh, tariff,
amount`` (a second file, ``--lines``).

The key is (contract, kind, number). Checks besides the cells:

- ``net + vat`` must equal ``total`` exactly;
- ``vat`` must be ``vat_rate`` % of ``net`` within one cent. Billing systems that round VAT
  per line differ from the VAT of the net by a cent; more than a cent means a wrong rate or a
  wrong amount, and such a file is refused (an error, not a warning: a wrong VAT figure on a
  customer's invoice is not something to let through and mention). A document with lines may
  be off by half a cent more for each line (billing rounds the VAT of each): the lines of the
  lines file, or, without one, the lines stored for the document (a corrected header comes
  alone, its lines stay);
- an invoice has a due date (only invoices are payable), and no document is due before it is
  issued.

With a lines file, the lines of the documents are the ones in it, in its order: a line names a
document of the documents file by kind and number (so two documents of the file with the same
kind and number are an error then), and the lines of each document must add up to its net.
A stored document whose lines differ gets the file's lines (counted as updated, with the
lines before and after in the audit event). Without a lines file stored lines stay as they are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from decimal import Decimal

from ...domain.csvformat import (
    parse_choice,
    parse_decimal,
    parse_text,
    parse_words,
    strip_formula_guard,
)
from ...domain.money import CENT, vat_of, vat_off, vat_tolerance
from ...models import DOCUMENT_KINDS, Document, DocumentLine
from .allocation import reallocate
from .base import BAD, Importer, changes
from .bulk import Bulk
from .reader import CsvFile

FIELDS = ("issued_on", "period", "due_on", "net", "vat_rate", "vat", "total")
LINE_FIELDS = ("description", "kwh", "tariff", "amount")
ZERO = parse_decimal("0", 2)
LINES_BATCH = 5_000
VAT_BATCH = 5_000  # rows whose VAT needs the count of their stored lines, looked up at once


class Ref:
    """A document of the file as its lines see it (kept only when there is a lines file)."""

    __slots__ = ("contract_id", "net", "vat_rate", "vat", "line", "lines_sum", "count", "fp",
                 "doc_id", "write")  # fmt: skip

    def __init__(self, contract_id: int, net, vat_rate, vat, line: int):
        self.contract_id = contract_id
        self.net = net
        self.vat_rate = vat_rate
        self.vat = vat
        self.line = line
        self.lines_sum = ZERO
        self.count = 0
        self.fp = 0
        self.doc_id = 0
        self.write = False


def line_fingerprint(previous: int, line: tuple) -> int:
    """A running fingerprint of a document's lines in order (equal lines, equal prints)."""
    return hash((previous, *line))


def render_line(line: tuple) -> str:
    description, kwh, tariff, amount = line
    return f"{description} | {kwh if kwh is not None else ''} kWh | {tariff or ''} | {amount}"


class DocumentImporter(Importer):
    kind = "documents"
    key_columns = ("contract_number", "kind", "number")
    columns = ("contract_number", "kind", "number", "issued_on", "period", "due_on", "net",
               "vat_rate", "vat", "total")  # fmt: skip
    lines_columns = ("document_kind", "document_number", "description", "kwh", "tariff", "amount")
    table = Document.__table__

    def prepare(self, bulk: Bulk) -> None:
        self.load_contracts(bulk)
        self.numbers = {id_: number for number, id_ in self.contracts.items()}
        self.refs: dict[tuple[str, str], Ref] | None = {} if self.lines_source else None
        self.bad_refs: set[tuple[str, str]] = set()
        self.replaced: list[int] = []  # stored documents whose lines the file replaces
        self.pending: dict[int, tuple[str, dict, dict]] = {}  # their audit, until lines are read
        # Without a lines file, rows whose VAT is off by more than a cent wait here for the
        # count of their document's stored lines (``_check_vat_of_stored``); only contracts with
        # stored documents can have any (read when a row first needs them).
        self.check_bulk = bulk
        self.vat_waiting: list[tuple] = []
        self.vat_waiting_upto = 0  # the last line queued
        self.contracts_with_documents: set[int] | None = None

    def parse(self, cells, line):
        take = self.take
        contract_id = self.contract(cells, line)
        kind = take(cells, line, "kind", parse_choice, DOCUMENT_KINDS)
        number = take(cells, line, "number", parse_text, 40)
        issued_on = take(cells, line, "issued_on", self.date)
        period = take(cells, line, "period", self.period)
        due_on = self.optional(cells, line, "due_on", self.date)
        net = take(cells, line, "net", parse_decimal, 2)
        vat_rate = take(cells, line, "vat_rate", parse_decimal, 2, integer_digits=3, minimum=ZERO)
        vat = take(cells, line, "vat", parse_decimal, 2)
        total = take(cells, line, "total", parse_decimal, 2)
        at = self.at
        if vat_rate is not BAD and vat_rate > 100:
            self.fail(line, "vat_rate", cells[at["vat_rate"]], "must not be more than 100 (%)")
        elif BAD not in (net, vat, total, vat_rate):
            if net + vat != total:
                self.fail(
                    line,
                    "total",
                    cells[at["total"]],
                    f"is not net + vat ({net} + {vat} = {net + vat})",
                )
            # With a lines file the check waits for the lines (``after_check``): billing may
            # round the VAT of each line, half a cent off each. Without one, for the lines stored.
            if self.refs is None and vat_off(net, vat_rate, vat, lines=0):
                self._vat_without_lines_file(
                    line, cells[at["vat"]], (contract_id, kind, number), net, vat_rate, vat
                )
        if kind == "invoice" and due_on is None:
            self.fail(line, "due_on", "", "an invoice needs a due date")
        # The balance counts an invoice's total, but payments only pay what is above zero: a
        # negative invoice would lower the debt and leave the invoice it cancels overdue.
        if kind == "invoice" and total is not BAD and total < 0:
            self.fail(
                line,
                "total",
                cells[at["total"]],
                "is below zero: a credit note is not a payable invoice "
                "(import it as a payment that names the invoice it settles)",
            )
        if due_on not in (None, BAD) and issued_on is not BAD and due_on < issued_on:
            self.fail(line, "due_on", cells[at["due_on"]], "is before issued_on")
        if self._bad and self.refs is not None and BAD not in (kind, number):
            self.bad_refs.add((kind, number))
        return (contract_id, kind, number, issued_on, period, due_on, net, vat_rate, vat, total)

    def write_row(self, cells, line):
        """``row`` without the checks, for the write pass (a million rows parse twice)."""
        (contract, kind, number, issued_on, period, due_on, net, vat_rate, vat, total) = (
            self._positions or self._find_positions()
        )
        date, due, money = self.date, cells[due_on], _money
        return (
            self.contracts[strip_formula_guard(cells[contract])],
            cells[kind].lower(),
            strip_formula_guard(cells[number]),
            date(cells[issued_on]),
            self.period(cells[period]),
            date(due) if due else None,
            money(cells[net]),
            money(cells[vat_rate]),
            money(cells[vat]),
            money(cells[total]),
        )

    _positions: tuple[int, ...] = ()

    def _find_positions(self) -> tuple[int, ...]:
        self._positions = tuple(self.at[name] for name in self.columns)
        return self._positions

    def key(self, record):
        return record[:3]

    def describe_key(self, key):
        return f"{self.numbers.get(key[0], key[0])} {key[1]} {key[2]}"

    def accept(self, line, record):
        if self.refs is None:
            return
        ref_key = (record[1], record[2])
        first = self.refs.get(ref_key)
        if first is not None:
            if first.contract_id == record[0]:
                return  # the same key twice: the duplicate check reports it
            self.fail(
                line,
                "number",
                record[2],
                f"line {first.line} has the same kind and number (for another contract): "
                "the lines file cannot tell them apart",
            )
            self.bad_refs.add(ref_key)
            return
        self.refs[ref_key] = Ref(record[0], record[6], record[7], record[8], line)

    def _vat_not_at_rate(self, line: int, value, net, vat_rate, lines: int) -> None:
        tolerance = vat_tolerance(lines)
        within = "a cent" if tolerance == CENT else f"{tolerance} for {lines} lines"
        self.fail(
            line,
            "vat",
            value,
            f"is not {vat_rate.normalize():f}% of the net {net} "
            f"({vat_of(net, vat_rate)}, within {within})",
        )

    def _vat_without_lines_file(self, line: int, value, key: tuple, net, vat_rate, vat) -> None:
        """A VAT more than a cent off, in a file without lines: wrong, unless the document is
        stored with lines that explain it (looked up in batches, not row by row)."""
        if self.contracts_with_documents is None:
            self.contracts_with_documents = self.contracts_with_rows(self.check_bulk)
        if key[0] not in self.contracts_with_documents or BAD in key:
            self._vat_not_at_rate(line, value, net, vat_rate, lines=0)  # a new document
        elif line > self.vat_waiting_upto:  # not when the file is read again for repeated keys
            self.vat_waiting_upto = line
            self.vat_waiting.append((line, value, key, net, vat_rate, vat))
            if len(self.vat_waiting) >= VAT_BATCH:
                self._check_vat_of_stored()

    def _check_vat_of_stored(self) -> None:
        """Judge the waiting rows' VAT against the number of lines stored for each document."""
        waiting, self.vat_waiting = self.vat_waiting, []
        if not waiting:
            return
        bulk, bad = self.check_bulk, self._bad  # (the row being parsed keeps its own state)
        key_names = ("contract_id", "kind", "number")
        ids = {
            row[:3]: row[3]
            for row in bulk.select_by_keys(
                self.table, key_names, [key for _, _, key, *_ in waiting], (*key_names, "id")
            )
        }
        counts = Counter(
            row[0]
            for row in bulk.select_in(
                DocumentLine.__table__, "document_id", sorted(set(ids.values())), ("document_id",)
            )
        )
        for line, value, key, net, vat_rate, vat in waiting:
            stored = counts.get(ids.get(key), 0)
            if vat_off(net, vat_rate, vat, lines=stored):
                self._vat_not_at_rate(line, value, net, vat_rate, lines=stored)
        self._bad = bad

    # --- the lines file -------------------------------------------------------------------

    def parse_line(self, cells, line) -> tuple | None:
        self._bad = False
        take, optional = self.take, self.optional
        record = (
            take(cells, line, "document_kind", parse_choice, DOCUMENT_KINDS),
            take(cells, line, "document_number", parse_text, 40),
            take(cells, line, "description", parse_words, 200),
            optional(cells, line, "kwh", parse_decimal, 3, integer_digits=11),
            optional(cells, line, "tariff", parse_decimal, 5, integer_digits=7),
            take(cells, line, "amount", parse_decimal, 2),
        )
        return None if self._bad else record

    def _lines(self, progress: Callable[[int], None]):
        """Rows of the lines file, with the importer reading that file's columns."""
        source: CsvFile = self.lines_source
        outer_at, outer_file = self.at, self.file
        self.at, self.file = source.index, source.label
        try:
            yield from self.rows_of(source, progress, self.parse_line)
        finally:
            self.at, self.file = outer_at, outer_file

    def after_check(self, bulk: Bulk, progress) -> None:
        self._check_vat_of_stored()
        if self.refs is None:
            return
        refs, bad_refs = self.refs, self.bad_refs
        lines_file, documents_file = self.lines_source.label, self.file
        for line, record in self._lines(progress):
            ref = refs.get(record[:2])
            if ref is None:
                if record[:2] not in bad_refs:
                    self.fail(
                        line,
                        "document_number",
                        record[1],
                        f"no {record[0]} with this number in {documents_file}",
                        file=lines_file,
                    )
                continue
            ref.lines_sum += record[5]
            ref.count += 1
            ref.fp = line_fingerprint(ref.fp, record[2:])
        for ref in refs.values():
            if vat_off(ref.net, ref.vat_rate, ref.vat, lines=ref.count):
                self._vat_not_at_rate(ref.line, ref.vat, ref.net, ref.vat_rate, lines=ref.count)
            if ref.lines_sum != ref.net:
                self.fail(
                    ref.line,
                    "net",
                    ref.net,
                    f"its lines in {lines_file} add up to {ref.lines_sum}"
                    + ("" if ref.count else " (it has none there)"),
                )

    # --- writing --------------------------------------------------------------------------

    def begin_write(self, bulk: Bulk) -> None:
        self.with_documents = self.contracts_with_rows(bulk)

    def write(self, bulk: Bulk, batch) -> None:
        ctx, report, refs = self.ctx, self.ctx.report, self.refs
        names = ("contract_id", "kind", "number", "id", *FIELDS)
        lookup = [record[:3] for _, record in batch if record[0] in self.with_documents]
        existing = {
            row[:3]: row
            for row in bulk.select_by_keys(
                self.table, ("contract_id", "kind", "number"), lookup, names
            )
        }
        stored_lines = self._stored_lines(bulk, [row[3] for row in existing.values()])
        new, changed = [], []
        for _, record in batch:
            row = existing.get(record[:3])
            ref = refs[(record[1], record[2])] if refs is not None else None
            if row is None:
                new.append((record, ref))
                continue
            doc_id = row[3]
            same_fields = row[4:] == record[3:]
            old_lines = stored_lines.get(doc_id, [])
            same_lines = ref is None or _fingerprint(old_lines) == ref.fp
            if same_fields and same_lines:
                report.unchanged += 1
                continue
            report.updated += 1
            before, after = changes(FIELDS, row[4:], record[3:], periods=("period",))
            if not same_fields:
                changed.append((*record[3:], doc_id))
                report.affected_contract_ids.add(record[0])
            key_text = self.describe_key(record[:3])
            if same_lines:
                ctx.audit_updated("Document", doc_id, key_text, before, after)
            else:
                ref.write, ref.doc_id = True, doc_id
                self.replaced.append(doc_id)
                before["lines"] = [render_line(line) for line in old_lines]
                after["lines"] = []
                self.pending[doc_id] = (key_text, before, after)
        ids = bulk.next_ids(self.table, len(new))
        rows = []
        for id_, (record, ref) in zip(ids, new, strict=True):
            rows.append((id_, *record, ZERO, ctx.now))
            report.affected_contract_ids.add(record[0])
            if ref is not None:
                ref.write, ref.doc_id = True, id_
        bulk.insert(self.table, ("id", *self.key_names, *FIELDS, "paid", "created_at"), rows)
        bulk.update(self.table, FIELDS, changed)
        report.new_document_ids.extend(ids)
        report.created += len(new)

    key_names = ("contract_id", "kind", "number")

    def _stored_lines(self, bulk: Bulk, doc_ids: list[int]) -> dict[int, list[tuple]]:
        if self.refs is None or not doc_ids:
            return {}
        lines: dict[int, list[tuple]] = {}
        for doc_id, *line in bulk.select_in(
            DocumentLine.__table__,
            "document_id",
            doc_ids,
            ("document_id", *LINE_FIELDS),
            order_by="document_id, position",
        ):
            lines.setdefault(doc_id, []).append(tuple(line))
        return lines

    def end_write(self, bulk: Bulk, progress) -> None:
        if self.refs is not None:
            self._write_lines(bulk, progress)
        reallocate(bulk, self.ctx.report.affected_contract_ids)

    def _write_lines(self, bulk: Bulk, progress) -> None:
        table = DocumentLine.__table__
        bulk.delete_in(table, "document_id", self.replaced)
        for ref in self.refs.values():
            ref.count = 0
        pending, refs, rows = self.pending, self.refs, []
        names = ("document_id", "position", *LINE_FIELDS)
        for _, record in self._lines(progress):
            ref = refs[record[:2]]
            if not ref.write:
                continue
            ref.count += 1
            rows.append((ref.doc_id, ref.count, *record[2:]))
            if ref.doc_id in pending:
                pending[ref.doc_id][2]["lines"].append(render_line(record[2:]))
            if len(rows) >= LINES_BATCH:
                self.ctx.report.lines_written += bulk.insert(table, names, rows)
                rows = []
        self.ctx.report.lines_written += bulk.insert(table, names, rows)
        for doc_id, (key_text, before, after) in pending.items():
            self.ctx.audit_updated("Document", doc_id, key_text, before, after)
        pending.clear()


def _money(text: str) -> Decimal:
    """A valid amount cell as ``parse_decimal(text, 2)`` reads it."""
    return Decimal(text.replace(",", ".")).quantize(CENT)


def _fingerprint(lines: list[tuple]) -> int:
    fp = 0
    for line in lines:
        fp = line_fingerprint(fp, line)
    return fp
