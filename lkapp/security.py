"""Password and secret hashing (argon2id) and small request-safety helpers."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from urllib.parse import quote, urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort, current_app, request
from flask_login import current_user

# OWASP's argon2id profile: 19 MiB, 2 iterations, 1 lane (~20 ms here).
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


# A valid hash to verify against when no account matches, so a sign-in with an unknown
# email costs the same time as one with a wrong password.
DUMMY_PASSWORD_HASH = hash_password("no account has this password")


def keyed_digest(secret_key: str, value: str) -> str:
    """HMAC-SHA256 of a short-lived, high-entropy value (captcha answers, tokens)."""
    return hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()


def is_safe_next(target: str | None) -> bool:
    """Only local absolute paths: no scheme, no host, no ``//`` or backslash tricks."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def attachment(filename: str) -> str:
    """A ``Content-Disposition`` that downloads ``filename``. A header holds Latin-1 at most
    (gunicorn answers 500 to anything else: a contract number in Cyrillic did), so the plain
    ``filename`` is ASCII, and a name with other letters comes whole in ``filename*``."""
    plain = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", plain)
    if plain == filename:
        return f'attachment; filename="{plain}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


# A form's worth of request body: what every page takes but those marked with ``uploads``.
FORM_BODY_LIMIT = 1024 * 1024


def uploads(limit: int | None = None):
    """Mark a view whose requests carry files: up to ``limit`` bytes, or with None up to
    ``MAX_CONTENT_LENGTH`` (the billing files)."""

    def mark(view):
        view.body_limit = limit
        return view

    return mark


def limit_request_body(endpoint, values) -> None:
    """A URL value preprocessor of the app: it runs before every ``before_request`` function,
    CSRF's included, which reads the body (a file part is spooled to disk) before it can
    refuse the request; a larger body is refused unread (413)."""
    view = current_app.view_functions.get(endpoint)
    limit = getattr(view, "body_limit", FORM_BODY_LIMIT)
    if limit is None and not _signed_in_as_staff():
        # The billing files are for the office: anyone else's body is refused unread too
        # (the view refuses them anyway, but only after CSRF's check has spooled it).
        limit = FORM_BODY_LIMIT
    # None on the request falls back to MAX_CONTENT_LENGTH.
    request.max_content_length = limit


def refuse_nul_characters(endpoint, values) -> None:
    """A URL value preprocessor of the app, after ``limit_request_body``: no text the portal
    stores holds a NUL character, and PostgreSQL refuses a query that compares with one (a
    500). An address with one is found nowhere (404); a query string or form with one is a bad
    request (400), before any view, limit or check looks it up."""
    if "\x00" in request.path:
        abort(404)
    if _holds_nul(request.args) or (request.method == "POST" and _holds_nul(request.form)):
        abort(400)


def _holds_nul(fields) -> bool:
    return any(
        "\x00" in name or any("\x00" in value for value in fields.getlist(name)) for name in fields
    )


def _signed_in_as_staff() -> bool:
    return current_user.is_authenticated and current_user.is_staff
