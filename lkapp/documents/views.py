"""The Documents tab of a contract: the table, a document's page and PDF, the year's ZIP and
the reconciliation statement (on screen and as PDF).

Every URL names the contract, and the contract must be attached to the signed-in account
(``own_contract``: 404 otherwise); a document is looked up inside that contract, so another
customer's document number answers 404 too, PDF and ZIP included.
"""

from __future__ import annotations

import functools
import hashlib
import io
import zipfile
from collections import Counter
from pathlib import Path

import babel
from flask import Blueprint, abort, current_app, make_response, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import formatting
from ..domain import payment_qr
from ..domain.csvformat import CellError, parse_period
from ..domain.statement import Statement, default_range, reconciliation
from ..electricity.services import local_today
from ..electricity.views import TABS, own_contract, render_tab
from ..extensions import limiter, per_account
from ..htmx import render, wants_fragment
from ..main.errors import render_error
from ..models import DOCUMENT_KINDS, Contract, Document
from ..security import attachment
from ..services import qr
from ..services.pdf import cached_pdf, instance_cache_dir
from . import services, table
from .forms import KIND_LABELS, STATUS_LABELS, DocumentFilterForm, StatementForm
from .table import document_badge, document_lines, document_url, kind_label, vat_rate

bp = Blueprint("documents", __name__)
bp.add_app_template_global(document_lines)
bp.add_app_template_global(document_badge)
bp.add_app_template_global(document_url)
bp.add_app_template_global(kind_label)
bp.add_app_template_global(vat_rate)

PER_PAGE = 24
RESULTS_ID = "document-results"


def _context(**extra) -> dict:
    return {"kind_labels": KIND_LABELS, "status_labels": STATUS_LABELS, **extra}


# --- the tab: table with filters --------------------------------------------------------


def _filters(form: DocumentFilterForm) -> services.Filters:
    """The filters the form gives; a field with an error filters nothing (it is shown with its
    message, and the rest of the filters still apply)."""

    def ok(field):
        return field.data if not field.errors else None

    return services.Filters(
        kind=ok(form.kind) or None,
        period_from=form.period_from.month,  # None when empty or not a month
        period_to=form.period_to.month if not form.period_to.errors else None,
        status=ok(form.status) or None,
    )


def _filter_args() -> dict:
    """The form's values as URL arguments (as typed, so a bookmark keeps them)."""
    return {
        name: request.args.get(name)
        for name in ("kind", "period_from", "period_to", "status")
        if request.args.get(name)
    }


@bp.get("/<number>/documents")
@login_required
def tab(number: str):
    """Invoices, VAT invoices and acts, newest first, filtered and paged, with the totals of the
    filtered rows. htmx swaps only the results when the filters or the page change."""
    contract = own_contract(number)
    form = DocumentFilterForm(request.args)
    form.validate()
    today = local_today()
    result = services.document_page(
        contract, _filters(form), request.args.get("page", 1, type=int), PER_PAGE, today
    )
    args = _filter_args()
    context = _context(
        form=form,
        result=result,
        filtered=bool(args),
        years=services.document_years(contract),
        url_for_page=lambda page: url_for(
            "documents.tab", number=contract.number, **args, page=page
        ),
        status=422 if form.errors else 200,
    )
    if wants_fragment() and request.headers.get("HX-Target") == RESULTS_ID:
        response = render(
            "electricity/contract.html",
            "documents/_results.html",
            contract=contract,
            tab="documents",
            tabs=TABS,
            body="documents/tab.html",
            **context,
        )
    else:
        response = render_tab(contract, "documents", "documents/tab.html", **context)
    response.vary.add("HX-Target")
    return response


# --- one document -----------------------------------------------------------------------


def _own_document(contract: Contract, kind: str, doc_number: str) -> Document:
    if kind not in DOCUMENT_KINDS:
        abort(404)
    document = services.find_document(contract, kind, doc_number)
    if document is None:
        abort(404)
    return document


@bp.get("/<number>/documents/<kind>/<path:doc_number>")
@login_required
def document(number: str, kind: str, doc_number: str):
    """A document: header, lines, net / VAT / total, status, payments; Print and PDF."""
    if doc_number.endswith("/pdf"):
        # ``path`` also matches ".../pdf": a document number never ends so, the PDF does.
        return document_pdf(number, kind, doc_number[: -len("/pdf")])
    contract = own_contract(number)
    doc = _own_document(contract, kind, doc_number)
    view = services.document_view(doc, local_today())
    return render(
        "documents/document.html",
        "documents/_document.html",
        **_context(
            contract=contract,
            view=view,
            doc=doc,
            purpose=payment_qr.document_purpose(contract.number, doc.number),
        ),
    )


@bp.get("/<number>/documents/<kind>/<path:doc_number>/pdf")
@login_required
def document_pdf(number: str, kind: str, doc_number: str):
    """The document as a PDF (cached by its content); refused while its figures disagree."""
    contract = own_contract(number)
    doc = _own_document(contract, kind, doc_number)
    if services.document_problems(doc):
        return render_error(
            409,
            _("This document cannot be downloaded"),
            _(
                "Its figures do not add up, so it is not shown as a valid document. "
                "The office has been told of such documents; ask it for a corrected copy."
            ),
        )
    response = make_response(_document_pdf_bytes(contract, doc))
    return _pdf_response(response, f"{kind}-{doc.number}.pdf")


