"""The text of a payment QR code (EPC069-12, "SEPA credit transfer" QR) for a document.

Bank apps read it to pre-fill a transfer: recipient, account, amount and the purpose, which
names the contract and the document so the payment is allocated to it.
"""

from __future__ import annotations

from decimal import Decimal

MAX_PURPOSE = 140
MAX_AMOUNT = Decimal("999999999.99")


def can_carry(amount: Decimal, currency: str) -> bool:
    """Whether an EPC code can ask for this payment: a SEPA credit transfer is in euro, of
    0.01 to 999,999,999.99."""
    return currency.upper() == "EUR" and Decimal("0.01") <= amount <= MAX_AMOUNT


def epc_payload(
    recipient: str, iban: str, bic: str, amount: Decimal, currency: str, purpose: str
) -> str:
    """The EPC QR text; amounts of 0.01–999,999,999.99 only, as the standard allows."""
    if not can_carry(amount, currency):
        raise ValueError("a payment QR code carries euro amounts of 0.01-999,999,999.99 only")
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
