"""The rows of the payments table with every cell formatted, in one Python pass per page (as
``lkapp.documents.table`` does for documents): a payment lists each document it paid, and
two macros per document took half of the tab's drawing."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from ..documents.table import kind_labels
from ..formatting import formats
from .badges import payment_badges
from .services import PaymentView


@dataclass(frozen=True)
class ShareLine:
    document: str  # "Invoice INV-1" as the document's own page names it
    amount: str
    status: str  # the payment status badge's words ("" without a status)
    status_class: str  # and its classes


@dataclass(frozen=True)
class PaymentLine:
    payment: PaymentView
    paid_on: str
    amount: str
    shares: list[ShareLine]
    advance: str  # what no document took, "" when there is none


def payment_lines(rows: list[PaymentView]) -> list[PaymentLine]:
    fmt = formats()
    kinds = kind_labels()
    badges = payment_badges()
    named = _("%(kind)s %(number)s")  # translated once, filled in per document
    lines = []
    for payment in rows:
        shares = []
        for share in payment.shares:
            css, status = badges.get(share.status, ("", ""))
            shares.append(
                ShareLine(
                    named % {"kind": kinds.get(share.kind, share.kind), "number": share.number},
                    fmt.money(share.amount),
                    status,
                    css,
                )
            )
        advance = payment.unallocated
        lines.append(
            PaymentLine(
                payment,
                fmt.day(payment.paid_on),
                fmt.money(payment.amount),
                shares,
                fmt.money(advance) if advance > 0 else "",
            )
        )
    return lines
