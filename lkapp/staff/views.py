"""The back office shell; features add their pages to this blueprint."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template

from ..auth.decorators import staff_required
from ..extensions import db
from ..models import Contract, OutboxMail, User
from .forms import ContractSearchForm

bp = Blueprint("staff", __name__)


@bp.get("/")
@staff_required
def index():
    """The operator's start page: what is waiting."""
    counts = {
        "contracts": db.session.scalar(sa.select(sa.func.count(Contract.id))),
        "unattached": db.session.scalar(
            sa.select(sa.func.count(Contract.id)).where(Contract.account_id.is_(None))
        ),
        "customers": db.session.scalar(
            sa.select(sa.func.count(User.id)).where(User.role == "customer")
        ),
        "outbox": db.session.scalar(
            sa.select(sa.func.count(OutboxMail.id)).where(OutboxMail.sent_at.is_(None))
        ),
    }
    return render_template(
        "staff/index.html", counts=counts, search_form=ContractSearchForm(formdata=None)
    )


# The contract pages add their routes to ``bp`` (imported last: they import ``bp``).
from . import contracts  # noqa: E402, F401
