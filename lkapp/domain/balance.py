"""A contract's balance, overdue debt and next due date (pure).

Only invoices count (a VAT invoice or an act accompanies an invoice). Balance = invoice totals
− payments: positive means the customer owes, negative is an advance. Overdue debt = the unpaid
part of invoices whose due date has passed. Next due date = the earliest due date, today or
later, of an invoice with an unpaid part. ``lkapp.electricity.services`` computes the same
figures in one grouped SQL query for lists; this module is the reference and the badge rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Invoice:
    total: Decimal
    paid: Decimal
    due_on: date | None


@dataclass(frozen=True)
class Summary:
    balance: Decimal = ZERO
    overdue: Decimal = ZERO
    next_due_on: date | None = None
    next_due_amount: Decimal = ZERO

    @property
    def state(self) -> str:
        return debt_state(self.balance, self.overdue)


def summarize(invoices: Iterable[Invoice], payments_total: Decimal, today: date) -> Summary:
    invoices = list(invoices)
    invoiced = sum((i.total for i in invoices), ZERO)
    overdue = sum(
        (i.total - i.paid for i in invoices if _unpaid(i) and i.due_on and i.due_on < today),
        ZERO,
    )
    upcoming = [i for i in invoices if _unpaid(i) and i.due_on and i.due_on >= today]
    next_due = min((i.due_on for i in upcoming), default=None)
    next_amount = sum((i.total - i.paid for i in upcoming if i.due_on == next_due), ZERO)
    return Summary(invoiced - payments_total, overdue, next_due, next_amount)


def _unpaid(invoice: Invoice) -> bool:
    return invoice.total > invoice.paid


def debt_state(balance: Decimal, overdue: Decimal) -> str:
    """For the badge: ``overdue`` (a due date passed unpaid), ``due`` (owes, not late yet),
    ``advance`` (paid ahead) or ``clear``."""
    if overdue > 0:
        return "overdue"
    if balance > 0:
        return "due"
    if balance < 0:
        return "advance"
    return "clear"
