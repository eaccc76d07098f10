from decimal import Decimal

import pytest

from lkapp.domain.payment_qr import can_carry, document_purpose, epc_payload


def test_epc_payload_names_account_amount_and_document():
    text = epc_payload(
        "City Power Supply",
        "HU42 1177 3016 1111 1018 0000 0000",
        "OTPVHUHB",
        Decimal("1234.5"),
        "eur",
        document_purpose("EL-0000042", "INV-2026-0000007"),
    )
    lines = text.split("\n")
    assert lines[:4] == ["BCD", "002", "1", "SCT"]
    assert lines[6] == "HU42117730161111101800000000"
    assert lines[7] == "EUR1234.50"
    assert lines[10] == "EL-0000042 / INV-2026-0000007"


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("0", "EUR"), ("-1", "EUR"), ("1000000000", "EUR"), ("10", "HUF")],
)
def test_payments_a_qr_code_cannot_carry_are_refused(amount, currency):
    assert not can_carry(Decimal(amount), currency)
    with pytest.raises(ValueError):
        epc_payload("X", "HU42", "B", Decimal(amount), currency, "p")


def test_the_largest_euro_amount_is_carried():
    assert can_carry(Decimal("999999999.99"), "eur") and can_carry(Decimal("0.01"), "EUR")
