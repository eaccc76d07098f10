"""Sign in and sign out."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..extensions import db, limiter
from ..htmx import redirect as htmx_redirect
from ..htmx import render
from ..security import is_safe_next
from . import services, sessions
from .forms import LoginForm

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login():
    """The sign-in form; a wrong email or password gets one and the same message."""
    if current_user.is_authenticated:
        return redirect(_home())
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            db.session.commit()  # keep the failure count and the audit trail
            form.password.errors.append(_("Wrong email or password."))
        else:
            sessions.start_session(user, remember=form.remember.data)
            db.session.commit()
            target = request.args.get("next")
            return htmx_redirect(target if is_safe_next(target) else _home())
    status = 422 if form.errors else 200
    return render("auth/login.html", "auth/_login_form.html", status=status, form=form)


@bp.post("/logout")
@login_required
def logout():
    """End this session on the server too, so an old cookie is worth nothing."""
    sessions.end_session()
    db.session.commit()
    flash(_("You have signed out."), "info")
    return redirect(url_for("main.index"))


def _home() -> str:
    return url_for("staff.index") if current_user.is_staff else url_for("main.index")
