"""Turning a kind of notice off from the link at the end of each notice, without signing in.

The link (``tokens.notice_token``) is also the notice's one-click unsubscribe (RFC 8058): a
mailbox provider POSTs ``List-Unsubscribe=One-Click`` to it, without cookies or a CSRF token,
and that kind of notice stops. A person who follows the link gets a page that asks first:
mail scanners open every link of a message, so a GET changes nothing.
"""

from __future__ import annotations

from typing import NamedTuple

from flask import current_app, make_response, redirect, render_template, request, url_for

from ..extensions import csrf, db, limiter
from ..formatting import lazy_gettext as _l
from ..htmx import render, wants_fragment
from ..models import User
from ..services import audit
from . import tokens
from .views import bp


class Kind(NamedTuple):
    question: str
    done: str


KINDS = {
    "documents": Kind(
        _l("Stop emails about new documents?"),
        _l("You will no longer get emails about new documents."),
    ),
    "debt": Kind(
        _l("Stop emails about overdue debt?"),
        _l("You will no longer get emails about overdue debt."),
    ),
    "readings": Kind(
        _l("Stop reminders to send meter readings?"),
        _l("You will no longer get reminders to send meter readings."),
    ),
}


def turn_off(user: User, kind: str, via: str) -> bool:
    """Turn ``user``'s notices of ``kind`` off; False when they were off already. The audit
    trail tells the office why the notices stopped."""
    preference = tokens.NOTICE_KINDS[kind]
    if not getattr(user, preference):
        return False
    setattr(user, preference, False)
    audit.record("notice.stopped", obj=user, kind=kind, via=via)
    return True


def _one_click() -> bool:
    """The POST of a mailbox provider's unsubscribe button (RFC 8058)."""
    return request.method == "POST" and request.form.get("List-Unsubscribe") == "One-Click"


@bp.route("/notices/stop/<token>", methods=["GET", "POST"])
@csrf.exempt  # for the one-click POST alone: the page's own form is checked below
@limiter.limit("60 per minute", methods=["POST"])
def stop_notices(token: str):
    """The link of a notice: a page that asks (GET), the answer to it (POST), or a mailbox
    provider's one-click POST. A mailbox provider posts from its own servers for all its
    users, so the per-IP limit is higher than a form's."""
    one_click = _one_click()
    if request.method == "POST" and not one_click and current_app.config["WTF_CSRF_ENABLED"]:
        csrf.protect()  # what CSRFProtect does for every other form
    found = tokens.read_notice_token(token)
    if found is None:
        response = make_response(render_template("auth/notices_stop_invalid.html"), 404)
        response.headers["Cache-Control"] = "no-store"
        return response
    user, kind = found
    if request.method == "POST":
        turn_off(user, kind, via="one-click" if one_click else "link")
        db.session.commit()
        if one_click:
            return str(KINDS[kind].done), 200, {"Content-Type": "text/plain; charset=utf-8"}
        if not wants_fragment():
            return redirect(url_for("auth.stop_notices", token=token))
    response = render(
        "auth/notices_stop.html",
        "auth/_notices_stop.html",
        kind=KINDS[kind],
        stopped=not getattr(user, tokens.NOTICE_KINDS[kind]),
        token=token,
    )
    response.headers["Cache-Control"] = "no-store"  # the page holds the token
    return response
