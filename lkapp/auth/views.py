"""The way in: register, confirm, sign in (with a second factor), recover, sign out.

Profile pages live in ``profile.py``, the captcha routes in ``captcha_views.py`` and the
page that turns a kind of notice off in ``notices.py``; they add their routes to this blueprint.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError
from werkzeug.routing import BuildError

from ..database import lock_row
from ..domain.accounts import blocked, needs_captcha
from ..extensions import db, limiter, login_manager
from ..htmx import redirect as htmx_redirect
from ..htmx import render
from ..models import User
from ..security import is_safe_next
from ..services import audit
from ..services import captcha as captchas
from . import mails, services, sessions, tokens
from . import two_factor as second_factor
from .forms import ForgotPasswordForm, LoginForm, RegisterForm, ResetPasswordForm, TwoFactorForm

bp = Blueprint("auth", __name__)

# Blueprints an account that has not confirmed its email may use; elsewhere it is sent to the
# page that asks it to confirm. The landing page, language and health check are "main".
OPEN_WHEN_UNCONFIRMED = {"auth", "main", "support"}
# ...but not these pages of "auth". An unconfirmed address may be anyone's: a business's tax
# ID is public, so whoever knows its address may register it first. The account must not be
# dug in before its mailbox has answered: no second factor (a password reset by the real
# owner would then stop at a code prompt for good), no other password or name. The address
# itself may change (one typed wrong): the new one gets the link, and leaving frees the old.
CLOSED_WHEN_UNCONFIRMED = {
    "auth.profile",
    "auth.change_password",
    "auth.two_factor_status",
    "auth.two_factor_setup",
    "auth.two_factor_disable",
    "auth.two_factor_new_codes",
}


def limit(setting: str):
    """A per-IP rate limit read from the config at request time (operators may change it)."""
    return limiter.limit(lambda: current_app.config[setting], methods=["POST"])


def new_picture_limit(exempt_when=None):
    """The per-IP limit of new captcha pictures (``RATELIMIT_CAPTCHA``) on a page whose every
    view draws one: each is a row written (SQLite's one writer), kept a day. ``/captcha/new``
    had the limit, but loading the page again drew as many as one asked for."""
    return limiter.limit(
        lambda: current_app.config["RATELIMIT_CAPTCHA"],
        methods=["GET"],
        per_method=True,
        exempt_when=exempt_when,
    )


def me():
    """The signed-in User itself (not the proxy), for services and the audit trail."""
    return current_user._get_current_object()


def _home() -> str:
    if current_user.is_authenticated and current_user.is_staff:
        return url_for("staff.index")
    return url_for("main.index")


def _next_target(default: str | None = None) -> str:
    target = request.args.get("next")
    return target if is_safe_next(target) else (default or _home())


def captcha_id() -> str:
    """The challenge id the form was sent with."""
    return request.form.get("captcha_id", "")


def _safe_next_or_none() -> str | None:
    target = request.args.get("next")
    return target if is_safe_next(target) else None


@bp.app_context_processor
def account_helpers():
    return {
        "ask_question_url": ask_question_url,
        "describe_agent": describe_agent,
        "session_time_left": sessions.time_left,
    }


_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def describe_agent(user_agent: str, raw: bool = True) -> str:
    """``Firefox on Windows`` from a User-Agent header, for the list of sessions; else the
    header's start, or with ``raw`` false (in mail: the header is whatever the client sent,
    and must not put its words in the utility's mail) "Unknown device"."""
    browser = next((name for key, name in _BROWSERS if key in user_agent), "")
    system = next((name for key, name in _SYSTEMS if key in user_agent), "")
    if browser and system:
        return _("%(browser)s on %(system)s", browser=browser, system=system)
    fallback = user_agent[:60] if user_agent and raw else _("Unknown device")
    return browser or system or fallback


def ask_question_url() -> str:
    """The "Ask a question" service (issue of its own); its address until it exists."""
    try:
        return url_for("support.ask")
    except BuildError:
        return request.script_root + "/support/ask"


@bp.before_app_request
def unconfirmed_accounts_wait():
    """Until its email is confirmed, an account sees only its own pages and the banner."""
    if request.endpoint in (None, "static"):
        return None
    if (
        request.blueprint in OPEN_WHEN_UNCONFIRMED
        and request.endpoint not in CLOSED_WHEN_UNCONFIRMED
    ):
        return None
    if current_user.is_authenticated and not current_user.is_confirmed:
        return htmx_redirect(url_for("auth.unconfirmed"))
    return None


@login_manager.unauthorized_handler
def sign_in_first():
    """Not signed in (or the session ended): to the sign-in page, back here afterwards."""
    target = None
    if request.method == "GET":
        target = request.full_path.rstrip("?")
    elif request.headers.get("HX-Current-URL"):
        parts = urlsplit(request.headers["HX-Current-URL"])
        target = parts.path + (f"?{parts.query}" if parts.query else "")
    if target is not None and not is_safe_next(target):
        target = None
    return htmx_redirect(url_for("auth.login", next=target))


# --- sign in / out ------------------------------------------------------------------------


def _render_login(form: LoginForm, challenge=None, status: int = 200):
    return render(
        "auth/login.html",
        "auth/_login_form.html",
        status=status,
        form=form,
        challenge=challenge,
        next_target=_safe_next_or_none(),
    )


@bp.route("/login", methods=["GET", "POST"])
@limit("RATELIMIT_SIGNIN")
def login():
    """The sign-in form; a wrong email or password gets one and the same message."""
    if current_user.is_authenticated:
        return redirect(_next_target())
    form = LoginForm()
    if request.method == "POST" and request.form.get("new_captcha"):
        # "New picture" with JavaScript off: the same form again, values kept.
        challenge = captchas.new_challenge()
        db.session.commit()
        return _render_login(form, challenge)
    if not form.validate_on_submit():
        # Another field wrong: a picture the user may have read already stays.
        challenge = captchas.live_challenge(captcha_id()) if request.method == "POST" else None
        return _render_login(form, challenge, status=422 if form.errors else 200)

    email = form.email.data
    if needs_captcha(services.failures_for(email)) and not captchas.verify(
        captcha_id(), form.captcha.data
    ):
        # Slowed down: without the right code the password is not even looked at.
        form.captcha.errors = [
            _("The code did not match the picture. Type the code from this new picture.")
            if form.captcha.data
            else _("Enter the code from the picture.")
        ]
        form.captcha.data = ""
        challenge = captchas.new_challenge()
        db.session.commit()
        return _render_login(form, challenge, status=422)

    result = services.authenticate(email, form.password.data)
    if result.user is None:
        if result.locked is not None:
            mails.account_locked(result.locked)
        if blocked(result.failures):
            message = _(
                "Wrong email or password. After too many failed attempts sign-in is blocked: "
                "set a new password with “Forgot password?”."
            )
        else:
            message = _("Wrong email or password.")
        form.password.errors = [message]
        challenge = captchas.new_challenge() if needs_captcha(result.failures) else None
        form.captcha.data = ""
        db.session.commit()  # keep the failure count and the audit trail
        return mails.send_after_response(_render_login(form, challenge, status=422))

    user = result.user
    if user.has_two_factor:
        sessions.start_pending_session(user, remember=form.remember.data)
        db.session.commit()
        return htmx_redirect(url_for("auth.two_factor", next=_safe_next_or_none()))
    record = sessions.start_session(user, remember=form.remember.data)
    services.signed_in(user)
    _notice_if_new_device(user, record)
    db.session.commit()
    return mails.send_after_response(htmx_redirect(_next_target()))


def _notice_if_new_device(user, record) -> None:
    """Mail the account when it is signed in to from a browser it has not used lately: the
    one sign it has of a password in someone else's hands."""
    if sessions.note_device(user, record) and services.may_be_written_to(user):
        mails.new_sign_in(user, record)


@bp.route("/login/two-factor", methods=["GET", "POST"], endpoint="two_factor")
@limit("RATELIMIT_SIGNIN")
def second_step():
    """The second step of signing in: a code from the authenticator app or a recovery code."""
    pending = sessions.pending_session()
    if pending is None and (current_user.is_authenticated or sessions.resume_completed_session()):
        # Signed in already (the page opened again with Back or reloaded), or the step sent
        # twice: the first one passed.
        return htmx_redirect(_next_target())
    if pending is None:
        flash(_("Sign in again: the time for the code ran out."), "warning")
        return htmx_redirect(url_for("auth.login", next=_safe_next_or_none()))
    record, user = pending
    form = TwoFactorForm()
    if form.validate_on_submit():
        method = second_factor.check_second_factor(user, form.code.data)
        if method is None:
            if services.count_failure(user, "auth.two_factor_failed"):
                mails.account_locked(user)
                sessions.drop_pending_session()
                db.session.commit()
                flash(
                    _(
                        "Too many failed attempts: sign-in to this account is blocked. "
                        "We sent instructions to its email address."
                    ),
                    "error",
                )
                return mails.send_after_response(htmx_redirect(url_for("auth.login")))
            _notice_if_first_wrong_code(user, record)
            db.session.commit()
            form.code.errors = [
                _("That code is not right. Codes change every 30 seconds: type the latest one.")
            ]
        else:
            sessions.complete_pending_session(record, user)
            services.signed_in(user, second_factor=method)
            _notice_if_new_device(user, record)
            db.session.commit()
            if method == "recovery_code":
                left = len(user.recovery_codes)
                flash(
                    ngettext(
                        "You used a recovery code; %(num)d is left. Make new ones in your profile.",
                        "You used a recovery code; %(num)d are left. "
                        "Make new ones in your profile.",
                        left,
                    ),
                    "warning",
                )
            return mails.send_after_response(htmx_redirect(_next_target()))
    return mails.send_after_response(
        render(
            "auth/two_factor.html",
            "auth/_two_factor_form.html",
            status=422 if form.errors else 200,
            form=form,
            next_target=_safe_next_or_none(),
        )
    )


def _notice_if_first_wrong_code(user, record) -> None:
    """Mail the account at the first wrong code after its password: the one moment a password
    in someone else's hands shows on an account with a second factor (they get no further,
    so no new-device notice would ever come). Once per sign-in, not at every code."""
    if services.wrong_codes_since(user, record.created_at) == 1 and services.may_be_written_to(
        user
    ):
        mails.wrong_code_after_password(user, record)


@bp.post("/logout")
@login_required
def logout():
    """End this session on the server too, so an old cookie is worth nothing."""
    audit.record("auth.logout", actor=me(), obj=me())
    sessions.end_session()
    db.session.commit()
    # Its own category: the page that says so tells the browser's other tabs (static/js/app.js).
    flash(_("You have signed out."), "signed-out")
    return htmx_redirect(url_for("main.index"))


@bp.post("/session/keep")
@login_required
def keep_session():
    """ "Stay signed in" of the warning before an idle session ends: signing in has already
    counted this request as activity. A session that has ended meanwhile goes to sign-in."""
    return "", 204


# --- registration and confirmation --------------------------------------------------------


@bp.route("/register", methods=["GET", "POST"])
@limit("RATELIMIT_REGISTER")
def register():
    """A new customer account; the answer is the same whether the email had one or not."""
    if current_user.is_authenticated:
        return redirect(_home())
    form = RegisterForm()
    if form.validate_on_submit():
        values = {
            "email": form.email.data,
            "password": form.password.data,
            "name": form.name.data,
            "tax_id": form.tax_id.data,
            "phone": form.phone.data,
            "locale": str(get_locale()),
        }
        try:
            result = services.register(**values)
            if result.user is not None:
                mails.confirmation(result.user)
            elif services.may_mail_account_exists(result.existing):
                mails.account_exists(result.existing)
            db.session.commit()
        except IntegrityError:
            # The same email registered a moment ago by a parallel request.
            db.session.rollback()
            existing = services.find_user_by_email(values["email"])
            if existing is not None:
                audit.record("auth.register_existing", obj=existing)
                if services.may_mail_account_exists(existing):
                    mails.account_exists(existing)
                db.session.commit()
        return mails.send_after_response(htmx_redirect(url_for("auth.registered")))
    return render(
        "auth/register.html",
        "auth/_register_form.html",
        status=422 if form.errors else 200,
        form=form,
    )


@bp.get("/register/done")
def registered():
    """What happens next after registering (the same page whatever the email was)."""
    return render_template("auth/registered.html")


def invalid_link(kind: str, status: int = 400, reason: str = "invalid"):
    return make_response(
        render_template("auth/link_invalid.html", kind=kind, reason=reason), status
    )


def link_page(template: str, **context):
    """The page a mailed link opens: it asks for a button press and changes nothing itself.
    Mail scanners (a business mailbox's link protection) open every link of a message on
    arrival; a link that acted on opening would confirm any address it was sent to, and tell
    the person who clicks it later that it has been used."""
    response = make_response(render_template(template, **context))
    response.headers["Cache-Control"] = "no-store"  # the page holds the token
    return response


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str):
    """The link from the confirmation mail: valid 48 hours, once."""
    found = tokens.read_token("confirm", token)
    if found is None:
        return invalid_link("confirm")
    user, _new = found
    if request.method == "GET":
        return link_page("auth/confirm.html", user=user)
    # Every other session of the account ends; the one opening the link, if it is the
    # account's, goes on.
    same = current_user.is_authenticated and current_user.id == user.id
    services.confirm_email(user, keep_session=sessions.current_session_id() if same else None)
    db.session.commit()
    return render_template("auth/confirmed.html", user=user)


