"""Account forms. Labels are a contract (tests and users rely on them): keep them exactly.

Passwords are taken exactly as typed (no strip filter) and never rendered back.
"""

from __future__ import annotations

import re
import unicodedata

from flask import current_app
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    StopValidation,
    ValidationError,
)

from ..domain.accounts import phone_is_valid, tax_id_is_valid
from ..domain.passwords import MAX_LENGTH, MIN_LENGTH, password_problems
from ..formatting import lazy_gettext as _l
from ..forms import mail_can_reach, one_line, strip


def password_messages(problems: list[str]) -> list[str]:
    """The reasons of ``lkapp.domain.passwords.password_problems``, translated."""
    messages = {
        "too_short": _("Use at least %(count)d characters.", count=MIN_LENGTH),
        "too_long": _("Use at most %(count)d characters.", count=MAX_LENGTH),
        "common": _(
            "This password is one of the most common ones and easy to guess. Choose another."
        ),
        "contains_email": _("The password must not contain your email address."),
        "contains_name": _("The password must not contain your name or organisation name."),
    }
    return [messages[problem] for problem in problems]


# Text-direction embeddings, overrides and isolates: a name needs none, and one of them can
# make a name read backwards in the office's lists and in mail.
_DIRECTION_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
# Characters that show nothing though Unicode files them with letters or symbols: the Hangul
# fillers and the blank Braille pattern.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def name_text(value):
    """A WTForms filter for a name: ``one_line``, without text-direction controls."""
    return one_line(_DIRECTION_CONTROLS.sub("", value)) if isinstance(value, str) else value


def has_visible_character(text: str) -> bool:
    """Whether ``text`` shows anything: a letter, digit, punctuation mark or symbol. Spaces,
    format characters (zero-width spaces and joiners, direction marks) and combining marks
    on their own show nothing."""
    return any(
        unicodedata.category(char)[0] in "LNPS" and char not in _BLANK_LETTERS for char in text
    )


def visible_name(_form, field):
    """A validator: a name made of invisible characters only is no name (and needs no other
    message about its length)."""
    if field.data and not has_visible_character(field.data):
        raise StopValidation(
            _(
                "This name has no visible characters. "
                "Type your name or the name of your organisation."
            )
        )


def _name_field(description=""):
    return StringField(
        _l("Name or organisation"),
        description=description,
        filters=[name_text],
        validators=[
            DataRequired(_l("Enter your name or the name of your organisation.")),
            visible_name,
            Length(min=2, max=200, message=_l("Use 2 to 200 characters.")),
        ],
        render_kw={"autocomplete": "organization", "maxlength": 200},
    )


def _email_field(label=None, autocomplete="username", mailed=False):
    """``mailed``: an address the portal is about to write to (see ``mail_can_reach``)."""
    return EmailField(
        label or _l("Email"),
        filters=[strip],
        validators=[
            DataRequired(_l("Enter your email.")),
            Length(max=254, message=_l("An email address has at most 254 characters.")),
            Email(_l("Enter a valid email, like name@example.com.")),
            *([mail_can_reach] if mailed else []),
        ],
        render_kw={"autocomplete": autocomplete, "maxlength": 254, "spellcheck": "false"},
    )


def _longest_password():
    """The cap on a password typed to sign in or to confirm it is you, with a message of the
    portal's: WTForms' own ("Field cannot be longer than …") stays English in Hungarian, its
    catalogue lacks that plural."""
    return Length(max=1024, message=_l("Use at most %(max)d characters.", max=1024))


def _new_password_field(label):
    return PasswordField(
        label,
        validators=[InputRequired(_l("Enter a password."))],
        description=_l(
            "At least %(min)d characters; spaces and any letters are welcome. "
            "A few unrelated words make a good password.",
            min=MIN_LENGTH,
        ),
        render_kw={"autocomplete": "new-password", "minlength": MIN_LENGTH},
    )


def _repeat_field(label):
    return PasswordField(
        label,
        validators=[InputRequired(_l("Type the password again."))],
        render_kw={"autocomplete": "new-password"},
    )


def captcha_field():
    """The `Code from the picture` field of every captcha form (forgot password, questions)."""
    return StringField(
        _l("Code from the picture"),
        filters=[strip],
        validators=[
            DataRequired(_l("Enter the code from the picture.")),
            Length(max=20, message=_l("Enter the code from the picture.")),
        ],
        render_kw={
            "autocomplete": "off",
            "autocapitalize": "characters",
            "spellcheck": "false",
            "maxlength": 20,
        },
    )


class NewPasswordMixin:
    """``password`` and ``password2``: checked against the rules and each other."""

    def check_new_password(self, email: str, name: str) -> bool:
        password = self.password.data or ""
        problems = password_messages(password_problems(password, email=email, name=name))
        if problems:
            self.password.errors = list(self.password.errors) + problems
        elif password != (self.password2.data or ""):
            self.password2.errors = list(self.password2.errors) + [
                _("The two passwords differ. Type the same password twice.")
            ]
        return not problems and not self.password2.errors


class LoginForm(FlaskForm):
    email = _email_field()
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")), _longest_password()],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField(_l("Remember me"))
    # Asked for only after repeated failures for the email (see lkapp.domain.accounts).
    captcha = StringField(
        _l("Code from the picture"),
        filters=[strip],
        validators=[Length(max=20, message=_l("Enter the code from the picture."))],
        render_kw={
            "autocomplete": "off",
            "autocapitalize": "characters",
            "spellcheck": "false",
            "maxlength": 20,
        },
    )


