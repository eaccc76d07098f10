"""Signed, expiring links for email confirmation, password reset and email change.

A token carries the user id and a fingerprint of the account state the link is meant for.
The fingerprint is a keyed hash of the fields the link's use changes (and of the password
hash), so a link works once and dies as soon as that state changes by any other way:

- confirm:      email and confirmed_at          → dead once confirmed, or when the email changes
- reset:        password hash, password_changed_at, email → dead once a password is set
- email change: the new email, plus the current email, confirmed_at and password hash
                → dead once used, or when the password or email changes in between; every
                email change sets confirmed_at, so A→B→A kills a link issued before A→B
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..extensions import db
from ..models import User
from ..security import keyed_digest

CONFIRM_FOR = timedelta(hours=48)
RESET_FOR = timedelta(hours=1)
EMAIL_CHANGE_FOR = timedelta(hours=48)

_PURPOSES = {
    "confirm": CONFIRM_FOR,
    "reset": RESET_FOR,
    "email": EMAIL_CHANGE_FOR,
}


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"lkapp-{purpose}")


def _moment(value: datetime | None) -> str:
    # The epoch time, not str(): the same instant reads back in another zone on PostgreSQL.
    return "" if value is None else f"{value.timestamp():.6f}"


def _fingerprint(purpose: str, user: User, extra: str = "") -> str:
    if purpose == "confirm":
        state = [user.email.lower(), _moment(user.confirmed_at)]
    elif purpose == "reset":
        state = [
            user.password_hash,
            _moment(user.password_changed_at),
            user.email.lower(),
        ]
    else:
        # The email alone comes back after A→B→A; confirmed_at does not (change_email sets it).
        state = [
            user.email.lower(),
            _moment(user.confirmed_at),
            user.password_hash,
            extra.lower(),
        ]
    raw = "\x1f".join([purpose, str(user.id), *state])
    return keyed_digest(current_app.config["SECRET_KEY"], raw)[:32]


def make_token(purpose: str, user: User, new_email: str = "") -> str:
    payload = {"u": user.id, "f": _fingerprint(purpose, user, new_email)}
    if purpose == "email":
        payload["e"] = new_email
    return _serializer(purpose).dumps(payload)


def read_token(purpose: str, token: str) -> tuple[User, str] | None:
    """The user a live token is for (and the new email of an email change), else None.

    None for a bad signature, an expired token, an unknown user, or a fingerprint that no
    longer matches (the link was used, or the account changed since).
    """
    if not token or len(token) > 1000:
        return None
    try:
        payload = _serializer(purpose).loads(token, max_age=int(_PURPOSES[purpose].total_seconds()))
    except BadSignature:  # SignatureExpired is a BadSignature too
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int):
        return None
    user = db.session.get(User, payload["u"])
    if user is None:
        return None
    new_email = payload.get("e", "") if purpose == "email" else ""
    if not isinstance(new_email, str):
        return None
    expected = _fingerprint(purpose, user, new_email)
    if not hmac.compare_digest(expected, str(payload.get("f", ""))):
        return None
    return user, new_email
