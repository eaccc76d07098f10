"""Locale-aware formatting of money, numbers and dates for templates.

A table of documents formats hundreds of cells, and Babel resolves the locale and applies its
pattern anew for each one (about 20 µs a cell, more than the rest of the page). The symbols of
each locale are therefore read off Babel once, by formatting a sample, and numbers are then
formatted with Python's own grouping and those symbols; dates go through a small cache. Where
a locale's pattern does not fit that shape (no such locale is configured today), Babel does
the work as before. Tests compare both ways on every configured locale.

Looking up the request's locale (through ``flask.g``) was then half of what a call cost, so a
table takes the request's ``Formats`` once (``formats()``) and formats all its cells with it;
the template filters take it for each value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cache, lru_cache, wraps
from typing import NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from babel.core import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_skeleton as babel_format_skeleton
from babel.dates import format_time as babel_format_time
from babel.dates import get_datetime_format, get_timezone_gmt
from babel.numbers import format_currency as babel_format_currency
from babel.numbers import format_decimal as babel_format_decimal
from babel.numbers import get_currency_precision, get_currency_symbol
from babel.support import Translations
from flask import current_app, g, has_app_context
from flask_babel import format_datetime, get_locale, get_translations
from flask_babel.speaklater import LazyString
from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup

Number = Decimal | int | float
T = TypeVar("T")


class NumberSymbols(NamedTuple):
    group: str
    decimal: str
    minus: str


class CurrencyPattern(NamedTuple):
    symbols: NumberSymbols
    digits: int
    prefix: str
    suffix: str
    negative_prefix: str
    negative_suffix: str


@cache
def number_symbols(locale: str) -> NumberSymbols | None:
    """The locale's group and decimal separators and minus sign, or None if its decimal
    pattern is not the plain ``#,##0.#`` shape (groups of three)."""
    sample = babel_format_decimal(Decimal("-1234567.5"), format="#,##0.0", locale=locale)
    found = re.fullmatch(r"(?P<minus>\D*)1(?P<group>\D+)234(?P=group)567(?P<decimal>\D+)5", sample)
    if found is None:
        return None
    return NumberSymbols(found["group"], found["decimal"], found["minus"])


@cache
def currency_pattern(locale: str, currency: str) -> CurrencyPattern | None:
    """What the locale puts around an amount of ``currency`` (symbol, spaces, sign), or None
    if Babel's output does not wrap the plainly grouped number."""
    symbols = number_symbols(locale)
    if symbols is None:
        return None
    digits = get_currency_precision(currency)
    plain = _grouped(Decimal("1234567"), digits, symbols)
    affixes = []
    for sample in (Decimal("1234567"), Decimal("-1234567")):
        text = babel_format_currency(sample, currency, locale=locale)
        before, found, after = text.partition(plain)
        if not found or plain in after:
            return None
        affixes += [before, after]
    return CurrencyPattern(symbols, digits, *affixes)


def _grouped(value: Number, digits: int, symbols: NumberSymbols) -> str:
    """``abs(value)`` with groups of three and ``digits`` decimals, in the locale's symbols."""
    text = f"{abs(value):,.{digits}f}"
    return text.translate({ord(","): symbols.group, ord("."): symbols.decimal})


def _current_locale() -> Locale:
    """Flask-Babel's locale of this request. ``get_locale()`` reaches it through three
    look-ups of ``flask.g`` (2 µs; a table page asks a thousand times); its per-request
    answer is read here in one, and ``get_locale()`` asked only when there is none yet.
    ``force_locale`` and ``refresh`` change that same answer, so they still act at once."""
    locale = getattr(getattr(g, "_flask_babel", None), "babel_locale", None)
    return locale if locale is not None else get_locale()


def _locale_key(locale: Locale | None) -> tuple | None:
    """What tells ``locale`` apart, as the key of the caches below. Flask-Babel parses a new
    ``Locale`` for each request, and a ``Locale`` key then costs a call of its pure-Python
    ``__eq__`` at each look-up (1.5 µs; a page asks a few hundred times)."""
    if locale is None:  # outside an application
        return None
    return (locale.language, locale.territory, locale.script, locale.variant, locale.modifier)


_locale_names: dict[tuple | None, str] = {}


def _locale() -> str:
    """The current locale's identifier (``str(locale)`` rebuilds it on each call; a page asks
    a thousand times)."""
    locale = _current_locale()
    key = _locale_key(locale)
    name = _locale_names.get(key)
    if name is None:
        name = _locale_names[key] = str(locale)
    return name


_catalogues: dict[tuple | None, Translations] = {}


def _catalogue() -> Translations:
    """The current locale's catalogue, as Flask-Babel loads it (its own cache is keyed by
    ``str(locale)`` and reached through three lookups of ``flask.g`` a call). The locale is
    still Flask-Babel's choice (so ``force_locale`` and ``refresh`` act at once); only the
    look-up is cached."""
    key = _locale_key(_current_locale())
    catalogue = _catalogues.get(key)
    if catalogue is None:
        catalogue = _catalogues[key] = get_translations()
    return catalogue


