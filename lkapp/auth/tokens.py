"""Signed, expiring links for email confirmation, password reset and email change; and the
link in each notice that turns that kind of notice off (``notice_token``), which never expires.

A token carries the user id and a fingerprint of the account state the link is meant for.
The fingerprint is a keyed hash of the fields the link's use changes (and of the password
hash), so a link works once and dies as soon as that state changes by any other way:

- confirm:      email and confirmed_at          → dead once confirmed, or when the email changes
- reset:        password hash, password_changed_at, email → dead once a password is set;
                a link mailed on the email alone to a never-confirmed account also carries
                the tax ID typed in the request (``services.request_password_reset``), under
                the signature like the rest of the payload, so no one can change it
- email change: the new email, plus the current email, confirmed_at and password hash
                → dead once used, or when the password or email changes in between; every
                email change sets confirmed_at, so A→B→A kills a link issued before A→B

Reset and email-change links also fingerprint the lock that only the office lifts: no such
link works while the account is under it (or closed), and one issued before the office's
latest lock stays dead after the unlock (the office locks an account whose mailbox or
password may be in other hands; the links mailed before that may be too). The time of that
lock comes from the audit trail, as nothing on the account keeps it after the unlock. A lock
after failed sign-ins is left out: a reset is how its customer lifts it.

Once is once also for two requests at the same moment (a link submitted from two tabs, an
email change confirmed while the password changes): ``read_token`` holds the account's row
(``lock_row``) until the request's transaction ends, so the second reads the state the
first left, whose fingerprint the link no longer matches.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, has_request_context, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..database import lock_row
from ..extensions import db
from ..models import AuditEvent, User, utcnow
from ..security import keyed_digest, verify_password
from . import services

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


def _last_office_lock(user: User) -> datetime | None:
    """When the office last locked ``user`` (``services.lock_account``), from the audit trail."""
    events = db.session.execute(
        sa.select(AuditEvent.created_at, AuditEvent.details)
        .where(
            AuditEvent.object_type == "User",
            AuditEvent.object_id == str(user.id),
            AuditEvent.action == "auth.locked",
        )
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    )
    return next(
        (when for when, details in events if (details or {}).get("reason") == services.STAFF_LOCK),
        None,
    )


def _lock_state(user: User) -> list[str]:
    """What a reset or email-change link fingerprints of the office's locks: the time of the
    latest (nothing for an account the office never locked, so that the links of most
    accounts did not change with it). While the lock is on, ``read_token`` refuses them."""
    locked = _last_office_lock(user)
    return [] if locked is None else ["office-lock:" + _moment(locked)]


def _fingerprint(purpose: str, user: User, extra: str = "") -> str:
    if purpose == "confirm":
        state = [user.email.lower(), _moment(user.confirmed_at)]
    elif purpose == "reset":
        state = [
            user.password_hash,
            _moment(user.password_changed_at),
            user.email.lower(),
            *_lock_state(user),
        ]
    else:
        # The email alone comes back after A→B→A; confirmed_at does not (change_email sets it).
        state = [
            user.email.lower(),
            _moment(user.confirmed_at),
            user.password_hash,
            extra.lower(),
            *_lock_state(user),
        ]
    raw = "\x1f".join([purpose, str(user.id), *state])
    return keyed_digest(current_app.config["SECRET_KEY"], raw)[:32]


def make_token(purpose: str, user: User, new_email: str = "", tax_id: str = "") -> str:
    payload = {"u": user.id, "f": _fingerprint(purpose, user, new_email)}
    if purpose == "email":
        payload["e"] = new_email
    if purpose == "reset" and tax_id:
        payload["t"] = tax_id
    return _serializer(purpose).dumps(payload)


def _showing() -> bool:
    """A GET only shows the link's page (it changes nothing): it need not hold the account,
    nor wait for SQLite's write lock behind an import."""
    return has_request_context() and request.method in ("GET", "HEAD")


def link_digest(token: str) -> str:
    """What the audit trail keeps of a used reset link: enough to know it again, nothing
    that works as one."""
    return keyed_digest(current_app.config["SECRET_KEY"], "used-link:" + token)[:32]


