"""Pure checks and rules of a document's figures (no Flask, no database).

The portal shows what billing issued and never recomputes tax; it only checks that the figures
agree with each other: the lines add up to the net amount, and net + VAT = total. A document
that fails either check is shown with a warning and is never offered as a valid document
(no PDF, no payment QR code).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from ..domain.allocation import document_status

ZERO = Decimal("0.00")
STATUSES = ("paid", "partly_paid", "unpaid", "overdue")


def figure_problems(
    net: Decimal, vat: Decimal, total: Decimal, line_amounts: Iterable[Decimal] | None
) -> list[str]:
    """Codes of what does not add up: ``lines`` (the lines' sum is not the net amount) and
    ``total`` (net + VAT is not the total). A document without lines is checked on its totals
    alone (billing may send lines separately, or none)."""
    problems = []
    amounts = list(line_amounts or [])
    if amounts and sum(amounts, ZERO) != net:
        problems.append("lines")
    if net + vat != total:
        problems.append("total")
    return problems


def status_of(
    kind: str,
    total: Decimal | None,
    paid: Decimal | None,
    due_on: date | None,
    today: date,
) -> str | None:
    """The payment status a document shows. An invoice has its own; a VAT invoice or an act
    shows the status of the invoice it accompanies, so the caller passes that invoice's figures
    (None when there is no such invoice: then it has no status)."""
    if total is None:
        return None
    return document_status(total, paid or ZERO, due_on, today)
