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
    number: str = ""


@dataclass(frozen=True)
class Summary:
    balance: Decimal = ZERO
    overdue: Decimal = ZERO
    next_due_on: date | None = None
    next_due_amount: Decimal = ZERO
    # The oldest invoice with an unpaid part past its due date (by due date, then number).
    oldest_overdue_on: date | None = None
    oldest_overdue_number: str = ""
    days_overdue: int = 0  # days since oldest_overdue_on, as of the day the figures are for

    @property
    def state(self) -> str:
        return debt_state(self.balance, self.overdue)

    @property
    def advance(self) -> Decimal:
        """Paid beyond every invoice (a negative balance), as a positive amount."""
        return -self.balance if self.balance < 0 else ZERO


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
    late = [i for i in invoices if _unpaid(i) and i.due_on and i.due_on < today]
    oldest = min(late, key=lambda i: (i.due_on, i.number), default=None)
    return Summary(
        invoiced - payments_total,
        overdue,
        next_due,
        next_amount,
        oldest.due_on if oldest else None,
        oldest.number if oldest else "",
        days_overdue(oldest.due_on if oldest else None, today),
    )


def days_overdue(due_on: date | None, today: date) -> int:
    """Whole days a due date lies behind ``today`` (0 when not yet passed or none)."""
    return max((today - due_on).days, 0) if due_on else 0


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