def _document_pdf_bytes(contract: Contract, doc: Document) -> bytes:
    """From the cache when a PDF of exactly these data exists; else rendered and kept."""
    config = current_app.config
    content = {
        "rendering": rendering_version(),
        "locale": str(get_locale()),
        "utility": [
            config["UTILITY_NAME"],
            config["UTILITY_DETAILS"],
            config["UTILITY_BANK_ACCOUNT"],
            config["UTILITY_BANK_BIC"],
            config["CURRENCY"],
        ],
        "contract": [contract.number, contract.holder_name, contract.tax_id, contract.address],
        "document": [
            doc.kind,
            doc.number,
            doc.issued_on,
            doc.period,
            doc.due_on,
            doc.net,
            doc.vat_rate,
            doc.vat,
            doc.total,
            doc.paid,  # what is left to pay, the QR code's amount
        ],
        "lines": [[li.description, li.kwh, li.tariff, li.amount] for li in doc.lines],
    }

    def make_html(page_total: int) -> str:
        payload = services.payment_payload(contract, doc)
        return render_template(
            "pdf/document.html",
            **_context(
                contract=contract,
                doc=doc,
                purpose=payment_qr.document_purpose(contract.number, doc.number),
                qr=services.payment_qr_data_uri(payload) if payload else None,
                to_pay=services.left_to_pay(doc),
                page_total=page_total,
            ),
        )

    return cached_pdf(content, make_html, cache_dir=instance_cache_dir())


def _rendering_inputs() -> list[Path]:
    """What a PDF's text depends on besides its data: the PDF templates (includes too), the
    compiled catalogues, the formatting code (the cells' too: a VAT rate's decimals), the
    payment code's text and its picture."""
    templates = Path(current_app.template_folder) / "pdf"
    catalogues = Path(current_app.config["BABEL_TRANSLATION_DIRECTORIES"])
    return [
        *sorted(templates.glob("*.html")),
        *sorted(catalogues.glob("*/LC_MESSAGES/*.mo")),
        Path(formatting.__file__),
        Path(table.__file__),
        Path(payment_qr.__file__),
        Path(qr.__file__),
    ]


@functools.cache
def _inputs_hash(stamp: tuple) -> str:
    digest = hashlib.sha256(babel.__version__.encode())
    for name, _mtime in stamp:  # contents only: the same files elsewhere, the same keys
        digest.update(b"\0" + Path(name).read_bytes())
    return digest.hexdigest()[:16]


def rendering_version() -> str:
    """A hash of ``_rendering_inputs()`` and Babel's version: editing a PDF template, a
    translation or a format makes new cache keys, so no stale PDF is served after a
    deployment (a fixed Hungarian word too, not only a new layout). Hashed again only when a
    file's modification time changes."""
    stamp = tuple((str(path), path.stat().st_mtime_ns) for path in _rendering_inputs())
    return _inputs_hash(stamp)


def _pdf_response(response, filename: str):
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in filename)[:80]
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = attachment(safe)
    return response


@bp.get("/<number>/documents/year/<int:year>.zip")
@login_required
@limiter.limit("10 per minute", key_func=per_account)
def year_zip(number: str, year: int):
    """The PDFs of the documents issued in ``year``, in one ZIP (rendered when not cached:
    seconds of a worker, so limited as the month's)."""
    contract = own_contract(number)
    documents = services.documents_of_year(contract, year) if 1900 < year < 3000 else []
    if not documents:
        abort(404)
    return _zip_response(
        [(_zip_name(doc), doc) for doc in documents],
        f"documents-{_safe(contract.number)}-{year}.zip",
    )


