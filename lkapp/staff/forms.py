"""Forms of the back office."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, SearchField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from ..domain.accounts import normalize_tax_id, tax_id_is_valid
from ..formatting import lazy_gettext as _l
from ..forms import one_line, strip, unix_lines


class ContractSearchForm(FlaskForm):
    """The live search (a GET form: no CSRF token, it changes nothing)."""

    class Meta:
        csrf = False

    q = SearchField(
        _l("Number, holder name or tax ID"),
        validators=[Length(max=100, message=_l("Search with at most 100 characters."))],
        filters=[strip],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )


class IssueCodeForm(FlaskForm):
    received_by = SelectField(
        _l("Who receives the code"),
        choices=[
            SelectChoice("holder", _l("Holder (showing an ID)")),
            SelectChoice("representative", _l("Representative")),
        ],
        default="holder",  # SelectField itself refuses any other value
    )
    representative_name = StringField(
        _l("Representative's name"),
        validators=[Length(max=200, message=_l("At most 200 characters."))],
        filters=[one_line],
    )
    power_of_attorney = StringField(
        _l("Power of attorney number"),
        validators=[Length(max=60, message=_l("At most 60 characters."))],
        filters=[strip],
    )

    @property
    def for_representative(self) -> bool:
        return self.received_by.data == "representative"

    def validate_representative_name(self, field):
        if self.for_representative and not field.data:
            raise ValidationError(_l("Enter the representative's name."))

    def validate_power_of_attorney(self, field):
        if self.for_representative and not field.data:
            raise ValidationError(_l("Enter the number of the power of attorney."))


class SlipForm(FlaskForm):
    """Posts the code shown once back for its printable slip (never in a URL or a cookie)."""

    code = HiddenField(validators=[DataRequired(), Length(max=40)])


class DetachForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("Say why the contract is detached; it goes into the audit log.")),
            Length(min=3, max=500, message=_l("Between 3 and 500 characters.")),
        ],
        filters=[unix_lines, strip],
    )


class CustomerSearchForm(FlaskForm):
    """A GET form (changes nothing): no CSRF token."""

    class Meta:
        csrf = False

    q = SearchField(
        _l("Email, name or tax ID"),
        validators=[Length(max=100, message=_l("Search with at most 100 characters."))],
        filters=[one_line],  # a tab or line break pasted with it reads as a space
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )


class ReasonForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("Say why; it goes into the audit log.")),
            Length(min=3, max=500, message=_l("Between 3 and 500 characters.")),
        ],
        filters=[unix_lines, strip],
    )


class TaxIdForm(ReasonForm):
    """The office corrects a customer's tax ID: checked as registration checks it, and refused
    when it spells the account's ``current`` one (``normalize_tax_id``: as "Forgot password?"
    compares them)."""

    tax_id = StringField(
        _l("New tax ID"),
        filters=[one_line],
        validators=[DataRequired(_l("Enter the new tax ID."))],
        render_kw={"autocomplete": "off", "maxlength": 20, "spellcheck": "false"},
    )

    def __init__(self, *args, current: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.current = current

    def validate_tax_id(self, field):
        if not tax_id_is_valid(field.data):
            raise ValidationError(
                _l("Enter the tax ID as in the customer's contract: 6 to 20 letters and digits.")
            )
        if normalize_tax_id(field.data) == normalize_tax_id(self.current):
            raise ValidationError(_l("The new tax ID is the same as the account's tax ID."))
