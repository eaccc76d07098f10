"""A document's payment status as a badge: the same words and colours wherever a document
appears (the status itself is ``lkapp.domain.allocation.document_status``)."""

from __future__ import annotations

from ..formatting import lazy_gettext as _l

PAYMENT_BADGES = {
    "paid": ("badge badge-ok", _l("Paid")),
    "partly_paid": ("badge badge-warn", _l("Partly paid")),
    "unpaid": ("badge", _l("Unpaid")),
    "overdue": ("badge badge-bad", _l("Overdue")),
}


def payment_badges() -> dict[str, tuple[str, str]]:
    """Every status's badge (classes, words), the words translated: once for a whole table."""
    return {status: (css, str(text)) for status, (css, text) in PAYMENT_BADGES.items()}


def payment_badge(status: str | None) -> tuple[str, str] | None:
    """The classes and words of ``status``'s badge; None without a status (a VAT invoice or
    an act whose invoice has not come yet)."""
    badge = PAYMENT_BADGES.get(status or "")
    return None if badge is None else (badge[0], str(badge[1]))
