"""The billing CSV format as pure functions: cells in, values out, and the formula guard."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from lkapp.domain.csvformat import (
    CellError,
    detect_delimiter,
    format_cell,
    format_period,
    normalize_header,
    parse_choice,
    parse_date,
    parse_decimal,
    parse_integer,
    parse_period,
    parse_text,
    parse_zone_set,
    spreadsheet_safe,
    strip_formula_guard,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-02-29", date(2024, 2, 29)),
        ("29.02.2024", date(2024, 2, 29)),
        ("1.2.2024", date(2024, 2, 1)),
        ("01.12.2023", date(2023, 12, 1)),
        ("1900-01-01", date(1900, 1, 1)),
        ("31.12.2099", date(2099, 12, 31)),
    ],
)
def test_dates_in_both_forms(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2023-02-29", "is not a day of the calendar"),
        ("31.04.2024", "is not a day of the calendar"),
        ("2024/02/01", r"is not a date \(YYYY-MM-DD or DD\.MM\.YYYY\)"),
        ("20240201", "is not a date"),
        ("2024-W05-1", "is not a date"),
        ("2024-02-1", "is not a date"),
        ("०१.०२.२०२४", "is not a date"),  # other scripts' digits are no dates here
        ("", "is required"),
        ("0024-02-10", "is not a year from 1900 to 2099"),
        ("20.02.2204", "is not a year from 1900 to 2099"),
    ],
)
def test_bad_dates_say_why(text, message):
    with pytest.raises(CellError, match=message):
        parse_date(text)


def test_period_is_the_first_of_the_month():
    assert parse_period("2024-07") == date(2024, 7, 1)
    for text in ("2024-13", "2024-00", "1899-12"):
        with pytest.raises(CellError, match="not a month"):
            parse_period(text)
    with pytest.raises(CellError, match="is not a year from 1900 to 2099"):
        parse_period("2100-01")
    assert parse_period("2099-12") == date(2099, 12, 1)
    for text in ("2024-7", "07.2024", "2024-07-01"):
        with pytest.raises(CellError, match="not a period"):
            parse_period(text)


@pytest.mark.parametrize(
    ("text", "places", "expected"),
    [
        ("120", 2, "120.00"),
        ("120,5", 2, "120.50"),
        ("120.55", 2, "120.55"),
        ("-0,01", 2, "-0.01"),
        ("+7", 2, "7.00"),
        ("0007.1", 3, "7.100"),
        ("1.23456", 5, "1.23456"),
    ],
)
def test_decimals_with_point_or_comma_keep_their_places(text, places, expected):
    value = parse_decimal(text, places)
    assert value == Decimal(expected)
    assert str(value) == expected  # the scale of the column, so stored and read compare alike


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 234,50", "no thousands separators"),
        ("1.234,50", "no thousands separators"),
        ("1,234.50", "no thousands separators"),
        ("1\u00a0234", "no thousands separators"),
        ("12,345", "more than 2 decimal places"),
        ("1e5", "is not a number"),
        ("NaN", "is not a number"),
        ("١٢", "is not a number"),  # Arabic-Indic digits: Decimal() would take them
        ("Infinity", "is not a number"),
        ("1_000", "is not a number"),
        ("12.", "is not a number"),
        (",5", "is not a number"),
        ("", "is required"),
        ("1000000000000", "is too large"),
    ],
)
def test_bad_numbers_say_why(text, message):
    with pytest.raises(CellError, match=message):
        parse_decimal(text, 2)


def test_decimal_bounds():
    with pytest.raises(CellError, match="more than zero"):
        parse_decimal("0", 2, positive=True)
    with pytest.raises(CellError, match="not be less than 0"):
        parse_decimal("-1", 2, minimum=Decimal(0))
    with pytest.raises(CellError, match="not a whole number"):
        parse_decimal("1.5", 0)


def test_integers_text_choices_and_zone_sets():
    assert parse_integer("6", 4, 9) == 6
    with pytest.raises(CellError, match="between 4 and 9"):
        parse_integer("10", 4, 9)
    with pytest.raises(CellError, match="not a whole number"):
        parse_integer("6.0", 4, 9)
    assert parse_choice("Invoice", ("invoice", "act")) == "invoice"
    with pytest.raises(CellError, match="must be one of: invoice, act"):
        parse_choice("bill", ("invoice", "act"))
    zone_sets = ("T1", "T1,T2", "T1,T2,T3")
    assert parse_zone_set("t1, T2", zone_sets) == "T1,T2"
    with pytest.raises(CellError, match="must be one of: T1 | T1,T2 | T1,T2,T3"):
        parse_zone_set("T2,T1", zone_sets)
    assert parse_text("Fő utca 1.", 20) == "Fő utca 1."
    assert parse_text("", 20, required=False) == ""
    with pytest.raises(CellError, match="is required"):
        parse_text("", 20)
    with pytest.raises(CellError, match="longer than 3 characters"):
        parse_text("abcd", 3)
    with pytest.raises(CellError, match="control character"):
        parse_text("a\tb", 10)


def test_delimiter_and_header_names():
    assert detect_delimiter("number;holder_name;tax_id\r\n") == ";"
    assert detect_delimiter("number,holder_name,tax_id\n") == ","
    with pytest.raises(CellError, match="no ';' or ','"):
        detect_delimiter("number\tholder_name\n")
    assert normalize_header(" Holder Name ") == "holder_name"
    assert normalize_header("\ufeffnumber") == "number"


@pytest.mark.parametrize(
    ("cell", "guarded"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+36 1 555 0101", "'+36 1 555 0101"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-", "'-"),
        ("-12.50", "-12.50"),  # a plain negative amount stays a number
        ("-12,50", "-12,50"),
        ("-5", "-5"),
        ("12.50", "12.50"),
        ("INV-1", "INV-1"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_spreadsheet_formula_guard(cell, guarded):
    assert spreadsheet_safe(cell) == guarded
    assert strip_formula_guard(guarded) == cell  # what the importer reads back


def test_guard_is_taken_off_only_before_a_trigger():
    assert strip_formula_guard("'quoted'") == "'quoted'"
    assert strip_formula_guard("'") == "'"
    assert parse_text("'=1+1", 10) == "=1+1"


def test_cells_are_formatted_as_the_importer_reads_them():
    assert format_cell(None) == ""
    assert format_cell(Decimal("120.50")) == "120.50"
    assert format_cell(Decimal("120.50"), decimal_comma=True) == "120,50"
    assert format_cell(Decimal("-0.10")) == "-0.10"
    assert format_cell(date(2024, 3, 5)) == "2024-03-05"
    assert format_cell(datetime(2024, 3, 5, 10, 0, tzinfo=UTC)) == "2024-03-05T10:00:00+00:00"
    assert format_period(date(2024, 3, 1)) == "2024-03"
    for value in (Decimal("-12.34"), Decimal("0.00"), Decimal("999999999999.99")):
        assert parse_decimal(spreadsheet_safe(format_cell(value)), 2) == value
