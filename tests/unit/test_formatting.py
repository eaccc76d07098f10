"""The portal's own number formatting must print exactly what Babel prints, in every locale
the portal offers: it only reads Babel's symbols once instead of applying its pattern per cell."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import flask_babel
import pytest
from babel.dates import (
    format_date,
    format_datetime,
    format_skeleton,
    format_time,
    get_datetime_format,
    get_timezone_gmt,
)
from babel.numbers import format_currency, format_decimal
from flask import g, render_template_string
from flask_babel import force_locale, refresh
from hypothesis import assume, given
from hypothesis import strategies as st
from markupsafe import escape

from lkapp import create_app, formatting

LOCALES = ["en", "ru", "hu"]
CURRENCIES = ["EUR", "HUF", "RUB", "USD", "GBP"]
cents = st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False).filter(
    lambda amount: amount != 0 or not amount.is_signed()  # no "-0.00" in the books
)
readings = st.decimals(min_value=0, max_value=10**8, places=3, allow_nan=False)


@pytest.fixture(scope="module")
def app():
    return create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def in_locale(app, locale: str, currency: str = "EUR"):
    app.config["CURRENCY"] = currency
    return app.test_request_context("/", headers={"Accept-Language": locale})


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("currency", CURRENCIES)
@given(amount=cents)
def test_money_is_what_babel_prints(app, locale, currency, amount):
    assert formatting.currency_pattern(locale, currency) is not None  # the fast path is taken
    with in_locale(app, locale, currency):
        assert formatting.money(amount) == format_currency(amount, currency, locale=locale)


@pytest.mark.parametrize("locale", LOCALES)
@given(value=cents, digits=st.integers(min_value=0, max_value=3))
def test_numbers_are_what_babel_prints(app, locale, value, digits):
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    # One difference, on purpose: what rounds to zero is "0", where Babel prints "-0".
    assume(value >= 0 or round(value, digits) != 0)
    with in_locale(app, locale):
        assert formatting.number(value, digits) == format_decimal(
            value, format=pattern, locale=locale
        )


@pytest.mark.parametrize("locale", LOCALES)
@given(value=readings)
def test_reading_values_drop_trailing_zero_decimals_as_babel_does(app, locale, value):
    with in_locale(app, locale):
        assert formatting.number(value, 3, trim=True) == format_decimal(
            value, format="#,##0.###", locale=locale
        )


def test_what_rounds_to_zero_has_no_minus_sign(app):
    with in_locale(app, "en"):
        assert formatting.number(Decimal("-0.01")) == "0"
        assert formatting.number(Decimal("-0.4"), 1) == "-0.4"


def test_separators_of_each_locale(app):
    expected = {
        "en": "€1,234,567.89",
        "ru": "1\xa0234\xa0567,89\xa0€",
        "hu": "1\xa0234\xa0567,89\xa0EUR",
    }
    for locale, text in expected.items():
        with in_locale(app, locale):
            assert formatting.money(Decimal("1234567.89")) == text
            assert formatting.number(Decimal("-1234.5"), 3, trim=True) == format_decimal(
                Decimal("-1234.5"), format="#,##0.###", locale=locale
            )


@pytest.mark.parametrize("locale", LOCALES)
def test_days_and_months_are_what_babel_prints(app, locale):
    with in_locale(app, locale):
        for value in (date(2026, 1, 31), date(2026, 3, 4), date(2025, 12, 1)):
            assert formatting.day(value) == format_date(value, "medium", locale=locale)
            assert formatting.day(value, "long") == format_date(value, "long", locale=locale)
            assert formatting.month(value) == format_skeleton("yMMMM", value, locale=locale)
            assert formatting.formats().numeric_month(value) == format_skeleton(
                "yMM", value, locale=locale
            )
        # A moment's day is the day in the deployment's time zone (Budapest: UTC+1 in winter).
        late = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
        assert formatting.day(late) == format_date(date(2026, 2, 1), "medium", locale=locale)
        assert formatting.day(late.replace(tzinfo=None)) == formatting.day(late)


def test_months_are_in_the_order_each_language_writes_them(app):
    expected = {
        "en": ("November 2026", "11/2026"),
        "ru": ("ноябрь 2026\u202fг.", "11.2026"),
        "hu": ("2026. november", "2026. 11."),
    }
    for locale, (words, figures) in expected.items():
        with in_locale(app, locale):
            assert formatting.month(date(2026, 11, 1)) == words
            assert formatting.formats().numeric_month(date(2026, 11, 1)) == figures


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("style", ["short", "medium", "long"])
@given(
    value=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2036, 12, 31), timezones=st.just(UTC)
    )
)
def test_moments_are_what_babel_prints_in_the_deployments_time_zone(app, locale, style, value):
    """Babel's own output; the short and medium styles to the minute (Babel's short time in
    the style's date-time pattern), the long ones whole."""
    zone = ZoneInfo("Europe/Budapest")
    with in_locale(app, locale):
        if style == "long":
            expected = format_datetime(value, style, tzinfo=zone, locale=locale)
        else:
            local = value.astimezone(zone)
            expected = (
                get_datetime_format(style, locale=locale)
                .replace("'", "")
                .replace("{0}", format_time(local.time(), "short", locale=locale))
                .replace("{1}", format_date(local.date(), style, locale=locale))
            )
            assert expected.count(":") == 1  # hours and minutes, no seconds
            if local.utcoffset() != local.replace(fold=1 - local.fold).utcoffset():
                # The hour repeated when summer time ends: its offset tells its two apart.
                short = format_time(local.time(), "short", locale=locale)
                gmt = get_timezone_gmt(local, "long", locale=locale)
                expected = expected.replace(short, f"{short} {gmt}")
        assert formatting.moment(value, style) == expected


