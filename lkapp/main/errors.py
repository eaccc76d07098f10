"""Error pages in the layout; for HTMX the same message lands in the main area.

A database that is locked or unreachable for a moment is not a bug: the request is rolled
back and answered 503 "Temporarily unavailable" with ``Retry-After``, and the operator gets one
WARNING line (no traceback). Any other database error (a constraint, a bad query) stays a 500.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import g, render_template, request
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError

from ..extensions import db, limiter, login_manager
from ..htmx import page_title, wants_fragment
from ..models import User

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
_PLAIN = {"Content-Type": "text/plain; charset=utf-8"}
# SQLite reports a missing table or a syntax error as an OperationalError too (SQLITE_ERROR);
# only these result codes mean "the database cannot be used right now".
SQLITE_UNAVAILABLE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_PROTOCOL",
)


def _messages() -> dict[int, tuple[str, str]]:
    return {
        400: (_("Bad request"), _("The request could not be understood. Please try again.")),
        403: (_("Access denied"), _("You do not have access to this page.")),
        404: (_("Page not found"), _("There is no such page, or it is not yours to see.")),
        405: (_("Method not allowed"), _("This address does not accept that kind of request.")),
        413: (_("File too large"), _("The file is larger than this portal accepts.")),
        422: (_("Check the form"), _("Some of the data could not be accepted.")),
        429: (
            _("Too many attempts"),
            _("Too many requests in a short time. Wait a minute and try again."),
        ),
        500: (
            _("Something went wrong"),
            _("An unexpected error occurred on our side. Please try again later."),
        ),
        503: (
            _("Temporarily unavailable"),
            _("The portal is temporarily unavailable. Please try again later."),
        ),
    }


def render_error(
    code: int,
    title: str | None = None,
    text: str | None = None,
    typed: list[str] | None = None,
    form_kept: bool = False,
):
    """The error page, or for htmx the same in the main area.

    ``typed``: what the customer had typed, shown back to copy (a plain form not sent).
    ``form_kept``: the htmx answer also carries the note app.js puts beside a form the
    customer typed into instead of swapping this in (see ``form_kept_note``).
    """
    default_title, default_text = _messages().get(code, (_("Error"), _("The request failed.")))
    context = {
        "code": code,
        "title": title or default_title,
        "text": text or default_text,
        "typed": typed or [],
    }
    headers = {"Vary": "HX-Request"}
    if typed:
        # Its session has mostly ended, which took the account pages' no-store away (see
        # register_security_headers): Back on a shared computer must not bring what was typed
        # (a question, a tax ID, a phone number) to whoever comes next.
        headers["Cache-Control"] = "no-store"
    if wants_fragment():
        # The whole main area: the tab's title goes too, and the live region of its messages
        # comes back (later answers fill it).
        headers.update({"HX-Retarget": "#main", "HX-Reswap": "innerHTML"})
        body = (
            str(page_title("errors/error.html", context))
            + render_template("_flashes.html")
            + render_template("errors/_error.html", **context)
            + (form_kept_note() if form_kept else "")
        )
        return body, code, headers
    return render_template("errors/error.html", **context), code, headers


def form_kept_note() -> str:
    """For app.js: what stands beside a form that was not sent (its token had gone stale, or
    its session had ended), which then stays as the customer typed it instead of giving way
    to an error page or the sign-in page. Inert (a ``<template>``) for anything else."""
    return render_template("errors/_form_kept.html")


# Fields of a form that the customer did not type (hidden ones: the month a readings form was
# for, its meters, an account the office links), or that are secrets: never shown back.
_NOT_TYPED = {
    "csrf_token",
    "seen",
    "next",
    "locale",
    "captcha_id",
    "captcha",
    "new_captcha",
    "period",
    "meter",
    "account_id",
}
_SECRETS = ("password", "code", "secret", "recovery", "token", "totp")


def typed_values() -> list[tuple[str, str]]:
    """What the customer typed into the form this request sent, to show back when it cannot
    be taken (without JavaScript the page that says so replaces the form): ``(label, value)``,
    where a reading's label is its zone (``T1``; a bare number is no use to copy back), else "".
    Only for a form of this site: another site's form must not put its words on our page."""
    if request.method in ("GET", "HEAD") or not _same_origin():
        return []
    values = []
    for name, value in request.form.items(multi=True):
        if name in _NOT_TYPED or any(secret in name.lower() for secret in _SECRETS):
            continue
        value = value.strip()
        if len(value) > 1:  # a ticked box ("y") or the like is nothing to copy
            zone = _READING_FIELD.fullmatch(name)
            values.append((zone.group(1) if zone else "", value))
    return values


