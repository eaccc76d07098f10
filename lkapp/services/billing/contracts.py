"""contracts: ``number, holder_name, tax_id, address, status``; the key is the number.

An empty status means ``active`` (the table's default). An import never touches the account a
contract is attached to: that belongs to the portal.
"""

from __future__ import annotations

from ...domain.csvformat import parse_choice, parse_text
from ...models import CONTRACT_STATUSES, Contract
from .base import Importer, changes
from .bulk import Bulk

FIELDS = ("holder_name", "tax_id", "address", "status")


class ContractImporter(Importer):
    kind = "contracts"
    key_columns = ("number",)
    columns = ("number", "holder_name", "tax_id", "address", "status")
    table = Contract.__table__

    def parse(self, cells, line):
        take = self.take
        status = cells[self.at["status"]]
        return (
            take(cells, line, "number", parse_text, 30),
            take(cells, line, "holder_name", parse_text, 200),
            take(cells, line, "tax_id", parse_text, 20, required=False),
            take(cells, line, "address", parse_text, 300, required=False),
            take(cells, line, "status", parse_choice, CONTRACT_STATUSES) if status else "active",
        )

    def key(self, record):
        return record[:1]

    def write(self, bulk: Bulk, batch) -> None:
        ctx, report = self.ctx, self.ctx.report
        existing = {
            row[1]: row
            for row in bulk.select_in(
                self.table, "number", [record[0] for _, record in batch], ("id", "number", *FIELDS)
            )
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
                ctx.audit_updated(
                    "Contract", row[0], record[0], *changes(FIELDS, row[2:], record[1:])
                )
        ids = bulk.next_ids(self.table, len(new))
        bulk.insert(
            self.table,
            ("id", "number", *FIELDS, "created_at"),
            [(id_, *record, ctx.now) for id_, record in zip(ids, new, strict=True)],
        )
        bulk.update(self.table, FIELDS, changed)
        report.created += len(new)
        report.updated += len(changed)
