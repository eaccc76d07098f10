"""The Electricity tab: the account's contracts, adding one with a code, a contract's tabs."""

from __future__ import annotations

from urllib.parse import urlsplit

from babel.numbers import get_decimal_symbol
from flask import Blueprint, Response, abort, flash, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..documents import services as document_services
from ..domain.attach import Outcome, minutes_to_wait
from ..domain.contract_list import SHOW_NO_READINGS
from ..extensions import db, limiter
from ..formatting import lazy_gettext as _l
from ..htmx import redirect as htmx_redirect
from ..htmx import render, wants_fragment
from ..models import Contract
from ..payments import services as payment_services
from ..services.billing.export import csv_chunks
from . import services
from .forms import AttachForm, ConfirmForm, ContractFilterForm
from .services import local_today

bp = Blueprint("electricity", __name__)

PER_PAGE = 50  # contracts on a page of the list
SEARCH_FROM = 10  # contracts from which the list offers its search and filters
# The list for a spreadsheet is for people: headed in the reader's language, as its figures
# take the reader's decimal separator (billing's files are the ones with fixed names).
CSV_COLUMNS = (
    _l("Contract number"), _l("Holder"), _l("Supply address"), _l("Status"), _l("Balance"),
    _l("Overdue debt"), _l("Oldest overdue invoice"), _l("Days overdue"), _l("Next due date"),
    _l("Next amount due"),
)  # fmt: skip
CONTRACT_STATUSES = {"active": _l("Active"), "terminated": _l("Terminated")}

# The tabs of a contract: key, label, endpoint. Later features replace the placeholder views
# and render their tab with ``render_tab``.
TABS = (
    ("overview", _l("Overview"), "electricity.contract"),
    ("documents", _l("Documents"), "documents.tab"),
    ("readings", _l("Readings"), "readings.tab"),
    ("payments", _l("Payments"), "payments.tab"),
)


def own_contract(number: str) -> Contract:
    """The current user's contract ``number``, or 404: the same answer whether the contract
    does not exist or belongs to someone else (no existence oracle)."""
    contract = services.contract_of(current_user, number)
    if contract is None:
        abort(404)
    return contract


def render_tab(contract: Contract, tab: str, body: str, **context):
    """A tab of a contract: the full page, or for htmx the tab area (tab bar and body)."""
    return render(
        "electricity/contract.html",
        "electricity/_tab.html",
        contract=contract,
        tab=tab,
        tabs=TABS,
        body=body,
        **context,
    )


@bp.get("")
@login_required
def index():
    """The contracts of this account with their balance, debt and next due date; a long list
    can be searched, filtered and paged."""
    form = ContractFilterForm(request.args)
    if not form.validate():
        return _contract_list(form, status=422)
    return _contract_list(form, page=request.args.get("page", 1, type=int))


@bp.get("/contracts.csv")
@login_required
def contracts_csv():
    """The list as the search and filter show it, for a spreadsheet: figures with the decimal
    separator of the reader's language."""
    form = ContractFilterForm(request.args)
    if not form.validate():
        return _contract_list(form, status=422)
    _rows, found = _found(*_search(form))
    today = local_today()
    # Words now: the rows are written after the view has returned, in no language.
    statuses = {status: str(label) for status, label in CONTRACT_STATUSES.items()}
    return Response(
        csv_chunks(
            [str(column) for column in CSV_COLUMNS],
            (_csv_row(row, statuses) for row in found),
            decimal_comma=get_decimal_symbol(get_locale()) == ",",
            period_columns=(),
        ),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="contracts-{today.isoformat()}.csv"',
            "Cache-Control": "no-store",
        },
    )


def _csv_row(row: services.ContractRow, statuses: dict[str, str]) -> tuple:
    s = row.summary
    return (
        row.number,
        row.holder_name,
        row.address,
        statuses.get(row.status, row.status),
        s.balance,
        s.overdue,
        s.oldest_overdue_number,
        s.days_overdue if s.oldest_overdue_on else None,
        s.next_due_on,
        s.next_due_amount if s.next_due_on else None,
    )


def _found(query: str, show: str) -> tuple[list[services.ContractRow], list]:
    """The account's contracts, with the same balance and debt figures as the dashboard and
    the Payments tab, and those that the search ``query`` and the filter ``show`` let through."""
    rows = payment_services.account_contracts(current_user)
    lacking = ()
    if show == SHOW_NO_READINGS:
        readings = payment_services.readings_status(current_user)
        lacking = {m.contract_number for m in readings.meters if not m.complete}
    return rows, services.find_contracts(rows, query, show, lacking)


def _search(form: ContractFilterForm) -> tuple[str, str]:
    """The valid search and filter of ``form`` (none when it has errors)."""
    return ("", "") if form.errors else (form.q.data or "", form.show.data)


