"""The period filter of the Payments tab (a GET form: it changes nothing, no CSRF token)."""

from __future__ import annotations

import re
from datetime import date

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import ValidationError

from ..formatting import lazy_gettext as _l

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


def parse_month(text: str | None) -> date | None:
    """``YYYY-MM`` as the first day of that month; None for empty; ValueError otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    match = _MONTH.match(text)
    if not match:
        raise ValueError(text)
    year, month = int(match.group(1)), int(match.group(2))
    if not (1 <= month <= 12 and 1900 <= year <= 9999):
        raise ValueError(text)
    return date(year, month, 1)


class _MonthField(StringField):
    """A month as ``YYYY-MM`` (``<input type="month">``; a text box where that is missing)."""

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
            if self.month is not None:
                self.data = f"{self.month.year:04d}-{self.month.month:02d}"
        except ValueError:
            self.month = None
            raise ValidationError(_l("Enter a month as YYYY-MM, for example 2025-03.")) from None


class PeriodForm(FlaskForm):
    class Meta:
        csrf = False

    since = _MonthField(_l("From month"))
    until = _MonthField(_l("To month"))

    def validate_until(self, field):
        if self.since.month and field.month and field.month < self.since.month:
            raise ValidationError(_l("The end month must not be before the start month."))
