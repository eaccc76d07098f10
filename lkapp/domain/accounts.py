"""Account rules on plain values: sign-in throttling, tax ids, phones, second-factor codes,
the spelling of an email's domain.

The brute-force rule (DESIGN.md, issue 3): failures count per email while they keep coming
less than a day apart; from ``SLOW_AFTER`` failures the sign-in form also asks for the code
from a captcha picture, at ``LOCK_AFTER`` the account is locked until a password reset or a
staff unlock. The same count, kept the same way, applies to emails that have no account, so
neither the captcha nor the messages tell whether an email is registered.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

import idna

from .codes import ALPHABET, generate_code, normalize_code

SLOW_AFTER = 5
LOCK_AFTER = 20
# ``locked_reason`` of an account its customer closed (lkapp.auth.services.close_account).
CLOSED = "closed"
FAILURE_WINDOW = timedelta(days=1)

RECOVERY_CODES = 10
RECOVERY_CODE_LENGTH = 16  # 16 symbols of 25: about 74 bits, safe to keep as plain SHA-256
TOTP_DIGITS = 6


# --- failed sign-ins ----------------------------------------------------------------------


def failures_now(count: int, last_failed_at: datetime | None, now: datetime) -> int:
    """Failures that still count at ``now``: a day without one clears the slate."""
    if last_failed_at is None or now - last_failed_at >= FAILURE_WINDOW:
        return 0
    return count


def failures_after_one_more(count: int, last_failed_at: datetime | None, now: datetime) -> int:
    """The count after a new failure at ``now``."""
    return failures_now(count, last_failed_at, now) + 1


def failures_from_times(times: Iterable[datetime], now: datetime) -> int:
    """The same count from failure times (newest first), for emails that have no account.

    Equal to replaying ``failures_after_one_more`` over the times in order.
    """
    count = 0
    later = now
    for moment in times:
        if later - moment >= FAILURE_WINDOW:
            break
        count += 1
        later = moment
    return count


def needs_captcha(failures: int) -> bool:
    return failures >= SLOW_AFTER


def blocked(failures: int) -> bool:
    """So many failures that the account (if there is one) is locked."""
    return failures >= LOCK_AFTER


# --- registration data --------------------------------------------------------------------

_TAX_ID_NOISE = re.compile(r"[\s\-./]")
_TAX_ID = re.compile(r"[A-Z0-9]{6,20}")
_PHONE_ALLOWED = re.compile(r"[0-9+()\-./ ]+")


def normalize_tax_id(typed: str) -> str:
    """``hu 12345678-2-42`` → ``HU12345678242``: what two spellings of one tax id share."""
    return _TAX_ID_NOISE.sub("", typed).upper()


TAX_ID_MAX = 20  # characters as typed: an account keeps its tax ID as typed (users.tax_id)


def tax_id_is_valid(typed: str) -> bool:
    """6-20 letters and digits once spaces, dashes, dots and slashes are dropped; 6+ digits;
    at most ``TAX_ID_MAX`` characters as typed (it is stored so)."""
    plain = normalize_tax_id(typed)
    return (
        len(typed.strip()) <= TAX_ID_MAX
        and bool(_TAX_ID.fullmatch(plain))
        and sum(ch.isdigit() for ch in plain) >= 6
    )


def phone_is_valid(typed: str) -> bool:
    """Digits with the usual separators and an optional leading +; 7 to 15 digits (E.164)."""
    typed = typed.strip()
    if not typed or not _PHONE_ALLOWED.fullmatch(typed) or "+" in typed[1:]:
        return False
    return 7 <= sum(ch.isdigit() for ch in typed) <= 15


# --- second factor ------------------------------------------------------------------------


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Fresh one-time recovery codes to show once, e.g. ``KQ7M-3XTA-P9CW-4HNR``."""
    return [generate_code(RECOVERY_CODE_LENGTH) for _ in range(count)]


def recovery_code_digest(typed: str) -> str:
    """What is stored for a recovery code: SHA-256 of its normalized form."""
    return hashlib.sha256(normalize_code(typed).encode()).hexdigest()


def looks_like_recovery_code(typed: str) -> bool:
    plain = normalize_code(typed)
    return len(plain) == RECOVERY_CODE_LENGTH and set(plain) <= set(ALPHABET)


def normalize_totp(typed: str) -> str:
    """``123 456`` → ``123456``."""
    return "".join(ch for ch in typed if not ch.isspace() and ch != "-")


def looks_like_totp(typed: str) -> bool:
    plain = normalize_totp(typed)
    return len(plain) == TOTP_DIGITS and plain.isascii() and plain.isdigit()


# --- email domains --------------------------------------------------------------------------


def ascii_domain(domain: str) -> str:
    """``пример.рф`` as mail servers take it, in punycode: IDNA 2008 with its UTS 46 mapping,
    as the address was checked (Python's own codec ``idna`` is IDNA 2003 and turns
    ``straße.de`` into ``strasse.de``, another domain). ValueError when IDNA refuses it."""
    return domain if domain.isascii() else idna.encode(domain, uts46=True).decode("ascii")


def unicode_domain(domain: str) -> str:
    """The one spelling of ``domain`` an address is stored with: lower case, in letters
    (punycode, full-width letters and the "。" of an Asian keyboard read as what they are);
    as typed, lower-cased, when IDNA refuses it."""
    lowered = domain.lower()
    if lowered.isascii() and "xn--" not in lowered:
        return lowered
    try:
        return idna.decode(idna.encode(domain, uts46=True))
    except ValueError:  # IDNAError is a UnicodeError
        return lowered
