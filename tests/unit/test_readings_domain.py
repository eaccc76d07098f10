"""Readings rules: window, parsing, consumption with CT ratio and rollover (with properties)."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lkapp.domain.readings import (
    check_reading,
    consumption,
    month_span,
    months_between,
    pages_of_groups,
    parse_value,
    reading_window,
    register_size,
    shift_month,
)


@pytest.mark.parametrize(
    ("today", "is_open", "period", "opens_on"),
    [
        (date(2026, 11, 14), False, date(2026, 11, 1), date(2026, 11, 15)),
        (date(2026, 11, 15), True, date(2026, 11, 1), date(2026, 11, 15)),
        (date(2026, 11, 25), True, date(2026, 11, 1), date(2026, 11, 15)),
        (date(2026, 11, 26), False, date(2026, 12, 1), date(2026, 12, 15)),
        (date(2026, 12, 31), False, date(2027, 1, 1), date(2027, 1, 15)),
    ],
)
def test_window_edges(today, is_open, period, opens_on):
    window = reading_window(today, 15, 25)
    assert (window.is_open, window.period, window.opens_on) == (is_open, period, opens_on)


@pytest.mark.parametrize(
    ("typed", "value", "error"),
    [
        ("12345", Decimal("12345"), None),
        (" 1234,5 ", Decimal("1234.5"), None),
        ("0012.125", Decimal("12.125"), None),
        ("", None, "required"),
        ("12a", None, "not_a_number"),
        ("-5", None, "not_a_number"),
        ("1e5", None, "not_a_number"),
        ("1.2345", None, "too_many_decimals"),
        ("123456", None, "too_many_digits"),
    ],
)
def test_parse_value(typed, value, error):
    assert parse_value(typed, digits=5) == (value, error)


@pytest.mark.parametrize(
    ("typed", "group_separator", "value"),
    [
        ("2\u00a0150,5", "\u00a0", Decimal("2150.5")),  # copied from a Hungarian page
        ("2\u202f150,5", "\u202f", Decimal("2150.5")),  # a narrow no-break space
        ("12,345", ",", Decimal("12345")),  # as an English page writes twelve thousand
        ("12,345.5", ",", Decimal("12345.5")),
        ("12,5", ",", Decimal("12.5")),  # not grouped in threes: a decimal comma
        ("12,345", "\u00a0", Decimal("12.345")),  # where the comma is the decimal sign
    ],
)
def test_parse_value_reads_the_page_s_own_grouping(typed, group_separator, value):
    assert parse_value(typed, 5, group_separator) == (value, None)


def test_consumption_uses_ct_ratio_and_rollover():
    assert consumption(Decimal("100"), Decimal("150.5"), 5, 40) == Decimal("2020.0")
    assert consumption(Decimal("99990"), Decimal("10"), 5, 1) == Decimal("20")
    assert consumption(None, Decimal("10"), 5, 1) == 0


def test_check_refuses_a_decrease_that_is_no_rollover():
    assert check_reading(Decimal("500"), Decimal("600"), 5, 1, []).error == "below_previous"
    rolled = check_reading(Decimal("5"), Decimal("99995"), 5, 1, [])
    assert rolled.error is None and rolled.rolled_over and rolled.kwh == 10


def test_check_asks_to_confirm_a_jump_over_three_times_the_average():
    history = [(Decimal(100), 1)] * 12
    assert not check_reading(Decimal("1300"), Decimal("1000"), 6, 1, history).needs_confirmation
    assert check_reading(Decimal("1301"), Decimal("1000"), 6, 1, history).needs_confirmation


@pytest.mark.parametrize(("used", "suspicious"), [(1200, False), (1201, True)])
def test_after_a_gap_the_jump_check_compares_with_as_many_months(used, suspicious):
    """No reading for 3 months, then one for the 4th: its consumption covers 4 months, so
    it is compared with 3 times 4 months of the average (100 kWh a month), not one."""
    history = [(Decimal(100), 1)] * 8
    verdict = check_reading(Decimal(1000 + used), Decimal(1000), 6, 1, history, months=4)
    assert verdict.error is None and verdict.kwh == used and verdict.months == 4
    assert verdict.needs_confirmation is suspicious
    assert verdict.average == 100


def test_a_reading_after_a_gap_weighs_in_the_average_as_the_months_it_covers():
    """Six monthly readings of 100 kWh and one of 600 kWh that covers 6 months (no readings
    before it for 5): 1,200 kWh in 12 months, 100 a month, not 1,200 / 7 = 171."""
    history = [(Decimal(600), 6)] + [(Decimal(100), 1)] * 6
    assert check_reading(Decimal("1300"), Decimal("1000"), 6, 1, history).average == 100
    assert not check_reading(Decimal("1300"), Decimal("1000"), 6, 1, history).needs_confirmation
    assert check_reading(Decimal("1301"), Decimal("1000"), 6, 1, history).needs_confirmation


def test_exactly_three_times_is_not_over_whatever_the_average_s_decimals():
    history = [(Decimal(1000), 3)]  # 333.33... kWh a month
    assert not check_reading(Decimal(4000), Decimal(1000), 6, 1, history, 3).needs_confirmation
    assert not check_reading(Decimal(2000), Decimal(1000), 6, 1, history).needs_confirmation
    assert check_reading(Decimal("2000.001"), Decimal(1000), 6, 1, history).needs_confirmation


def test_a_first_reading_is_never_suspicious():
    history = [(Decimal(100), 1)] * 12
    verdict = check_reading(Decimal("99999"), None, 6, 1, history)
    assert verdict.kwh == 0 and not verdict.needs_confirmation


def test_months_between_counts_across_years():
    assert months_between(date(2026, 10, 1), date(2026, 11, 1)) == 1
    assert months_between(date(2025, 11, 1), date(2026, 3, 1)) == 4


values = st.decimals(min_value=0, max_value=Decimal("99999.999"), places=3)


@given(previous=values, current=values, ct=st.integers(min_value=1, max_value=200))
def test_consumption_is_never_negative_when_accepted(previous, current, ct):
    verdict = check_reading(current, previous, 5, ct, [])
    if verdict.error is None:
        register_difference = verdict.kwh / ct
        assert 0 <= register_difference < register_size(5)
        assert (previous + register_difference) % register_size(5) == current
    else:
        assert current < previous


@given(
    start=values, steps=st.lists(st.decimals(min_value=0, max_value=5000, places=3), max_size=24)
)
def test_consumption_adds_up_across_months_even_through_rollover(start, steps):
    size = register_size(5)
    register, total = start, Decimal(0)
    for step in steps:
        new_register = (register + step) % size
        if new_register < register and not (
            register >= size * Decimal("0.9") and new_register < size * Decimal("0.1")
        ):
            continue  # a step the rollover rule would not recognise: a reader would be asked
        total += consumption(register, new_register, 5, 1)
        register = new_register
    assert total >= 0
    assert (start + total) % size == register


def test_the_confirmation_names_the_average_it_compared_with():
    history = [(Decimal(100), 1), (Decimal(0), 1), (Decimal(200), 1)]  # no use: not counted
    verdict = check_reading(Decimal("1500"), Decimal("1000"), 6, 1, history)
    assert verdict.needs_confirmation and verdict.average == Decimal(150)
    assert check_reading(Decimal("1500"), Decimal("1000"), 6, 1, []).average is None


def test_month_span_ends_with_the_month_and_crosses_years():
    assert month_span(date(2026, 2, 17), 3) == [
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]


@given(
    month=st.dates(min_value=date(1950, 1, 1), max_value=date(2200, 12, 31)),
    months=st.integers(min_value=-600, max_value=600),
)
def test_shift_month_moves_by_whole_months_and_back(month, months):
    shifted = shift_month(month, months)
    assert shifted.day == 1
    assert (shifted.year * 12 + shifted.month) - (month.year * 12 + month.month) == months
    assert shift_month(shifted, -months) == month.replace(day=1)


def test_pages_of_groups_keep_a_contracts_meters_together():
    assert pages_of_groups([], 5) == []
    assert pages_of_groups([1, 2], 5) == [range(0, 2)]
    assert pages_of_groups([2, 3, 1, 4], 5) == [range(0, 2), range(2, 4)]
    assert pages_of_groups([1, 9, 1], 5) == [range(0, 1), range(1, 2), range(2, 3)]


@given(st.lists(st.integers(1, 8), max_size=40), st.integers(1, 10))
def test_pages_of_groups_cover_every_group_once_in_order(sizes, per_page):
    pages = pages_of_groups(sizes, per_page)
    assert [index for page in pages for index in page] == list(range(len(sizes)))
    for page in pages:
        assert len(page) == 1 or sum(sizes[i] for i in page) <= per_page
