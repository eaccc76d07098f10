"""Access rules for views: who may reach what."""

from __future__ import annotations

from functools import wraps

from flask import abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..htmx import redirect as htmx_redirect


def staff_required(view):
    """Signed in as staff or admin with two-factor sign-in; anyone else signed in gets 403.

    A staff account without a second factor is sent to set one up first (then comes back).
    """

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_staff:
            abort(403)
        if not current_user.has_two_factor:
            flash(
                _("Staff accounts sign in with two factors. Set up your authenticator app first."),
                "warning",
            )
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return htmx_redirect(url_for("auth.two_factor_setup", next=target))
        return view(*args, **kwargs)

    return wrapped
