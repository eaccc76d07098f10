"""Payments, balance and debt of a customer's contracts; the dashboard's figures.

Read-only queries, each a fixed number of statements whatever the history: aggregates are
grouped in SQL (one statement for the debt of any number of contracts), lists are paged. The
rules stay in ``lkapp.domain``: ``balance`` (the figures and the badge) and
``allocation.document_status`` (a document's status, the same everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased

from ..domain import balance
from ..domain.allocation import document_status
from ..domain.readings import Window, reading_window, shift_month
from ..electricity.services import ContractRow, local_today
from ..extensions import db
from ..models import (
    Contract,
    Document,
    Meter,
    Payment,
    PaymentAllocation,
    Question,
    Reading,
    User,
)

ZERO = balance.ZERO
MONEY = Document.total.type


def _sum(expression) -> sa.ColumnElement:
    return sa.func.coalesce(sa.func.sum(expression, type_=MONEY), sa.literal(ZERO, MONEY))


# --- balance and debt -------------------------------------------------------------------


def _debt_statement(contract_ids, today: date) -> sa.Select:
    """One statement: each contract's balance figures (see ``domain.balance.summarize``).

    ``contract_ids`` is a list or a SELECT of ids. Invoices only; "unpaid" uses the stored
    ``documents.paid`` that payment allocation keeps. Unordered: given ``ORDER BY number``,
    SQLite walked all contracts in number order rather than sort the few chosen ones (8 ms
    at 100,000 contracts).
    """
    unpaid = Document.total > Document.paid
    late = sa.and_(unpaid, Document.due_on < today)
    upcoming = sa.and_(unpaid, Document.due_on >= today)
    invoices = (
        sa.select(
            Document.contract_id,
            _sum(Document.total).label("invoiced"),
            _sum(sa.case((late, Document.total - Document.paid))).label("overdue"),
            sa.func.min(sa.case((late, Document.due_on)), type_=sa.Date).label("oldest_on"),
            sa.func.min(sa.case((upcoming, Document.due_on)), type_=sa.Date).label("next_on"),
        )
        .where(Document.kind == "invoice", Document.contract_id.in_(contract_ids))
        .group_by(Document.contract_id)
        .cte("invoices")
    )
    # The amount due on the next due date, and the number of the oldest overdue invoice: only
    # the invoices of those days, found from ``invoices`` through (contract_id, due_on). Given
    # the contracts again, SQLite read every invoice of the account twice more (2,000
    # contracts of 5 years: 160 ms to 80 ms).
    next_due = (
        sa.select(invoices.c.contract_id, _sum(Document.total - Document.paid).label("amount"))
        .select_from(invoices)
        .join(
            Document,
            sa.and_(
                Document.contract_id == invoices.c.contract_id,
                Document.due_on == invoices.c.next_on,
            ),
        )
        .where(Document.kind == "invoice", unpaid)
        .group_by(invoices.c.contract_id)
        .subquery()
    )
    oldest = (
        sa.select(invoices.c.contract_id, sa.func.min(Document.number).label("number"))
        .select_from(invoices)
        .join(
            Document,
            sa.and_(
                Document.contract_id == invoices.c.contract_id,
                Document.due_on == invoices.c.oldest_on,
            ),
        )
        .where(Document.kind == "invoice", unpaid)
        .group_by(invoices.c.contract_id)
        .subquery()
    )
    payments = (
        sa.select(Payment.contract_id, _sum(Payment.amount).label("paid"))
        .where(Payment.contract_id.in_(contract_ids))
        .group_by(Payment.contract_id)
        .subquery()
    )
    return (
        sa.select(
            Contract.id,
            Contract.number,
            Contract.holder_name,
            Contract.address,
            Contract.status,
            invoices.c.invoiced,
            invoices.c.overdue,
            invoices.c.oldest_on,
            invoices.c.next_on,
            next_due.c.amount.label("next_amount"),
            oldest.c.number.label("oldest_number"),
            payments.c.paid,
        )
        .outerjoin(invoices, invoices.c.contract_id == Contract.id)
        .outerjoin(next_due, next_due.c.contract_id == Contract.id)
        .outerjoin(oldest, oldest.c.contract_id == Contract.id)
        .outerjoin(payments, payments.c.contract_id == Contract.id)
        .where(Contract.id.in_(contract_ids))
    )


def _summary(row, today: date) -> balance.Summary:
    return balance.Summary(
        balance=(row.invoiced or ZERO) - (row.paid or ZERO),
        overdue=row.overdue or ZERO,
        next_due_on=row.next_on,
        next_due_amount=row.next_amount or ZERO,
        oldest_overdue_on=row.oldest_on,
        oldest_overdue_number=row.oldest_number or "",
        days_overdue=balance.days_overdue(row.oldest_on, today),
    )


@cache
def _account_statement() -> sa.Select:
    """The statement of ``account_contracts``, built once with the account and the day as
    parameters: building it anew cost more than running it (dashboard, Electricity list)."""
    ids = sa.select(Contract.id).where(Contract.account_id == sa.bindparam("account_id"))
    return _debt_statement(ids, sa.bindparam("today", type_=sa.Date))


@cache
def _contract_statement() -> sa.Select:
    """The statement of ``contract_debt``, built once (contract tabs)."""
    return _debt_statement([sa.bindparam("contract_id")], sa.bindparam("today", type_=sa.Date))


def account_contracts(user: User, today: date | None = None) -> list[ContractRow]:
    """``user``'s contracts with their balance and debt figures, in one statement."""
    today = today or local_today()
    rows = db.session.execute(_account_statement(), {"account_id": user.id, "today": today})
    return [
        ContractRow(r.id, r.number, r.holder_name, r.address, r.status, _summary(r, today))
        for r in sorted(rows.all(), key=lambda r: r.number)
    ]


