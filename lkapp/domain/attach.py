"""The rules for attaching a contract to an account with a confirmation code (pure).

Probing rules: every answer that says something about a contract or its code (expired, used,
locked, attached elsewhere) is given only to someone who typed the *right* code, so it proves
nothing to a guesser. A wrong code and an unknown contract number get one and the same answer,
``NO_MATCH``; the caller spends one hash comparison either way, so timing does not tell them
apart either. The per-account hourly limit is checked before anything else and says nothing
about any contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from .codes import ALPHABET, GROUP, normalize_code

# A code takes this many wrong tries, then it is locked and the office issues a new one.
MAX_CODE_FAILURES = 5
# An account may make this many failed attempts per window before it has to wait.
MAX_ACCOUNT_FAILURES = 10
ACCOUNT_WINDOW = timedelta(hours=1)

# Codes are 12 characters today; accept a little either way so a later change of length
# needs no change here, and refuse what cannot be a code before touching the database.
MIN_CODE_LENGTH = 10
MAX_CODE_LENGTH = 20


class Outcome(StrEnum):
    ATTACHED = "attached"
    NO_MATCH = "no_match"  # unknown contract number or wrong code: one answer for both
    EXPIRED = "expired"
    USED = "used"
    REVOKED = "revoked"  # a newer code was issued, or the contract was detached
    LOCKED = "locked"  # too many wrong tries for this code
    TAKEN = "taken"  # attached to another account
    ALREADY_YOURS = "already_yours"
    THROTTLED = "throttled"  # this account failed too often in the last hour


@dataclass(frozen=True)
class CodeFacts:
    """What the rules need to know about the contract's current code."""

    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None
    failed_attempts: int = 0


def characters_not_in_codes(typed: str) -> str:
    """The characters of ``typed`` that no code has (the alphabet leaves out look-alikes such
    as O and 0, I and 1), each once, in the order typed."""
    return "".join(dict.fromkeys(ch for ch in normalize_code(typed) if ch not in ALPHABET))


def code_is_well_formed(typed: str) -> bool:
    """Could ``typed`` be a code at all (length and alphabet, spaces and dashes ignored)?"""
    code = normalize_code(typed)
    return MIN_CODE_LENGTH <= len(code) <= MAX_CODE_LENGTH and all(ch in ALPHABET for ch in code)


def format_code(typed: str) -> str:
    """A code as printed: upper-case groups of four, e.g. ``KQ7M-3XTA-P9CW``."""
    code = normalize_code(typed)
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def code_state(code: CodeFacts, now: datetime) -> str:
    """``live``, ``used``, ``revoked``, ``locked`` or ``expired`` (first that applies)."""
    if code.used_at is not None:
        return "used"
    if code.revoked_at is not None:
        return "revoked"
    if code.failed_attempts >= MAX_CODE_FAILURES:
        return "locked"
    if code.expires_at <= now:
        return "expired"
    return "live"


def check_attempt(
    *,
    code: CodeFacts | None,
    matches: bool,
    contract_account_id: int | None,
    me: int,
    now: datetime,
) -> Outcome:
    """The verdict on an attempt before anything is written.

    ``code`` is the contract's newest code (None when the contract is unknown or never had
    one), ``matches`` whether the typed code is that code. ``ATTACHED`` means "go ahead": the
    conditional UPDATEs still decide who wins a race.
    """
    if code is None or not matches:
        return Outcome.NO_MATCH
    if contract_account_id == me:
        return Outcome.ALREADY_YOURS
    state = code_state(code, now)
    if state == "used":
        return Outcome.USED
    if contract_account_id is not None:
        return Outcome.TAKEN
    if state == "revoked":
        return Outcome.REVOKED
    if state == "locked":
        return Outcome.LOCKED
    if state == "expired":
        return Outcome.EXPIRED
    return Outcome.ATTACHED


def counts_against_code(outcome: Outcome, code: CodeFacts | None, now: datetime) -> bool:
    """A wrong guess at a code that still works adds one to its failure count."""
    return outcome is Outcome.NO_MATCH and code is not None and code_state(code, now) == "live"


def retry_after(
    recent_failures: list[datetime],
    now: datetime,
    limit: int = MAX_ACCOUNT_FAILURES,
    window: timedelta = ACCOUNT_WINDOW,
) -> timedelta | None:
    """How long the account must wait before its next attempt, or None when it may go on.

    ``recent_failures``: times of the account's failed attempts (any order; older ones are
    ignored). The account may try again once fewer than ``limit`` remain inside the window.
    """
    inside = sorted((t for t in recent_failures if now - t < window), reverse=True)
    if len(inside) < limit:
        return None
    # The limit-th most recent failure is the one whose ageing out frees a try.
    return inside[limit - 1] + window - now


def minutes_to_wait(wait: timedelta) -> int:
    """A wait rounded up to whole minutes (at least one), for the message."""
    seconds = max(int(wait.total_seconds()), 0)
    return max(1, -(-seconds // 60))
