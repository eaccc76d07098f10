"""Back office: find a customer account, see its contracts, sign-ins, sessions and the mail
sent to it, lock or unlock it (with a reason), correct its tax ID (with a reason), send a new
confirmation link.

Staff never see or set a customer's password: nothing here reads or writes it. A customer who
lost it uses "Forgot password?"; a staff lock is lifted only here (a reset does not lift it).
Nor do they read what the portal mailed: a reset or confirmation link in it would let whoever
reads it into the account; the office sees each mail's subject and whether it went out.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import abort, flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from ..auth import mails
from ..auth import services as accounts
from ..auth.decorators import staff_required
from ..auth.sessions import active_sessions
from ..database import any_contains, lock_row, unicode_lower
from ..domain.accounts import normalize_tax_id, unicode_domain
from ..electricity.services import read_page, tax_id_contains, total_column
from ..extensions import db
from ..formatting import lazy_gettext as _l
from ..htmx import redirect as htmx_redirect
from ..htmx import render
from ..models import AuditEvent, Contract, OutboxMail, User
from ..services import audit
from ..services.mail import KEPT_DAYS
from .forms import CustomerSearchForm, ReasonForm, TaxIdForm
from .views import bp

PER_PAGE = 20
HISTORY = 30
MAIL_SHOWN = 20
# What the sign-in history shows: sign-ins, failures and what happened to the lock.
SIGN_IN_ACTIONS = (
    "auth.login",
    "auth.login_failed",
    "auth.locked",
    "auth.unlocked",
    "auth.password_reset",
    "auth.sessions_revoked",
    "auth.account_closed",
)


# Why an account is locked, in words (its status and its sign-in history).
REASONS = {
    accounts.STAFF_LOCK: _l("locked by staff"),
    accounts.AUTO_LOCK: _l("too many failed sign-ins"),
}
SECOND_FACTORS = {
    "totp": _l("with a code from the app"),
    "recovery_code": _l("with a recovery code"),
}


def history_details(details: dict | None) -> str:
    """What the audit trail keeps about a sign-in event (as text), in the operator's words:
    "3 failed sign-ins in a row; too many failed sign-ins", not "failures: 3; reason:
    failed_logins". A key this does not know is shown as it was recorded."""
    said = []
    for key, value in (details or {}).items():
        if not value or key == "link":  # which reset link was used: a digest, for the code
            continue
        if key == "failures" and value.isdigit():
            said.append(
                ngettext(
                    "%(num)s failed sign-in in a row",
                    "%(num)s failed sign-ins in a row",
                    int(value),
                )
            )
        elif key == "count" and value.isdigit():
            said.append(ngettext("%(num)s session ended", "%(num)s sessions ended", int(value)))
        elif key == "reason" and value in REASONS:
            said.append(str(REASONS[value]))
        elif key == "second_factor" and value in SECOND_FACTORS:
            said.append(str(SECOND_FACTORS[value]))
        elif key == "note":
            said.append(_("Reason: %(reason)s", reason=value))
        else:
            said.append(f"{key}: {value}")
    return "; ".join(said)


def search_customers(query: str, page: int) -> tuple[list, int, int, int]:
    """Customer accounts whose email, name or tax id contains ``query``; (rows, total, page,
    pages)."""
    stmt = sa.select(
        User.id,
        User.email,
        User.name,
        User.tax_id,
        User.confirmed_at,
        User.locked_at,
        User.locked_reason,
        User.created_at,
    ).where(User.role == "customer")
    if query:
        lowered = query.lower()
        conditions = [
            any_contains((User.email, User.name, User.tax_id), lowered),
            tax_id_contains(User.tax_id, lowered),
        ]
        # A domain typed as mail shows it ("xn--e1afmkfd.xn--p1ai", full-width letters) finds
        # the address as it is stored: in letters.
        local, at, domain = lowered.rpartition("@")
        spelled = local + at + unicode_domain(domain)
        if spelled != lowered:
            conditions.append(unicode_lower(User.email).contains(spelled, autoescape=True))
        stmt = stmt.where(sa.or_(*conditions))
    stmt = stmt.add_columns(total_column(stmt, bool(query)))

    def rows_of(limit: int, offset: int) -> list:
        return db.session.execute(
            stmt.order_by(sa.func.lower(User.email)).limit(limit).offset(offset)
        ).all()

    result = read_page(rows_of, page, PER_PAGE)
    return result.rows, result.total, result.page, result.pages