def contract_debt(contract: Contract, today: date | None = None) -> balance.Summary:
    """The balance and debt block of one contract (one statement)."""
    today = today or local_today()
    params = {"contract_id": contract.id, "today": today}
    return _summary(db.session.execute(_contract_statement(), params).one(), today)


def debts_of(contract_ids, today: date) -> dict[int, balance.Summary]:
    """Figures of many contracts by id (ids as a list or a SELECT), in one statement."""
    rows = db.session.execute(_debt_statement(contract_ids, today)).all()
    return {r.id: _summary(r, today) for r in rows}


# --- the payments of a contract ---------------------------------------------------------


@dataclass(frozen=True)
class Share:
    """The part of a payment that went to one document."""

    document_id: int
    number: str
    kind: str
    period: date
    amount: Decimal
    status: str


@dataclass
class PaymentView:
    id: int
    paid_on: date
    amount: Decimal
    reference: str
    shares: list[Share] = field(default_factory=list)

    @property
    def unallocated(self) -> Decimal:
        """What no document took (yet): it pays the next invoices, an advance."""
        return self.amount - sum((s.amount for s in self.shares), ZERO)


@dataclass(frozen=True)
class PaymentsPage:
    rows: list[PaymentView]
    count: int  # payments matching the filter
    total: Decimal  # their sum
    page: int
    pages: int


@cache
def _payments_statements(since: bool, until: bool) -> tuple[sa.Select, sa.Select]:
    """The count-and-sum and the page statements of ``payments_page``, built once for each
    shape of the period filter, the contract, the period and the page as parameters:
    payments received from ``from_day`` on and before ``before_day``."""
    where = [Payment.contract_id == sa.bindparam("contract_id")]
    if since:
        where.append(Payment.paid_on >= sa.bindparam("from_day", type_=sa.Date))
    if until:
        where.append(Payment.paid_on < sa.bindparam("before_day", type_=sa.Date))
    totals = sa.select(sa.func.count(Payment.id), _sum(Payment.amount)).where(*where)
    page = (
        sa.select(Payment.id, Payment.paid_on, Payment.amount, Payment.reference)
        .where(*where)
        .order_by(Payment.paid_on.desc(), Payment.id.desc())
        .limit(sa.bindparam("limit"))
        .offset(sa.bindparam("offset"))
    )
    return totals, page


