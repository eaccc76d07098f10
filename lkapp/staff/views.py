"""The back office shell; features add their pages to this blueprint."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, current_app, g, render_template

from ..auth.decorators import staff_required
from ..extensions import db
from ..models import (
    ConfirmationCode,
    Contract,
    ImportJob,
    OutboxMail,
    Question,
    Reading,
    User,
    utcnow,
)
from ..readings.clock import window_days
from .forms import ContractSearchForm

bp = Blueprint("staff", __name__)


@bp.get("/")
@staff_required
def index():
    """The operator's start page: what is waiting, in two queries (the figures, the imports)."""
    from .imports import KIND_LABELS, job_state

    zone = ZoneInfo(current_app.config["TIMEZONE"])
    now = utcnow()
    today = now.astimezone(zone).date()
    first_day, last_day = window_days()
    # The readings window that opened last: this month's from its first day on, else last month's.
    period = today.replace(day=1)
    if today.day < first_day:
        period = (period - timedelta(days=1)).replace(day=1)
    window_open = period.month == today.month and first_day <= today.day <= last_day

    def count(column, *where):
        return sa.select(sa.func.count(column)).where(*where).scalar_subquery()

    figures = db.session.execute(
        sa.select(
            count(Contract.id).label("contracts"),
            count(Contract.id, Contract.account_id.is_(None)).label("unattached"),
            count(User.id, User.role == "customer").label("customers"),
            count(
                OutboxMail.id, OutboxMail.sent_at.is_(None), OutboxMail.given_up_at.is_(None)
            ).label("outbox"),
            count(OutboxMail.id, OutboxMail.given_up_at >= utcnow() - timedelta(days=7)).label(
                "mail_given_up"
            ),
            count(Question.id, Question.status == "new").label("questions"),
            count(
                ConfirmationCode.id,
                ConfirmationCode.issued_at >= datetime.combine(today, time(), tzinfo=zone),
            ).label("codes_today"),
            count(
                Reading.id,
                Reading.period == period,
                Reading.source != "import",
                Reading.status != "superseded",
            ).label("readings"),
        )
    ).one()
    g.unanswered_questions = figures.questions  # the staff navigation shows it too
    last_imports = db.session.execute(
        sa.select(ImportJob, User.email)
        .outerjoin(User, User.id == ImportJob.uploaded_by_id)
        .order_by(ImportJob.created_at.desc(), ImportJob.id.desc())
        .limit(5)
    ).all()
    return render_template(
        "staff/index.html",
        counts=figures._asdict(),
        window_period=period,
        window_open=window_open,
        imports=last_imports,
        kind_labels=KIND_LABELS,
        job_state=job_state,
        search_form=ContractSearchForm(formdata=None),
    )


# The feature pages add their routes to ``bp`` (imported last: they import ``bp``).
from . import audit, contracts, customers, imports, team  # noqa: E402, F401