@bp.get("/customers")
@staff_required
def customers():
    """Find a customer account; live (htmx) and as a plain GET form."""
    form = CustomerSearchForm(request.args)
    query = form.q.data if form.validate() and form.q.data else ""
    rows, total, page, pages = search_customers(query, request.args.get("page", 1, type=int))
    url = url_for("staff.customers")
    form.q.render_kw = {
        **(form.q.render_kw or {}),
        "data-hx-get": url,
        "data-hx-trigger": "input changed delay:300ms, search",
        "data-hx-target": "#customer-results",
        "data-hx-swap": "outerHTML",
        "data-hx-replace-url": "true",
    }
    return render(
        "staff/customers/index.html",
        "staff/customers/_results.html",
        form=form,
        query=query,
        rows=rows,
        total=total,
        page_number=page,
        pages=pages,
        url_for_page=lambda number: url_for("staff.customers", q=query or None, page=number),
    )


def mail_to(address: str, since: datetime) -> tuple[list, int]:
    """The latest ``MAIL_SHOWN`` mails to ``address`` queued from ``since`` on, newest first,
    and how many there are.

    Their subject and state only, never a body. The address is compared as the unique index
    on users compares addresses (the database's ``lower()``): a question asked without an
    account may have typed it in other letters. ``since`` is when the account was opened: an
    address once of an account closed (or changed away) is not this one's mail before that.
    ``ix_outbox_mail_recipient`` serves both queries; the count is asked only when the list is
    full."""
    to_address = sa.and_(
        sa.func.lower(OutboxMail.recipient) == sa.func.lower(address),
        OutboxMail.created_at >= since,
    )
    rows = db.session.execute(
        sa.select(
            OutboxMail.subject,
            OutboxMail.created_at,
            OutboxMail.sent_at,
            OutboxMail.attempts,
            OutboxMail.last_error,
            OutboxMail.given_up_at,
        )
        .where(to_address)
        .order_by(OutboxMail.created_at.desc(), OutboxMail.id.desc())
        .limit(MAIL_SHOWN)
    ).all()
    if len(rows) < MAIL_SHOWN:
        return rows, len(rows)
    return rows, db.session.scalar(
        sa.select(sa.func.count()).select_from(OutboxMail).where(to_address)
    )


def _customer(user_id: int) -> User:
    """A customer account (staff accounts are the admins' business: 404 here)."""
    user = db.session.get(User, user_id)
    if user is None or user.role != "customer":
        abort(404)
    return user


def _context(user: User, **forms) -> dict:
    contracts = db.session.scalars(
        sa.select(Contract).where(Contract.account_id == user.id).order_by(Contract.number)
    ).all()
    history = db.session.scalars(
        sa.select(AuditEvent)
        .where(
            AuditEvent.object_type == "User",
            AuditEvent.object_id == str(user.id),
            AuditEvent.action.in_(SIGN_IN_ACTIONS),
        )
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(HISTORY)
    ).all()
    mail, mail_total = mail_to(user.email, user.created_at)
    return {
        "customer": user,
        "contracts": contracts,
        "mail": mail,
        "mail_total": mail_total,
        "mail_kept_days": KEPT_DAYS,
        "history": [(event, history_details(event.details)) for event in history],
        "sessions": active_sessions(user),
        "lock_reasons": REASONS,
        "lock_form": _reason_form(forms.get("lock_form"), "lock"),
        "unlock_form": _reason_form(forms.get("unlock_form"), "unlock"),
        "tax_id_form": _reason_form(forms.get("tax_id_form") or TaxIdForm(formdata=None), "tax-id"),
        # A lock after failed sign-ins is lifted by a password reset: the office may still
        # want its own lock (e.g. when the failures look like an attack).
        "may_lock": user.locked_at is None or user.locked_reason == accounts.AUTO_LOCK,
    }


def _reason_form(form: ReasonForm | None, name: str) -> ReasonForm:
    """The lock, unlock or tax ID form, its reason's id its own (all may be on the page)."""
    form = form or ReasonForm(formdata=None)
    form.reason.id = form.reason.label.field_id = f"{name}-reason"
    return form


@bp.get("/customers/<int:user_id>")
@staff_required
def customer(user_id: int):
    """A customer: account facts, contracts, the mail sent to it, sign-in history, active
    sessions, actions."""
    return render_template("staff/customers/customer.html", **_context(_customer(user_id)))


def _note_reason(user: User, action: str, reason: str) -> None:
    """Put the staff's reason on the event ``lock_account`` / ``unlock_account`` just added."""
    for item in db.session.new:
        if (
            isinstance(item, AuditEvent)
            and item.action == action
            and item.object_type == "User"
            and item.object_id == str(user.id)
        ):
            item.details = {**(item.details or {}), "note": reason}
            return
    audit.record(action + "_note", actor=current_user, obj=user, note=reason)


def _reason_form_or_422(user: User, name: str):
    form = ReasonForm()
    if form.validate_on_submit():
        return form, None
    return None, render(
        "staff/customers/customer.html",
        f"staff/customers/_{name}_form.html",
        status=422,
        **_context(user, **{f"{name}_form": form}),
    )