@bp.post("/confirm/resend")
@login_required
@limiter.limit("5 per hour")
def resend_confirmation():
    """A new confirmation link for the signed-in account (a few a day: ``confirmations_left``).

    Asked for twice within a minute (a double click), it answers twice as it did first and
    mails once (``services.just_asked``)."""
    user = lock_row(User, current_user.id)
    if user.is_confirmed:
        flash(_("Your email address is confirmed already."), "info")
    elif services.just_asked("auth.confirmation_resent", user):
        _confirmation_sent(user)
    elif not services.confirmations_left(user):
        flash(
            _(
                "You have asked for %(count)s new links in the last 24 hours. Open the latest "
                "one we sent: it works for 48 hours. Try again tomorrow, or write to us "
                "through “Ask a question”.",
                count=services.CONFIRMATIONS_PER_DAY,
            ),
            "warning",
        )
    else:
        mails.confirmation(user)
        audit.record("auth.confirmation_resent", actor=user, obj=user)
        db.session.commit()
        _confirmation_sent(user)
    target = request.form.get("next", "")
    return htmx_redirect(target if is_safe_next(target) else url_for("auth.unconfirmed"))


def _confirmation_sent(user) -> None:
    flash(
        _("We sent a new confirmation link to %(email)s. It works for 48 hours.", email=user.email),
        "success",
    )


