"""The billing exchange CSV format as pure functions: cells in, plain values out (and back).

The rules (DESIGN.md, "Billing exchange files"): UTF-8 with or without BOM, a header row,
``;`` or ``,`` as delimiter, dates ``YYYY-MM-DD`` or ``DD.MM.YYYY``, a period ``YYYY-MM``,
amounts with a decimal point or a decimal comma and no thousands separators, empty means none.

Parsers take a stripped cell and return the value or raise :class:`CellError`, whose message
says what is wrong in plain English (the CLI is not translated; the upload page shows it as is).

Exports are read by people in spreadsheets, and a cell that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return is a formula there (CSV injection). :func:`spreadsheet_safe`
puts a ``'`` before such a cell, except for a plain number such as ``-12.50``, which no
spreadsheet runs as a formula and which must stay a number; the rule is the same for every
column, so an amount and a text that happen to read ``-5`` come out alike. The importer takes
the ``'`` off again (:func:`strip_formula_guard`), so an export imports back unchanged.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?", re.ASCII)
_NUMBER = re.compile(r"[+-]?(\d+)(?:[.,](\d+))?", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", re.ASCII)
_PERIOD = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

DATE_FORMATS = "YYYY-MM-DD or DD.MM.YYYY"
# The years a billing file may name: earlier or later ones are typing errors (a payment of
# 0024 would open every statement with it; an invoice due in 2204 never falls overdue).
FIRST_YEAR, LAST_YEAR = 1900, 2099
_EXPONENTS = {places: Decimal(1).scaleb(-places) for places in range(10)}


class CellError(ValueError):
    """A cell that cannot be taken; ``str(error)`` is the message for the operator."""


# --- reading ------------------------------------------------------------------------------


def detect_delimiter(header_line: str) -> str:
    """``;`` or ``,``, whichever separates the header's column names (which contain neither)."""
    semicolons, commas = header_line.count(";"), header_line.count(",")
    if semicolons == 0 and commas == 0:
        raise CellError("the header row has no ';' or ',' between column names")
    return ";" if semicolons >= commas else ","


def normalize_header(name: str) -> str:
    """A column name as written by hand or by a spreadsheet: case and spaces do not matter."""
    return "_".join(name.strip().strip("\ufeff").lower().split())


def strip_formula_guard(text: str) -> str:
    """Undo :func:`spreadsheet_safe`: ``'=x`` reads back as ``=x``."""
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_TRIGGERS:
        return text[1:]
    return text


def parse_text(text: str, max_length: int, *, required: bool = True) -> str:
    """A text cell, at most ``max_length`` characters; empty is ``""`` unless required."""
    text = strip_formula_guard(text)
    if not text:
        if required:
            raise CellError("is required")
        return ""
    if len(text) > max_length:
        raise CellError(f"is longer than {max_length} characters")
    if _CONTROL.search(text) is not None:
        raise CellError("contains a control character (a line break or a tab)")
    return text


_LINE_BREAKS = re.compile(r"\s*(?:\r\n|\r|\n)\s*")


def parse_words(text: str, max_length: int, *, required: bool = True) -> str:
    """A text cell people write, like a name, an address or a description: its line breaks
    (a spreadsheet cell of two lines, "Fő utca 1.⏎Budapest") read as ", "."""
    return parse_text(_LINE_BREAKS.sub(", ", text.strip()), max_length, required=required)


def parse_contract_number(text: str) -> str:
    """A contract's number: it is a part of the portal's addresses (``/electricity/<number>``),
    where a ``/`` would start another part and ``.`` or ``..`` mean this or the upper folder."""
    number = parse_text(text, 30)
    if "/" in number:
        raise CellError("contains a '/', which the portal's addresses cannot carry")
    if number in (".", ".."):
        raise CellError("is not a contract number")
    return number


def parse_date(text: str) -> date:
    """``YYYY-MM-DD`` or ``DD.MM.YYYY`` (a one-digit day or month is fine in the dotted form),
    of the years billing can mean (``0024-02-10`` or a due date in 2204 is a typing error)."""
    day = _calendar_day(text)
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise CellError(f"is not a year from {FIRST_YEAR} to {LAST_YEAR}")
    return day