@bp.get("/documents/<period>.zip")
@login_required
@limiter.limit("10 per minute", key_func=per_account)
def month_zip(period: str):
    """The PDFs of every contract's documents of one month, a folder per contract: what an
    accountant files at the end of a month. At most ``services.MONTH_ZIP_DOCUMENTS`` of them, whole
    contracts, so that rendering them fits one request: a month of more comes in parts
    (``?part=2``...), and a note in each names the contracts that are in the others."""
    try:
        month = parse_period(period)
    except CellError:
        abort(404)
    documents = services.documents_of_month(current_user, month)
    bounds = services.zip_parts(
        [doc.contract_id for doc in documents], services.MONTH_ZIP_DOCUMENTS
    )
    part = request.args.get("part", 1, type=int)
    if not 1 <= part <= len(bounds):
        abort(404)
    start, stop = bounds[part - 1]
    included = services.with_lines(documents[start:stop])
    notes = []
    in_part = Counter(doc.contract_id for doc in included)
    in_month = Counter(doc.contract_id for doc in documents)
    for doc in included:
        if in_part[doc.contract_id] < in_month[doc.contract_id]:
            notes.append(
                _(
                    "Contract %(number)s: only %(done)s of its %(num)s documents are included.",
                    number=doc.contract.number,
                    done=in_part[doc.contract_id],
                    num=in_month[doc.contract_id],
                )
            )
            in_part[doc.contract_id] = in_month[doc.contract_id]  # one note per contract
    left_out = [doc.contract.number for doc in documents if doc.contract_id not in in_part]
    if left_out:
        notes.append(
            _(
                "Too many documents for one download. This is part %(part)s of %(parts)s: the "
                "list of contracts links every part. The documents of these contracts are in "
                "the other parts, and on each contract's Documents tab:",
                part=part,
                parts=len(bounds),
            )
            + "\n"
            + "\n".join(dict.fromkeys(left_out))
        )
    folders: dict[int, str] = {}  # a folder per contract, named after its number
    for doc in included:
        if doc.contract_id not in folders:
            folders[doc.contract_id] = _unique(_safe(doc.contract.number), folders.values())
    suffix = f"-part{part}" if len(bounds) > 1 else ""
    return _zip_response(
        [(f"{folders[doc.contract_id]}/{_zip_name(doc)}", doc) for doc in included],
        f"documents-{month:%Y-%m}{suffix}.zip",
        notes,
    )


def _zip_response(entries: list[tuple[str, Document]], filename: str, notes=()):
    """A ZIP of the documents' PDFs under the names given. A document whose figures do not
    add up is left out; it and ``notes`` are named in a note inside the ZIP."""
    out = io.BytesIO()
    left_out = []
    used: set[str] = set()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, doc in entries:
            if services.document_problems(doc):
                left_out.append(f"{doc.contract.number}: {doc.number}")
                continue
            name = _unique(name, used)
            used.add(name)
            archive.writestr(name, _document_pdf_bytes(doc.contract, doc))
        notes = list(notes)
        if left_out:
            notes.append(
                _("These documents are not included because their figures do not add up:")
                + "\n"
                + "\n".join(left_out)
            )
        if notes:
            archive.writestr("NOT-INCLUDED.txt", "\n\n".join(notes) + "\n")
    response = make_response(out.getvalue())
    response.headers["Content-Type"] = "application/zip"
    response.headers["Content-Disposition"] = attachment(filename)
    return response


def _safe(value: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in value)[:60]


def _unique(name: str, taken) -> str:
    """``name``, or with ``-2``, ``-3``… before its extension when ``taken`` has it: numbers
    that differ only in characters a file name cannot hold ("INV 1", "INV/1") would else
    give two files one name, and unzipping keeps one of them."""
    stem, dot, extension = name.rpartition(".") if name.endswith(".pdf") else (name, "", "")
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}{dot}{extension}"
    return candidate


def _zip_name(doc: Document) -> str:
    return f"{doc.issued_on.isoformat()}-{doc.kind}-{_safe(doc.number)}.pdf"


# --- reconciliation statement -----------------------------------------------------------


def _statement(contract: Contract) -> tuple[StatementForm, Statement | None]:
    """The form from the URL, or the default range when the URL names no dates; and the
    statement of the range when it is valid."""
    entries = services.statement_entries(contract)
    if "start" in request.args or "end" in request.args:
        form = StatementForm(request.args)
        if not form.validate():
            return form, None
    else:
        start, end = default_range(entries, local_today())
        form = StatementForm(formdata=None, start=start, end=end)
    return form, reconciliation(entries, form.start.data, form.end.data)


@bp.get("/<number>/statement")
@login_required
def statement(number: str):
    """Opening balance, every invoice and payment of the range by date, turnover, closing."""
    contract = own_contract(number)
    form, result = _statement(contract)
    return render_tab(
        contract,
        "documents",
        "documents/statement.html",
        status=200 if result else 422,
        **_context(form=form, statement=result),
    )


@bp.get("/<number>/statement.pdf")
@login_required
@limiter.limit("20 per minute;200 per day", key_func=per_account)
def statement_pdf(number: str):
    """The statement as a PDF (cached by its figures). Each new period is a new render: a
    customer may ask for a few a minute, not thousands."""
    contract = own_contract(number)
    form, result = _statement(contract)
    if result is None:
        return statement(number)
    config = current_app.config
    content = {
        "rendering": rendering_version(),
        "locale": str(get_locale()),
        "utility": [config["UTILITY_NAME"], config["UTILITY_DETAILS"], config["CURRENCY"]],
        "contract": [contract.number, contract.holder_name, contract.tax_id, contract.address],
        "statement": [
            result.start,
            result.end,
            result.opening,
            result.closing,
            [[li.on, li.kind, li.reference, li.debit, li.credit] for li in result.lines],
        ],
    }

    def make_html(page_total: int) -> str:
        return render_template(
            "pdf/statement.html",
            **_context(contract=contract, statement=result, page_total=page_total),
        )

    data = cached_pdf(content, make_html, cache_dir=instance_cache_dir())
    return _pdf_response(
        make_response(data),
        f"statement-{contract.number}-{result.start.isoformat()}-{result.end.isoformat()}.pdf",
    )