@bp.get("/confirm")
@login_required
def unconfirmed():
    """Where an unconfirmed account lands when it tries to go further."""
    if current_user.is_confirmed:
        return redirect(_home())
    return render_template("auth/unconfirmed.html")


# --- password recovery --------------------------------------------------------------------


def _render_forgot(form, challenge, status=200):
    return render(
        "auth/forgot.html", "auth/_forgot_form.html", status=status, form=form, challenge=challenge
    )


@bp.route("/forgot-password", methods=["GET", "POST"])
@limit("RATELIMIT_RECOVERY")
@new_picture_limit()
def forgot_password():
    """Email + tax ID + captcha; whatever they are, the answer is the same page."""
    form = ForgotPasswordForm()
    if request.method == "POST" and request.form.get("new_captcha"):
        challenge = captchas.new_challenge()
        db.session.commit()
        form.captcha.data = ""
        return _render_forgot(form, challenge)
    if form.validate_on_submit():
        if not captchas.verify(captcha_id(), form.captcha.data):
            if captchas.solved_moments_ago(captcha_id(), form.captcha.data):
                # The form sent twice (a double click): the first copy was answered, and
                # asked for whatever link there is to ask for.
                return htmx_redirect(url_for("auth.forgot_password_sent"))
            form.captcha.errors = [
                _("The code did not match the picture. Type the code from this new picture.")
            ]
            form.captcha.data = ""
            challenge = captchas.new_challenge()
            db.session.commit()
            return _render_forgot(form, challenge, status=422)
        asked = services.request_password_reset(form.email.data, form.tax_id.data)
        if asked is not None:
            mails.password_reset(asked.user, tax_id=asked.tax_id)
        db.session.commit()
        return mails.send_after_response(htmx_redirect(url_for("auth.forgot_password_sent")))
    # First visit, or other fields wrong: keep a picture the user may have read already.
    challenge = None
    if request.method == "POST":
        challenge = captchas.live_challenge(captcha_id())
    if challenge is None:
        challenge = captchas.new_challenge()
        form.captcha.data = ""
    db.session.commit()
    return _render_forgot(form, challenge, status=422 if form.errors else 200)