def _gettext(string: str, **variables) -> str:
    """Flask-Babel's ``gettext`` with the cheaper catalogue look-up (and, like it, the text
    as it is outside an application)."""
    text = _catalogue().ugettext(string) if has_app_context() else string
    return text % variables if variables else text


def per_locale(function: Callable[[], T]) -> Callable[[], T]:
    """``function()``, words translated for a whole page's tables, computed once per locale
    and process rather than once per request (16 words cost 0.1 ms through ``gettext``). The
    catalogues are read once per process too (``_catalogue``); don't change the result."""
    results: dict[tuple | None, T] = {}

    @wraps(function)
    def cached() -> T:
        key = _locale_key(_current_locale())
        result = results.get(key)
        if result is None:
            result = results[key] = function()
        return result

    return cached


def lazy_gettext(string: str, **variables) -> LazyString:
    """Flask-Babel's ``lazy_gettext`` with the cheaper catalogue look-up. A lazy string is
    translated every time it is used, and twice when escaped (``escape`` asks it for
    ``__html__`` first): a select's options and a field's label cost 25 µs each."""
    return LazyString(_gettext, string, **variables)


@lru_cache(maxsize=4096)
def _date(value: date, style: str, locale: str) -> str:
    return babel_format_date(value, style, locale=locale)


@lru_cache(maxsize=4096)
def _time(value: time, style: str, locale: str) -> str:
    return babel_format_time(value, style, locale=locale)


@lru_cache(maxsize=4096)
def _skeleton(value: date, skeleton: str, locale: str) -> str:
    return babel_format_skeleton(skeleton, value, locale=locale)


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@cache
def _date_and_time(style: str, locale: str) -> str:
    return get_datetime_format(style, locale=locale).replace("'", "")


class Formats:
    """Money, numbers, days, months and moments in one locale, currency and time zone.

    The filters below take the request's (``formats()``) for each value; a table takes them
    once and formats its hundreds of cells with them: looking up the request's locale was
    half of what each call cost."""

    def __init__(self, locale: str, currency: str, timezone: str):
        self.locale = locale
        self.currency = currency
        self.zone = _zone(timezone)
        self.symbols = number_symbols(locale)
        self.currency_pattern = currency_pattern(locale, currency)

    def money(self, amount: Number | None) -> str:
        if amount is None:
            return ""
        pattern = self.currency_pattern
        if pattern is None:
            return babel_format_currency(amount, self.currency, locale=self.locale)
        text = _grouped(amount, pattern.digits, pattern.symbols)
        if amount < 0:
            return pattern.negative_prefix + text + pattern.negative_suffix
        return pattern.prefix + text + pattern.suffix

    def amount(self, value: Number | None) -> str:
        """Money without its currency, for a table that names the currency over its columns
        (a statement's billions fit their column only so)."""
        return self.number(value, get_currency_precision(self.currency))

    @property
    def currency_sign(self) -> str:
        """The currency as the locale writes it beside an amount: "€", "EUR" (Hungarian)."""
        return get_currency_symbol(self.currency, locale=self.locale)

    def number(self, value: Number | None, digits: int = 0, *, trim: bool = False) -> str:
        """``value`` grouped with ``digits`` decimals; ``trim`` drops trailing zero decimals
        (the ``#,##0.###`` pattern). What rounds to zero has no minus sign (Babel would print
        "-0")."""
        if value is None:
            return ""
        symbols = self.symbols
        if symbols is None:
            pattern = "#,##0" + ("." + ("#" if trim else "0") * digits if digits else "")
            return babel_format_decimal(value, format=pattern, locale=self.locale)
        if (
            (trim or not digits)
            and type(value) is Decimal
            and value.is_finite()
            and value == (whole := int(value))
        ):
            # A whole number without decimals to show (most readings and kWh): grouping the
            # integer takes a third of the time of grouping the decimal.
            text = f"{abs(whole):,}".replace(",", symbols.group)
            return symbols.minus + text if whole < 0 else text
        text = _grouped(value, digits, symbols)
        if trim and digits:
            text = text.rstrip("0").removesuffix(symbols.decimal)
        if value < 0 and text.strip("0" + symbols.group + symbols.decimal):
            return symbols.minus + text
        return text

    def day(self, value: date | None, style: str = "medium") -> str:
        if not value:
            return ""
        if isinstance(value, datetime):  # the day of a moment in the deployment's time zone
            if value.tzinfo is None:  # stored times are UTC
                value = value.replace(tzinfo=UTC)
            value = value.astimezone(self.zone).date()
        return _date(value, style, self.locale)

    def moment(self, value: datetime | None, style: str = "medium") -> str:
        """A UTC time shown in the deployment's time zone, to the minute.

        For the short and medium styles this is Babel's own recipe (the locale's date and
        time patterns joined by its date-time pattern) with both halves cached, the time in
        the short style: seconds tell a reader nothing, and made the same kind of moment look
        different from page to page. Longer styles name the time zone and go to Babel whole.

        The hour that clocks repeat when summer time ends (02:00-03:00 on the last Sunday of
        October in Budapest) comes with its offset, "2:30 AM GMT+02:00" and then "2:30 AM
        GMT+01:00": without it two readings sent an hour apart showed the same time."""
        if not value:
            return ""
        if style not in ("short", "medium"):
            return format_datetime(value, style)
        if value.tzinfo is None:  # stored times are UTC
            value = value.replace(tzinfo=UTC)
        local = value.astimezone(self.zone)
        time_text = _time(local.time(), "short", self.locale)
        if local.utcoffset() != local.replace(fold=1 - local.fold).utcoffset():
            time_text += " " + get_timezone_gmt(local, "long", locale=self.locale)
        return (
            _date_and_time(style, self.locale)
            .replace("{0}", time_text)
            .replace("{1}", _date(local.date(), style, self.locale))
        )

    def month(self, value: date | None) -> str:
        """A month as the locale writes it: "November 2026", "2026. november", "ноябрь 2026
        г." (a fixed "LLLL y" put the Hungarian year last)."""
        return _skeleton(value, "yMMMM", self.locale) if value else ""

    def numeric_month(self, value: date | None) -> str:
        """A month in figures, for the chart's axis: "11/2026", "11.2026", "2026. 11." (short
        and unambiguous: a Hungarian "nov. 26" reads as the 26th of November)."""
        return _skeleton(value, "yMM", self.locale) if value else ""


