"""Error pages in the layout; for HTMX the same message lands in the main area."""

from __future__ import annotations

import logging

from flask import render_template
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, InternalServerError

from ..extensions import db
from ..htmx import wants_fragment

log = logging.getLogger(__name__)


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


def render_error(code: int, title: str | None = None, text: str | None = None):
    default_title, default_text = _messages().get(code, (_("Error"), _("The request failed.")))
    context = {"code": code, "title": title or default_title, "text": text or default_text}
    headers = {"Vary": "HX-Request"}
    if wants_fragment():
        headers.update({"HX-Retarget": "#main", "HX-Reswap": "innerHTML"})
        return render_template("errors/_error.html", **context), code, headers
    return render_template("errors/error.html", **context), code, headers


def handle_http_error(error: HTTPException):
    if error.code is None or error.code < 400:
        return error
    return render_error(error.code)


def handle_csrf_error(error):
    return render_error(
        400,
        _("The form has expired"),
        _(
            "For your security the form expired or came from elsewhere. "
            "Reload the page and send it again."
        ),
    )


def handle_unexpected_error(error: Exception):
    if isinstance(error, HTTPException):
        return handle_http_error(error)
    log.exception("Unhandled error", exc_info=error)
    db.session.rollback()
    return render_error(InternalServerError.code)