class RegisterForm(NewPasswordMixin, FlaskForm):
    email = _email_field(autocomplete="email", mailed=True)
    password = _new_password_field(_l("Password"))
    password2 = _repeat_field(_l("Repeat password"))
    name = _name_field(_l("As in your supply contract."))
    tax_id = StringField(
        _l("Tax ID"),
        filters=[strip],
        validators=[DataRequired(_l("Enter your tax ID."))],
        description=_l("As in your supply contract. You will need it to recover your password."),
        render_kw={"autocomplete": "off", "maxlength": 20, "spellcheck": "false"},
    )
    phone = StringField(
        _l("Phone"),
        filters=[strip],
        validators=[DataRequired(_l("Enter a phone number."))],
        description=_l("With the country code, e.g. +36 1 555 0101."),
        render_kw={"autocomplete": "tel", "type": "tel", "maxlength": 30},
    )

    def validate_tax_id(self, field):
        if not tax_id_is_valid(field.data):
            raise ValidationError(
                _("Enter the tax ID as in your contract: 6 to 20 letters and digits.")
            )

    def validate_phone(self, field):
        if len(field.data) > 30 or not phone_is_valid(field.data):
            raise ValidationError(
                _("Enter a phone number with 7 to 15 digits, e.g. +36 1 555 0101.")
            )

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        if not self.password.errors and not self.password2.errors:
            valid = self.check_new_password(self.email.data or "", self.name.data or "") and valid
        return valid


class ForgotPasswordForm(FlaskForm):
    email = _email_field()
    tax_id = StringField(
        _l("Tax ID"),
        filters=[strip],
        validators=[
            DataRequired(_l("Enter your tax ID.")),
            Length(max=40, message=_l("Enter the tax ID as in your contract.")),
        ],
        description=_l("The one you gave when you registered."),
        render_kw={"autocomplete": "off", "maxlength": 40, "spellcheck": "false"},
    )
    captcha = captcha_field()


class ResetPasswordForm(NewPasswordMixin, FlaskForm):
    password = _new_password_field(_l("New password"))
    password2 = _repeat_field(_l("Repeat password"))


# The help under the code wherever it is asked for once two-factor sign-in is on; the set-up's
# help says the same of the app's code (its label differs: tests and users know both labels).
SECOND_STEP_CODE_HELP = _l(
    "The 6-digit code your authenticator app shows now, or one of your recovery codes."
)


class TwoFactorForm(FlaskForm):
    code = StringField(
        _l("Authentication code"),
        filters=[strip],
        validators=[
            DataRequired(_l("Enter the code from your authenticator app.")),
            Length(max=40, message=_l("That is not a code from the app or a recovery code.")),
        ],
        description=SECOND_STEP_CODE_HELP,
        render_kw={"autocomplete": "one-time-code", "spellcheck": "false", "maxlength": 40},
    )


class CurrentPasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password.")), _longest_password()],
        render_kw={"autocomplete": "current-password"},
    )


class TwoFactorSetupForm(CurrentPasswordForm):
    """The current password too: a session alone must not enrol an authenticator (on success
    every other session ends, and a password reset then stops at the code prompt)."""

    token = HiddenField()
    code = StringField(
        _l("Code from the app"),
        filters=[strip],
        validators=[DataRequired(_l("Enter the 6-digit code the app shows."))],
        description=_l("The 6-digit code your authenticator app shows now."),
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "maxlength": 12,
            "spellcheck": "false",
        },
    )


class TwoFactorDisableForm(CurrentPasswordForm):
    code = StringField(
        _l("Authentication code"),
        filters=[strip],
        validators=[
            DataRequired(_l("Enter a code from your authenticator app or a recovery code.")),
            Length(max=40, message=_l("That is not a code from the app or a recovery code.")),
        ],
        description=SECOND_STEP_CODE_HELP,
        render_kw={"autocomplete": "one-time-code", "spellcheck": "false", "maxlength": 40},
    )


class ChangePasswordForm(NewPasswordMixin, CurrentPasswordForm):
    password = _new_password_field(_l("New password"))
    password2 = _repeat_field(_l("Repeat new password"))


class ChangeEmailForm(CurrentPasswordForm):
    email = _email_field(_l("New email"), autocomplete="email", mailed=True)


class ProfileForm(FlaskForm):
    name = _name_field()
    phone = StringField(
        _l("Phone"),
        filters=[strip],
        validators=[DataRequired(_l("Enter a phone number."))],
        render_kw={"autocomplete": "tel", "type": "tel", "maxlength": 30},
    )
    locale = SelectField(_l("Language"), validate_choice=True)
    notify_documents = BooleanField(_l("Email me when a new invoice or document is issued"))
    notify_debt = BooleanField(_l("Email me when a debt appears"))
    notify_readings = BooleanField(_l("Email me when the window for meter readings opens"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = {"en": "English", "ru": "Русский", "hu": "Magyar"}
        self.locale.choices = [  # each name in its own language, and marked so
            (code, names.get(code, code), {"lang": code})
            for code in current_app.config["LANGUAGES"]
        ]
        self.locale.validators = [DataRequired(_l("Choose a language."))]

    def validate_phone(self, field):
        if len(field.data) > 30 or not phone_is_valid(field.data):
            raise ValidationError(
                _("Enter a phone number with 7 to 15 digits, e.g. +36 1 555 0101.")
            )
