"""The text of a payment QR code (EPC069-12, "SEPA credit transfer" QR) for a document.

Bank apps read it to pre-fill a transfer: recipient, account, amount and the purpose, which
names the contract and the document so the payment is allocated to it.
"""

from __future__ import annotations

from decimal import Decimal

MAX_PURPOSE = 140


def epc_payload(
    recipient: str, iban: str, bic: str, amount: Decimal, currency: str, purpose: str
) -> str:
    """The EPC QR text; amounts of 0.01–999,999,999.99 only, as the standard allows."""
    if not Decimal("0.01") <= amount <= Decimal("999999999.99"):
        raise ValueError("amount outside what a payment QR code can carry")
    return "\n".join(
        [
            "BCD",
            "002",
            "1",  # UTF-8
            "SCT",
            bic.strip(),
            recipient.strip()[:70],
            iban.replace(" ", "").upper(),
            f"{currency.upper()}{amount:.2f}",
            "",  # purpose code
            "",  # structured reference
            purpose.strip()[:MAX_PURPOSE],
        ]
    )


def document_purpose(contract_number: str, document_number: str) -> str:
    """The transfer's purpose: the two numbers and no words, so it reads the same whatever the
    customer's language (the PDF prints it under its translated label) and keeps to the
    Latin letters a SEPA transfer carries; the utility's accounting matches it by the numbers."""
    return f"{contract_number} / {document_number}"
