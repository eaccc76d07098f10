"""Forms of the question service. Labels are a contract (users and tests rely on them)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    IntegerField,
    MultipleFileField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError
from wtforms.widgets import HiddenInput

from ..auth.forms import captcha_field
from ..domain import questions as rules
from ..formatting import file_size
from ..formatting import lazy_gettext as _l
from ..forms import mail_can_reach, one_line, strip, unix_lines
from .services import Upload, anonymous_file_bytes_in_window, file_bytes_in_window


def subject_choices(empty: bool = True) -> list[SelectChoice]:
    choices = [
        SelectChoice("lost_login", _l("Lost login")),
        SelectChoice("documents", _l("Documents")),
        SelectChoice("readings", _l("Readings")),
        SelectChoice("payments", _l("Payments")),
        SelectChoice("other", _l("Other")),
    ]
    if empty:
        choices.insert(0, SelectChoice("", _l("Choose a subject")))
    return choices


def _body_field(label):
    return TextAreaField(
        label,
        filters=[unix_lines, strip],
        validators=[
            DataRequired(_l("Write your message.")),
            Length(
                max=rules.MAX_BODY_LENGTH,
                message=_l("Use at most %(max)d characters.", max=rules.MAX_BODY_LENGTH),
            ),
        ],
        render_kw={"rows": 8, "maxlength": rules.MAX_BODY_LENGTH},
    )


def _files_field():
    return MultipleFileField(
        _l("Attachments"),
        render_kw={
            "accept": ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png",
            # What app.js lets go in one message, for the files together: more would be
            # refused as a whole request (413), which replaced the form and what was typed.
            "data-max-total": rules.MAX_FILES * rules.MAX_FILE_SIZE,
        },
    )


class AttachmentsMixin:
    """Checks the chosen files (count, size, type by content) and keeps them as ``uploads``."""

    uploads: list[Upload]

    def validate_files(self, field):
        self.uploads = []
        chosen = [f for f in (field.data or []) if getattr(f, "filename", "")]
        if len(chosen) > rules.MAX_FILES:
            raise ValidationError(
                _("Attach at most %(count)d files to one message.", count=rules.MAX_FILES)
            )
        problems = []
        for storage in chosen:
            data = storage.stream.read(rules.MAX_FILE_SIZE + 1)
            name = storage.filename
            if len(data) > rules.MAX_FILE_SIZE:
                problems.append(_("%(name)s is larger than 5 MB.", name=name))
                continue
            if not data:
                problems.append(_("%(name)s is empty.", name=name))
                continue
            content_type = rules.sniff_type(data[: rules.SNIFF_BYTES])
            if content_type is None:
                problems.append(
                    _("%(name)s is not a PDF, JPEG or PNG file (we check the content).", name=name)
                )
                continue
            self.uploads.append(Upload(rules.safe_filename(name, content_type), content_type, data))
        if problems:
            self.uploads = []
            raise ValidationError(" ".join(problems))
        self._check_account_quota()

    def _check_account_quota(self) -> None:
        added = sum(len(upload.data) for upload in self.uploads)
        if not added:
            return
        if not current_user.is_authenticated:
            self._check_anonymous_quota(added)
            return
        left = rules.ACCOUNT_FILE_BYTES - file_bytes_in_window(current_user)
        if added <= left:
            return
        self.uploads = []
        days, limit = rules.FILES_WINDOW.days, rules.ACCOUNT_FILE_BYTES // (1024 * 1024)
        if left >= 1024:  # smaller files may still go: say how much
            raise ValidationError(
                _(
                    "These files take %(size)s, but only %(left)s is left of the %(limit)s MB "
                    "an account may send in %(days)s days. Send smaller files, or the message "
                    "without files.",
                    size=file_size(added, up=True),
                    left=file_size(left),
                    limit=limit,
                    days=days,
                )
            )
        raise ValidationError(
            _(
                "Your files of the last %(days)s days have reached %(limit)s MB, the most an "
                "account may send. Send the message without files, or call our office.",
                days=days,
                limit=limit,
            )
        )

    def _check_anonymous_quota(self, added: int) -> None:
        """Each address and IP asking without an account is limited; together they may
        attach ``ANONYMOUS_FILE_BYTES`` a day, beyond which files need an account."""
        if anonymous_file_bytes_in_window() + added <= rules.ANONYMOUS_FILE_BYTES:
            return
        self.uploads = []
        raise ValidationError(
            _(
                "We cannot take more files from questions asked without an account today. "
                "Send the question without files, sign in to attach them, or call our office."
            )
        )

    def files_chosen(self) -> bool:
        return any(getattr(f, "filename", "") for f in (self.files.data or []))

    def ask_for_files_again(self) -> None:
        """A form that comes back cannot keep its files (browsers do not): say so."""
        if self.files_chosen() and not self.files.errors:
            self.files.errors = [
                _("Choose the files again: they are not kept when the form comes back.")
            ]


class AskForm(AttachmentsMixin, FlaskForm):
    """Asking without signing in (the captcha guards it)."""

    email = EmailField(
        _l("Email"),
        filters=[strip],
        validators=[
            DataRequired(_l("Enter your email.")),
            Length(max=254, message=_l("An email address has at most 254 characters.")),
            Email(_l("Enter a valid email, like name@example.com.")),
            mail_can_reach,
        ],
        description=_l("The answer comes to this address."),
        render_kw={"autocomplete": "email", "maxlength": 254, "spellcheck": "false"},
    )
    name = StringField(
        _l("Name or organisation"),
        filters=[one_line],
        validators=[
            DataRequired(_l("Enter your name or the name of your organisation.")),
            Length(max=200, message=_l("Use at most 200 characters.")),
        ],
        render_kw={"autocomplete": "organization", "maxlength": 200},
    )
    contract_number = StringField(
        _l("Contract number"),
        filters=[strip],
        validators=[Optional(), Length(max=30, message=_l("A contract number is shorter."))],
        description=_l("Optional: if the question is about a contract."),
        render_kw={"autocomplete": "off", "maxlength": 30, "spellcheck": "false"},
    )
    subject = SelectField(
        _l("Subject"),
        choices=subject_choices(),
        validators=[DataRequired(_l("Choose a subject."))],
    )
    question = _body_field(_l("Question"))
    files = _files_field()
    captcha = captcha_field()


class CabinetAskForm(AttachmentsMixin, FlaskForm):
    """Asking from inside the account: the contract is one of the account's own."""

    contract = SelectField(_l("Contract"), validate_choice=False)  # checked below
    subject = SelectField(
        _l("Subject"),
        choices=subject_choices(),
        validators=[DataRequired(_l("Choose a subject."))],
    )
    question = _body_field(_l("Question"))
    files = _files_field()

    def __init__(self, contracts, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.contract.choices = [SelectChoice("", _l("No particular contract"))] + [
            # The address too: one holder's contracts differ by where the power goes.
            SelectChoice(c.number, " · ".join(filter(None, (c.number, c.holder_name, c.address))))
            for c in contracts
        ]

    def validate_contract(self, field):
        if field.data and field.data not in {choice.value for choice in field.choices}:
            raise ValidationError(_("Choose one of the contracts in your account."))


class ReplyForm(AttachmentsMixin, FlaskForm):
    """The asker's reply. ``seen``: how many messages the page showed; only a page of an open
    thread has the form, so a reply that has it was written on one."""

    body = _body_field(_l("Your reply"))
    files = _files_field()
    seen = IntegerField(validators=[Optional()], widget=HiddenInput())


class AnswerForm(FlaskForm):
    """The office's answer. ``seen``: as for ``CloseForm``, so that an answer written without
    a message that came meanwhile (a colleague's answer, the asker's reply) is not sent."""

    body = _body_field(_l("Answer"))
    seen = IntegerField(validators=[Optional()], widget=HiddenInput())


class ActionForm(FlaskForm):
    """A button that changes something (send a reset link): the CSRF token alone."""


class CloseForm(FlaskForm):
    """Close a thread. ``seen``: how many messages the operator's page showed, so that a
    reply that came after the page was opened is not closed unread."""

    seen = IntegerField(validators=[Optional()], widget=HiddenInput())


class LookupForm(FlaskForm):
    """Look up accounts by a tax id for "lost login" (a GET form)."""

    class Meta:
        csrf = False

    tax_id = StringField(
        _l("Tax ID"),
        filters=[strip],
        validators=[Length(max=20)],
        render_kw={"autocomplete": "off", "maxlength": 20, "spellcheck": "false"},
    )


class StaffFilterForm(FlaskForm):
    """Filters of the office's list (a GET form: no CSRF token, it changes nothing)."""

    class Meta:
        csrf = False

    status = SelectField(
        _l("Status"),
        choices=[
            SelectChoice("", _l("Any status")),
            SelectChoice("new", _l("New")),
            SelectChoice("answered", _l("Answered")),
            SelectChoice("closed", _l("Closed")),
        ],
        default="",
    )
    subject = SelectField(
        _l("Subject"),
        choices=[SelectChoice("", _l("Any subject")), *subject_choices(empty=False)],
        default="",
    )
    age = SelectField(
        _l("Last message"),
        choices=[
            SelectChoice("", _l("Any time")),
            SelectChoice("1", _l("More than 1 day ago")),
            SelectChoice("3", _l("More than 3 days ago")),
            SelectChoice("7", _l("More than 7 days ago")),
        ],
        default="",
    )
