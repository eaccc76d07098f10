"""The Payments tab of a contract, and a page per payment (registered under /electricity)."""

from __future__ import annotations

from flask import Blueprint, abort, request, url_for
from flask_login import login_required

from ..electricity.services import local_today
from ..electricity.views import TABS, own_contract, render_tab
from ..htmx import render, wants_fragment
from . import services
from .badges import payment_badge
from .forms import PeriodForm
from .table import payment_lines

bp = Blueprint("payments", __name__)
bp.add_app_template_global(payment_badge)
bp.add_app_template_global(payment_lines)

PER_PAGE = 20
# The id of the block the filter and the pager swap (the root of payments/_payments.html).
LIST_TARGET = "payments"


@bp.get("/<number>/payments")
@login_required
def tab(number: str):
    """Payments newest first, what each paid, totals for the period, balance and debt."""
    contract = own_contract(number)
    today = local_today()
    form = PeriodForm(request.args)
    valid = form.validate()
    since, until = (form.since.month, form.until.month) if valid else (None, None)
    result = services.payments_page(
        contract,
        since,
        until,
        page=request.args.get("page", 1, type=int),
        per_page=PER_PAGE,
        today=today,
    )
    filters = {"since": form.since.data or None, "until": form.until.data or None}
    context = {
        "form": form,
        "result": result,
        "filtered": bool(since or until),
        "url_for_page": lambda page: url_for(
            "payments.tab", number=contract.number, page=page, **(filters if valid else {})
        ),
    }
    status = 200 if valid else 422
    if wants_fragment() and request.headers.get("HX-Target") == LIST_TARGET:
        # The filter or the pager: only the list changes (the debt block stays as it is).
        # ``render`` answers a fragment here, led by the page's title (the tab names it).
        response = render(
            "electricity/contract.html",
            "payments/_payments.html",
            status=status,
            contract=contract,
            tab="payments",
            tabs=TABS,
            **context,
        )
    else:
        response = render_tab(
            contract, "payments", "payments/tab.html", **_debt_context(contract, today), **context
        )
        response.status_code = status
    response.vary.add("HX-Target")
    return response


@bp.get("/<number>/payments/<int:payment_id>")
@login_required
def payment(number: str, payment_id: int):
    """One payment: when, how much, its reference and the documents it paid."""
    contract = own_contract(number)
    today = local_today()
    view = services.payment_of(contract, payment_id, today)
    if view is None:
        abort(404)
    return render_tab(contract, "payments", "payments/payment.html", payment=view, today=today)


def _debt_context(contract, today) -> dict:
    return {"debt": services.contract_debt(contract, today), "today": today}