def payments_page(
    contract: Contract,
    since: date | None = None,
    until: date | None = None,
    page: int = 1,
    per_page: int = 20,
    today: date | None = None,
) -> PaymentsPage:
    """One page of ``contract``'s payments, newest first, with what each paid: three
    statements (totals, the page, its allocations) whatever the history."""
    totals_statement, page_statement = _payments_statements(since is not None, until is not None)
    params = {
        "contract_id": contract.id,
        "from_day": since and since.replace(day=1),
        "before_day": until and shift_month(until, 1),
    }
    count, total = db.session.execute(totals_statement, params).one()
    pages = max(1, -(-count // per_page))
    page = min(max(page, 1), pages)
    params.update(limit=per_page, offset=(page - 1) * per_page)
    rows = db.session.execute(page_statement, params).all()
    views = [PaymentView(r.id, r.paid_on, r.amount, r.reference) for r in rows]
    _attach_shares(views, today or local_today())
    return PaymentsPage(views, count, total, page, pages)


def payment_of(contract: Contract, payment_id: int, today: date | None = None):
    """Payment ``payment_id`` of ``contract`` with its shares, or None (someone else's, or
    none: the caller answers 404 for both)."""
    row = db.session.execute(
        sa.select(Payment.id, Payment.paid_on, Payment.amount, Payment.reference).where(
            Payment.id == payment_id, Payment.contract_id == contract.id
        )
    ).first()
    if row is None:
        return None
    view = PaymentView(row.id, row.paid_on, row.amount, row.reference)
    _attach_shares([view], today or local_today())
    return view


@cache
def _shares_statement() -> sa.Select:
    """The allocations of some payments (``payment_ids``) with their documents: built once."""
    return (
        sa.select(
            PaymentAllocation.payment_id,
            PaymentAllocation.amount,
            Document.id,
            Document.number,
            Document.kind,
            Document.period,
            Document.total,
            Document.paid,
            Document.due_on,
        )
        .join(Document, Document.id == PaymentAllocation.document_id)
        .where(PaymentAllocation.payment_id.in_(sa.bindparam("payment_ids", expanding=True)))
        .order_by(PaymentAllocation.payment_id, Document.due_on, Document.number)
    )


def _attach_shares(views: list[PaymentView], today: date) -> None:
    """The allocations of ``views`` with their documents' status, in one statement."""
    if not views:
        return
    by_id = {view.id: view for view in views}
    rows = db.session.execute(_shares_statement(), {"payment_ids": list(by_id)}).all()
    for r in rows:
        by_id[r.payment_id].shares.append(
            Share(
                r.id,
                r.number,
                r.kind,
                r.period,
                r.amount,
                document_status(r.total, r.paid, r.due_on, today),
            )
        )


# --- the dashboard ----------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentView:
    id: int
    contract_number: str
    kind: str
    number: str
    issued_on: date
    period: date
    due_on: date | None
    total: Decimal
    status: str | None  # None: a VAT invoice or act whose invoice has not arrived


@cache
def _latest_documents_statement(limit: int) -> sa.Select:
    """Built once per ``limit``, the account a parameter (building it anew cost more than
    running it). The newest documents are picked first and only their contracts' and periods'
    invoices summed: summing every period of an account of 2,000 contracts took 120 ms. Picked
    by id alone, the index (contract_id, issued_on) answers without reading the documents
    themselves (there, 16 ms to 5 ms)."""
    account = sa.bindparam("account_id")
    latest = (
        sa.select(Document.id)
        .join(Contract, Contract.id == Document.contract_id)
        .where(Contract.account_id == account)
        .order_by(Document.issued_on.desc(), Document.id.desc())
        .limit(limit)
        .cte("latest")
    )
    newest = aliased(Document)
    periods = (
        sa.select(newest.contract_id, newest.period)
        .join(latest, latest.c.id == newest.id)
        .distinct()
        .subquery()
    )
    invoice = aliased(Document)
    period_invoices = (
        sa.select(
            invoice.contract_id,
            invoice.period,
            _sum(invoice.total).label("total"),
            _sum(invoice.paid).label("paid"),
            # The earliest due date still unpaid (as the Documents tab has it).
            sa.func.min(
                sa.case((invoice.total > invoice.paid, invoice.due_on)), type_=sa.Date
            ).label("due_on"),
        )
        .join(
            periods,
            sa.and_(
                periods.c.contract_id == invoice.contract_id, periods.c.period == invoice.period
            ),
        )
        .where(invoice.kind == "invoice")
        .group_by(invoice.contract_id, invoice.period)
        .subquery()
    )
    return (
        sa.select(
            Document.id,
            Contract.number.label("contract_number"),
            Document.kind,
            Document.number,
            Document.issued_on,
            Document.period,
            Document.due_on,
            Document.total,
            Document.paid,
            period_invoices.c.total.label("invoice_total"),
            period_invoices.c.paid.label("invoice_paid"),
            period_invoices.c.due_on.label("invoice_due_on"),
        )
        .join(latest, latest.c.id == Document.id)
        .join(Contract, Contract.id == Document.contract_id)
        .outerjoin(
            period_invoices,
            sa.and_(
                period_invoices.c.contract_id == Document.contract_id,
                period_invoices.c.period == Document.period,
            ),
        )
        .order_by(Document.issued_on.desc(), Document.id.desc())
    )


def latest_documents(user: User, today: date | None = None, limit: int = 6) -> list:
    """The newest documents of all ``user``'s contracts, each with its status: an invoice its
    own, a VAT invoice or an act that of the invoices of its contract and period (one
    statement)."""
    today = today or local_today()
    statement = _latest_documents_statement(limit)
    rows = db.session.execute(statement, {"account_id": user.id}).all()
    return [_document_view(r, today) for r in rows]


def _document_view(r, today: date) -> DocumentView:
    if r.kind == "invoice":
        status = document_status(r.total, r.paid, r.due_on, today)
    elif r.invoice_total is not None:
        status = document_status(r.invoice_total, r.invoice_paid, r.invoice_due_on, today)
    else:
        status = None
    return DocumentView(
        r.id,
        r.contract_number,
        r.kind,
        r.number,
        r.issued_on,
        r.period,
        r.due_on if r.kind == "invoice" else None,
        r.total,
        status,
    )


@dataclass(frozen=True)
class ZoneReading:
    zone: str
    value: Decimal | None  # None: not in yet


@dataclass
class MeterReadings:
    contract_number: str
    serial: str
    meter_id: int  # the dashboard links to the meter on its Readings tab
    zones: list[ZoneReading] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(z.value is not None for z in self.zones)


@dataclass(frozen=True)
class ReadingsStatus:
    window: Window
    period: date  # the month asked about: this month
    meters: list[MeterReadings]

    @property
    def missing(self) -> int:
        return sum(1 for m in self.meters for z in m.zones if z.value is None)


@cache
def _readings_status_statement() -> sa.Select:
    """Built once, the account and the month parameters."""
    period = sa.bindparam("period", type_=sa.Date)
    other = aliased(Reading)
    given_for_another_contract = (
        sa.exists()
        .where(
            other.meter_id == Meter.id,
            other.period == period,
            other.status != "superseded",
            other.contract_id != Meter.contract_id,
        )
        .correlate(Meter)
    )
    return (
        sa.select(
            Contract.number,
            Meter.id,
            Meter.serial,
            Meter.zones,
            Reading.zone,
            Reading.value,
        )
        .join(Meter, Meter.contract_id == Contract.id)
        .outerjoin(
            Reading,
            sa.and_(
                Reading.meter_id == Meter.id,
                Reading.period == period,
                Reading.status != "superseded",
                sa.or_(Reading.contract_id.is_(None), Reading.contract_id == Meter.contract_id),
            ),
        )
        .where(
            Contract.account_id == sa.bindparam("account_id"),
            Contract.status == "active",
            Meter.installed_on < sa.bindparam("next_period", type_=sa.Date),
            sa.or_(Meter.removed_on.is_(None), Meter.removed_on >= period),
            # The previous holder gave this month's readings: the holder's first are next
            # month's (see lkapp.readings.services.MeterReadings.given_before_move).
            ~given_for_another_contract,
        )
        .order_by(Contract.number, Meter.serial)
    )


def readings_status(user: User, today: date | None = None) -> ReadingsStatus:
    """For every meter in use on ``user``'s contracts: which zones have a reading for this
    month (one statement)."""
    today = today or local_today()
    first, last = (int(day) for day in current_app.config["READINGS_WINDOW"].split("-"))
    window = reading_window(today, first, last)
    period = today.replace(day=1)
    params = {"account_id": user.id, "period": period, "next_period": shift_month(period, 1)}
    rows = db.session.execute(_readings_status_statement(), params)
    meters: dict[int, MeterReadings] = {}
    values: dict[int, dict[str, Decimal]] = {}  # meter id -> zone -> value; "" -> its zones
    # A row per meter and zone read (thousands for a chain): unpacked, each meter made once.
    for number, meter_id, serial, zones, zone, value in rows:
        read = values.get(meter_id)
        if read is None:
            meters[meter_id] = MeterReadings(number, serial, meter_id)
            read = values[meter_id] = {"": zones}
        if zone is not None:
            read[zone] = value
    for meter_id, meter in meters.items():
        read = values[meter_id]
        meter.zones = [ZoneReading(z, read.get(z)) for z in read[""].split(",")]
    return ReadingsStatus(window, period, list(meters.values()))


@cache
def _open_questions_statement(limit: int) -> sa.Select:
    """Built once per ``limit``, the account a parameter."""
    return (
        sa.select(
            Question.id,
            Question.reference,
            Question.subject,
            Question.status,
            Question.contract_number,
            Question.updated_at,
        )
        .where(
            Question.user_id == sa.bindparam("user_id"),
            Question.status.in_(("new", "answered")),
        )
        .order_by(Question.updated_at.desc(), Question.id.desc())
        .limit(limit)
    )


def open_questions(user: User, limit: int = 5) -> list:
    """``user``'s questions that are not closed (new or answered), newest activity first."""
    return db.session.execute(_open_questions_statement(limit), {"user_id": user.id}).all()


__all__ = [
    "DocumentView",
    "PaymentView",
    "PaymentsPage",
    "ReadingsStatus",
    "Share",
    "account_contracts",
    "contract_debt",
    "debts_of",
    "latest_documents",
    "open_questions",
    "payment_of",
    "payments_page",
    "readings_status",
]