@bp.get("/forgot-password/sent")
def forgot_password_sent():
    return render_template("auth/forgot_sent.html")


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@limit("RATELIMIT_RECOVERY")
def reset_password(token: str):
    """The link from the recovery mail: one hour, once, dead after any password change."""
    found = tokens.read_token("reset", token)
    if found is None:
        used = None
        if request.method == "POST":
            used = tokens.used_reset_link(token, request.form.get("password", ""))
        if used is None:
            return invalid_link("reset")
        # The form sent again: the first one changed the password, and signed in.
        flash(_("Your password was changed."), "success")
        signed_in = current_user.is_authenticated and current_user.id == used.id
        return htmx_redirect(_home_for(used) if signed_in else url_for("auth.login"))
    user, carried = found
    if current_user.is_authenticated and current_user.id != user.id:
        return invalid_link("reset", reason="other_account")
    form = ResetPasswordForm()
    if form.validate_on_submit() and form.check_new_password(user.email, user.name):
        confirmed = services.reset_password(
            user, form.password.data, tax_id=carried, link=tokens.link_digest(token)
        )
        mails.password_changed(user, by_reset=True, named=not confirmed)
        if user.has_two_factor:
            sessions.start_pending_session(user)
            db.session.commit()
            flash(_("Your password was changed. Now enter the code from your app."), "success")
            return htmx_redirect(url_for("auth.two_factor"))
        sessions.start_session(user)
        services.signed_in(user, second_factor=None)
        db.session.commit()
        if confirmed:
            # Whoever registered the address typed the name and phone: perhaps not its owner.
            flash(
                _(
                    "Your password was changed and your email address is confirmed; every other "
                    "session of your account has ended. The name and phone below were typed "
                    "when this address was registered, perhaps by someone else: check them."
                ),
                "warning",
            )
            return htmx_redirect(url_for("auth.profile"))
        flash(
            _("Your password was changed. Every other session of your account has ended."),
            "success",
        )
        return htmx_redirect(_home_for(user))
    response = render(
        "auth/reset.html",
        "auth/_reset_form.html",
        status=422 if form.errors else 200,
        form=form,
        token=token,
        new_tax_id=services.tax_id_from_link(user, carried),
    )
    response.headers["Cache-Control"] = "no-store"  # the page holds the token
    return response


def _home_for(user) -> str:
    return url_for("staff.index") if user.is_staff else url_for("main.index")


from . import captcha_views, notices, profile  # noqa: E402,F401  (they add routes to bp)
