"""What every feature's forms share."""

import re
from datetime import date

import wtforms.widgets
import wtforms.widgets.core
from flask_babel import gettext as _
from markupsafe import Markup, escape
from wtforms import StringField
from wtforms.validators import ValidationError
from wtforms.widgets.core import clean_key

from .domain.csvformat import FIRST_YEAR, LAST_YEAR
from .formatting import lazy_gettext as _l

wtforms_html_params = wtforms.widgets.core.html_params  # WTForms' own, kept to compare with


def html_params(**attributes) -> Markup:
    """The attributes of a form element, as WTForms writes them (sorted by name; ``True`` as
    the bare name, ``False`` left out; ``data_``/``aria_`` names with hyphens), written without
    ``Markup.format``: that is a pure-Python string formatter, about 10 µs an attribute, and a
    text field has eight of them: 100 µs a field, 1 ms for the two readings forms of a
    meter-rich page. A test holds the output to WTForms' own."""
    params = []
    for key, value in sorted(attributes.items()):
        name = escape(clean_key(key))
        if value is True:
            params.append(name)
        elif value is not False:
            text = str(escape(value)).replace('"', "&quot;")  # as WTForms: for Markup values
            params.append(f'{name}="{text}"')
    # Every name and value above went through escape().
    return Markup(" ".join(params))  # noqa: S704  # nosec B704


def use_faster_html_params() -> None:
    """Put ``html_params`` where WTForms' widgets and labels look it up: the widgets module
    (selects, options, text areas), the package (labels) and the input and button classes
    (a class attribute WTForms keeps for this)."""
    wtforms.widgets.core.html_params = html_params
    wtforms.widgets.html_params = html_params
    wtforms.widgets.core.Input.html_params = staticmethod(html_params)
    wtforms.widgets.core.Button.html_params = staticmethod(html_params)


def strip(value):
    """A WTForms filter: surrounding spaces typed or pasted by accident go (passwords excepted:
    they are checked exactly as typed and never get this filter)."""
    return value.strip() if isinstance(value, str) else value


def unix_lines(value):
    """A WTForms filter for a text box: its line breaks as one character each. Browsers send
    them as two (CRLF) but count one against ``maxlength``: a message that fitted the box was
    refused as too long."""
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value


_BREAKS = re.compile(r"[\s\x00-\x1f\x7f]+")


def one_line(value):
    """A WTForms filter for a name: ``strip``, and any line break, tab or other control
    character read as one space (a pasted "Nagy Péter⏎Bcc: …" broke the greeting line of
    every mail and the header of every page)."""
    return _BREAKS.sub(" ", value).strip() if isinstance(value, str) else value


def mail_can_reach(_form, field):
    """For an address the portal will write to: the part before the @ in Latin letters. Mail
    leaves through SMTP, which carries other letters there only with the SMTPUTF8 extension,
    and the account could never be confirmed. Other scripts after the @ (``пример.рф``) are
    fine: the domain travels as punycode."""
    local = (field.data or "").rpartition("@")[0]
    if not local.isascii():
        raise ValidationError(
            _(
                "Before the @, use only Latin letters, digits and . _ - +: mail to an "
                "address with other letters there does not arrive."
            )
        )


# A month as people type it where no month picker is offered (Firefox, Safari on a Mac) or
# on a keypad without "-": 2026-03, 2026-3, 202603, 2026.03, 2026. 03., 2026/03; 03.2026, 3/2026.
_YEAR_FIRST = re.compile(r"(\d{4})\s*[-./]?\s*(\d{1,2})\.?")
_MONTH_FIRST = re.compile(r"(\d{1,2})\s*[-./]\s*(\d{4})")


def parse_month(text: str | None) -> date | None:
    """The first day of the month ``text`` names; None for empty; ValueError otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    if found := _YEAR_FIRST.fullmatch(text):
        year, month = found.groups()
    elif found := _MONTH_FIRST.fullmatch(text):
        month, year = found.groups()
    else:
        raise ValueError(text)
    # The years billing's files may name (csvformat); 9999-12 has no next month to count to.
    if not (1 <= int(month) <= 12 and FIRST_YEAR <= int(year) <= LAST_YEAR):
        raise ValueError(text)
    return date(int(year), int(month), 1)


class MonthField(StringField):
    """A month: ``<input type="month">`` where browsers have a picker, a text box where they
    have not (and for a value that is not a month, kept as typed beside its message). The
    month is ``.month``; ``.data`` becomes ``YYYY-MM``."""

    def __init__(self, label, **kwargs):
        kwargs.setdefault("render_kw", {"type": "month"})
        super().__init__(label, **kwargs)
        self.month: date | None = None

    def __call__(self, **kwargs):
        if self.data and self.month is None:
            # What was typed is not a month: a month box cannot hold it, a text box keeps it.
            kwargs["type"] = "text"
        return super().__call__(**kwargs)

    def pre_validate(self, form):
        try:
            self.month = parse_month(self.data)
        except ValueError:
            self.month = None
            raise ValidationError(_l("Enter a month as YYYY-MM, for example 2025-03.")) from None
        if self.month is not None:
            self.data = f"{self.month.year:04d}-{self.month.month:02d}"
