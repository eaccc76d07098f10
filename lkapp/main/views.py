"""The landing page, the language switch and the health check."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..security import is_safe_next

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    """A signed-in customer's dashboard; for anyone else what the portal offers, the way in."""
    if current_user.is_authenticated and current_user.is_confirmed and not current_user.is_staff:
        from ..payments.dashboard import dashboard

        return dashboard()
    return render_template("main/index.html")


@bp.post("/language")
def set_language():
    """Keep the chosen language in the session and, when signed in, on the account."""
    locale = request.form.get("locale", "")
    if locale in current_app.config["LANGUAGES"]:
        session["locale"] = locale
        if current_user.is_authenticated:
            current_user.locale = locale
            db.session.commit()
    target = request.form.get("next", "")
    return redirect(target if is_safe_next(target) else url_for("main.index"))


@bp.get("/healthz")
def healthz():
    """200 when the database answers, 503 otherwise (for load balancers and monitoring)."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return {"status": "unavailable", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok"}, 200
