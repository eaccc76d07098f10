"""Payment allocation and document status: pure functions, no app."""

import random
from datetime import date
from decimal import Decimal

from lkapp.domain.allocation import (
    Allocation,
    DocumentEntry,
    PaymentEntry,
    allocate,
    document_status,
)
from lkapp.domain.payment_qr import document_purpose

D = Decimal


def invoice(key, number, due_on, total, kind="invoice"):
    return DocumentEntry(key=key, number=number, due_on=due_on, total=D(total), kind=kind)


def payment(key, paid_on, amount, reference=""):
    return PaymentEntry(key=key, paid_on=paid_on, amount=D(amount), reference=reference)


JAN = invoice(1, "INV-2025-0000001", date(2025, 2, 20), "100.00")
FEB = invoice(2, "INV-2025-0000002", date(2025, 3, 20), "200.00")
MAR = invoice(3, "INV-2025-0000003", date(2025, 4, 20), "300.00")
INVOICES = [JAN, FEB, MAR]


def test_named_invoice_is_paid_first():
    result = allocate(
        INVOICES, [payment("p", date(2025, 4, 1), "300.00", "PO 77 INV-2025-0000003")]
    )
    assert result.allocations == [Allocation("p", 3, D("300.00"))]
    assert result.paid == {1: D("0.00"), 2: D("0.00"), 3: D("300.00")}


def test_named_invoice_rest_goes_to_oldest():
    result = allocate(INVOICES, [payment("p", date(2025, 4, 1), "350.00", "inv-2025-0000003.")])
    assert result.allocations == [
        Allocation("p", 3, D("300.00")),
        Allocation("p", 1, D("50.00")),
    ]


def test_number_counts_only_as_a_whole_token():
    short = invoice(9, "INV-1", date(2025, 5, 1), "10.00")
    result = allocate([JAN, short], [payment("p", date(2025, 4, 1), "10.00", "INV-12")])
    assert result.allocations == [Allocation("p", 1, D("10.00"))]


def test_qr_purpose_of_a_number_with_a_space_pays_that_invoice():
    """The portal's QR code names the document in the purpose (``EL-1 / SZ 2024/0002``): the
    payment pays that invoice, not the oldest unpaid one (the space used to split it)."""
    old = invoice(1, "SZ 2024/0001", date(2024, 1, 20), "100.00")
    new = invoice(2, "SZ 2024/0002", date(2024, 2, 20), "50.00")
    pay = payment(1, date(2024, 2, 10), "50.00", document_purpose("EL-1", new.number))
    result = allocate([old, new], [pay])
    assert result.allocations == [Allocation(1, 2, D("50.00"))]
    assert result.paid == {1: D("0.00"), 2: D("50.00")}


def test_any_number_is_named_as_a_whole_in_any_case_and_spacing():
    older = invoice("old", "A-0", date(2024, 1, 1), "1000.00")
    cases = {
        "#17": "EL-1 / #17",
        "(B) 17": "for (b)\t 17, thanks",
        "-17-": "PO 7: -17-",
        "_17.": "_17.",
        "SZ  2024/0002": "sz 2024/0002",
        "Számla 2024/3": "SZÁMLA 2024/3 díj",
    }
    for number, reference in cases.items():
        named = invoice("n", number, date(2024, 6, 1), "10.00")
        result = allocate([older, named], [payment("p", date(2024, 2, 1), "10.00", reference)])
        assert result.allocations == [Allocation("p", "n", D("10.00"))], (number, reference)


def test_a_number_glued_to_a_letter_or_digit_is_not_named():
    named = invoice("n", "SZ 2024/0002", date(2025, 6, 1), "10.00")
    hashed = invoice("h", "#17", date(2025, 6, 1), "10.00")
    for reference in ["SZ 2024/00021", "XSZ 2024/0002", "PO#17", "#170", "SZ 2024 / 0002"]:
        result = allocate(
            [JAN, named, hashed], [payment("p", date(2024, 2, 1), "10.00", reference)]
        )
        assert result.allocations == [Allocation("p", 1, D("10.00"))], reference


def test_several_named_invoices_are_paid_in_the_order_the_reference_names_them():
    a = invoice("a", "SZ 2024/0001", date(2024, 3, 1), "10.00")
    b = invoice("b", "INV-7", date(2024, 2, 1), "10.00")
    pay = payment("p", date(2024, 1, 1), "15.00", "sz 2024/0001, INV-7, SZ 2024/0001")
    assert allocate([b, a], [pay]).allocations == [
        Allocation("p", "a", D("10.00")),
        Allocation("p", "b", D("5.00")),
    ]


def test_a_number_inside_a_longer_named_number_is_not_named_too():
    """``SZ 2024/0002`` names that invoice only, though ``2024/0002`` is a number too."""
    short = invoice("short", "2024/0002", date(2024, 1, 1), "10.00")
    full = invoice("full", "SZ 2024/0002", date(2024, 2, 1), "10.00")
    pay = payment("p", date(2024, 1, 1), "10.00", "EL-1 / SZ 2024/0002")
    assert allocate([short, full], [pay]).allocations == [Allocation("p", "full", D("10.00"))]
    pay = payment("p", date(2024, 1, 1), "10.00", "EL-1 / 2024/0002")
    assert allocate([short, full], [pay]).allocations == [Allocation("p", "short", D("10.00"))]


