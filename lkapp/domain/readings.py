"""Meter readings: the monthly window, parsing, consumption with CT ratio and rollover, checks.

A meter shows a cumulative register with ``digits`` integer digits; after 99999 it rolls over
to 00000. Consumption in kWh is the register difference times the current-transformer ratio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

MAX_DECIMALS = 3
# A decrease counts as a rollover only when the old value sat in the top tenth of the register
# and the new one in the bottom tenth: anything else is a typing mistake.
ROLLOVER_BAND = Decimal("0.1")
SUSPICIOUS_FACTOR = 3

_NUMBER = re.compile(r"^\d+(?:[.,]\d+)?$")
_COMMA_GROUPED = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


@dataclass(frozen=True)
class Window:
    """The readings window of the month containing ``today``."""

    is_open: bool
    period: date  # the month readings are accepted for now (or will be, next)
    opens_on: date
    closes_on: date


def reading_window(today: date, first_day: int, last_day: int) -> Window:
    """Open on days ``first_day``..``last_day`` of each month; else when it opens next."""
    this_month = today.replace(day=1)
    opens = today.replace(day=first_day)
    closes = today.replace(day=last_day)
    if today < opens:
        return Window(False, this_month, opens, closes)
    if today <= closes:
        return Window(True, this_month, opens, closes)
    next_month = shift_month(this_month, 1)
    return Window(
        False, next_month, next_month.replace(day=first_day), next_month.replace(day=last_day)
    )


def shift_month(month: date, months: int) -> date:
    """The first day of the month ``months`` after (or, negative, before) ``month``'s."""
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def months_between(earlier: date, later: date) -> int:
    """How many months ``later``'s month is after ``earlier``'s (1: the next month)."""
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def month_span(last: date, count: int) -> list[date]:
    """The ``count`` months ending with ``last``'s month, oldest first (for a chart)."""
    return [shift_month(last, -offset) for offset in range(count - 1, -1, -1)]


def parse_value(
    text: str, digits: int, group_separator: str = ""
) -> tuple[Decimal | None, str | None]:
    """The typed register value, or an error key: ``required``, ``not_a_number``,
    ``too_many_decimals``, ``too_many_digits``.

    Spaces of any kind are ignored: Hungarian and Russian pages group digits with a no-break
    space, and a value copied from the page keeps it. A comma or a point is the decimal sign,
    except where the reader's locale groups thousands with a comma (``group_separator``, as
    English does): there "12,345" is twelve thousand, as the page itself writes it.
    """
    text = "".join((text or "").split())
    if group_separator == "," and _COMMA_GROUPED.match(text):
        text = text.replace(",", "")
    if not text:
        return None, "required"
    if not _NUMBER.match(text):
        return None, "not_a_number"
    whole, _, fraction = text.replace(",", ".").partition(".")
    if len(fraction) > MAX_DECIMALS:
        return None, "too_many_decimals"
    if len(whole.lstrip("0") or "0") > digits:
        return None, "too_many_digits"
    try:
        return Decimal(f"{whole}.{fraction or '0'}"), None
    except InvalidOperation:  # pragma: no cover - the pattern already excludes this
        return None, "not_a_number"


def register_size(digits: int) -> Decimal:
    return Decimal(10) ** digits


def is_rollover(previous: Decimal, current: Decimal, digits: int) -> bool:
    if current >= previous:  # the usual case, asked for every reading a page shows
        return False
    size = register_size(digits)
    return previous >= size * (1 - ROLLOVER_BAND) and current < size * ROLLOVER_BAND


def consumption(previous: Decimal | None, current: Decimal, digits: int, ct_ratio: int) -> Decimal:
    """kWh between two register values (0 for the first reading of a meter)."""
    if previous is None:
        return Decimal(0)
    difference = current - previous
    if is_rollover(previous, current, digits):
        difference += register_size(digits)
    return difference * ct_ratio


@dataclass
class Check:
    """The verdict on one zone's value."""

    error: str | None = None  # below_previous
    needs_confirmation: bool = False  # consumption over 3x the 12-month average a month
    rolled_over: bool = False
    kwh: Decimal = Decimal(0)
    months: int = 1  # the months ``kwh`` covers: since the last accepted reading's month
    average: Decimal | None = None  # the 12-month average a month the 3x rule compared with
    notes: list[str] = field(default_factory=list)


def check_reading(
    value: Decimal,
    previous: Decimal | None,
    digits: int,
    ct_ratio: int,
    recent: list[tuple[Decimal, int]],
    months: int = 1,
) -> Check:
    """Check a new value against the last accepted one, ``months`` months before it, and the
    consumption of the last 12 months (``recent``: each reading's kWh and the months it
    covers).

    The 3x rule compares per month: after a gap with no readings the consumption since the
    last one covers all its months, and a reading of the last year that came after a gap
    counts as the months it covers, not as one month."""
    if previous is not None and value < previous and not is_rollover(previous, value, digits):
        return Check(error="below_previous")
    kwh = consumption(previous, value, digits, ct_ratio)
    result = Check(kwh=kwh, rolled_over=previous is not None and value < previous, months=months)
    used = [(used_kwh, span) for used_kwh, span in recent if used_kwh > 0]
    if used:
        total, covered = sum(used_kwh for used_kwh, _ in used), sum(span for _, span in used)
        result.average = total / covered
        # Multiplied out, not divided: 1,000 kWh over 3 months and 3,000 over the next 3 are
        # exactly 3 times, not a rounding error over it.
        result.needs_confirmation = kwh * covered > SUSPICIOUS_FACTOR * total * months
    return result


def pages_of_groups(sizes: list[int], per_page: int) -> list[range]:
    """Pages of groups of ``sizes`` items (a contract's meters), in order: a page takes whole
    groups while they add up to at most ``per_page`` items, and a group larger than that gets a
    page of its own. Each page as the range of its groups' indexes; no groups, no pages."""
    pages: list[range] = []
    start, count = 0, 0
    for index, size in enumerate(sizes):
        if count and count + size > per_page:
            pages.append(range(start, index))
            start, count = index, 0
        count += size
    if start < len(sizes):
        pages.append(range(start, len(sizes)))
    return pages