def test_cells_and_texts_follow_a_locale_switched_within_the_request(app):
    """A mail to a Russian customer sent while a Hungarian operator's page is built: the
    per-request shortcuts must not hold on to the page's locale."""
    page = "{{ _('Month') }} {{ amount|money }} {{ when|month }}"
    values = {"amount": Decimal("1234.5"), "when": date(2026, 3, 1)}
    with in_locale(app, "hu"):
        hungarian = render_template_string(page, **values)
        assert hungarian == "Hónap 1\xa0234,50\xa0EUR 2026. március"
        with force_locale("ru"):
            assert (
                render_template_string(page, **values) == "Месяц 1\xa0234,50\xa0€ март 2026\u202fг."
            )
            assert formatting.number(Decimal("0.5"), 1) == "0,5"
        assert render_template_string(page, **values) == hungarian
        g.languages_override = ["en"]  # the choice changes: refresh() drops the cached one
        refresh()
        assert render_template_string(page, **values) == "Month €1,234.50 March 2026"


@pytest.mark.parametrize("locale", LOCALES)
def test_lazy_texts_are_what_flask_babel_translates(app, locale):
    """The portal's lazy texts only look the catalogue up faster than Flask-Babel's."""
    with app.test_request_context(), force_locale(locale):
        for text, variables in [
            ("T2 night", {}),
            ("I have checked the reading", {}),
            ("%(num)s days overdue", {"num": 3}),
        ]:
            ours = formatting.lazy_gettext(text, **variables)
            theirs = flask_babel.lazy_gettext(text, **variables)
            assert str(ours) == str(theirs) and escape(ours) == escape(theirs)
    if locale != "en":
        with app.test_request_context(), force_locale(locale):
            assert str(formatting.lazy_gettext("T2 night")) != "T2 night"


def test_lazy_texts_outside_an_application_are_the_source_text():
    assert str(formatting.lazy_gettext("%(n)s kWh", n=5)) == "5 kWh"


def test_a_vat_rate_shows_the_decimals_it_has():
    from lkapp.documents.table import vat_rate
    from lkapp.formatting import Formats

    english, hungarian = Formats("en", "EUR", "UTC"), Formats("hu", "HUF", "UTC")
    assert [vat_rate(Decimal(rate), english) for rate in ("27", "27.00", "5.50")] == [
        "27%",
        "27%",
        "5.5%",  # was "5.50 %"
    ]
    assert vat_rate(Decimal("5.25"), hungarian) == "5,25%"
    assert vat_rate(Decimal("20"), Formats("ru", "RUB", "UTC")) == "20\u00a0%"  # as CLDR has it


def test_file_sizes_are_kb_then_mb_rounded_the_way_asked(app):
    with in_locale(app, "en"):
        assert formatting.file_size(1) == "0 KB" and formatting.file_size(1, up=True) == "1 KB"
        assert formatting.file_size(1024 * 1024 - 1, up=True) == "1 MB"
        assert formatting.file_size(3 * 512 * 1024) == "1.5 MB"
        assert formatting.file_size(1024 * 1024 + 1) == "1 MB"
        assert formatting.file_size(1024 * 1024 + 1, up=True) == "1.1 MB"
    with in_locale(app, "ru"):
        # As the catalogue has it: a size never breaks before its unit.
        assert formatting.file_size(3 * 512 * 1024) == "1,5\xa0МБ"
