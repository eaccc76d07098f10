"""The account's emails, queued in the outbox in the recipient's language.

Subjects are lazy strings: ``queue_mail`` renders them inside the recipient's locale. Links
are absolute (``_external=True``).
"""

from __future__ import annotations

from flask import current_app, g, url_for

from ..formatting import lazy_gettext as _l
from ..models import User
from ..services import mail as outbox
from ..services.mail import queue_mail
from . import tokens


def _hours(delta) -> int:
    return int(delta.total_seconds() // 3600)


def confirmation(user: User) -> None:
    token = tokens.make_token("confirm", user)
    queue_mail(
        user.email,
        _l("Confirm your email address"),
        "auth_confirm",
        locale=user.locale,
        user=user,
        link=url_for("auth.confirm", token=token, _external=True),
        hours=_hours(tokens.CONFIRM_FOR),
    )


def account_exists(user: User) -> None:
    """To the owner of an email someone tried to register again."""
    queue_mail(
        user.email,
        _l("Someone tried to register with your email address"),
        "auth_account_exists",
        locale=user.locale,
        user=user,
        login_link=url_for("auth.login", _external=True),
        forgot_link=url_for("auth.forgot_password", _external=True),
    )


def password_reset(user: User, tax_id: str = "") -> None:
    """``tax_id``: the one the link gives a never-confirmed account (``tokens``)."""
    token = tokens.make_token("reset", user, tax_id=tax_id)
    queue_mail(
        user.email,
        _l("Set a new password"),
        "auth_reset",
        locale=user.locale,
        user=user,
        link=url_for("auth.reset_password", token=token, _external=True),
        minutes=int(tokens.RESET_FOR.total_seconds() // 60),
    )


def password_changed(user: User, by_reset: bool, named: bool = True) -> None:
    """``named`` False: greet no one by name (a reset that has just confirmed the address:
    the name is what whoever registered it typed, see ``greeting`` in _auth_macros.html)."""
    queue_mail(
        user.email,
        _l("Your password was changed"),
        "auth_password_changed",
        locale=user.locale,
        user=user,
        named=named,
        by_reset=by_reset,
        forgot_link=url_for("auth.forgot_password", _external=True),
    )


def email_change(user: User, new_email: str) -> None:
    token = tokens.make_token("email", user, new_email)
    queue_mail(
        new_email,
        _l("Confirm your new email address"),
        "auth_email_change",
        locale=user.locale,
        user=user,
        new_email=new_email,
        link=url_for("auth.confirm_email_change", token=token, _external=True),
        hours=_hours(tokens.EMAIL_CHANGE_FOR),
    )


def email_in_use(owner: User) -> None:
    """To the owner of an address another account tried to move to."""
    queue_mail(
        owner.email,
        _l("Someone tried to use your email address"),
        "auth_email_in_use",
        locale=owner.locale,
        user=owner,
    )


def email_changed(user: User, old_email: str) -> None:
    """To the old address: the sign-in email is now another one."""
    queue_mail(
        old_email,
        _l("The email address of your account was changed"),
        "auth_email_changed",
        locale=user.locale,
        user=user,
        old_email=old_email,
        new_email=user.email,
    )


def tax_id_changed(user: User, old_tax_id: str) -> None:
    """To the account: the office corrected its tax ID (the one "Forgot password?" asks for)."""
    queue_mail(
        user.email,
        _l("The tax ID of your account was changed"),
        "auth_tax_id_changed",
        locale=user.locale,
        user=user,
        old_tax_id=old_tax_id,
        new_tax_id=user.tax_id,
    )


def account_locked(user: User) -> None:
    queue_mail(
        user.email,
        _l("Sign-in to your account is blocked"),
        "auth_locked",
        locale=user.locale,
        user=user,
        forgot_link=url_for("auth.forgot_password", _external=True),
    )


def new_sign_in(user: User, record) -> None:
    """To the account: it was signed in to from a browser it has not used lately."""
    queue_mail(
        user.email,
        _l("New sign-in to your account"),
        "auth_new_sign_in",
        locale=user.locale,
        user=user,
        record=record,
        forgot_link=url_for("auth.forgot_password", _external=True),
        sessions_link=url_for("auth.profile_sessions", _external=True),
    )


def wrong_code_after_password(user: User, record) -> None:
    """To the account: its password was typed right, then a wrong code (``record``: the
    sign-in that is waiting for the code)."""
    queue_mail(
        user.email,
        _l("Your password was used, but the code was wrong"),
        "auth_wrong_code",
        locale=user.locale,
        user=user,
        record=record,
        forgot_link=url_for("auth.forgot_password", _external=True),
    )


def account_closed(user: User, contract_numbers: list[str]) -> None:
    """To the address of an account being closed, before it is erased."""
    queue_mail(
        user.email,
        _l("Your account in My Account is closed"),
        "auth_account_closed",
        locale=user.locale,
        user=user,
        contract_numbers=contract_numbers,
        register_link=url_for("auth.register", _external=True),
    )


def two_factor_changed(user: User, enabled: bool) -> None:
    queue_mail(
        user.email,
        _l("Two-factor sign-in was turned on")
        if enabled
        else _l("Two-factor sign-in was turned off"),
        "auth_two_factor",
        locale=user.locale,
        user=user,
        enabled=enabled,
    )


def send_after_response(response):
    """Send the mail this request queued after the response has gone out, not before it.

    For the answers that must not tell whether an email has an account (registration,
    password recovery, failed sign-ins): a mail sent before answering would make the answer
    slower exactly when an account exists. The outbox rows are committed already; this only
    moves the delivery that ``deliver_queued`` would do into the response's close.
    """
    ids = g.pop("outbox_ids", None)
    if ids:
        app = current_app._get_current_object()

        def deliver():
            with app.app_context():
                g.outbox_ids = ids
                outbox.deliver_queued(None)

        response.call_on_close(deliver)
    return response
