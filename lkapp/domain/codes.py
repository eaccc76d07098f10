"""Confirmation codes handed out at the office to attach a contract."""

from __future__ import annotations

import secrets
import unicodedata

# No 0/O, 1/I/L, 2/Z, 5/S, 8/B: a code read aloud or copied by hand stays unambiguous.
ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 12
GROUP = 4


def generate_code(length: int = CODE_LENGTH) -> str:
    """A random code, e.g. ``KQ7M-3XTA-P9CW`` (about 56 bits for 12 characters)."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(length))
    return "-".join(raw[i : i + GROUP] for i in range(0, length, GROUP))


def _is_separator(ch: str) -> bool:
    """A space or dash of any kind, or an invisible mark: what a code copied from a mail, a PDF
    or a messenger carries between its groups (a no-break or thin space, U+2011 no-break hyphen,
    U+2013 en dash, U+2212 minus, a zero-width space or soft hyphen)."""
    return ch.isspace() or ch == "\u2212" or unicodedata.category(ch) in ("Pd", "Cf", "Zs")


# Cyrillic and Greek capitals drawn as a code's letters (and Cyrillic Ze as its 3): on a
# Cyrillic or Greek keyboard they are what one types reading the slip, and they look the same.
_LOOK_ALIKES = str.maketrans(
    "АСЕНКМРТХУЗ" + "ΑΕΗΚΜΝΡΤΥΧ",  # Cyrillic, Greek
    "ACEHKMPTXY3" + "AEHKMNPTYX",
)


def normalize_code(typed: str) -> str:
    """What the customer typed, without spaces and dashes of any kind, upper-case (full-width
    letters and digits read as their plain forms, Cyrillic and Greek look-alikes as the
    letters they look like)."""
    plain = unicodedata.normalize("NFKC", typed).upper().translate(_LOOK_ALIKES)
    return "".join(ch for ch in plain if not _is_separator(ch))
