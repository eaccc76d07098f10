"""The reconciliation statement of a contract for a date range, and the balance at a date.

Balance = invoices issued − payments received (positive: the customer owes; negative: an
advance). Only invoices count: a VAT invoice or an act accompanies an invoice and never
changes the balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Entry:
    """One invoice (debit) or payment (credit) of the contract's account."""

    on: date
    kind: str  # "invoice" | "payment"
    reference: str  # the invoice number or the payment order reference
    amount: Decimal


@dataclass(frozen=True)
class StatementLine:
    on: date
    kind: str
    reference: str
    debit: Decimal
    credit: Decimal
    balance: Decimal


@dataclass(frozen=True)
class Statement:
    start: date
    end: date
    opening: Decimal
    lines: list[StatementLine]
    debit_total: Decimal
    credit_total: Decimal
    closing: Decimal


def _sign(entry: Entry) -> Decimal:
    return entry.amount if entry.kind == "invoice" else -entry.amount


def balance_at(entries: list[Entry], on: date) -> Decimal:
    """The balance at the end of day ``on``."""
    return sum((_sign(e) for e in entries if e.on <= on), Decimal("0.00"))


def default_range(entries: list[Entry], today: date) -> tuple[date, date]:
    """This year so far, to the latest entry if one is dated after today (billing dates a
    payment in its own time zone, which may be tomorrow here already): the closing balance
    is then the balance the portal shows."""
    latest = max((entry.on for entry in entries), default=today)
    return date(today.year, 1, 1), max(today, latest)


def reconciliation(entries: list[Entry], start: date, end: date) -> Statement:
    """Opening balance, every entry in the range in date order (invoices before payments on
    the same day), the turnover and the closing balance."""
    if end < start:
        raise ValueError("end before start")
    opening = sum((_sign(e) for e in entries if e.on < start), Decimal("0.00"))
    in_range = sorted(
        (e for e in entries if start <= e.on <= end),
        key=lambda e: (e.on, e.kind != "invoice", e.reference),
    )
    running = opening
    lines = []
    debit_total = credit_total = Decimal("0.00")
    for entry in in_range:
        debit = entry.amount if entry.kind == "invoice" else Decimal("0.00")
        credit = entry.amount if entry.kind == "payment" else Decimal("0.00")
        debit_total += debit
        credit_total += credit
        running += debit - credit
        lines.append(StatementLine(entry.on, entry.kind, entry.reference, debit, credit, running))
    return Statement(start, end, opening, lines, debit_total, credit_total, running)