def _contract_list(form: ContractFilterForm, status: int = 200, page: int = 1, new_id=None):
    query, show = _search(form)
    rows, found = _found(query, show)
    if new_id is not None:  # the page that holds the contract just added
        page = next((i for i, row in enumerate(rows) if row.id == new_id), 0) // PER_PAGE + 1
    result = services.contract_page(found, len(rows), page, PER_PAGE)
    # Several contracts: each month's documents of all of them in a ZIP, or in several.
    periods = document_services.document_months(current_user) if len(rows) > 1 else []
    args = {"q": query or None, "show": show or None}
    filtered = bool(query or show)
    return render(
        "electricity/index.html",
        "electricity/_contracts.html",
        status=status,
        form=form,
        result=result,
        filtered=filtered,
        searchable=result.total >= SEARCH_FROM or filtered or bool(form.errors),
        new_id=new_id,
        periods=periods,
        csv_url=url_for("electricity.contracts_csv", **args),
        url_for_page=lambda page: url_for("electricity.index", **args, page=page),
    )


@bp.route("/add", methods=["GET", "POST"])
@login_required
@limiter.limit("30 per minute", methods=["POST"])
def add():
    """Add a contract with its number and the office's code; the code never comes back."""
    if current_user.is_staff:
        # Contracts belong to customers' accounts: an operator who issues a code could
        # otherwise take the contract into the back office's own account.
        abort(403)
    form = AttachForm()
    problem = None
    if form.validate_on_submit():
        result = services.attach_contract(current_user, form.number.data, form.code.data)
        db.session.commit()
        if result.ok:
            flash(
                _("Contract %(number)s is now in your account.", number=result.contract.number),
                "success",
            )
            if _inline_form():
                # In place: the list, now with the new contract, replaces the whole section.
                response = _contract_list(
                    ContractFilterForm(formdata=None), new_id=result.contract.id
                )
                response.headers["HX-Retarget"] = "#contracts"
                response.headers["HX-Reswap"] = "outerHTML"
                return response
            return htmx_redirect(url_for("electricity.index"))
        problem = attach_problem(result)
    form.forget_code()
    status = 422 if form.errors or problem else 200
    return render(
        "electricity/add.html",
        "electricity/_add_form.html",
        status=status,
        form=form,
        problem=problem,
    )


def _inline_form() -> bool:
    """The form was opened inside the list (not on its own page, /electricity/add)."""
    if not wants_fragment():
        return False
    current = urlsplit(request.headers.get("HX-Current-URL", "")).path
    return current != url_for("electricity.add")


def attach_problem(result: services.AttachResult) -> str:
    """What the customer reads after a failed attempt: what happened and what to do."""
    outcome = result.outcome
    if outcome is Outcome.THROTTLED:
        minutes = minutes_to_wait(result.wait)
        return ngettext(
            "Too many wrong tries. Wait %(num)s minute and try again.",
            "Too many wrong tries. Wait %(num)s minutes and try again.",
            minutes,
        )
    messages = {
        Outcome.NO_MATCH: _(
            "The contract number or the confirmation code is wrong. Check both and try again "
            "(a code stops working when the office issues a newer one)."
        ),
        Outcome.EXPIRED: _("This confirmation code has expired. Ask the office for a new one."),
        Outcome.USED: _(
            "This confirmation code has been used already. Ask the office for a new one."
        ),
        Outcome.REVOKED: _(
            "This confirmation code no longer works: a newer one was issued or it was "
            "withdrawn. Use the newest code, or ask the office for a new one."
        ),
        Outcome.LOCKED: _(
            "This confirmation code is locked after too many wrong tries. "
            "Ask the office for a new one."
        ),
        Outcome.TAKEN: _(
            "This contract is attached to another account. Please contact the office."
        ),
        Outcome.ALREADY_YOURS: _("This contract is already in your account."),
    }
    return messages[outcome]


@bp.get("/<number>")
@login_required
def contract(number: str):
    """Overview: holder, address, status, meters, balance and debt."""
    contract = own_contract(number)
    return render_tab(
        contract,
        "overview",
        "electricity/tabs/overview.html",
        summary=payment_services.contract_debt(contract),
        meters=services.contract_meters(contract),
    )


@bp.route("/<number>/detach", methods=["GET", "POST"])
@login_required
def detach(number: str):
    """Detach a contract from this account, after a confirmation step."""
    contract = own_contract(number)
    form = ConfirmForm()
    if form.validate_on_submit():
        services.detach_contract(contract, current_user)
        db.session.commit()
        flash(
            _(
                "Contract %(number)s is no longer in your account. To add it again you need "
                "a new confirmation code from the office.",
                number=contract.number,
            ),
            "success",
        )
        return htmx_redirect(url_for("electricity.index"))
    return render(
        "electricity/detach.html", "electricity/_detach_form.html", form=form, contract=contract
    )
