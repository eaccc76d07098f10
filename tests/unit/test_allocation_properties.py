"""Property tests (hypothesis) of payment allocation and document status.

Whatever documents and payments a contract has: no payment gives more than it has, no invoice
gets more than its total, the oldest unpaid invoices are paid first, the answer does not depend
on the order things arrive in, and the statuses agree with the balance.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from lkapp.domain import balance
from lkapp.domain.allocation import (
    ZERO,
    DocumentEntry,
    PaymentEntry,
    _InvoiceNames,
    allocate,
    document_status,
)
from lkapp.domain.payment_qr import document_purpose

START = date(2024, 1, 1)

cents = st.integers(min_value=1, max_value=200_000).map(lambda c: Decimal(c).scaleb(-2))
days = st.integers(min_value=0, max_value=800).map(lambda n: START + timedelta(days=n))


@st.composite
def documents(draw):
    count = draw(st.integers(min_value=0, max_value=12))
    numbers = draw(
        st.lists(
            st.integers(min_value=1, max_value=99), min_size=count, max_size=count, unique=True
        )
    )
    docs = []
    for key, n in enumerate(numbers):
        kind = draw(st.sampled_from(["invoice", "invoice", "invoice", "vat_invoice", "act"]))
        prefix = "INV" if kind == "invoice" else "VAT"
        total = draw(st.one_of(cents, st.just(Decimal("0.00")))) if key % 5 == 4 else draw(cents)
        due_on = draw(st.one_of(days, st.none())) if key % 7 == 6 else draw(days)
        # Numbers of every shape billing may send: with spaces, # or brackets too.
        shape = draw(st.sampled_from(["{p}-2024-{n:05d}", "{p} 2024/{n:04d}", "#{n}", "({p} {n})"]))
        docs.append(DocumentEntry(f"d{key}", shape.format(p=prefix, n=n), due_on, total, kind))
    return docs


@st.composite
def contract(draw):
    """A contract's documents and payments; references may name documents (any case, with
    other words around, as the payment QR code does), name none, or name several."""
    docs = draw(documents())
    numbers = [d.number for d in docs] or ["INV-2024-00000"]
    reference = st.one_of(
        st.just(""),
        st.sampled_from(["advance", "PO 17", "electricity March", "INV-2024"]),
        st.sampled_from(numbers),
        st.builds(lambda n: f"PO 7 {n.lower()}.", st.sampled_from(numbers)),
        st.builds(lambda n: f"EL-1 / {n}", st.sampled_from(numbers)),  # the QR code's purpose
        st.builds(lambda a, b: f"{a}, {b}", st.sampled_from(numbers), st.sampled_from(numbers)),
    )
    count = draw(st.integers(min_value=0, max_value=12))
    payments = [
        PaymentEntry(f"p{i}", draw(days), draw(cents), draw(reference)) for i in range(count)
    ]
    return docs, payments


def invoices_in_order(docs):
    payable = [d for d in docs if d.kind == "invoice" and d.total > 0]
    return sorted(payable, key=lambda d: (d.due_on or date.max, d.number))


@given(contract())
def test_a_payment_gives_at_most_its_amount(case):
    docs, payments = case
    result = allocate(docs, payments)
    for p in payments:
        given_away = sum((a.amount for a in result.allocations if a.payment_key == p.key), ZERO)
        assert all(a.amount > 0 for a in result.allocations if a.payment_key == p.key)
        assert given_away <= p.amount
        assert given_away + result.unallocated[p.key] == p.amount
        assert result.unallocated[p.key] >= 0


@given(contract())
def test_no_document_is_paid_above_its_total(case):
    docs, payments = case
    result = allocate(docs, payments)
    by_key = {d.key: d for d in docs}
    for a in result.allocations:
        assert by_key[a.document_key].kind == "invoice"
    for key, paid in result.paid.items():
        received = sum((a.amount for a in result.allocations if a.document_key == key), ZERO)
        assert paid == received
        assert ZERO <= paid <= by_key[key].total
    # Money is neither created nor lost, to the cent.
    assert sum(result.paid.values(), ZERO) + result.advance == sum(
        (p.amount for p in payments), ZERO
    )


@given(contract())
def test_oldest_unpaid_invoices_are_paid_first(case):
    """Money that a payment does not give to an invoice it names goes to an invoice only when
    every invoice before it (by due date, then number) is paid in full; and money is left over
    as an advance only when every invoice is paid."""
    docs, payments = case
    result = allocate(docs, payments)
    ordered = invoices_in_order(docs)
    position = {d.key: i for i, d in enumerate(ordered)}
    names = _InvoiceNames(ordered)
    references = {p.key: p.reference for p in payments}
    for a in result.allocations:
        named = {d.key for d in names(references[a.payment_key])}
        if a.document_key in named:
            continue
        for earlier in ordered[: position[a.document_key]]:
            assert result.paid[earlier.key] == earlier.total, (a, earlier)
    if result.advance > 0:
        assert all(result.paid[d.key] == d.total for d in ordered)


@given(documents())
def test_the_payment_qr_purpose_of_an_invoice_names_that_invoice_alone(docs):
    names = _InvoiceNames(invoices_in_order(docs))
    for d in invoices_in_order(docs):
        assert names(document_purpose("EL-1", d.number)) == [d]


@given(contract())
def test_without_named_invoices_paid_invoices_form_a_prefix(case):
    docs, payments = case
    payments = [p._replace(reference="bank transfer") for p in payments]
    result = allocate(docs, payments)
    states = [
        "full" if result.paid[d.key] == d.total else "part" if result.paid[d.key] else "none"
        for d in invoices_in_order(docs)
    ]
    # full* part? none*
    text = "".join({"full": "F", "part": "P", "none": "N"}[s] for s in states)
    assert text == "F" * text.count("F") + "P" * text.count("P") + "N" * text.count("N")
    assert text.count("P") <= 1


@given(contract(), st.randoms(use_true_random=False))
def test_from_scratch_equals_any_arrival_order(case, random):
    docs, payments = case
    expected = allocate(docs, payments)
    docs, payments = docs[:], payments[:]
    random.shuffle(docs)
    random.shuffle(payments)
    assert allocate(docs, payments) == expected


@given(contract(), st.integers(min_value=0, max_value=12))
def test_reallocating_after_an_import_equals_allocating_everything(case, split):
    """Payments arrive in two imports (the second may hold older payments): reallocating after
    the second gives what allocating both at once gives, and a payment newer than all others
    leaves the earlier allocations as they were."""
    docs, payments = case
    first, second = payments[:split], payments[split:]
    allocate(docs, first)  # what the portal showed in between does not matter
    assert allocate(docs, first + second) == allocate(docs, second + first)

    latest = max((p.paid_on for p in payments), default=START)
    newer = PaymentEntry("new", latest + timedelta(days=1), Decimal("123.45"), "")
    before = allocate(docs, payments)
    after = allocate(docs, [*payments, newer])
    assert after.allocations[: len(before.allocations)] == before.allocations
    assert all(a.payment_key == "new" for a in after.allocations[len(before.allocations) :])


@settings(max_examples=150)
@given(contract(), days)
def test_statuses_agree_with_the_balance(case, today):
    docs, payments = case
    result = allocate(docs, payments)
    invoices = invoices_in_order(docs)
    paid_in = sum((p.amount for p in payments), ZERO)
    statuses = {
        d.key: document_status(d.total, result.paid[d.key], d.due_on, today) for d in invoices
    }
    summary = balance.summarize(
        [balance.Invoice(d.total, result.paid[d.key], d.due_on) for d in invoices], paid_in, today
    )
    invoiced = sum((d.total for d in invoices), ZERO)
    unpaid = sum((d.total - result.paid[d.key] for d in invoices), ZERO)

    # balance = documents - payments, to the cent, and = what is unpaid - the advance
    assert summary.balance == invoiced - paid_in == unpaid - result.advance
    # something is owed exactly when some invoice is not paid
    assert (summary.balance > 0) == any(s != "paid" for s in statuses.values())
    if summary.balance < 0:
        assert summary.balance == -result.advance
    # overdue debt is the unpaid part of exactly the invoices marked overdue
    overdue = sum(
        (d.total - result.paid[d.key] for d in invoices if statuses[d.key] == "overdue"), ZERO
    )
    assert summary.overdue == overdue
    assert (summary.state == "overdue") == ("overdue" in statuses.values())
    for d in invoices:
        status = statuses[d.key]
        paid = result.paid[d.key]
        assert (status == "paid") == (paid == d.total)
        assert status != "partly_paid" or ZERO < paid < d.total
        assert status != "unpaid" or paid == ZERO
