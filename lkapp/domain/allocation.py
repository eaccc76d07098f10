"""Payment allocation: which invoices a contract's payments pay, and each invoice's status.

The rules: a payment whose reference names an invoice number pays that invoice first (several
named invoices in the order the reference names them); what is left of it, and every payment
that names none, pays the oldest unpaid invoices first (by due date, then number). Only invoices
are payable. Whatever no invoice takes stays with the payment as an advance, and pays invoices
that come later.

The result depends only on the set of documents and payments, not on the order they come in:
payments are taken by (paid_on, reference, amount, key) and invoices by (due_on, number), so
allocating everything afresh after an older payment turns up gives the same answer as if it had
been there from the start (the key settles payments alike in all else: two transfers of the
same amount on the same day must not swap invoices with the order they come in). Callers
therefore always reallocate a contract from scratch.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import NamedTuple

ZERO = Decimal("0.00")


class DocumentEntry(NamedTuple):
    """A document as allocation sees it; ``key`` is the caller's id for it."""

    key: Hashable
    number: str
    due_on: date | None
    total: Decimal
    kind: str = "invoice"


class PaymentEntry(NamedTuple):
    key: Hashable  # orderable among one contract's payments (the database id)
    paid_on: date
    amount: Decimal
    reference: str = ""


class Allocation(NamedTuple):
    payment_key: Hashable
    document_key: Hashable
    amount: Decimal


@dataclass
class AllocationResult:
    allocations: list[Allocation] = field(default_factory=list)
    # Per invoice: the part that payments cover (0.00 when none does).
    paid: dict[Hashable, Decimal] = field(default_factory=dict)
    # Per payment: the part no invoice took.
    unallocated: dict[Hashable, Decimal] = field(default_factory=dict)

    @property
    def advance(self) -> Decimal:
        """Money paid beyond every invoice: it pays the next invoices to come."""
        return sum(self.unallocated.values(), ZERO)


def _plain(text: str) -> str:
    """``text`` as references and numbers are compared: upper case, whitespace runs as one
    space, none at the ends."""
    return " ".join(text.upper().split())


class _InvoiceNames:
    """Which invoices a payment reference names, set up once per allocation.

    A reference names an invoice when the invoice's number occurs in it as a whole: in any case
    and with any run of whitespace for each space, and with neither a letter nor a digit right
    before or after it (``INV-1`` is not in ``INV-12``, but is in ``PO 7, inv-1.``; ``SZ
    2024/0002`` is in the QR purpose ``EL-1 / SZ 2024/0002``). The reference is read from left
    to right, the longest number first where several start at one place, and what one named
    number covers names nothing else: ``SZ 2024/0002`` names that invoice, not also an invoice
    ``2024/0002``. Work per reference grows with its length, not with the number of invoices.
    """

    def __init__(self, invoices: Iterable[DocumentEntry]) -> None:
        # A later invoice wins a number that differs only in case or spacing (as ever).
        self.by_number = {plain: d for d in invoices if (plain := _plain(d.number))}
        self.lengths = sorted({len(number) for number in self.by_number}, reverse=True)

    def __call__(self, reference: str) -> list[DocumentEntry]:
        """The invoices ``reference`` names, each once, in the order it names them."""
        named: dict[Hashable, DocumentEntry] = {}
        text = _plain(reference)
        end = len(text)
        start = 0
        while start < end and self.by_number:
            for length in self.lengths:
                stop = start + length
                if stop > end or (stop < end and text[stop].isalnum()):
                    continue
                invoice = self.by_number.get(text[start:stop])
                if invoice is not None:
                    named.setdefault(invoice.key, invoice)
                    start = stop
                    break
            else:
                start += 1
            # A number begins at the start or after a character that is neither letter nor digit.
            while start < end and start > 0 and text[start - 1].isalnum():
                start += 1
        return list(named.values())


def allocate(
    documents: Iterable[DocumentEntry], payments: Iterable[PaymentEntry]
) -> AllocationResult:
    """Allocate all ``payments`` of one contract to its ``documents`` from scratch."""
    invoices = sorted(
        (d for d in documents if d.kind == "invoice" and d.total > 0),
        key=lambda d: (d.due_on or date.max, d.number),
    )
    named_invoices = _InvoiceNames(invoices)
    unpaid = {d.key: d.total for d in invoices}
    result = AllocationResult()
    oldest = 0  # invoices before this index are paid in full

    def pay(payment: PaymentEntry, invoice: DocumentEntry, money: Decimal) -> Decimal:
        amount = min(money, unpaid[invoice.key])
        if amount <= 0:
            return money
        unpaid[invoice.key] -= amount
        result.allocations.append(Allocation(payment.key, invoice.key, amount))
        return money - amount

    for payment in sorted(payments, key=lambda p: (p.paid_on, p.reference, p.amount, p.key)):
        money = payment.amount
        for invoice in named_invoices(payment.reference):
            money = pay(payment, invoice, money)
        while money > 0 and oldest < len(invoices):
            invoice = invoices[oldest]
            if unpaid[invoice.key] > 0:
                money = pay(payment, invoice, money)
            else:
                oldest += 1
        result.unallocated[payment.key] = money

    result.paid = {d.key: d.total - unpaid[d.key] for d in invoices}
    return result


def document_status(total: Decimal, paid: Decimal, due_on: date | None, today: date) -> str:
    """``paid``, ``partly_paid``, ``unpaid`` or ``overdue`` (something unpaid after due date)."""
    if total - paid <= 0:
        return "paid"
    if due_on is not None and today > due_on:
        return "overdue"
    return "partly_paid" if paid > 0 else "unpaid"
