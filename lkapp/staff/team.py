"""Back office, administrators only: staff accounts — create, disable, enable, send a new
password link.

A new account gets no password from the administrator: it is created with an unusable random
one and its owner gets a link to set their own (the password-reset token of lkapp.auth, so it
works once and for an hour). On the first sign-in the staff member must set up two-factor
sign-in (``staff_required`` sends them there). Disabling is a staff lock
(``lock_account``): every session ends, and only an administrator lifts it.
"""

from __future__ import annotations

import secrets
from functools import wraps

import sqlalchemy as sa
from flask import abort, flash, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, ValidationError

from ..auth import services as accounts
from ..auth import tokens
from ..auth.decorators import staff_required
from ..database import lock_row
from ..extensions import db
from ..formatting import lazy_gettext as _l
from ..forms import mail_can_reach, one_line, strip
from ..htmx import redirect as htmx_redirect
from ..htmx import render
from ..models import User, utcnow
from ..security import hash_password
from ..services import audit
from ..services.mail import queue_mail
from .views import bp


def admin_required(view):
    """Staff with the admin role; other staff get 403 (and the rest what staff_required says)."""

    @wraps(view)
    @staff_required
    def wrapped(*args, **kwargs):
        if current_user.role != "admin":
            abort(403)
        return view(*args, **kwargs)

    return wrapped


class StaffForm(FlaskForm):
    email = EmailField(
        _l("Email"),
        validators=[
            DataRequired(_l("Enter the email address.")),
            Length(max=254, message=_l("An email address has at most 254 characters.")),
            Email(_l("Enter a valid email address.")),
            mail_can_reach,
        ],
        filters=[strip],
    )
    name = StringField(
        _l("Name"),
        validators=[
            DataRequired(_l("Enter the name.")),
            Length(max=200, message=_l("Use at most 200 characters.")),
        ],
        filters=[one_line],
    )
    role = SelectField(
        _l("Role"),
        choices=[
            SelectChoice("staff", _l("Operator (staff)")),
            SelectChoice("admin", _l("Administrator (also manages staff accounts)")),
        ],
        default="staff",
    )

    def validate_email(self, field):
        if field.data and accounts.find_user_by_email(field.data) is not None:
            raise ValidationError(_l("An account with this email exists already."))


def _members():
    return db.session.scalars(
        sa.select(User).where(User.role.in_(("staff", "admin"))).order_by(sa.func.lower(User.email))
    ).all()


def send_password_link(user: User, welcome: bool) -> None:
    """Queue the mail with a link to set a password (the reset token of lkapp.auth)."""
    queue_mail(
        user.email,
        _l("Your staff account: set your password")
        if welcome
        else _l("Your staff account: a new link to set your password"),
        "staff_welcome",
        locale=user.locale,
        user=user,
        link=url_for("auth.reset_password", token=tokens.make_token("reset", user), _external=True),
        minutes=int(tokens.RESET_FOR.total_seconds() // 60),
        welcome=welcome,
    )


@bp.route("/team", methods=["GET", "POST"])
@admin_required
def team():
    """The staff accounts, and the form that creates one."""
    form = StaffForm()
    if form.validate_on_submit():
        user = User(
            email=accounts.normalize_email(form.email.data),
            # Nobody knows this password: the owner sets one with the link.
            password_hash=hash_password(secrets.token_urlsafe(32)),
            name=form.name.data,
            role=form.role.data,
            confirmed_at=utcnow(),
            # The welcome and the back office in the language of the admin who adds them,
            # most likely theirs too (each may change it in the profile).
            locale=current_user.locale,
        )
        db.session.add(user)
        try:
            db.session.flush()
        except IntegrityError:
            # The address was taken since the check: the form sent twice (a double click
            # without JavaScript), or the same address registered or added a moment ago.
            db.session.rollback()
            form.email.errors.append(_("An account with this email exists already."))
        else:
            audit.record("user.staff_created", actor=current_user, obj=user, role=user.role)
            send_password_link(user, welcome=True)
            db.session.commit()
            flash(
                _(
                    "The account %(email)s was created; a link to set a password went to it.",
                    email=user.email,
                ),
                "success",
            )
            return htmx_redirect(url_for("staff.team"))
    return render(
        "staff/team/index.html",
        "staff/team/_form.html",
        status=422 if form.errors else 200,
        form=form,
        members=_members(),
        is_disabled=is_disabled,
    )


def is_disabled(user: User) -> bool:
    """Locked in a way only an administrator lifts. A lock after failed sign-ins is not: a
    password reset lifts it, so such an account can still be disabled."""
    return accounts.barred(user)


def _member(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or not user.is_staff:
        abort(404)
    return user


def disable(user: User, actor: User) -> str:
    """``actor`` disables staff account ``user``; what happened: "disabled", "own", "already"
    or "actor_disabled" (nothing written).

    Both rows are read again under their locks, taken in id order (``lock_row``): two
    administrators disabling each other at once both passed the checks and left no
    administrator who could sign in. The later one now finds itself disabled and changes
    nothing; the acting administrator, enabled and not ``user``, is the one who remains."""
    if user.id == actor.id:
        return "own"
    for user_id in sorted((user.id, actor.id)):
        lock_row(User, user_id)
    if is_disabled(actor) or actor.role != "admin":
        return "actor_disabled"
    if is_disabled(user):
        return "already"
    accounts.lock_account(user, actor)
    return "disabled"


@bp.post("/team/<int:user_id>/disable")
@admin_required
def disable_member(user_id: int):
    """Disable a staff account (not one's own): it cannot sign in, its sessions end."""
    user = _member(user_id)
    outcome = disable(user, current_user)
    if outcome == "own":
        flash(_("You cannot disable your own account."), "error")
    elif outcome == "actor_disabled":
        db.session.rollback()
        flash(_("Your account was disabled meanwhile: nothing was changed."), "error")
    elif outcome == "already":
        db.session.rollback()
        flash(_("The account is disabled already."), "info")
    else:
        db.session.commit()
        flash(_("The account %(email)s is disabled.", email=user.email), "success")
    return htmx_redirect(url_for("staff.team"))


@bp.post("/team/<int:user_id>/enable")
@admin_required
def enable_member(user_id: int):
    """Enable a disabled staff account again."""
    user = _member(user_id)
    lock_row(User, user.id)  # read again: enabled by a colleague (or a double click) meanwhile?
    if user.locked_at is None:
        flash(_("The account is not disabled."), "info")
    else:
        accounts.unlock_account(user, current_user)
        db.session.commit()
        flash(_("The account %(email)s can sign in again.", email=user.email), "success")
    return htmx_redirect(url_for("staff.team"))


@bp.post("/team/<int:user_id>/password-link")
@admin_required
def member_password_link(user_id: int):
    """Send a staff member a new link to set a password (the first one lasts an hour).

    Not to a disabled account: no reset link of it works (``tokens.read_token``). Asked for
    twice within a minute (a double click, two administrators), it mails once and answers
    both times as it did first (``accounts.just_asked``)."""
    user = lock_row(User, _member(user_id).id)
    if is_disabled(user):
        flash(
            _(
                "The account %(email)s is disabled: its link would not work. Enable it first.",
                email=user.email,
            ),
            "warning",
        )
        return htmx_redirect(url_for("staff.team"))
    if not accounts.just_asked("user.password_link_sent", user):
        send_password_link(user, welcome=False)
        audit.record("user.password_link_sent", actor=current_user, obj=user)
        db.session.commit()
    flash(_("A link to set a password went to %(email)s.", email=user.email), "success")
    return htmx_redirect(url_for("staff.team"))
