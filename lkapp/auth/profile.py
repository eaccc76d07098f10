"""The profile: details, password, email, sessions and two-factor sign-in."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from ..database import lock_row
from ..extensions import db
from ..htmx import redirect as htmx_redirect
from ..htmx import render
from ..models import User
from ..security import is_safe_next
from ..services import audit
from . import mails, services, sessions, tokens
from . import two_factor as second_factor
from .forms import (
    ChangeEmailForm,
    ChangePasswordForm,
    CurrentPasswordForm,
    ProfileForm,
    TwoFactorDisableForm,
    TwoFactorSetupForm,
)
from .views import bp, invalid_link, limit, link_page, me


def _status(form) -> int:
    return 422 if form.errors else 200


def _reauth_failed(form_field) -> object | None:
    """A wrong current password: an error beside the field, or the end if it locked the account."""
    if current_user.locked_at is not None:
        mails.account_locked(me())
        sessions.end_session()
        db.session.commit()
        flash(_("Too many failed attempts: sign-in to this account is blocked."), "error")
        return htmx_redirect(url_for("auth.login"))
    db.session.commit()
    form_field.errors = [_("That is not your current password.")]
    return None


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    """Name, phone, language and which notices come by email."""
    user = me()
    form = ProfileForm(obj=user)
    if form.validate_on_submit():
        changed = services.update_profile(
            user,
            name=form.name.data,
            phone=form.phone.data,
            locale=form.locale.data,
            notify_documents=form.notify_documents.data,
            notify_debt=form.notify_debt.data,
            notify_readings=form.notify_readings.data,
        )
        session["locale"] = user.locale
        db.session.commit()
        flash(_("Your details were saved.") if changed else _("Nothing to change."), "success")
        return htmx_redirect(url_for("auth.profile"))
    return render(
        "auth/profile/details.html",
        "auth/profile/_details_form.html",
        status=_status(form),
        form=form,
    )


@bp.route("/profile/password", methods=["GET", "POST"])
@login_required
@limit("RATELIMIT_SIGNIN")
def change_password():
    """A new password: the current one first; every other session ends."""
    user = me()
    form = ChangePasswordForm()
    if form.validate_on_submit() and form.check_new_password(user.email, user.name):
        if services.password_just_set(user, form.password.data, form.current_password.data):
            # The form sent again: the first one changed the password (and ended the others).
            flash(_("Your password was changed."), "success")
            return htmx_redirect(url_for("auth.profile"))
        if not services.check_password(user, form.current_password.data):
            ended = _reauth_failed(form.current_password)
            if ended is not None:
                return ended
        else:
            ended = services.change_password(
                user, form.password.data, keep_session=sessions.current_session_id()
            )
            mails.password_changed(user, by_reset=False)
            db.session.commit()
            flash(
                ngettext(
                    "Your password was changed. %(num)d other session was signed out.",
                    "Your password was changed. %(num)d other sessions were signed out.",
                    ended,
                )
                if ended
                else _("Your password was changed."),
                "success",
            )
            return htmx_redirect(url_for("auth.profile"))
    return render(
        "auth/profile/password.html",
        "auth/profile/_password_form.html",
        status=_status(form),
        form=form,
    )


@bp.route("/profile/email", methods=["GET", "POST"])
@login_required
@limit("RATELIMIT_SIGNIN")
def change_email():
    """A new sign-in email: it becomes the login once confirmed from the new mailbox.

    The same address asked for twice within a minute (a double click) mails once, and is
    answered twice as it was first (``services.just_asked``)."""
    user = me()
    form = ChangeEmailForm()
    if form.validate_on_submit():
        new_email = form.email.data
        lock_row(User, user.id)  # the form sent twice at once: the second finds the first
        if services.normalize_email(new_email).lower() == user.email.lower():
            form.email.errors = [_("This is your current email address.")]
        elif not services.check_password(user, form.current_password.data):
            ended = _reauth_failed(form.current_password)
            if ended is not None:
                return ended
        elif services.just_asked("auth.email_change_requested", user, new_email=new_email.strip()):
            return _email_change_asked(user, new_email)
        elif not services.email_changes_left(user):
            form.email.errors = [
                _(
                    "You have asked for %(count)s email changes in the last 24 hours. Try "
                    "again tomorrow, or write to us through “Ask a question”.",
                    count=services.EMAIL_CHANGES_PER_DAY,
                )
            ]
        else:
            change = services.request_email_change(user, new_email)
            if change.free:
                mails.email_change(user, new_email)
            else:
                # No word to the user about the other account: its owner gets a notice.
                mails.email_in_use(change.owner)
            db.session.commit()
            return _email_change_asked(user, new_email)
    return render(
        "auth/profile/email.html",
        "auth/profile/_email_form.html",
        status=_status(form),
        form=form,
    )


def _email_change_asked(user: User, new_email: str):
    flash(
        _(
            "We sent a confirmation link to %(email)s. Until you open it, you sign in "
            "with %(current)s.",
            email=new_email,
            current=user.email,
        ),
        "success",
    )
    return mails.send_after_response(htmx_redirect(url_for("auth.change_email")))


@bp.route("/profile/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email_change(token: str):
    """The link sent to the new address; works once, 48 hours."""
    found = tokens.read_token("email", token)
    if found is None:
        return invalid_link("email")
    user, new_email = found
    if request.method == "GET":
        return link_page("auth/confirm_email_change.html", new_email=new_email)
    old_email = user.email
    try:
        changed = services.change_email(user, new_email)
        if changed:
            db.session.flush()
    except IntegrityError:
        db.session.rollback()
        changed = False
    if not changed:
        return invalid_link("email", status=409, reason="taken")
    mails.email_changed(user, old_email)
    db.session.commit()
    return render_template("auth/email_changed.html", new_email=new_email)


@bp.get("/profile/sessions")
@login_required
def profile_sessions():
    """Where the account is signed in now."""
    return render_template(
        "auth/profile/sessions.html",
        records=sessions.active_sessions(me()),
        current_id=sessions.current_session_id(),
        handle=sessions.session_handle,
    )


@bp.post("/profile/sessions/others")
@login_required
def end_other_sessions():
    """Sign out everywhere else."""
    ended = sessions.revoke_sessions(me(), keep=sessions.current_session_id())
    audit.record("auth.sessions_revoked", actor=me(), obj=me(), count=ended)
    db.session.commit()
    flash(
        ngettext(
            "%(num)d other session was signed out.",
            "%(num)d other sessions were signed out.",
            ended,
        ),
        "success",
    )
    return htmx_redirect(url_for("auth.profile_sessions"))


@bp.post("/profile/sessions/<handle>/end")
@login_required
def end_one_session(handle: str):
    """Sign out one other device (not this one, not another user's: that is a 404)."""
    if not sessions.revoke_one(me(), handle):
        abort(404)
    audit.record("auth.sessions_revoked", actor=me(), obj=me(), count=1)
    db.session.commit()
    flash(_("That session was signed out."), "success")
    return htmx_redirect(url_for("auth.profile_sessions"))


@bp.route("/profile/close", methods=["GET", "POST"])
@login_required
@limit("RATELIMIT_SIGNIN")
def close_account():
    """Close the account, after the current password: its contracts leave it, every session
    ends and the personal details are erased. Staff accounts are closed by an administrator."""
    user = me()
    if user.is_staff:
        abort(403)
    form = CurrentPasswordForm()
    if form.validate_on_submit():
        if not services.check_password(user, form.current_password.data):
            ended = _reauth_failed(form.current_password)
            if ended is not None:
                return ended
        else:
            # Queued before the address is erased; not to an address nobody confirmed: it may
            # be anyone's.
            confirmed = user.is_confirmed
            if confirmed:
                mails.account_closed(user, [contract.number for contract in user.contracts])
            sessions.end_session()
            services.close_account(user)
            db.session.commit()
            flash(
                _("Your account is closed. We sent a confirmation to its email.")
                if confirmed
                else _("Your account is closed."),
                "success",
            )
            return htmx_redirect(url_for("main.index"))
    return render(
        "auth/profile/close.html",
        "auth/profile/_close_form.html",
        status=_status(form),
        form=form,
        contracts=user.contracts,
    )


# --- two-factor sign-in -------------------------------------------------------------------


@bp.get("/profile/two-factor")
@login_required
def two_factor_status():
    """On or off, and the ways to change that."""
    return render_template(
        "auth/profile/two_factor.html",
        disable_form=TwoFactorDisableForm(),
        codes_form=CurrentPasswordForm(),
        codes_left=len(current_user.recovery_codes or []),
    )


def _setup_context(form: TwoFactorSetupForm, secret: str) -> dict:
    uri = second_factor.provisioning_uri(me(), secret)
    return {
        "form": form,
        "qr": second_factor.qr_data_uri(uri),
        "secret": second_factor.grouped_secret(secret),
        "next_target": _next_or_none(),
    }


def _next_or_none() -> str | None:
    target = request.args.get("next")
    return target if is_safe_next(target) else None


@bp.route("/profile/two-factor/setup", methods=["GET", "POST"])
@login_required
@limit("RATELIMIT_SIGNIN")
def two_factor_setup():
    """Scan the QR code, type a code to prove it works and the current password; recovery
    codes are shown once."""
    user = me()
    form = TwoFactorSetupForm()
    if request.method == "POST":
        lock_row(User, user.id)  # the form sent twice at once: one turns it on, then see below
    if user.has_two_factor:
        if request.method == "POST" and _same_set_up(user, form):
            # The same form again (a double click, a reload): the answer that showed the
            # recovery codes was not seen. New ones, shown now; those are the ones that work.
            # Its password is checked, and a wrong one counted, as on any sensitive change.
            if services.check_password(user, form.current_password.data):
                return _recovery_codes(second_factor.regenerate_recovery_codes(user), True)
            ended = _reauth_failed(form.current_password)
            if ended is not None:
                return ended
        flash(_("Two-factor sign-in is on already."), "info")
        return redirect(url_for("auth.two_factor_status"))
    secret = None
    if request.method == "POST":
        secret = second_factor.secret_from_setup_token(user, form.token.data)
    if secret is None:
        secret = second_factor.new_secret()
        form.token.data = second_factor.setup_token(user, secret)
        if request.method == "POST":
            form.code.errors = [_("The set-up took too long. Scan this new QR code.")]
            return render(
                "auth/profile/two_factor_setup.html",
                "auth/profile/_two_factor_setup.html",
                status=422,
                **_setup_context(form, secret),
            )
    if form.validate_on_submit():
        # The password first: the session alone may be a stolen one (see TwoFactorSetupForm).
        if not services.check_password(user, form.current_password.data):
            ended = _reauth_failed(form.current_password)
            if ended is not None:
                return ended
        else:
            codes = second_factor.enable(user, secret, form.code.data)
            if codes is not None:
                return _two_factor_enabled(user, codes)
            form.code.errors = [
                _("That code is not right. Check the time on your phone and type the latest code.")
            ]
    return render(
        "auth/profile/two_factor_setup.html",
        "auth/profile/_two_factor_setup.html",
        status=_status(form),
        **_setup_context(form, secret),
    )


def _same_set_up(user, form: TwoFactorSetupForm) -> bool:
    """True when ``form`` is the set-up that turned on the account's second factor (its
    secret is the account's), sent again."""
    return (
        form.validate_on_submit()
        and second_factor.secret_from_setup_token(user, form.token.data) == user.totp_secret
    )


def _two_factor_enabled(user, codes: list[str]):
    """This session proved the new factor; sessions elsewhere did not: they end."""
    sessions.mark_second_factor_done()
    sessions.revoke_sessions(user, keep=sessions.current_session_id())
    mails.two_factor_changed(user, enabled=True)
    return _recovery_codes(codes, True)


def _recovery_codes(codes: list[str], just_enabled: bool):
    db.session.commit()
    # Shown once, now: neither kept in the cookie nor behind a redirect. For htmx too with
    # the page's heading, which replaces the set-up's (see _two_factor_setup.html).
    return render(
        "auth/profile/recovery_codes.html",
        "auth/profile/_recovery_codes_page.html",
        codes=codes,
        just_enabled=just_enabled,
        next_target=_next_or_none(),
    )


@bp.post("/profile/two-factor/disable")
@login_required
@limit("RATELIMIT_SIGNIN")
def two_factor_disable():
    """Off again: the current password and a code. Staff cannot turn it off."""
    user = me()
    if user.is_staff:
        abort(403)
    if not user.has_two_factor:
        return redirect(url_for("auth.two_factor_status"))
    form = TwoFactorDisableForm()
    if form.validate_on_submit():
        if not services.check_password(user, form.current_password.data):
            ended = _reauth_failed(form.current_password)
            if ended is not None:
                return ended
        elif second_factor.check_second_factor(user, form.code.data) is None:
            if services.count_failure(user, "auth.two_factor_failed"):
                return _reauth_failed(form.code)
            db.session.commit()
            form.code.errors = [_("That code is not right.")]
        else:
            second_factor.disable(user)
            mails.two_factor_changed(user, enabled=False)
            db.session.commit()
            flash(_("Two-factor sign-in is off."), "success")
            return htmx_redirect(url_for("auth.two_factor_status"))
    return render(
        "auth/profile/two_factor.html",
        "auth/profile/_two_factor_disable_form.html",
        status=_status(form),
        disable_form=form,
        codes_form=CurrentPasswordForm(formdata=None),
        codes_left=len(user.recovery_codes or []),
    )


@bp.post("/profile/two-factor/recovery-codes")
@login_required
@limit("RATELIMIT_SIGNIN")
def two_factor_new_codes():
    """New recovery codes (the old ones stop working), after the current password."""
    user = me()
    if not user.has_two_factor:
        return redirect(url_for("auth.two_factor_status"))
    form = CurrentPasswordForm()
    if form.validate_on_submit():
        if services.check_password(user, form.current_password.data):
            codes = second_factor.regenerate_recovery_codes(user)
            db.session.commit()
            return render(
                "auth/profile/recovery_codes.html",
                "auth/profile/_recovery_codes.html",
                codes=codes,
                just_enabled=False,
                next_target=None,
            )
        ended = _reauth_failed(form.current_password)
        if ended is not None:
            return ended
    return render(
        "auth/profile/two_factor.html",
        "auth/profile/_recovery_codes_form.html",
        status=_status(form),
        disable_form=TwoFactorDisableForm(formdata=None),
        codes_form=form,
        codes_left=len(user.recovery_codes or []),
    )
