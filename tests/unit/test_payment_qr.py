from decimal import Decimal

import pytest

from lkapp.domain.payment_qr import document_purpose, epc_payload


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


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-1"), Decimal("1000000000")])
def test_amounts_a_qr_code_cannot_carry_are_refused(amount):
    with pytest.raises(ValueError):
        epc_payload("X", "HU42", "B", amount, "EUR", "p")