@cache
def _formats(locale: str, currency: str, timezone: str) -> Formats:
    return Formats(locale, currency, timezone)


def formats() -> Formats:
    """The formats of this request: its locale, the deployment's currency and time zone."""
    config = current_app.config
    return _formats(_locale(), config["CURRENCY"], config["TIMEZONE"])


def money(amount: Number | None) -> str:
    return formats().money(amount)


def number(value: Number | None, digits: int = 0, *, trim: bool = False) -> str:
    return formats().number(value, digits, trim=trim)


def amount(value: Number | None) -> str:
    return formats().amount(value)


def currency_sign() -> str:
    return formats().currency_sign


def day(value: date | None, style: str = "medium") -> str:
    return formats().day(value, style)


def moment(value: datetime | None, style: str = "medium") -> str:
    return formats().moment(value, style)


def month(value: date | None) -> str:
    return formats().month(value)


def file_size(size: int, up: bool = False) -> str:
    """``size`` bytes in KB or, from 1 MB, in MB with one decimal; rounded down (room left is
    not overstated) or ``up`` (a file's size is not understated)."""
    _ = _gettext  # the name pybabel extracts
    round_ = math.ceil if up else math.floor
    kilobytes = round_(size / 1024)
    if kilobytes < 1024:
        return _("%(size)s KB", size=kilobytes)
    return _("%(size)s MB", size=number(round_(size * 10 / 1024 / 1024) / 10, 1, trim=True))


@pass_eval_context
def _template_gettext(eval_context: EvalContext, string: str, /, **variables) -> str:
    """A template's ``_()`` and ``gettext()``: what Jinja's new-style ``gettext`` does (the
    text escaped as HTML where the template is, and always a format string), in one call.
    Jinja's own goes from ``_`` to ``gettext`` to the callable it wraps, each through
    ``Context.call``, which cost more than the translation (a page has a few hundred)."""
    text = _catalogue().ugettext(string)
    if eval_context.autoescape:
        text = Markup(text)  # noqa: S704  # nosec B704  (a catalogue text, trusted as Jinja does)
    return text % variables


def register(app) -> None:
    app.jinja_env.add_extension("jinja2.ext.do")
    # Flask-Babel's own callables, each with the cheaper catalogue look-up (a template's `_()`
    # 12.7 -> 6.8 µs; a table page has a few hundred); `_()` and `gettext()` then in one call
    # rather than three (``_template_gettext``).
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _catalogue().ugettext(s),
        ngettext=lambda s, p, n: _catalogue().ungettext(s, p, n),
        pgettext=lambda c, s: _catalogue().upgettext(c, s),
        npgettext=lambda c, s, p, n: _catalogue().unpgettext(c, s, p, n),
        newstyle=True,
    )
    app.jinja_env.globals.update(_=_template_gettext, gettext=_template_gettext)
    app.add_template_filter(money)
    app.add_template_filter(number)
    app.add_template_filter(amount)
    app.add_template_global(currency_sign)
    app.add_template_filter(day)
    app.add_template_filter(moment)
    app.add_template_filter(month)
    app.add_template_filter(file_size)

    @app.context_processor
    def portal_context():
        return {
            "utility_name": current_app.config["UTILITY_NAME"],
            "languages": current_app.config["LANGUAGES"],
            "current_locale": str(get_locale()),
        }
