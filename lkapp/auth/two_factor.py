"""Two-factor sign-in: TOTP (RFC 6238) from an authenticator app, and one-time recovery codes.

The secret of an enrolment in progress travels in a signed hidden field (it is on the page
anyway, as the QR code and as text to type); it is stored on the account only once the user
has typed a valid code from it. Recovery codes are stored as SHA-256 digests and shown once.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp
import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm.attributes import set_committed_value

from ..database import lock_row
from ..domain.accounts import (
    looks_like_recovery_code,
    looks_like_totp,
    new_recovery_codes,
    normalize_totp,
    recovery_code_digest,
)
from ..extensions import db
from ..models import User, utcnow
from ..services import audit
from ..services.qr import png_data_uri, qr_png

SETUP_FOR_SECONDS = 15 * 60
# Accept the code of the previous and the next 30-second step too: phone clocks drift.
VALID_WINDOW = 1


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, RFC 4226's recommendation


def _setup_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="lkapp-totp-setup")


def setup_token(user: User, secret: str) -> str:
    return _setup_serializer().dumps({"u": user.id, "s": secret})


def secret_from_setup_token(user: User, token: str) -> str | None:
    try:
        payload = _setup_serializer().loads(token or "", max_age=SETUP_FOR_SECONDS)
    except BadSignature:
        return None
    if not isinstance(payload, dict) or payload.get("u") != user.id:
        return None
    secret = payload.get("s")
    return secret if isinstance(secret, str) else None


def provisioning_uri(user: User, secret: str) -> str:
    issuer = current_app.config["UTILITY_NAME"]
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


def qr_data_uri(uri: str) -> str:
    """The QR code of the provisioning URI as a PNG ``data:`` URI (the CSP allows
    ``img-src data:``); 8 px a module, so that it stays sharp at 240 px on a phone's screen."""
    return png_data_uri(qr_png(uri.encode(), module_px=8))


def grouped_secret(secret: str) -> str:
    """``ABCDEFGH...`` → ``ABCD EFGH ...`` for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _matching_step(secret: str, typed: str, after: int | None, now: datetime) -> int | None:
    """The time step whose code ``typed`` is, if it is recent and later than ``after``."""
    if not looks_like_totp(typed):
        return None
    code = normalize_totp(typed)
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    found = None
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if after is not None and step <= after:
            continue
        # Compare every candidate, so the time taken does not say which one matched.
        if hmac.compare_digest(totp.generate_otp(step), code) and found is None:
            found = step
    return found


def enable(user: User, secret: str, typed: str) -> list[str] | None:
    """Turn two-factor sign-in on when ``typed`` is a current code of ``secret``.

    Returns the new recovery codes (to show once), or None when the code is wrong.
    """
    step = _matching_step(secret, typed, None, utcnow())
    if step is None:
        return None
    user.totp_secret = secret
    user.totp_last_step = step
    codes = new_recovery_codes()
    user.recovery_codes = [recovery_code_digest(code) for code in codes]
    audit.record("auth.two_factor_enabled", actor=user, obj=user)
    return codes


def disable(user: User, actor: User | None = None) -> None:
    user.totp_secret = None
    user.totp_last_step = None
    user.recovery_codes = []
    audit.record("auth.two_factor_disabled", actor=actor or user, obj=user)


def regenerate_recovery_codes(user: User) -> list[str]:
    codes = new_recovery_codes()
    user.recovery_codes = [recovery_code_digest(code) for code in codes]
    audit.record("auth.recovery_codes_renewed", actor=user, obj=user)
    return codes


def check_second_factor(user: User, typed: str) -> str | None:
    """How ``typed`` proves the second factor: ``"totp"``, ``"recovery_code"``, or None.

    A TOTP code is good once; a recovery code is crossed off when used.
    """
    if not user.has_two_factor or not typed:
        return None
    if looks_like_totp(typed):
        step = _matching_step(user.totp_secret, typed, user.totp_last_step, utcnow())
        if step is None or not _use_step(user, step):
            return None
        return "totp"
    if looks_like_recovery_code(typed):
        return "recovery_code" if _cross_off(user, recovery_code_digest(typed)) else None
    return None


def _cross_off(user: User, digest: str) -> bool:
    """Remove ``digest`` from the account's recovery codes, if it is still there. The list is
    read again under the row's lock: two requests sending the same code at once had read the
    same list, and both passed."""
    db.session.flush()  # keep what the request changed on the account (a password rehash)
    lock_row(User, user.id)
    remaining = list(user.recovery_codes or [])
    if digest not in remaining:
        return False
    remaining.remove(digest)
    user.recovery_codes = remaining
    return True


def _use_step(user: User, step: int) -> bool:
    """Note ``step`` as the account's last used one, unless another request has used it (or
    a later one) meanwhile. One conditional UPDATE: two requests sending the same code at
    once read the same earlier step, and both passed."""
    used = db.session.execute(
        sa.update(User)
        .where(
            User.id == user.id,
            sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    if used != 1:
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


def current_code(secret: str) -> str:
    """The code an app shows now (tests and the demo use it; never shown to users)."""
    return pyotp.TOTP(secret).now()
