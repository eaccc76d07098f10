"""What every feature's forms share."""

from flask_babel import gettext as _
from wtforms.validators import ValidationError


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
