"""Balance, overdue debt and next due date of a contract, and the badge rule (pure)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from lkapp.domain.balance import Invoice, Summary, debt_state, summarize

TODAY = date(2026, 11, 20)
D = Decimal


def test_nothing_yet_is_clear():
    summary = summarize([], D("0.00"), TODAY)
    assert summary == Summary()
    assert summary.state == "clear" and summary.next_due_on is None


def test_balance_overdue_and_next_due():
    invoices = [
        Invoice(D("100.00"), D("40.00"), TODAY - timedelta(days=1)),  # 60 overdue
        Invoice(D("50.00"), D("50.00"), TODAY - timedelta(days=30)),  # paid
        Invoice(D("200.00"), D("0.00"), TODAY + timedelta(days=10)),
        Invoice(D("80.00"), D("0.00"), TODAY),  # due today: not overdue yet, next due
        Invoice(D("30.00"), D("0.00"), None),  # no due date: only in the balance
    ]
    summary = summarize(invoices, D("120.00"), TODAY)
    assert summary.balance == D("340.00")  # 460 invoiced − 120 paid
    assert summary.overdue == D("60.00")
    assert summary.next_due_on == TODAY
    assert summary.state == "overdue"


def test_paid_upcoming_invoice_is_not_the_next_due():
    invoices = [
        Invoice(D("10.00"), D("10.00"), TODAY + timedelta(days=1)),
        Invoice(D("10.00"), D("0.00"), TODAY + timedelta(days=5)),
    ]
    assert summarize(invoices, D("10.00"), TODAY).next_due_on == TODAY + timedelta(days=5)


def test_badge_states():
    assert debt_state(D("10.00"), D("0.01")) == "overdue"
    assert debt_state(D("10.00"), D("0.00")) == "due"
    assert debt_state(D("-5.00"), D("0.00")) == "advance"
    assert debt_state(D("0.00"), D("0.00")) == "clear"
