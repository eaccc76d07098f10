"""The period filter of the Payments tab (a GET form: it changes nothing, no CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms.validators import ValidationError

from ..formatting import lazy_gettext as _l
from ..forms import MonthField


class PeriodForm(FlaskForm):
    class Meta:
        csrf = False

    since = MonthField(_l("From month"))
    until = MonthField(_l("To month"))

    def validate_until(self, field):
        if self.since.month and field.month and field.month < self.since.month:
            raise ValidationError(_l("The end month must not be before the start month."))
