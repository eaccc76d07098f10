"""Password rules after NIST SP 800-63B: length and a blocklist, no composition rules."""

from __future__ import annotations

from functools import lru_cache

MIN_LENGTH = 12
MAX_LENGTH = 128
# Parts of the email or name shorter than this are too common to refuse a password for.
MIN_CONTEXT_WORD = 4


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of the zxcvbn package, lower-cased."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def _core(password: str) -> str:
    """The password without the digits and symbols people put around a word (``!pass2026``)."""
    return password.lower().strip(" 0123456789!?.,;:-_=+*#@$%&^~'\"()[]{}<>/\\|`")


def _compact(text: str) -> str:
    """Letters and digits only, lower-cased: ``Ann's Bakery`` and ``annsbakery`` are alike."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _contains(password: str, context: str) -> bool:
    context = context.strip().lower()
    if len(context) >= MIN_CONTEXT_WORD and context in password.lower():
        return True
    compact = _compact(context)
    return len(compact) >= MIN_CONTEXT_WORD and compact in _compact(password)


def password_problems(password: str, email: str = "", name: str = "") -> list[str]:
    """Why ``password`` is refused, as keys (empty when it is fine).

    The password is checked exactly as typed: no trimming, any characters allowed.
    A common password with digits or symbols around it (``Iloveyou2026!``) counts as common.
    Keys: ``too_short``, ``too_long``, ``common``, ``contains_email``, ``contains_name``;
    callers turn them into translated messages.
    """
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append("too_short")
    if len(password) > MAX_LENGTH:
        problems.append("too_long")
    lowered = password.lower()
    core = _core(password)
    common = common_passwords()
    if lowered in common or lowered.strip() in common or (len(core) >= 4 and core in common):
        problems.append("common")
    if email.strip() and (_contains(password, email) or _contains(password, email.split("@")[0])):
        problems.append("contains_email")
    if _contains(password, name):
        problems.append("contains_name")
    return problems
