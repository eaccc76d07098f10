"""payments: ``contract_number, paid_on, amount, reference``.

The key is the whole row (contract, reference, paid_on, amount): a payment is either known or
new, never updated. The reference is the transfer's purpose as the bank statement carries it,
up to the 140 characters of a SEPA purpose (the portal's QR code puts "CONTRACT / DOCUMENT"
there, up to 73). After the write, the payments of every contract that got a new one are
allocated afresh (``allocation.reallocate``), in the same transaction.
"""

from __future__ import annotations

from datetime import timedelta

from ...domain.csvformat import parse_decimal, parse_text
from ...domain.payment_qr import MAX_PURPOSE
from ...models import Payment
from .allocation import reallocate
from .base import BAD, Importer
from .bulk import Bulk

KEY = ("contract_id", "reference", "paid_on", "amount")


class PaymentImporter(Importer):
    kind = "payments"
    key_columns = ("contract_number", "reference", "paid_on", "amount")
    columns = ("contract_number", "paid_on", "amount", "reference")
    table = Payment.__table__

    def prepare(self, bulk: Bulk) -> None:
        self.load_contracts(bulk)
        self.numbers = {id_: number for number, id_ in self.contracts.items()}
        # A payment may carry tomorrow's date where billing runs in a time zone ahead of UTC.
        self.latest = self.ctx.today + timedelta(days=1)

    def parse(self, cells, line):
        paid_on = self.take(cells, line, "paid_on", self.date)
        if paid_on is not BAD and paid_on > self.latest:
            self.fail(line, "paid_on", cells[self.at["paid_on"]], "is in the future")
        return (
            self.contract(cells, line),
            self.take(cells, line, "reference", parse_text, MAX_PURPOSE, required=False),
            paid_on,
            self.take(cells, line, "amount", parse_decimal, 2, positive=True),
        )

    def key(self, record):
        return record

    def describe_key(self, key):
        return f"{self.numbers.get(key[0], key[0])} {key[2]} {key[3]} {key[1]!r}"

    def begin_write(self, bulk: Bulk) -> None:
        self.with_payments = self.contracts_with_rows(bulk)

    def write(self, bulk: Bulk, batch) -> None:
        ctx, report = self.ctx, self.ctx.report
        lookup = [record for _, record in batch if record[0] in self.with_payments]
        existing = set(bulk.select_by_keys(self.table, KEY, lookup, KEY))
        new = [record for _, record in batch if record not in existing]
        ids = bulk.next_ids(self.table, len(new))
        bulk.insert(
            self.table,
            ("id", *KEY, "created_at"),
            [(id_, *record, ctx.now) for id_, record in zip(ids, new, strict=True)],
        )
        report.created += len(new)
        report.unchanged += len(batch) - len(new)
        report.affected_contract_ids.update(record[0] for record in new)

    def end_write(self, bulk: Bulk, progress) -> None:
        reallocate(bulk, self.ctx.report.affected_contract_ids)
