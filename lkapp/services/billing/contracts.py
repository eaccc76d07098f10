"""contracts: ``number, holder_name, tax_id, address, status``; the key is the number.

An empty status means ``active`` (the table's default). An import never touches the account a
contract is attached to: that belongs to the portal.
"""

from __future__ import annotations

from ...domain.csvformat import parse_choice, parse_contract_number, parse_text, parse_words
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
            take(cells, line, "number", parse_contract_number),
            take(cells, line, "holder_name", parse_words, 200),
            take(cells, line, "tax_id", parse_text, 20, required=False),
            take(cells, line, "address", parse_words, 300, required=False),
            take(cells, line, "status", parse_choice, CONTRACT_STATUSES) if status else "active",
        )

    def key(self, record):
        return record[:1]

    def write(self, bulk: Bulk, batch) -> None:
        def audit(row, record):
            self.ctx.audit_updated(
                "Contract", row[0], record[0], *changes(FIELDS, row[2:], record[1:])
            )

        self.upsert(bulk, batch, "number", FIELDS, audit, created_at=self.ctx.now)
