"""Codes, money and password rules: pure functions, no app."""

from decimal import Decimal

import pytest

from lkapp.domain.codes import ALPHABET, generate_code, normalize_code
from lkapp.domain.money import split_total, to_money, vat_of
from lkapp.domain.passwords import password_problems


def test_codes_are_long_unambiguous_and_different():
    codes = {generate_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        plain = normalize_code(code)
        assert len(plain) >= 10
        assert set(plain) <= set(ALPHABET)
        assert not set(plain) & set("0O1IL2Z5S8B")


def test_typed_code_is_normalized():
    assert normalize_code(" kq7m-3xta p9cw ") == "KQ7M3XTAP9CW"


@pytest.mark.parametrize(
    ("net", "rate", "vat"),
    [
        ("100.00", "20", "20.00"),
        ("0.05", "27", "0.01"),
        ("0.02", "20", "0.00"),
        ("12.345", "0", "0.00"),
    ],
)
def test_vat_rounds_half_up_to_the_cent(net, rate, vat):
    assert vat_of(Decimal(net), Decimal(rate)) == Decimal(vat)


def test_split_total_adds_up_exactly():
    for cents in range(1, 5000, 7):
        total = Decimal(cents) / 100
        net, vat = split_total(total, Decimal("27"))
        assert net + vat == to_money(total)


def test_password_rules():
    assert password_problems("short") == ["too_short"]
    assert "common" in password_problems("password1234")
    assert password_problems("a" * 129) == ["too_long"]
    assert password_problems("ann.smith-was-here-2026", email="ann.smith@example.com") == [
        "contains_email"
    ]
    assert password_problems("Bakery of Ann 2026!", name="Bakery of Ann") == ["contains_name"]
    # Spaces and Cyrillic are fine; nothing is trimmed.
    assert password_problems("  тихий вечер над рекой  ") == []


def test_a_domain_has_one_spelling_for_storing_and_one_for_mail():
    from lkapp.domain.accounts import ascii_domain, unicode_domain

    assert ascii_domain("straße.de") == "xn--strae-oqa.de"  # IDNA 2003 made it strasse.de
    assert ascii_domain("Пример.РФ") == "xn--e1afmkfd.xn--p1ai"
    assert ascii_domain("utility.example") == "utility.example"
    for typed in ("xn--e1afmkfd.xn--p1ai", "ПРИМЕР.рф", "пример。рф"):
        assert unicode_domain(typed) == "пример.рф", typed
    assert unicode_domain("ＥXAMPLE.com") == "example.com"
    assert unicode_domain("Example.COM") == "example.com"
    with pytest.raises(ValueError):
        ascii_domain("☃.example")
