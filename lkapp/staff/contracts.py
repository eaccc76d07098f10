"""Back office: find a contract, see its account and codes, issue a code with its slip, detach.

The code is shown once. It is stored only as a hash and never put in a URL or a cookie: the
response to "Issue code" shows it, and the printable slip (HTML or PDF) is made from a form on
that page which posts the code back in its body, with the CSRF token. That request checks the
code against the contract's newest hash and refuses anything else, so the slip forms cannot
print an arbitrary text as an official slip, and an outdated or used code gets no slip.
"""

from __future__ import annotations

from flask import abort, flash, make_response, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..auth.decorators import staff_required
from ..auth.services import may_be_written_to
from ..database import lock_row
from ..domain.attach import format_code
from ..electricity import mails as contract_mails
from ..electricity import services
from ..extensions import db
from ..htmx import redirect as htmx_redirect
from ..htmx import render, wants_fragment
from ..main.errors import render_error
from ..models import Contract, User, utcnow
from ..security import attachment
from ..services.pdf import render_pdf
from .forms import ContractSearchForm, DetachForm, IssueCodeForm, SlipForm
from .views import bp

PER_PAGE = 20


def _contract(number: str) -> Contract:
    contract = services.find_contract(number)
    if contract is None:
        abort(404)
    return contract


@bp.get("/contracts")
@staff_required
def contracts():
    """Search by number, holder name or tax id; live (htmx) and as a plain GET form."""
    form = ContractSearchForm(request.args)
    query = form.q.data if form.validate() and form.q.data else ""
    result = services.search_contracts(
        query, request.args.get("page", 1, type=int), per_page=PER_PAGE
    )
    url = url_for("staff.contracts")
    form.q.render_kw = {
        **(form.q.render_kw or {}),
        "data-hx-get": url,
        "data-hx-trigger": "input changed delay:300ms, search",
        "data-hx-target": "#contract-results",
        "data-hx-swap": "outerHTML",
        # The address follows the query (bookmarks, refresh) without a history entry per key.
        "data-hx-replace-url": "true",
    }
    return render(
        "staff/contracts.html",
        "staff/_contract_results.html",
        form=form,
        query=query,
        result=result,
        url_for_page=lambda page: url_for("staff.contracts", q=query or None, page=page),
    )


def _page_context(contract: Contract, **overrides) -> dict:
    context = {
        "contract": contract,
        "codes": services.code_history(contract),
        "events": services.contract_events(contract),
        "issue_form": IssueCodeForm(formdata=None),
        "detach_form": DetachForm(formdata=None),
        # As ``detach`` decides: no mail to an unconfirmed address or one the office locked.
        "detach_notifies": contract.account is not None and may_be_written_to(contract.account),
        "now": utcnow(),
        "code_status": services.code_status,
    }
    context.update(overrides)
    return context


@bp.get("/contracts/<number>")
@staff_required
def contract(number: str):
    """A contract: its account, its codes (issued when, by whom, to whom, used or not),
    issuing a code, detaching, and its recent history."""
    contract = _contract(number)
    return render_template("staff/contract.html", **_page_context(contract))


@bp.post("/contracts/<number>/codes")
@staff_required
def issue_code(number: str):
    """Issue a code (earlier unused ones stop working); the answer shows it, once."""
    contract = _contract(number)
    form = IssueCodeForm()
    valid = form.validate_on_submit()
    if valid:
        # Read again and held to the commit: a customer attaching with the old code (or a
        # colleague issuing one) meanwhile is waited for, and seen.
        contract = lock_row(Contract, contract.id)
    # Detaching withdraws every unused code: one issued while attached could never be used.
    if contract.account_id is not None or not valid:
        return render(
            "staff/contract.html",
            "staff/_issue_form.html",
            status=409 if contract.account_id is not None else 422,
            **_page_context(contract, issue_form=form),
        )
    representative = form.for_representative
    code, record = services.issue_code_record(
        contract,
        issued_by=current_user,
        representative=form.representative_name.data if representative else "",
        power_of_attorney=form.power_of_attorney.data if representative else "",
    )
    db.session.commit()
    flash(_("A new code was issued; earlier unused codes no longer work."), "success")
    context = {
        "contract": contract,
        "code": code,
        "record": record,
        "slip_form": SlipForm(formdata=None, code=code),
        "portal_url": url_for("electricity.add", _external=True),
    }
    if wants_fragment():
        # The codes table further up the page shows the new code and the revoked ones.
        context.update(codes=services.code_history(contract), code_status=services.code_status)
    return render("staff/code_issued.html", "staff/_code_issued.html", **context)


def _slip_context(number: str):
    contract = _contract(number)
    form = SlipForm()
    if not form.validate_on_submit():
        abort(400)
    record = services.code_is_current(contract, form.code.data)
    if record is None:
        return None, render_error(
            409,
            _("No slip for this code"),
            _(
                "This code is not the contract's current code any more (a newer one was "
                "issued, or it was used, expired or locked). Issue a new code to print a slip."
            ),
        )
    context = {
        "contract": contract,
        "code": format_code(form.code.data),
        "record": record,
        "portal_url": url_for("electricity.add", _external=True),
    }
    return context, None


@bp.post("/contracts/<number>/slip")
@staff_required
def slip(number: str):
    """The slip as a page of its own, laid out for printing."""
    context, refusal = _slip_context(number)
    if refusal is not None:
        return refusal
    return render_template("staff/slip.html", **context)


@bp.post("/contracts/<number>/slip.pdf")
@staff_required
def slip_pdf(number: str):
    """The slip as a PDF download (rendered per request, never cached: it holds the code)."""
    context, refusal = _slip_context(number)
    if refusal is not None:
        return refusal
    pdf = render_pdf(render_template("staff/slip_pdf.html", **context))
    response = make_response(pdf)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = attachment(
        f"code-slip-{_safe_filename(context['contract'].number)}.pdf"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _safe_filename(value: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in value)[:40]


@bp.post("/contracts/<number>/detach")
@staff_required
def detach(number: str):
    """Detach the contract from its account, with a reason for the audit log."""
    contract = _contract(number)
    form = DetachForm()
    # Detached meanwhile (by the customer or a colleague): the page says so, not the form
    # again for an account that is gone.
    if contract.account_id is not None and not form.validate_on_submit():
        return render(
            "staff/contract.html",
            "staff/_detach_form.html",
            status=422,
            **_page_context(contract, detach_form=form),
        )
    previous = services.detach_contract(
        contract, current_user, reason=form.reason.data, by_staff=True
    )
    if previous is not None:
        account = db.session.get(User, previous)
        if may_be_written_to(account):
            contract_mails.detached_by_office(account, contract)
        flash(_("The contract was detached; its unused codes no longer work."), "success")
    else:
        flash(_("The contract is not attached to any account."), "warning")
    db.session.commit()
    return htmx_redirect(url_for("staff.contract", number=contract.number))