def used_reset_link(token: str, password: str) -> User | None:
    """The account whose password this genuine reset link set to ``password`` within the last
    ``services.RESENT_FORM``: its form sent a second time (a double click, a reload of the
    answer), not a link to refuse as unknown. None for any other link, or another password
    (someone else used the link meanwhile: the one who typed this must not read it was set)."""
    if not token or len(token) > 1000:
        return None
    try:
        payload = _serializer("reset").loads(token, max_age=int(_PURPOSES["reset"].total_seconds()))
    except BadSignature:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int):
        return None
    user = db.session.get(User, payload["u"])
    if user is None or services.barred(user):
        return None
    used = db.session.scalars(
        sa.select(AuditEvent.details).where(
            AuditEvent.action == "auth.password_reset",
            AuditEvent.object_type == "User",
            AuditEvent.object_id == str(user.id),
            AuditEvent.created_at >= utcnow() - services.RESENT_FORM,
        )
    )
    digest = link_digest(token)
    if not any(d.get("link") == digest for d in used):
        return None
    return user if verify_password(user.password_hash, password) else None


def read_token(purpose: str, token: str) -> tuple[User, str] | None:
    """The user a live token is for, and what the link carries besides (the new email of
    an email change, the tax ID of a reset link of ``services.request_password_reset``, or
    ""), else None.

    None for a bad signature, an expired token, an unknown user, a fingerprint that no
    longer matches (the link was used, or the account changed since), or a reset or
    email-change link of an account the office locked or its customer closed
    (``services.barred``).

    Unless the request is a GET, the account is held until the caller's transaction ends
    (see the module's docstring).
    """
    if not token or len(token) > 1000:
        return None
    try:
        payload = _serializer(purpose).loads(token, max_age=int(_PURPOSES[purpose].total_seconds()))
    except BadSignature:  # SignatureExpired is a BadSignature too
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int):
        return None
    user = db.session.get(User, payload["u"]) if _showing() else lock_row(User, payload["u"])
    if user is None:
        return None
    new_email = payload.get("e", "") if purpose == "email" else ""
    carried = payload.get("t", "") if purpose == "reset" else new_email
    if not isinstance(new_email, str) or not isinstance(carried, str):
        return None
    if purpose in ("reset", "email") and services.barred(user):
        return None  # a lock only the office lifts, or a closed account: nothing may change
    expected = _fingerprint(purpose, user, new_email)
    if not hmac.compare_digest(expected, str(payload.get("f", ""))):
        return None
    return user, carried


# --- turning a kind of notice off -----------------------------------------------------------

# The kinds of notice, and the preference of the account that each follows.
NOTICE_KINDS = {
    "documents": "notify_documents",
    "debt": "notify_debt",
    "readings": "notify_readings",
}


def _notice_serializer() -> URLSafeTimedSerializer:
    """Timed like the other links, though read without a maximum age: a token of three parts
    is what the access logs of deploy/ write as ``[token]``."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="lkapp-notices-stop")


def _mailbox_print(user_id: int, email: str) -> str:
    return keyed_digest(
        current_app.config["SECRET_KEY"], f"notices\x1f{user_id}\x1f{email.lower()}"
    )[:16]


def notice_token(user_id: int, email: str, kind: str) -> str:
    """The token of the link in a notice of ``kind`` to ``email`` that turns that kind off.

    It does not expire (a notice read a month later must still work) and may be used again;
    it names the address it was mailed to, so it dies when the account's email changes."""
    return _notice_serializer().dumps(
        {"u": user_id, "k": kind, "f": _mailbox_print(user_id, email)}
    )


def read_notice_token(token: str) -> tuple[User, str] | None:
    """The account and the kind of notice of a genuine ``notice_token``; None for a bad or
    foreign signature, an unknown kind or account, one closed or locked by the office
    (``services.barred``), or an account whose email is no longer the one mailed.

    Unless the request is a GET, the account is held until the caller's transaction ends:
    two one-click requests at once turn the notices off, and write the audit trail, once."""
    if not token or len(token) > 1000:
        return None
    try:
        payload = _notice_serializer().loads(token)  # no max_age: it does not expire
    except BadSignature:
        return None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("u"), int)
        or payload.get("k") not in NOTICE_KINDS
    ):
        return None
    user = db.session.get(User, payload["u"]) if _showing() else lock_row(User, payload["u"])
    if user is None or services.barred(user):
        return None
    expected = _mailbox_print(user.id, user.email)
    if not hmac.compare_digest(expected, str(payload.get("f", ""))):
        return None
    return user, payload["k"]