def _calendar_day(text: str) -> date:
    try:
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            year, month, day = text[:4], text[5:7], text[8:]
            if (year + month + day).isdigit() and text.isascii():
                return date(int(year), int(month), int(day))
        else:
            match = _DOTTED_DATE.fullmatch(text)
            if match is not None:
                return date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        raise CellError("is not a day of the calendar") from None
    if not text:
        raise CellError("is required")
    raise CellError(f"is not a date ({DATE_FORMATS})")


def parse_period(text: str) -> date:
    """``YYYY-MM`` as the first day of that month."""
    match = _PERIOD.fullmatch(text)
    if match is None:
        raise CellError("is required" if not text else "is not a period (YYYY-MM)")
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12 or year < FIRST_YEAR:
        raise CellError("is not a month of the calendar")
    if year > LAST_YEAR:
        raise CellError(f"is not a year from {FIRST_YEAR} to {LAST_YEAR}")
    return date(year, month, 1)


def parse_decimal(
    text: str,
    places: int,
    *,
    integer_digits: int = 12,
    minimum: Decimal | None = None,
    positive: bool = False,
) -> Decimal:
    """A number with a decimal point or comma, at most ``places`` decimals, no separators.

    The value comes back with exactly ``places`` decimals (``120`` is ``120.00`` for money), as
    the database column keeps it, so that a stored value and an imported one compare and show
    alike.
    """
    match = _NUMBER.fullmatch(text)
    if match is None:
        if not text:
            raise CellError("is required")
        if " " in text or "\u00a0" in text or text.count(",") + text.count(".") > 1:
            raise CellError("is not a number (no thousands separators: 1234.56 or 1234,56)")
        raise CellError("is not a number (1234.56 or 1234,56)")
    whole, fraction = match.group(1), match.group(2)
    if fraction is not None and len(fraction) > places:
        raise CellError(
            f"has more than {places} decimal places" if places else "is not a whole number"
        )
    if len(whole.lstrip("0")) > integer_digits:
        raise CellError("is too large")
    value = Decimal(text.replace(",", ".") if fraction is not None else text).quantize(
        _EXPONENTS[places]
    )
    if positive and value <= 0:
        raise CellError("must be more than zero")
    if minimum is not None and value < minimum:
        raise CellError(f"must not be less than {minimum}")
    return value


def parse_integer(text: str, minimum: int, maximum: int) -> int:
    if _INTEGER.fullmatch(text) is None:
        raise CellError("is required" if not text else "is not a whole number")
    value = int(text)
    if not minimum <= value <= maximum:
        raise CellError(f"must be between {minimum} and {maximum}")
    return value


def parse_choice(text: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``; letter case does not matter."""
    value = text.lower()
    if value in choices:
        return value
    if not text:
        raise CellError("is required")
    raise CellError("must be one of: " + ", ".join(choices))


def parse_zone_set(text: str, zone_sets: tuple[str, ...]) -> str:
    """``T1``, ``T1,T2`` or ``T1,T2,T3`` (spaces and letter case do not matter)."""
    value = ",".join(part.strip().upper() for part in text.split(","))
    if value in zone_sets:
        return value
    if not text:
        raise CellError("is required")
    raise CellError("must be one of: " + " | ".join(zone_sets))


# --- writing ------------------------------------------------------------------------------


def format_cell(value: object, *, decimal_comma: bool = False) -> str:
    """A value as an export cell: dates ISO, money as plain decimals, none as empty."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.replace(".", ",") if decimal_comma else text
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def format_period(value: date) -> str:
    return f"{value.year:04d}-{value.month:02d}"


def spreadsheet_safe(text: str) -> str:
    """Guard a cell against being run as a spreadsheet formula (see the module docstring)."""
    if text and text[0] in FORMULA_TRIGGERS and _PLAIN_NUMBER.fullmatch(text) is None:
        return "'" + text
    return text
