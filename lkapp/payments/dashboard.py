"""The customer's dashboard at ``/``: every contract with balance and debt, the latest
documents, this month's readings and open questions (a fixed number of statements)."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user

from ..electricity.services import local_today
from ..electricity.views import TABS
from . import services


def dashboard():
    """Render the dashboard of ``current_user`` (a confirmed customer)."""
    today = local_today()
    contracts = services.account_contracts(current_user, today)
    context = {
        "today": today,
        "contracts": contracts,
        "owed": sum((c.summary.balance for c in contracts if c.summary.balance > 0), 0),
        "overdue": sum((c.summary.overdue for c in contracts), 0),
        # Endpoints of the contract tabs, as the Electricity tab bar has them.
        "tab_endpoints": {key: endpoint for key, _label, endpoint in TABS},
        "documents": [],
        "readings": None,
        "questions": services.open_questions(current_user),
    }
    if contracts:
        context["documents"] = services.latest_documents(current_user, today)
        context["readings"] = services.readings_status(current_user, today)
    return render_template("main/dashboard.html", **context)