# A reading's field: its zone (T1) alone, or with its meter on a page of several (m12-T1).
_READING_FIELD = re.compile(r"(?:m\d+-)?(T[1-3])")


def _same_origin() -> bool:
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("Origin")
    return origin is not None and origin.rstrip("/") == request.host_url.rstrip("/")


def render_signed_out():
    """A form sent without JavaScript after its session ended: the sign-in redirect would
    drop what was typed, so this page says what happened and shows it back; None when
    nothing was typed (the redirect is then the better answer)."""
    typed = typed_values()
    if not typed:
        return None
    return render_error(
        401,
        _("Your session has ended"),
        _("The form was not sent. Sign in again, then send it again."),
        typed=typed,
    )


def handle_http_error(error: HTTPException):
    if error.code is None or error.code < 400:
        return error
    if isinstance(error, SecurityError):
        # A Host header naming another site (TRUSTED_HOSTS): no layout, whose links would be
        # built from that very name.
        return _("The request could not be understood. Please try again."), 400, _PLAIN
    if isinstance(error, RateLimitExceeded):
        return _too_many(error)
    return render_error(error.code)


def _too_many(error: RateLimitExceeded):
    """429, saying how long to wait: "a minute" was wrong for a limit per hour or per day."""
    try:
        wait = max(limiter.current_limit.reset_at - time.time(), 1)
    except Exception:  # noqa: BLE001 - the storage failed meanwhile: the general words
        return render_error(error.code)
    return render_error(
        error.code,
        text=_(
            "Too many requests in a short time. Try again %(wait)s.",
            wait=format_timedelta(timedelta(seconds=wait), add_direction=True),
        ),
    )


def handle_csrf_error(error):
    """400 "The form has expired". Its token goes stale when the session ends, or when a
    sign-out or sign-in in another tab starts a new one: what the customer typed is not lost
    (kept in place by app.js with htmx, shown back without JavaScript)."""
    return render_error(
        400,
        _("The form has expired"),
        _(
            "For your security the form expired or came from elsewhere. "
            "Reload the page and send it again."
        ),
        typed=typed_values(),
        form_kept=True,
    )


def handle_unexpected_error(error: Exception):
    if isinstance(error, HTTPException):
        return handle_http_error(error)
    log.exception("Unhandled error in %s %s", request.method, _logged_path(), exc_info=error)
    _roll_back()
    return render_error(InternalServerError.code)


def _logged_path() -> str:
    """The path without its query (which may carry a tax ID), and a mailed link's route
    instead of its path: the token in it sets a password for whoever reads the log."""
    if request.url_rule is not None and "token" in request.url_rule.arguments:
        return request.url_rule.rule
    return request.path


def database_unavailable(error: Exception) -> bool:
    """True for a lock wait that timed out, a refused or lost connection, an exhausted pool."""
    if isinstance(error, PoolTimeout):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError):
        return False
    if isinstance(error.orig, sqlite3.Error):
        return (getattr(error.orig, "sqlite_errorname", "") or "").startswith(SQLITE_UNAVAILABLE)
    return True  # PostgreSQL: connection, lock timeout, cancel, shutdown, disk full


def handle_database_error(error: SQLAlchemyError):
    if not database_unavailable(error):
        return handle_unexpected_error(error)
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    log.warning(
        "database unavailable, answered 503 to %s %s: %s", request.method, _logged_path(), reason
    )
    _roll_back()
    if "_login_user" not in g:
        # The fault met the loading of the signed-in user: the page is shown without them.
        login_manager._update_request_context_with_user()
    body, code, headers = render_error(503)
    headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return body, code, headers


def _roll_back() -> None:
    """End the failed transaction without reading the database again for the error page: the
    signed-in user leaves the session first and keeps the details read before (a rollback
    would expire them). The mail the transaction queued went with it: nothing to deliver."""
    g.pop("outbox_ids", None)
    user = g.get("_login_user")
    # Expired already (the view rolled back before it failed): kept in the session, the page
    # reads the user again; taken out, it could not be read at all.
    if isinstance(user, User) and user in db.session and not sa.inspect(user).expired_attributes:
        db.session.expunge(user)
    db.session.rollback()
