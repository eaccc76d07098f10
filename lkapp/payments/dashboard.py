"""The customer's dashboard at ``/``: every contract with balance and debt, the latest
documents, this month's readings and open questions (a fixed number of statements)."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user

from ..domain.contract_list import attention_order
from ..electricity.services import local_today
from ..electricity.views import TABS
from . import services

# A long list stays on the Electricity tab: the dashboard shows this many contracts (those that
# need attention first) and meters (those still missing this month's readings).
DASHBOARD_CONTRACTS = 10
DASHBOARD_METERS = 10


def dashboard():
    """Render the dashboard of ``current_user`` (a confirmed customer)."""
    today = local_today()
    contracts = services.account_contracts(current_user, today)
    shown = contracts
    if len(contracts) > DASHBOARD_CONTRACTS:
        shown = sorted(contracts, key=lambda c: attention_order(c.summary, c.number))
    context = {
        "today": today,
        "contracts": shown[:DASHBOARD_CONTRACTS],
        "contract_count": len(contracts),
        # Whether any contract needs attention: else the list shown is just the first ones.
        "attention": any(c.summary.overdue > 0 or c.summary.balance > 0 for c in contracts),
        "owed": sum((c.summary.balance for c in contracts if c.summary.balance > 0), 0),
        "overdue": sum((c.summary.overdue for c in contracts), 0),
        # Endpoints of the contract tabs, as the Electricity tab bar has them.
        "tab_endpoints": {key: endpoint for key, _label, endpoint in TABS},
        "documents": [],
        "readings": None,
        "meters": [],
        "questions": services.open_questions(current_user),
    }
    if contracts:
        context["documents"] = services.latest_documents(current_user, today)
        readings = context["readings"] = services.readings_status(current_user, today)
        context["meters"] = readings.meters
        if len(readings.meters) > DASHBOARD_METERS:
            missing = [meter for meter in readings.meters if not meter.complete]
            context["meters"] = missing[:DASHBOARD_METERS]
    return render_template("main/dashboard.html", **context)
