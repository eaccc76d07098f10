"""Rules of the "Ask a question" service (pure: no Flask, no database).

- Reference numbers: ``Q-`` and 8 characters of the unambiguous code alphabet, drawn with
  ``secrets`` (25**8, about 1.5e11 values: not guessable by counting up, short enough to read
  out on the phone). ``unique_reference`` retries when one is taken.
- Attachments: the type is read from the first bytes of the content (magic numbers), never
  from the file name or the browser's Content-Type.
- Status changes: a customer's reply to an answered thread opens it again (a closed one only
  when the reply was written on a page that showed it open).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta

from .codes import ALPHABET

REFERENCE_PREFIX = "Q-"
REFERENCE_LENGTH = 8
_REFERENCE = re.compile(rf"^Q-[{ALPHABET}]{{{REFERENCE_LENGTH}}}$")

SUBJECTS = ("lost_login", "documents", "readings", "payments", "other")
STATUSES = ("new", "answered", "closed")

MAX_FILES = 3
MAX_FILE_SIZE = 5 * 1024 * 1024
# What one account may attach within ``FILES_WINDOW``: replies are limited per IP only, and
# at 15 MB a message one account could fill the office's disk from many addresses.
ACCOUNT_FILE_BYTES = 100 * 1024 * 1024
FILES_WINDOW = timedelta(days=30)
# What all questions asked without an account may attach in a day, together: each address
# and IP is limited, but many of them could still fill the disk.
ANONYMOUS_FILE_BYTES = 500 * 1024 * 1024
ANONYMOUS_FILES_WINDOW = timedelta(days=1)
MAX_BODY_LENGTH = 5000

# Anonymous asking: at most this many questions per contact email within the window.
QUESTIONS_PER_EMAIL = 5
EMAIL_WINDOW = timedelta(hours=1)

# The accepted types: content type -> (magic prefix, file name extensions).
FILE_TYPES = {
    "application/pdf": (b"%PDF-", (".pdf",)),
    "image/png": (b"\x89PNG\r\n\x1a\n", (".png",)),
    "image/jpeg": (b"\xff\xd8\xff", (".jpg", ".jpeg")),
}
SNIFF_BYTES = 8


def new_reference(choice: Callable[[str], str] = secrets.choice) -> str:
    """A fresh reference number, e.g. ``Q-KQ7M3XTA``."""
    return REFERENCE_PREFIX + "".join(choice(ALPHABET) for _ in range(REFERENCE_LENGTH))


def unique_reference(
    taken: Callable[[str], bool],
    generate: Callable[[], str] = new_reference,
    attempts: int = 10,
) -> str:
    """A reference for which ``taken`` says False; after ``attempts`` collisions, an error."""
    for _ in range(attempts):
        reference = generate()
        if not taken(reference):
            return reference
    raise RuntimeError(f"no free question reference after {attempts} attempts")


def normalize_reference(typed: str) -> str | None:
    """A reference as typed (any case, spaces around) in its canonical form, else None."""
    reference = typed.strip().upper()
    return reference if _REFERENCE.match(reference) else None


def sniff_type(head: bytes) -> str | None:
    """The content type that the first bytes of a file prove, or None (not accepted)."""
    for content_type, (magic, _extensions) in FILE_TYPES.items():
        if head.startswith(magic):
            return content_type
    return None


def safe_filename(name: str, content_type: str) -> str:
    """A harmless download name: no path, no control characters, at most 100 characters,
    and always ending in an extension of the checked type (``scan.exe`` of a PDF becomes
    ``scan.exe.pdf``), so the saved file opens in a viewer and never runs."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    name = name.strip(" .") or "file"
    extensions = FILE_TYPES[content_type][1]
    stem, dot, ext = name.rpartition(".")
    if not dot or "." + ext.lower() not in extensions:
        stem, ext = name, extensions[0][1:]
    stem = stem[: 100 - len(ext) - 1]
    return f"{stem}.{ext}"


def status_after_customer_reply(status: str, page_showed_open: bool = False) -> str | None:
    """The status once the asker adds a message; None when the thread takes no replies. A
    closed thread takes a reply written on a page that showed it open (the office closed it
    while the asker was writing): it opens again rather than lose what was typed."""
    if status in ("new", "answered") or (status == "closed" and page_showed_open):
        return "new"
    return None


def too_many_from_email(recent: int) -> bool:
    """True when ``recent`` questions of one email in the window leave no room for another."""
    return recent >= QUESTIONS_PER_EMAIL


def age_cutoff(now: datetime, days: int | None) -> datetime | None:
    """The moment before which the last activity must lie for the "older than" filter."""
    return now - timedelta(days=days) if days else None
