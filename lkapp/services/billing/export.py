"""CSV exports for reconciliation with billing, and the CSV writer every export shares.

The format, chosen for both a spreadsheet and the billing system's import:

- UTF-8 with a BOM (Excel needs it to read UTF-8; our importer and most tools skip it);
- ``;`` between cells (Excel in the utility's locales splits on it when opening the file;
  ``,`` would clash with a decimal comma), CRLF line ends, quotes only where needed;
- the same column names, in the same order, as the import formats of DESIGN.md, so an export
  imports back unchanged (a round trip);
- dates ``YYYY-MM-DD``, periods ``YYYY-MM``, amounts with a decimal point and exactly their
  stored decimals (``decimal_comma=True`` writes a comma instead; the importer takes both);
- every cell guarded against spreadsheet formulas (``domain.csvformat.spreadsheet_safe``).

Rows stream from the database to the output (server-side cursors where the driver has them),
so a big export does not sit in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import TextIO

import sqlalchemy as sa

from ...domain.csvformat import format_cell, format_period, spreadsheet_safe
from ...extensions import db
from ...models import Contract, Document, DocumentLine, Payment

DELIMITER = ";"
BOM = "\ufeff"
STREAM_ROWS = 2_000

DOCUMENT_COLUMNS = ("contract_number", "kind", "number", "issued_on", "period", "due_on", "net",
                    "vat_rate", "vat", "total")  # fmt: skip
LINE_COLUMNS = ("document_kind", "document_number", "description", "kwh", "tariff", "amount")
PAYMENT_COLUMNS = ("contract_number", "paid_on", "amount", "reference")


def csv_chunks(
    columns: Sequence[str],
    rows: Iterable[Sequence],
    *,
    delimiter: str = DELIMITER,
    bom: bool = True,
    decimal_comma: bool = False,
    period_columns: Sequence[str] = ("period",),
) -> Iterator[str]:
    """The CSV text in chunks (for a file or a streamed HTTP response).

    Values are formatted by ``format_cell`` (None is empty, dates ISO, Decimals as stored) and
    guarded by ``spreadsheet_safe``; a date in one of ``period_columns`` is written ``YYYY-MM``.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    periods = {i for i, name in enumerate(columns) if name in period_columns}
    if bom:
        buffer.write(BOM)
    writer.writerow(columns)
    for count, row in enumerate(rows, 1):
        writer.writerow(
            [
                spreadsheet_safe(
                    format_period(value)
                    if i in periods and isinstance(value, date)
                    else format_cell(value, decimal_comma=decimal_comma)
                )
                for i, value in enumerate(row)
            ]
        )
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_csv(out: TextIO, columns: Sequence[str], rows: Iterable[Sequence], **options) -> int:
    """Write ``rows`` under ``columns`` to ``out`` (a text stream opened with
    ``newline=""``); the number of rows. Options as for ``csv_chunks``."""
    counted = _Counter(rows)
    for chunk in csv_chunks(columns, counted, **options):
        out.write(chunk)
    return counted.count


class _Counter:
    def __init__(self, rows: Iterable):
        self.rows = rows
        self.count = 0

    def __iter__(self):
        for row in self.rows:
            self.count += 1
            yield row


def month_range(period: date) -> tuple[date, date]:
    start = period.replace(day=1)
    end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return start, end


def _stream(statement) -> Iterator[sa.Row]:
    with db.engine.connect() as conn:
        yield from conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(
            statement
        )


def document_rows(period: date) -> Iterator[sa.Row]:
    """The documents of billing period ``period`` (any day of the month), in the import
    format's column order."""
    d, c = Document.__table__.c, Contract.__table__.c
    statement = (
        sa.select(
            c.number,
            d.kind,
            d.number,
            d.issued_on,
            d.period,
            d.due_on,
            d.net,
            d.vat_rate,
            d.vat,
            d.total,
        )  # fmt: skip
        .join_from(Document.__table__, Contract.__table__, d.contract_id == c.id)
        .where(d.period == period.replace(day=1))
        .order_by(c.number, d.kind, d.number)
    )
    return _stream(statement)


def document_line_rows(period: date) -> Iterator[sa.Row]:
    d, c, line = Document.__table__.c, Contract.__table__.c, DocumentLine.__table__.c
    statement = (
        sa.select(d.kind, d.number, line.description, line.kwh, line.tariff, line.amount)
        .join_from(DocumentLine.__table__, Document.__table__, line.document_id == d.id)
        .join(Contract.__table__, d.contract_id == c.id)
        .where(d.period == period.replace(day=1))
        .order_by(c.number, d.kind, d.number, line.position)
    )
    return _stream(statement)


def payment_rows(period: date) -> Iterator[sa.Row]:
    """The payments received in the month of ``period``."""
    p, c = Payment.__table__.c, Contract.__table__.c
    start, end = month_range(period)
    statement = (
        sa.select(c.number, p.paid_on, p.amount, p.reference)
        .join_from(Payment.__table__, Contract.__table__, p.contract_id == c.id)
        .where(p.paid_on >= start, p.paid_on < end)
        .order_by(p.paid_on, c.number, p.reference, p.amount)
    )
    return _stream(statement)


def export_documents(out: TextIO, period: date, **options) -> int:
    return write_csv(out, DOCUMENT_COLUMNS, document_rows(period), **options)


def export_document_lines(out: TextIO, period: date, **options) -> int:
    return write_csv(out, LINE_COLUMNS, document_line_rows(period), **options)


def export_payments(out: TextIO, period: date, **options) -> int:
    return write_csv(out, PAYMENT_COLUMNS, payment_rows(period), **options)