@bp.post("/customers/<int:user_id>/lock")
@staff_required
def lock(user_id: int):
    """Lock the account: it cannot sign in, its sessions end; only staff lift it."""
    user = _customer(user_id)
    form, refusal = _reason_form_or_422(user, "lock")
    if refusal is not None:
        return refusal
    # Read again under its lock: locked by a colleague (or a double click) or closed by its
    # customer meanwhile, it is said so, not locked twice or turned from closed to locked.
    lock_row(User, user.id)
    if user.locked_reason == accounts.CLOSED:
        flash(_("The customer closed this account; it cannot be opened again."), "warning")
    elif user.locked_at is not None and user.locked_reason == accounts.STAFF_LOCK:
        flash(_("The account is locked already."), "info")
    else:
        accounts.lock_account(user, current_user)
        _note_reason(user, "auth.locked", form.reason.data)
        db.session.commit()
        flash(_("The account is locked and all its sessions have ended."), "success")
    return htmx_redirect(url_for("staff.customer", user_id=user.id))


@bp.post("/customers/<int:user_id>/unlock")
@staff_required
def unlock(user_id: int):
    """Lift a lock (a staff lock, or one after too many failed sign-ins)."""
    user = _customer(user_id)
    form, refusal = _reason_form_or_422(user, "unlock")
    if refusal is not None:
        return refusal
    lock_row(User, user.id)  # read again: unlocked, or closed, meanwhile? (as ``lock``)
    if user.locked_at is None:
        flash(_("The account is not locked."), "info")
    elif user.locked_reason == accounts.CLOSED:
        flash(_("The customer closed this account; it cannot be opened again."), "warning")
    else:
        accounts.unlock_account(user, current_user)
        _note_reason(user, "auth.unlocked", form.reason.data)
        db.session.commit()
        flash(_("The account is unlocked; the customer can sign in again."), "success")
    return htmx_redirect(url_for("staff.customer", user_id=user.id))


@bp.post("/customers/<int:user_id>/tax-id")
@staff_required
def correct_tax_id(user_id: int):
    """Correct the tax ID typed at registration ("Forgot password?" asks for it): the old and
    the new one and the reason go into the audit log, the customer is told by email.

    The row is read again under its lock (``lock_row``): of two operators saving at once, the
    second reads the tax ID the first one left, so each event's "old" is the one before it."""
    user = _customer(user_id)
    lock_row(User, user.id)
    if user.is_closed:
        flash(_("The customer closed this account; it cannot be opened again."), "warning")
        return htmx_redirect(url_for("staff.customer", user_id=user.id))
    form = TaxIdForm(current=user.tax_id)
    if not form.validate_on_submit():
        if _corrected_already(user, form):
            flash(_("The tax ID is changed."), "success")
            return htmx_redirect(url_for("staff.customer", user_id=user.id))
        return render(
            "staff/customers/customer.html",
            "staff/customers/_tax_id_form.html",
            status=422,
            **_context(user, tax_id_form=form),
        )
    old = user.tax_id
    user.tax_id = form.tax_id.data
    audit.record(
        "auth.tax_id_changed",
        actor=current_user,
        obj=user,
        old=old,
        new=user.tax_id,
        by="office",
        note=form.reason.data,
    )
    if accounts.may_be_written_to(user):
        mails.tax_id_changed(user, old)
    db.session.commit()
    flash(_("The tax ID is changed."), "success")
    return htmx_redirect(url_for("staff.customer", user_id=user.id))


def _corrected_already(user: User, form: TaxIdForm) -> bool:
    """The correction ``form`` asks for is the last one made, by this operator and for this
    reason: the form sent twice (a double click, a reload of the answer), said as the first
    time rather than refused as "the same as the account's tax ID"."""
    if form.reason.errors or normalize_tax_id(form.tax_id.data or "") != normalize_tax_id(
        user.tax_id
    ):
        return False
    last = db.session.scalar(
        sa.select(AuditEvent)
        .where(
            AuditEvent.action == "auth.tax_id_changed",
            AuditEvent.object_type == "User",
            AuditEvent.object_id == str(user.id),
        )
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(1)
    )
    return (
        last is not None
        and last.actor_id == current_user.id
        and (last.details or {}).get("new") == user.tax_id
        and (last.details or {}).get("note") == form.reason.data
    )


@bp.post("/customers/<int:user_id>/confirmation")
@staff_required
def resend_confirmation(user_id: int):
    """Send a new confirmation link to an account that has not confirmed its email."""
    user = _customer(user_id)
    if user.is_closed:
        flash(_("The customer closed this account; it cannot be opened again."), "warning")
    elif user.is_confirmed:
        flash(_("This email address is confirmed already."), "info")
    else:
        mails.confirmation(user)
        audit.record("auth.confirmation_resent", actor=current_user, obj=user, by_staff=True)
        db.session.commit()
        flash(_("A new confirmation link was sent to %(email)s.", email=user.email), "success")
    return htmx_redirect(url_for("staff.customer", user_id=user.id))
