"""Confirmation codes handed out at the office to attach a contract."""

from __future__ import annotations

import secrets

# No 0/O, 1/I/L, 2/Z, 5/S, 8/B: a code read aloud or copied by hand stays unambiguous.
ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 12
GROUP = 4


def generate_code(length: int = CODE_LENGTH) -> str:
    """A random code, e.g. ``KQ7M-3XTA-P9CW`` (about 56 bits for 12 characters)."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(length))
    return "-".join(raw[i : i + GROUP] for i in range(0, length, GROUP))


def normalize_code(typed: str) -> str:
    """What the customer typed, without spaces and dashes, upper-case."""
    return "".join(ch for ch in typed.upper() if ch not in " -\t")
