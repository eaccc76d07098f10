"""Money arithmetic: Decimal, two places, half-up rounding as accounting expects."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, ROUND_UP, Decimal

CENT = Decimal("0.01")


def to_money(value: Decimal | int | str) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def vat_of(net: Decimal, rate_percent: Decimal) -> Decimal:
    """VAT on a net amount at a percentage rate, rounded to the cent."""
    return to_money(Decimal(net) * Decimal(rate_percent) / 100)


def vat_tolerance(lines: int = 0) -> Decimal:
    """How far a document's VAT may be from its rate times its net: a cent, or, when billing
    rounds the VAT of each of its ``lines`` lines, half a cent for each of them and for the
    product of the whole (rounded up to the cent)."""
    return max(CENT, (Decimal("0.005") * (lines + 1)).quantize(CENT, rounding=ROUND_UP))


def vat_off(net: Decimal, rate_percent: Decimal, vat: Decimal, lines: int = 0) -> bool:
    """Whether ``vat`` is further from ``rate_percent`` of ``net`` than rounding explains."""
    return abs(vat - vat_of(net, rate_percent)) > vat_tolerance(lines)


def split_total(total: Decimal, rate_percent: Decimal) -> tuple[Decimal, Decimal]:
    """Net and VAT of a gross total, so that net + VAT equals the total exactly."""
    total = to_money(total)
    net = to_money(total * 100 / (100 + Decimal(rate_percent)))
    return net, total - net
