"""The GET forms of the Documents tab: the table's filters and the statement's date range.

They change nothing, so they carry no CSRF token; their values live in the URL, which makes
every filtered view a bookmark.
"""

from __future__ import annotations

import calendar
import re
from datetime import date

from flask_babel import ngettext
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, ValidationError

from ..formatting import lazy_gettext as _l
from ..formatting import month
from ..forms import MonthField

KIND_LABELS = {
    "invoice": _l("Invoice"),
    "vat_invoice": _l("VAT invoice"),
    "act": _l("Act"),
}
STATUS_LABELS = {
    "paid": _l("Paid"),
    "partly_paid": _l("Partly paid"),
    "unpaid": _l("Unpaid"),
    "overdue": _l("Overdue"),
}
MAX_STATEMENT_DAYS = 366 * 20


_DAY_SHAPE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def _not_a_day(text: str) -> str:
    """Why ``text`` is not a date: a day past its month's end ("2026-02-29", typed or kept in
    a bookmark) is told how long the month is, since its format is right."""
    shape = _DAY_SHAPE.fullmatch(text.strip())
    if shape:
        year, month_number, day_number = map(int, shape.groups())
        if 1 <= month_number <= 12 and day_number >= 1 and year >= 1:
            days = calendar.monthrange(year, month_number)[1]
            return ngettext(
                "%(month)s has %(num)d day.",
                "%(month)s has %(num)d days.",
                days,
                month=month(date(year, month_number, 1)),
            )
    return str(_l("Enter a date as YYYY-MM-DD, for example 2025-03-31."))


class _Day(DateField):
    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as error:
            raise ValueError(_not_a_day(valuelist[0] if valuelist else "")) from error


class _GetForm(FlaskForm):
    class Meta:
        csrf = False


class DocumentFilterForm(_GetForm):
    kind = SelectField(
        _l("Kind"),
        choices=[SelectChoice("", _l("All kinds"))]
        + [SelectChoice(k, label) for k, label in KIND_LABELS.items()],
        default="",
    )
    period_from = MonthField(_l("Period from"))
    period_to = MonthField(_l("Period to"))
    status = SelectField(
        _l("Payment status"),
        choices=[SelectChoice("", _l("Any status"))]
        + [SelectChoice(k, label) for k, label in STATUS_LABELS.items()],
        default="",
    )

    def validate_period_to(self, field):
        start = self.period_from.month
        if field.month and start and field.month < start:
            raise ValidationError(_l("The end of the period must not be before its start."))


class StatementForm(_GetForm):
    start = _Day(_l("From"), validators=[InputRequired(_l("Enter the first day."))])
    end = _Day(_l("To"), validators=[InputRequired(_l("Enter the last day."))])

    def validate_end(self, field):
        start = self.start.data
        if field.data and start:
            if field.data < start:
                raise ValidationError(_l("The last day must not be before the first day."))
            if (field.data - start).days > MAX_STATEMENT_DAYS:
                raise ValidationError(_l("Choose a range of at most 20 years."))
