"""Forms of the Electricity tab."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import SearchField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from ..domain.attach import characters_not_in_codes, code_is_well_formed
from ..domain.codes import CODE_LENGTH, normalize_code
from ..domain.contract_list import SHOW_NO_READINGS, SHOW_OVERDUE, SHOW_TO_PAY
from ..formatting import lazy_gettext as _l
from ..forms import one_line, strip


class AttachForm(FlaskForm):
    number = StringField(
        _l("Contract number"),
        validators=[
            DataRequired(_l("Enter the contract number.")),
            Length(max=30, message=_l("A contract number has at most 30 characters.")),
        ],
        filters=[one_line],  # a tab or line break pasted with the number reads as a space
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    code = StringField(
        _l("Confirmation code"),
        validators=[
            DataRequired(_l("Enter the confirmation code from the office's slip.")),
            Length(max=40, message=_l("That is too long for a confirmation code.")),
        ],
        filters=[strip],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )

    def validate_code(self, field):
        strange = characters_not_in_codes(field.data or "")
        if strange and len(normalize_code(field.data or "")) == CODE_LENGTH:
            # A code's length with a character no code has: misread from the slip. Say which.
            raise ValidationError(
                _(
                    "A confirmation code has no %(characters)s: check these against the slip. "
                    "Codes leave out letters and digits that look alike, such as O and 0.",
                    characters=", ".join(strange),
                )
            )
        if not code_is_well_formed(field.data or ""):
            raise ValidationError(
                _(
                    "A confirmation code has %(length)s letters and digits, like KQ7M-3XTA-P9CW. "
                    "Copy it from the slip.",
                    length=CODE_LENGTH,
                )
            )

    def forget_code(self) -> None:
        """The code never comes back in the form (it is a secret), the number does."""
        self.code.data = ""
        self.code.raw_data = []


class ConfirmForm(FlaskForm):
    """A confirmation step: only the CSRF token."""


class ContractFilterForm(FlaskForm):
    """Search and filters of a long contract list (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    q = SearchField(
        _l("Number, holder or address"),
        validators=[Length(max=100, message=_l("Search with at most 100 characters."))],
        filters=[strip],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    show = SelectField(
        _l("Show"),
        choices=[
            SelectChoice("", _l("All contracts")),
            SelectChoice(SHOW_OVERDUE, _l("With overdue debt")),
            SelectChoice(SHOW_TO_PAY, _l("With an amount to pay")),
            SelectChoice(SHOW_NO_READINGS, _l("Missing this month's readings")),
        ],
        default="",
    )
