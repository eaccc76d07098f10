"""What every feature's forms share."""

import wtforms.widgets
import wtforms.widgets.core
from flask_babel import gettext as _
from markupsafe import Markup, escape
from wtforms.validators import ValidationError
from wtforms.widgets.core import clean_key

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
