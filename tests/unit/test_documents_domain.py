"""Documents, pure rules: figure checks, statuses (a VAT invoice shows its invoice's), the
reconciliation statement against balances (hypothesis properties)."""

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from lkapp.documents.figures import figure_problems, status_of
from lkapp.domain.allocation import DocumentEntry, PaymentEntry, allocate
from lkapp.domain.balance import Invoice, summarize
from lkapp.domain.statement import Entry, balance_at, default_range, reconciliation

D = Decimal
TODAY = date(2026, 3, 15)


def test_figures_that_add_up_have_no_problem():
    assert figure_problems(D("100.00"), D("27.00"), D("127.00"), [D("60.00"), D("40.00")]) == []
    assert figure_problems(D("100.00"), D("27.00"), D("127.00"), None) == []  # no lines sent


def test_figures_that_do_not_add_up_are_named():
    assert figure_problems(D("100.00"), D("27.00"), D("127.00"), [D("60.00")]) == ["lines"]
    assert figure_problems(D("100.00"), D("27.00"), D("127.01"), []) == ["total"]
    assert figure_problems(D("100.00"), D("27.00"), D("1.00"), [D("1.00")]) == ["lines", "total"]


def test_a_cent_off_is_a_problem():
    assert figure_problems(D("0.10"), D("0.02"), D("0.13"), [D("0.05"), D("0.05")]) == ["total"]


def test_invoice_statuses():
    assert status_of("invoice", D("100"), D("100"), date(2026, 1, 1), TODAY) == "paid"
    assert status_of("invoice", D("100"), D("150"), None, TODAY) == "paid"
    assert status_of("invoice", D("100"), D("40"), TODAY, TODAY) == "partly_paid"  # due today
    assert status_of("invoice", D("100"), D("40"), TODAY - timedelta(1), TODAY) == "overdue"
    assert status_of("invoice", D("100"), D("0"), TODAY + timedelta(1), TODAY) == "unpaid"
    assert status_of("invoice", D("100"), None, None, TODAY) == "unpaid"


def test_vat_invoice_without_its_invoice_has_no_status():
    assert status_of("vat_invoice", None, None, None, TODAY) is None
    assert status_of("act", D("10"), D("10"), None, TODAY) == "paid"


amounts = st.decimals(min_value=D("0.01"), max_value=D("99999.99"), places=2)
days = st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31))


@given(
    invoices=st.lists(st.tuples(days, amounts), max_size=30),
    payments=st.lists(st.tuples(days, amounts), max_size=30),
    start=days,
    length=st.integers(min_value=0, max_value=1200),
)
def test_statement_chains_and_closes_at_documents_minus_payments(invoices, payments, start, length):
    end = start + timedelta(days=length)
    entries = [Entry(on, "invoice", f"INV-{i}", a) for i, (on, a) in enumerate(invoices)]
    entries += [Entry(on, "payment", f"PO-{i}", a) for i, (on, a) in enumerate(payments)]
    statement = reconciliation(entries, start, end)
    assert statement.opening + statement.debit_total - statement.credit_total == statement.closing
    invoiced = sum((a for on, a in invoices if on <= end), D("0.00"))
    paid = sum((a for on, a in payments if on <= end), D("0.00"))
    assert statement.closing == invoiced - paid == balance_at(entries, end)
    assert all(start <= line.on <= end for line in statement.lines)
    assert [line.on for line in statement.lines] == sorted(line.on for line in statement.lines)
    if statement.lines:
        assert statement.lines[-1].balance == statement.closing


@given(
    invoices=st.lists(st.tuples(days, amounts), max_size=30),
    payments=st.lists(st.tuples(days, amounts), max_size=30),
    today=days,
)
def test_the_default_statement_closes_at_the_balance_of_everything_on_record(
    invoices, payments, today
):
    """Whatever is dated after today (billing's time zone) is in the default range too."""
    entries = [Entry(on, "invoice", f"INV-{i}", a) for i, (on, a) in enumerate(invoices)]
    entries += [Entry(on, "payment", f"PO-{i}", a) for i, (on, a) in enumerate(payments)]
    start, end = default_range(entries, today)
    assert start == date(today.year, 1, 1) and end >= today
    everything = sum((a for _, a in invoices), D("0.00")) - sum((a for _, a in payments), D("0"))
    assert reconciliation(entries, start, end).closing == everything


@given(
    invoices=st.lists(st.tuples(days, amounts), min_size=1, max_size=20),
    payments=st.lists(st.tuples(days, amounts), max_size=20),
)
def test_statuses_after_allocation_agree_with_the_balance(invoices, payments):
    """Allocate payments, then: an invoice is ``paid`` exactly when fully covered; the unpaid
    parts less the advance are the balance the Overview shows, and the statement closes there."""
    docs = [
        DocumentEntry(i, f"INV-{i}", on + timedelta(days=15), total)
        for i, (on, total) in enumerate(invoices)
    ]
    pays = [PaymentEntry(i, on, amount) for i, (on, amount) in enumerate(payments)]
    result = allocate(docs, pays)
    for doc in docs:
        paid = result.paid[doc.key]
        status = status_of("invoice", doc.total, paid, doc.due_on, TODAY)
        assert (status == "paid") == (paid == doc.total)
        if status == "partly_paid":
            assert D("0") < paid < doc.total and doc.due_on >= TODAY
    summary = summarize(
        [Invoice(d.total, result.paid[d.key], d.due_on) for d in docs],
        sum((p.amount for p in pays), D("0.00")),
        TODAY,
    )
    unpaid = sum((d.total - result.paid[d.key] for d in docs), D("0.00"))
    assert summary.balance == unpaid - result.advance
    entries = [Entry(on, "invoice", f"INV-{i}", a) for i, (on, a) in enumerate(invoices)]
    entries += [Entry(on, "payment", f"PO-{i}", a) for i, (on, a) in enumerate(payments)]
    last = max(on for on, _a in invoices + payments)
    assert reconciliation(entries, date(2024, 1, 1), last).closing == summary.balance
