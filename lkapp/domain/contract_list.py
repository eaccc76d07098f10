"""A customer's list of contracts when it is long: finding one, and which need attention first
(pure).

A business customer may hold dozens of supply points. The Electricity list then offers a search
and filters, and the dashboard shows the contracts that need attention first.
"""

from __future__ import annotations

from datetime import date

from .balance import Summary

# What the Electricity list's "Show" filter may ask for, besides every contract.
SHOW_OVERDUE = "overdue"  # a due date passed unpaid
SHOW_TO_PAY = "to_pay"  # a positive balance, overdue or not
SHOW_NO_READINGS = "no_readings"  # a meter in use lacks a reading of this month
SHOW_CHOICES = (SHOW_OVERDUE, SHOW_TO_PAY, SHOW_NO_READINGS)


def normalise(text: str) -> str:
    """``text`` for comparing: case folded, runs of white space as one space."""
    return " ".join(text.casefold().split())


def matches(query: str, *fields: str) -> bool:
    """Whether every word of ``query`` is part of one of ``fields``, case and spacing
    ignored: "mill leeds" finds "14 Mill Lane, Leeds LS2 7AB". An empty query matches."""
    haystack = "\n".join(normalise(field) for field in fields)
    return all(word in haystack for word in normalise(query).split())


def shown(show: str, summary: Summary, lacks_readings: bool) -> bool:
    """Whether a contract with ``summary`` passes the "Show" filter ``show`` ("" = all)."""
    if show == SHOW_OVERDUE:
        return summary.overdue > 0
    if show == SHOW_TO_PAY:
        return summary.balance > 0
    if show == SHOW_NO_READINGS:
        return lacks_readings
    return True


def attention_order(summary: Summary, number: str) -> tuple:
    """Sort key putting first what the customer should act on: overdue debt, the longest
    overdue first; then amounts to pay, the nearest due date first; then the rest. Within
    each, by contract number."""
    if summary.overdue > 0:
        return (0, -summary.days_overdue, -summary.overdue, number)
    if summary.balance > 0:
        return (1, summary.next_due_on or date.max, number)
    return (2, number)
