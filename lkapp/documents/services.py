"""Reading a contract's documents, their statuses, payments and the reconciliation statement.

Read-only: nothing here writes. Every list is one or two queries whatever its length: the
status of a VAT invoice or an act comes from the invoice of the same contract and period
through a join on a grouped subquery, and the lines' sums through another, never per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, astuple, dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import contains_eager, selectinload

from ..domain.payment_qr import can_carry, document_purpose, epc_payload
from ..domain.statement import Entry
from ..extensions import db
from ..models import Contract, Document, DocumentLine, Payment, PaymentAllocation, User
from ..services.qr import png_data_uri, qr_png
from .figures import ZERO, figure_problems, status_of

# Documents in one ZIP of a month of every contract: rendering a PDF not cached yet takes
# 40-90 ms, so at most about 30 s of one worker (gunicorn's timeout is 60 s).
MONTH_ZIP_DOCUMENTS = 300

KIND_ORDER = {"invoice": 0, "vat_invoice": 1, "act": 2}


@dataclass(frozen=True)
class Filters:
    kind: str | None = None
    period_from: date | None = None  # first day of a month
    period_to: date | None = None
    status: str | None = None


@dataclass(frozen=True)
class DocumentRow:
    id: int
    kind: str
    number: str
    issued_on: date
    period: date
    due_on: date | None
    net: Decimal
    vat_rate: Decimal
    vat: Decimal
    total: Decimal
    status: str | None
    problems: list[str]

    @property
    def valid(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class KindTotal:
    kind: str
    count: int
    net: Decimal
    vat: Decimal
    total: Decimal


@dataclass(frozen=True)
class DocumentPage:
    rows: list[DocumentRow]
    totals: list[KindTotal]  # of every filtered row (not only this page), per kind
    count: int
    page: int
    pages: int


def _invoice_groups(contract_id: sa.BindParameter):
    """Per period, the invoices of the contract added up: what a VAT invoice or an act of that
    period shows as its status. The due date is the earliest one still unpaid."""
    unpaid = Document.total > Document.paid
    return (
        sa.select(
            Document.period.label("period"),
            sa.func.sum(Document.total, type_=Document.total.type).label("total"),
            sa.func.sum(Document.paid, type_=Document.paid.type).label("paid"),
            sa.func.min(sa.case((unpaid, Document.due_on)), type_=sa.Date).label("due_on"),
        )
        .where(Document.contract_id == contract_id, Document.kind == "invoice")
        .group_by(Document.period)
        .subquery("invoice_groups")
    )


def _line_sums(contract_id: sa.BindParameter):
    return (
        sa.select(
            DocumentLine.document_id.label("document_id"),
            sa.func.sum(DocumentLine.amount, type_=DocumentLine.amount.type).label("amount"),
            sa.func.count().label("count"),
        )
        .join(Document, Document.id == DocumentLine.document_id)
        .where(Document.contract_id == contract_id)
        .group_by(DocumentLine.document_id)
        .subquery("line_sums")
    )


def status_expression(groups, today: date):
    """The SQL twin of ``figures.status_of`` (used to filter by status; the status shown is
    computed by the domain rule, and a test keeps the two in step)."""
    own = Document.kind == "invoice"
    total = sa.case((own, Document.total), else_=groups.c.total)
    paid = sa.case((own, Document.paid), else_=sa.func.coalesce(groups.c.paid, ZERO))
    due_on = sa.case((own, Document.due_on), else_=groups.c.due_on)
    status = sa.case(
        (total.is_(None), sa.null()),
        (total - paid <= 0, "paid"),
        (sa.and_(due_on.is_not(None), due_on < today), "overdue"),
        (paid > 0, "partly_paid"),
        else_="unpaid",
    )
    return total, paid, due_on, status


def _filtered(filters: Filters):
    """The contract's documents that ``filters`` let through, with what their status needs.
    Built with parameters (``contract_id``, ``today`` and the filters set), so that one
    statement serves every contract and day."""
    contract_id = sa.bindparam("contract_id")
    groups = _invoice_groups(contract_id)
    lines = _line_sums(contract_id)
    eff_total, eff_paid, eff_due, status = status_expression(
        groups, sa.bindparam("today", type_=sa.Date)
    )
    stmt = (
        sa.select(
            Document.id,
            Document.kind,
            Document.number,
            Document.issued_on,
            Document.period,
            Document.due_on,
            Document.net,
            Document.vat_rate,
            Document.vat,
            Document.total,
            eff_total.label("status_total"),
            eff_paid.label("status_paid"),
            eff_due.label("status_due_on"),
            lines.c.amount.label("lines_amount"),
            lines.c.count.label("lines_count"),
        )
        .outerjoin(groups, groups.c.period == Document.period)
        .outerjoin(lines, lines.c.document_id == Document.id)
        .where(Document.contract_id == contract_id)
    )
    if filters.kind:
        stmt = stmt.where(Document.kind == sa.bindparam("kind"))
    if filters.period_from:
        stmt = stmt.where(Document.period >= sa.bindparam("period_from", type_=sa.Date))
    if filters.period_to:
        stmt = stmt.where(Document.period <= sa.bindparam("period_to", type_=sa.Date))
    if filters.status:
        stmt = stmt.where(status == sa.bindparam("status"))
    return stmt


@cache
def _page_statements(shape: Filters) -> tuple[sa.Select, sa.Select]:
    """The totals and the page statements of ``document_page`` for one shape of filters
    (which of them are set), built once: building them cost more than running them."""
    base = _filtered(shape).subquery("filtered")
    totals = sa.select(
        base.c.kind,
        sa.func.count().label("count"),
        sa.func.sum(base.c.net, type_=Document.net.type).label("net"),
        sa.func.sum(base.c.vat, type_=Document.vat.type).label("vat"),
        sa.func.sum(base.c.total, type_=Document.total.type).label("total"),
    ).group_by(base.c.kind)
    kind_order = sa.case(KIND_ORDER, value=Document.kind, else_=9)
    page = (
        _filtered(shape)
        .order_by(
            Document.issued_on.desc(),
            Document.period.desc(),
            kind_order,
            Document.number.desc(),
            Document.id.desc(),
        )
        .limit(sa.bindparam("limit"))
        .offset(sa.bindparam("offset"))
    )
    return totals, page


def _row(r, today: date) -> DocumentRow:
    return DocumentRow(
        id=r.id,
        kind=r.kind,
        number=r.number,
        issued_on=r.issued_on,
        period=r.period,
        due_on=r.due_on,
        net=r.net,
        vat_rate=r.vat_rate,
        vat=r.vat,
        total=r.total,
        status=status_of(r.kind, r.status_total, r.status_paid, r.status_due_on, today),
        problems=figure_problems(
            r.net, r.vat, r.total, [r.lines_amount] if r.lines_count else None
        ),
    )


def document_page(
    contract: Contract, filters: Filters, page: int, per_page: int, today: date
) -> DocumentPage:
    """One page of the contract's documents, newest first, with the totals of all the rows
    the filters let through: two queries, whatever the number of documents."""
    totals_statement, page_statement = _page_statements(
        Filters(*(True if value else None for value in astuple(filters)))
    )
    params = {"contract_id": contract.id, "today": today, **asdict(filters)}
    totals = [
        KindTotal(r.kind, r.count, r.net or ZERO, r.vat or ZERO, r.total or ZERO)
        for r in db.session.execute(totals_statement, params)
    ]
    totals.sort(key=lambda t: KIND_ORDER.get(t.kind, 9))
    count = sum(t.count for t in totals)
    pages = max(1, -(-count // per_page))
    page = min(max(page, 1), pages)
    rows = []
    if count:
        params.update(limit=per_page, offset=(page - 1) * per_page)
        rows = [_row(r, today) for r in db.session.execute(page_statement, params)]
    return DocumentPage(rows, totals, count, page, pages)


# --- one document -----------------------------------------------------------------------


@dataclass
class DocumentView:
    document: Document
    status: str | None
    problems: list[str]
    # For a VAT invoice or an act: the invoices of the same period it accompanies.
    invoices: list[Document] = field(default_factory=list)
    payments: list = field(default_factory=list)  # rows: paid_on, reference, amount, number

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def to_pay(self) -> Decimal:
        return left_to_pay(self.document)


def find_document(contract: Contract, kind: str, number: str) -> Document | None:
    """The document of ``contract`` with this kind and number, lines loaded (None if none:
    the caller answers 404, so another contract's document is never found through this one)."""
    return db.session.scalar(
        sa.select(Document)
        .options(selectinload(Document.lines))
        .where(
            Document.contract_id == contract.id, Document.kind == kind, Document.number == number
        )
    )


def document_problems(document: Document) -> list[str]:
    """What is wrong with the document's figures (nothing: they add up)."""
    return figure_problems(
        document.net, document.vat, document.total, [line.amount for line in document.lines]
    )


def document_view(document: Document, today: date) -> DocumentView:
    """The document with its status, the figure checks and the payments allocated to it (for
    a VAT invoice or an act: those of its invoices)."""
    problems = document_problems(document)
    if document.kind == "invoice":
        invoices = [document]
    else:
        invoices = db.session.scalars(
            sa.select(Document)
            .where(
                Document.contract_id == document.contract_id,
                Document.kind == "invoice",
                Document.period == document.period,
            )
            .order_by(Document.number)
        ).all()
    status = None
    if invoices:
        unpaid_due = [i.due_on for i in invoices if i.total > i.paid and i.due_on]
        status = status_of(
            document.kind,
            sum((i.total for i in invoices), ZERO),
            sum((i.paid for i in invoices), ZERO),
            min(unpaid_due) if unpaid_due else None,
            today,
        )
    payments = []
    if invoices:
        payments = db.session.execute(
            sa.select(
                Payment.paid_on,
                Payment.reference,
                PaymentAllocation.amount,
                Document.number,
            )
            .join(Payment, Payment.id == PaymentAllocation.payment_id)
            .join(Document, Document.id == PaymentAllocation.document_id)
            .where(PaymentAllocation.document_id.in_([i.id for i in invoices]))
            .order_by(Payment.paid_on, Payment.id)
        ).all()
    others = [i for i in invoices if i.id != document.id]
    return DocumentView(document, status, problems, others, payments)


def documents_of_year(contract: Contract, year: int) -> list[Document]:
    """The documents issued in ``year``, with their lines, oldest first (two queries)."""
    return db.session.scalars(
        sa.select(Document)
        .options(selectinload(Document.lines))
        .where(
            Document.contract_id == contract.id,
            Document.issued_on >= date(year, 1, 1),
            Document.issued_on <= date(year, 12, 31),
        )
        .order_by(Document.issued_on, Document.kind, Document.number)
    ).all()


def documents_of_month(user: User, period: date) -> list[Document]:
    """The documents of the month ``period`` of every contract of ``user``'s, with their
    contract, by contract number (their lines: ``with_lines``, for those a ZIP includes)."""
    return db.session.scalars(
        sa.select(Document)
        .join(Document.contract)
        .options(contains_eager(Document.contract))
        .where(Contract.account_id == user.id, Document.period == period)
        .order_by(Contract.number, Document.issued_on, Document.kind, Document.number)
    ).all()


def with_lines(documents: list[Document]) -> list[Document]:
    """``documents`` with their lines loaded in batches (an account of 2,000 contracts has
    4,000 documents a month, and a ZIP takes 300)."""
    if documents:
        db.session.scalars(
            sa.select(Document)
            .where(Document.id.in_([doc.id for doc in documents]))
            .options(selectinload(Document.lines))
        ).all()
    return documents


def zip_parts(contracts: Sequence, limit: int) -> list[tuple[int, int]]:
    """How a month's documents of many contracts are cut into downloads of at most ``limit``:
    ``contracts`` names the contract of each document, in order; the (start, stop) of each
    part. A part holds whole contracts, except a contract that alone has more than ``limit``
    documents (they go on in the next part)."""
    bounds, start = [], 0
    while start < len(contracts):
        stop = min(start + limit, len(contracts))
        if stop < len(contracts) and contracts[stop] == contracts[stop - 1]:
            first = stop - 1  # the first document of the contract the limit cuts
            while first > start and contracts[first - 1] == contracts[stop]:
                first -= 1
            stop = first if first > start else stop
        bounds.append((start, stop))
        start = stop
    return bounds


def document_months(user: User, months: int = 12) -> list[tuple[date, int]]:
    """The latest ``months`` for which ``user``'s contracts have documents, newest first, each
    with the number of its ZIP downloads (``zip_parts``). One statement, and a second one for
    the contracts of the months with more than one download holds."""
    limit = MONTH_ZIP_DOCUMENTS
    own = sa.and_(Document.contract_id == Contract.id, Contract.account_id == user.id)
    counted = db.session.execute(
        sa.select(Document.period, sa.func.count())
        .join(Contract, own)
        .group_by(Document.period)
        .order_by(Document.period.desc())
        .limit(months)
    ).all()
    big = [period for period, count in counted if count > limit]
    contracts: dict[date, list[int]] = {period: [] for period in big}
    if big:
        rows = db.session.execute(
            sa.select(Document.period, Contract.id, sa.func.count())
            .join(Contract, own)
            .where(Document.period.in_(big))
            .group_by(Document.period, Contract.id, Contract.number)
            .order_by(Contract.number)
        )
        for period, contract_id, count in rows:
            contracts[period] += [contract_id] * count
    return [
        (period, len(zip_parts(contracts[period], limit)) if period in contracts else 1)
        for period, _count in counted
    ]


@cache
def _years_statement() -> sa.Select:
    """Built once, the contract a parameter (the Documents tab runs it every time)."""
    year = sa.extract("year", Document.issued_on)
    return (
        sa.select(year)
        .where(Document.contract_id == sa.bindparam("contract_id"))
        .group_by(year)
        .order_by(year.desc())
    )


def document_years(contract: Contract) -> list[int]:
    """The years in which the contract has documents, newest first (not the years between:
    each is a link to a ZIP, which has nothing for a year without documents)."""
    return [
        int(year) for year in db.session.scalars(_years_statement(), {"contract_id": contract.id})
    ]


# --- payment QR code --------------------------------------------------------------------


def left_to_pay(document: Document) -> Decimal:
    """What is left to pay of an invoice (nothing of another document: it is not paid)."""
    if document.kind != "invoice":
        return ZERO
    return max(document.total - document.paid, ZERO)


def payment_payload(contract: Contract, document: Document) -> str | None:
    """The EPC QR text for paying what is left of ``document``: an invoice with something left
    to pay, in euro and not above what the code can carry (the PDF then gives the details
    without a code). Never the full total of a partly paid invoice: scanned from a printout,
    it would pay again what was paid."""
    config = current_app.config
    amount = left_to_pay(document)
    if amount <= 0 or not can_carry(amount, config["CURRENCY"]):
        return None
    return epc_payload(
        recipient=config["UTILITY_NAME"],
        iban=config["UTILITY_BANK_ACCOUNT"],
        bic=config["UTILITY_BANK_BIC"],
        amount=amount,
        currency=config["CURRENCY"],
        purpose=document_purpose(contract.number, document.number),
    )


def payment_qr_data_uri(payload: str) -> str:
    """The payment QR code as a PNG ``data:`` URI: error correction M, as EPC069-12 asks, and
    6 px a module (about 190 dpi at the 110 pt the PDF prints it)."""
    return png_data_uri(qr_png(payload.encode("utf-8"), module_px=6, ec_level="M"))


# --- reconciliation statement -----------------------------------------------------------


def statement_entries(contract: Contract) -> list[Entry]:
    """Every invoice (on its issue date) and payment of the contract, in two queries. VAT
    invoices and acts accompany invoices and never change the balance."""
    invoices = db.session.execute(
        sa.select(Document.issued_on, Document.number, Document.total).where(
            Document.contract_id == contract.id, Document.kind == "invoice"
        )
    ).all()
    payments = db.session.execute(
        sa.select(Payment.paid_on, Payment.reference, Payment.amount).where(
            Payment.contract_id == contract.id
        )
    ).all()
    return [Entry(r.issued_on, "invoice", r.number, r.total) for r in invoices] + [
        Entry(r.paid_on, "payment", r.reference, r.amount) for r in payments
    ]
