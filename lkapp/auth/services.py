"""Account use cases: they add and flush, the view commits."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from ..extensions import db
from ..models import User, utcnow
from ..security import DUMMY_PASSWORD_HASH, verify_password
from ..services import audit

LOCK_AFTER_FAILURES = 20


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(
        sa.select(User).where(sa.func.lower(User.email) == email.strip().lower())
    )


def authenticate(email: str, password: str) -> User | None:
    """The user whose email and password match, or None; same work either way."""
    user = find_user_by_email(email)
    if user is None:
        verify_password(DUMMY_PASSWORD_HASH, password)
        audit.record("auth.login_failed", email=email.strip().lower())
        return None
    if not verify_password(user.password_hash, password) or user.locked_at is not None:
        _count_failure(user)
        return None
    user.failed_logins = 0
    audit.record("auth.login", actor=user, obj=user)
    return user


def _count_failure(user: User) -> None:
    now = utcnow()
    if user.last_failed_login_at and now - user.last_failed_login_at > timedelta(days=1):
        user.failed_logins = 0
    user.failed_logins += 1
    user.last_failed_login_at = now
    audit.record("auth.login_failed", actor=user, obj=user, failures=user.failed_logins)
    if user.failed_logins >= LOCK_AFTER_FAILURES and user.locked_at is None:
        user.locked_at = now
        audit.record("auth.locked", actor=user, obj=user)