def test_unnamed_payments_pay_oldest_first_by_due_date_then_number():
    same_due = invoice(4, "INV-2025-0000000", FEB.due_on, "50.00")
    payments = [payment("a", date(2025, 5, 1), "120.00"), payment("b", date(2025, 5, 2), "100.00")]
    result = allocate([MAR, FEB, same_due, JAN], payments)
    assert result.allocations == [
        Allocation("a", 1, D("100.00")),
        Allocation("a", 4, D("20.00")),
        Allocation("b", 4, D("30.00")),
        Allocation("b", 2, D("70.00")),
    ]
    assert result.paid == {1: D("100.00"), 4: D("50.00"), 2: D("70.00"), 3: D("0.00")}
    assert result.advance == D("0.00")


def test_partial_payment_leaves_the_rest_unpaid():
    result = allocate(INVOICES, [payment("p", date(2025, 3, 1), "60.00", "INV-2025-0000001")])
    assert result.paid[1] == D("60.00")
    assert document_status(JAN.total, result.paid[1], JAN.due_on, date(2025, 2, 1)) == "partly_paid"
    assert document_status(JAN.total, result.paid[1], JAN.due_on, date(2025, 3, 1)) == "overdue"


def test_overpayment_stays_as_advance_and_pays_later_invoices():
    paid_too_much = payment("p", date(2025, 2, 1), "700.00", "INV-2025-0000001")
    result = allocate(INVOICES, [paid_too_much])
    assert result.paid == {1: D("100.00"), 2: D("200.00"), 3: D("300.00")}
    assert result.unallocated == {"p": D("100.00")}
    assert result.advance == D("100.00")

    result = allocate([JAN], [paid_too_much])
    assert result.advance == D("600.00")


def test_only_invoices_are_payable():
    vat_invoice = invoice(5, "VAT-2025-0000001", None, "100.00", kind="vat_invoice")
    result = allocate([vat_invoice], [payment("p", date(2025, 2, 1), "100.00", "VAT-2025-0000001")])
    assert result.allocations == []
    assert result.paid == {}
    assert result.advance == D("100.00")


def test_allocations_never_exceed_payment_or_invoice():
    payments = [payment(i, date(2025, 1, 1 + i), "77.77", "INV-2025-0000002") for i in range(10)]
    result = allocate(INVOICES, payments)
    for p in payments:
        given = sum((a.amount for a in result.allocations if a.payment_key == p.key), D(0))
        assert given + result.unallocated[p.key] == p.amount
    for doc in INVOICES:
        assert result.paid[doc.key] <= doc.total
    assert sum(result.paid.values()) + result.advance == D("777.70")


def test_result_depends_on_the_set_not_on_arrival_order():
    payments = [
        payment("a", date(2025, 3, 5), "150.00", "PO 1 INV-2025-0000002"),
        payment("b", date(2025, 3, 5), "40.00"),
        payment("c", date(2025, 4, 25), "300.00", "electricity"),
    ]
    older = payment("d", date(2025, 1, 10), "90.00", "advance")
    before = allocate(INVOICES, payments)

    # An older payment imported late: reallocating from scratch gives the answer the full set
    # gives in any order, and the older payment now pays January first.
    after = allocate(INVOICES, payments + [older])
    assert after != before
    assert after.allocations[0] == Allocation("d", 1, D("90.00"))
    shuffler = random.Random(7)
    for _ in range(20):
        docs, pays = INVOICES[:], [older, *payments]
        shuffler.shuffle(docs)
        shuffler.shuffle(pays)
        assert allocate(docs, pays) == after


def test_twin_payments_pay_the_same_invoices_whatever_order_they_come_in():
    """Two transfers of the same amount on the same day with the same reference: each keeps
    its invoice when the contract is reallocated with the rows in another order (hypothesis
    found them swapping)."""
    twins = [payment(11, date(2025, 3, 5), "100.00"), payment(12, date(2025, 3, 5), "100.00")]
    two = [JAN, invoice(4, "INV-2025-0000004", date(2025, 2, 20), "100.00")]
    expected = [Allocation(11, 1, D("100.00")), Allocation(12, 4, D("100.00"))]
    assert allocate(two, twins).allocations == expected
    assert allocate(two[::-1], twins[::-1]).allocations == expected


def test_document_status():
    due = date(2025, 3, 20)
    assert document_status(D("100.00"), D("100.00"), due, date(2025, 4, 1)) == "paid"
    assert document_status(D("100.00"), D("0.00"), due, due) == "unpaid"
    assert document_status(D("100.00"), D("10.00"), due, due) == "partly_paid"
    assert document_status(D("100.00"), D("10.00"), due, date(2025, 3, 21)) == "overdue"
    assert document_status(D("100.00"), D("0.00"), due, date(2025, 3, 21)) == "overdue"
    assert document_status(D("0.00"), D("0.00"), due, date(2025, 3, 21)) == "paid"
    assert document_status(D("100.00"), D("0.00"), None, date(2030, 1, 1)) == "unpaid"
