"""Finding a contract in a long list, and which contracts need attention first (pure)."""

from datetime import date
from decimal import Decimal

import pytest

from lkapp.domain.balance import Summary
from lkapp.domain.contract_list import attention_order, matches, shown

ADDRESS = "14 Mill Lane, Leeds LS2 7AB"


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("", True),
        ("mill leeds", True),
        ("LEEDS   mill", True),  # any order, case and spacing ignored
        ("ls2 7ab", True),
        ("mill york", False),  # every word must be found
        ("Straße", False),
    ],
)
def test_every_word_of_the_query_must_be_found(query, found):
    assert matches(query, "EL-0000001", "Sunflower Bakery Ltd", ADDRESS) is found


def test_words_are_matched_in_any_script_and_case():
    assert matches("győr", "EL-2", "Győri Patika Kft.", "GYŐR, Baross út 1.")
    assert matches("КАЗАНЬ садовая", "EL-5", "ООО «Кама»", "г. Казань, ул. Садовая, д. 89")
    assert matches("strasse", "EL-6", "", "Hauptstraße 1")  # case folding: ß is ss


def test_a_word_may_not_span_two_fields():
    assert not matches("ltd14", "EL-1", "Sunflower Bakery Ltd", ADDRESS)


OVERDUE = Summary(balance=Decimal("80.00"), overdue=Decimal("80.00"), days_overdue=3)
TO_PAY = Summary(balance=Decimal("10.00"), next_due_on=date(2026, 12, 5))
ADVANCE = Summary(balance=Decimal("-5.00"))
CLEAR = Summary()


def test_the_show_filter():
    assert [shown("overdue", s, False) for s in (OVERDUE, TO_PAY, ADVANCE)] == [1, 0, 0]
    assert [shown("to_pay", s, False) for s in (OVERDUE, TO_PAY, ADVANCE)] == [1, 1, 0]
    assert shown("no_readings", CLEAR, True) and not shown("no_readings", OVERDUE, False)
    assert all(shown("", s, False) for s in (OVERDUE, TO_PAY, ADVANCE, CLEAR))


def test_attention_first_the_longest_overdue_then_the_nearest_due_date():
    older = Summary(balance=Decimal("5.00"), overdue=Decimal("5.00"), days_overdue=40)
    sooner = Summary(balance=Decimal("99.00"), next_due_on=date(2026, 12, 1))
    contracts = [
        ("EL-1", CLEAR),
        ("EL-2", TO_PAY),
        ("EL-3", OVERDUE),
        ("EL-4", ADVANCE),
        ("EL-5", older),
        ("EL-6", sooner),
        ("EL-0", CLEAR),
    ]
    ordered = sorted(contracts, key=lambda c: attention_order(c[1], c[0]))
    assert [number for number, _ in ordered] == [
        "EL-5",
        "EL-3",
        "EL-6",
        "EL-2",
        "EL-0",
        "EL-1",
        "EL-4",
    ]
