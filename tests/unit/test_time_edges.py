"""Calendar and clock edges of the pure rules and the formatting: summer time, month and year
ends, 29 February, ranges across years."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from lkapp import create_app, formatting
from lkapp.domain.readings import month_span, months_between, reading_window, shift_month
from lkapp.domain.statement import Entry, default_range, reconciliation


@pytest.fixture(scope="module")
def app():
    return create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def moment_in(app, locale: str, value: datetime, style: str = "medium") -> str:
    with app.test_request_context("/", headers={"Accept-Language": locale}):
        return formatting.moment(value, style)


# --- summer time ends: the repeated hour ------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "first", "second"),
    [
        ("en", "Oct 25, 2026, 2:30\u202fAM GMT+02:00", "Oct 25, 2026, 2:30\u202fAM GMT+01:00"),
        ("hu", "2026. okt. 25. 2:30 GMT+02:00", "2026. okt. 25. 2:30 GMT+01:00"),
        ("ru", "25 окт. 2026\u202fг., 02:30 GMT+02:00", "25 окт. 2026\u202fг., 02:30 GMT+01:00"),
    ],
)
def test_the_repeated_hour_of_october_tells_its_two_moments_apart(app, locale, first, second):
    """Budapest's clocks go from 03:00 summer time back to 02:00 on 25 October 2026: 00:30 and
    01:30 UTC are both 02:30 there, and a receipt showed two readings at one time."""
    assert moment_in(app, locale, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)) == first
    assert moment_in(app, locale, datetime(2026, 10, 25, 1, 30, tzinfo=UTC)) == second
    assert moment_in(app, locale, datetime(2026, 10, 25, 1, 30), "short").endswith("GMT+01:00")


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 10, 24, 23, 59, tzinfo=UTC),  # 01:59 summer time: before the hour
        datetime(2026, 10, 25, 2, 0, tzinfo=UTC),  # 03:00 winter time: after it
        datetime(2026, 3, 29, 0, 59, tzinfo=UTC),  # 01:59, then clocks jump to 03:00
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # 03:00 summer time
    ],
)
def test_other_moments_of_the_switch_days_carry_no_offset(app, value):
    assert "GMT" not in moment_in(app, "en", value)
    assert "GMT" not in moment_in(app, "en", value, "short")


def test_a_time_zone_without_summer_time_never_shows_an_offset(app):
    app.config["TIMEZONE"] = "Europe/Moscow"
    try:
        text = moment_in(app, "ru", datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    finally:
        app.config["TIMEZONE"] = "Europe/Budapest"
    assert text == "25 окт. 2026\u202fг., 03:30"


# --- the readings window ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "is_open", "period", "opens_on", "closes_on"),
    [
        # "1-28": in a February of 28 days the window is the whole month, and March's opens
        # the next day; in a leap year the 29th is outside.
        (date(2026, 2, 28), True, date(2026, 2, 1), date(2026, 2, 1), date(2026, 2, 28)),
        (date(2028, 2, 29), False, date(2028, 3, 1), date(2028, 3, 1), date(2028, 3, 28)),
        (date(2026, 3, 1), True, date(2026, 3, 1), date(2026, 3, 1), date(2026, 3, 28)),
        # After December's window the next one is January's, of the next year.
        (date(2026, 12, 31), False, date(2027, 1, 1), date(2027, 1, 1), date(2027, 1, 28)),
    ],
)
def test_window_at_month_and_year_ends(today, is_open, period, opens_on, closes_on):
    window = reading_window(today, 1, 28)
    assert (window.is_open, window.period, window.opens_on, window.closes_on) == (
        is_open,
        period,
        opens_on,
        closes_on,
    )


def test_month_arithmetic_across_years():
    assert shift_month(date(2026, 1, 31), -1) == date(2025, 12, 1)
    assert shift_month(date(2024, 2, 29), 12) == date(2025, 2, 1)
    assert months_between(date(2025, 11, 1), date(2026, 2, 1)) == 3
    months = month_span(date(2026, 1, 31), 24)
    assert (months[0], months[-1], len(set(months))) == (date(2024, 2, 1), date(2026, 1, 1), 24)


# --- statements over a year and across years --------------------------------------------


ENTRIES = [
    Entry(date(2025, 12, 31), "invoice", "INV-1", Decimal("100.00")),
    Entry(date(2026, 1, 1), "invoice", "INV-2", Decimal("50.00")),
    Entry(date(2026, 12, 31), "payment", "PO 1", Decimal("30.00")),
    Entry(date(2027, 1, 1), "payment", "PO 2", Decimal("20.00")),
]


def test_a_statement_of_a_whole_year_takes_its_first_and_last_day():
    statement = reconciliation(ENTRIES, date(2026, 1, 1), date(2026, 12, 31))
    assert statement.opening == Decimal("100.00")
    assert [line.reference for line in statement.lines] == ["INV-2", "PO 1"]
    assert statement.closing == Decimal("120.00")


def test_a_default_statement_reaches_a_payment_dated_next_year():
    """On 31 December billing may date a payment 1 January already: the default range runs
    into the next year, and its closing balance is the one the portal shows."""
    start, end = default_range(ENTRIES, date(2026, 12, 31))
    assert (start, end) == (date(2026, 1, 1), date(2027, 1, 1))
    assert reconciliation(ENTRIES, start, end).closing == Decimal("100.00")
