"""Reallocating the payments of contracts after an import, in the import's transaction.

``lkapp.domain.allocation.allocate`` decides from scratch for one contract; this module loads
the contracts' documents, payments and current allocations in batches, and writes only the
difference: allocation rows that go, rows that come, and ``documents.paid`` where it moves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from ...domain.allocation import DocumentEntry, PaymentEntry, allocate
from ...models import Document, Payment, PaymentAllocation
from .bulk import Bulk

CONTRACTS_PER_BATCH = 200
ZERO = Decimal("0.00")


def reallocate(bulk: Bulk, contract_ids: Iterable[int]) -> int:
    """Allocate the payments of ``contract_ids`` afresh; the number of documents whose paid
    amount changed."""
    documents, payments = Document.__table__, Payment.__table__
    contract_ids = sorted(contract_ids)
    paying = {
        row[0] for row in bulk.select_in(payments, "contract_id", contract_ids, ("contract_id",))
    }
    # Without payments nothing is paid: only a stale paid amount may need clearing.
    idle = [contract_id for contract_id in contract_ids if contract_id not in paying]
    stale = bulk.select_in(documents, "contract_id", idle, ("id",), where="paid <> 0")
    moved = bulk.update(documents, ("paid",), [(ZERO, row[0]) for row in stale])
    busy = [contract_id for contract_id in contract_ids if contract_id in paying]
    for start in range(0, len(busy), CONTRACTS_PER_BATCH):
        moved += _reallocate_batch(bulk, busy[start : start + CONTRACTS_PER_BATCH])
    return moved


def _reallocate_batch(bulk: Bulk, contract_ids: list[int]) -> int:
    documents, payments = Document.__table__, Payment.__table__
    allocations = PaymentAllocation.__table__
    docs = defaultdict(list)
    paid_now: dict[int, Decimal] = {}
    for id_, contract_id, kind, number, due_on, total, paid in bulk.select_in(
        documents,
        "contract_id",
        contract_ids,
        ("id", "contract_id", "kind", "number", "due_on", "total", "paid"),
    ):
        docs[contract_id].append(DocumentEntry(id_, number, due_on, total, kind))
        paid_now[id_] = paid
    pays = defaultdict(list)
    for id_, contract_id, paid_on, amount, reference in bulk.select_in(
        payments,
        "contract_id",
        contract_ids,
        ("id", "contract_id", "paid_on", "amount", "reference"),
    ):
        pays[contract_id].append(PaymentEntry(id_, paid_on, amount, reference))
    payment_ids = [entry.key for entries in pays.values() for entry in entries]
    stored: dict[tuple[int, int], list[tuple[int, Decimal]]] = defaultdict(list)
    for id_, payment_id, document_id, amount in bulk.select_in(
        allocations, "payment_id", payment_ids, ("id", "payment_id", "document_id", "amount")
    ):
        stored[(payment_id, document_id)].append((id_, amount))

    wanted: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    paid_new: dict[int, Decimal] = {}
    for contract_id in contract_ids:
        result = allocate(docs.get(contract_id, []), pays.get(contract_id, []))
        for allocation in result.allocations:
            wanted[(allocation.payment_key, allocation.document_key)] += allocation.amount
        paid_new.update(result.paid)

    drop, add = [], []
    for pair, rows in stored.items():
        if len(rows) != 1 or wanted.get(pair) != rows[0][1]:
            drop.extend(id_ for id_, _ in rows)
    for pair, amount in wanted.items():
        rows = stored.get(pair)
        if rows is None or len(rows) != 1 or rows[0][1] != amount:
            add.append((*pair, amount))
    bulk.delete_in(allocations, "id", drop)
    bulk.insert(allocations, ("payment_id", "document_id", "amount"), add)

    changed = [
        (paid_new.get(id_, ZERO), id_)
        for id_, paid in paid_now.items()
        if paid_new.get(id_, ZERO) != paid
    ]
    bulk.update(documents, ("paid",), changed)
    return len(changed)
