"""Reconciliation statement: opening + debits − credits = closing = balance at the end date."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lkapp.domain.statement import Entry, balance_at, reconciliation

ENTRIES = [
    Entry(date(2026, 1, 3), "invoice", "INV-1", Decimal("120.00")),
    Entry(date(2026, 1, 20), "payment", "PO 1 INV-1", Decimal("100.00")),
    Entry(date(2026, 2, 3), "invoice", "INV-2", Decimal("240.50")),
    Entry(date(2026, 2, 3), "payment", "PO 2", Decimal("20.00")),
    Entry(date(2026, 3, 1), "payment", "PO 3", Decimal("300.00")),
]


def test_statement_of_february():
    statement = reconciliation(ENTRIES, date(2026, 2, 1), date(2026, 2, 28))
    assert statement.opening == Decimal("20.00")
    assert [(line.reference, line.balance) for line in statement.lines] == [
        ("INV-2", Decimal("260.50")),
        ("PO 2", Decimal("240.50")),
    ]
    assert statement.debit_total == Decimal("240.50")
    assert statement.credit_total == Decimal("20.00")
    assert statement.closing == Decimal("240.50")


def test_overpayment_gives_a_negative_balance_an_advance():
    assert balance_at(ENTRIES, date(2026, 3, 31)) == Decimal("-59.50")


def test_end_before_start_is_refused():
    with pytest.raises(ValueError):
        reconciliation(ENTRIES, date(2026, 2, 1), date(2026, 1, 1))


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2)
entries = st.lists(
    st.builds(
        Entry,
        on=st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31)),
        kind=st.sampled_from(["invoice", "payment"]),
        reference=st.text(min_size=1, max_size=8),
        amount=amounts,
    ),
    max_size=40,
)


@given(
    entries=entries,
    start=st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31)),
    days=st.integers(min_value=0, max_value=800),
)
def test_closing_equals_balance_at_end_and_chains(entries, start, days):
    end = start + timedelta(days=days)
    statement = reconciliation(entries, start, end)
    assert statement.closing == statement.opening + statement.debit_total - statement.credit_total
    assert statement.closing == balance_at(entries, end)
    assert statement.opening == balance_at(entries, start - timedelta(days=1))
