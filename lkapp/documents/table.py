"""The rows of the documents table with every cell formatted, in one Python pass per page: a
Jinja filter or macro per cell cost twice as much (24 rows of ten cells on every view)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_percent
from flask import url_for
from flask_babel import gettext as _

from ..formatting import Formats, formats
from ..payments.badges import payment_badges
from .forms import KIND_LABELS
from .services import DocumentRow


@dataclass(frozen=True)
class DocumentLine:
    row: DocumentRow
    kind: str
    url: str
    issued: str
    period: str
    net: str
    vat_rate: str
    vat: str
    total: str
    due: str  # empty when the document has no due date
    status: str  # the payment status badge's words
    status_class: str  # and its classes


def document_url(contract_number: str, document) -> str:
    """The page of ``document`` (a Document or a DocumentRow) of the contract."""
    return url_for(
        "documents.document", number=contract_number, kind=document.kind, doc_number=document.number
    )


def kind_label(kind: str) -> str:
    """ "Invoice", "VAT invoice" or "Act", in the reader's language."""
    return str(KIND_LABELS[kind])


def kind_labels() -> dict[str, str]:
    """Every kind's words, translated once for a whole table."""
    return {kind: str(label) for kind, label in KIND_LABELS.items()}


def vat_rate(rate, fmt: Formats | None = None) -> str:
    """``20%``, ``5.5%`` (``20 %`` in Russian: each locale's own sign and spacing): decimals
    only when the rate has them."""
    return format_percent(
        Decimal(rate) / 100, locale=(fmt or formats()).locale, decimal_quantization=False
    )


def document_badges() -> Callable[[str | None, list | None], tuple[str, str]]:
    """The badge (classes, words) of a document: its payment status, "no invoice" for a VAT
    invoice or an act whose invoice has not come, or a warning when its figures do not add
    up. The words are translated once, for a whole table."""
    badges = payment_badges()
    problem = ("badge badge-bad", _("Figures do not add up"))
    no_invoice = ("muted", _("no invoice"))

    def badge(status: str | None, problems: list | None = None) -> tuple[str, str]:
        return problem if problems else badges.get(status or "", no_invoice)

    return badge


def document_badge(status: str | None, problems: list | None = None) -> tuple[str, str]:
    return document_badges()(status, problems)


def document_lines(contract_number: str, rows: list[DocumentRow]) -> list[DocumentLine]:
    kinds = kind_labels()
    fmt = formats()
    badge = document_badges()
    lines = []
    for row in rows:
        css, status = badge(row.status, row.problems)
        lines.append(
            DocumentLine(
                row=row,
                kind=kinds[row.kind],
                url=document_url(contract_number, row),
                issued=fmt.day(row.issued_on),
                period=fmt.month(row.period),
                net=fmt.money(row.net),
                vat_rate=vat_rate(row.vat_rate, fmt),
                vat=fmt.money(row.vat),
                total=fmt.money(row.total),
                due=fmt.day(row.due_on),
                status=status,
                status_class=css,
            )
        )
    return lines
