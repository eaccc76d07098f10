"""Server-side sessions: the cookie carries a random id; this table says whether it is alive."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import g, request, session
from flask_login import login_user, logout_user

from ..extensions import db
from ..models import User, UserSession, utcnow

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
REMEMBER_FOR = timedelta(days=30)
TOUCH_EVERY = timedelta(seconds=60)


def session_is_alive(record: UserSession, now: datetime) -> bool:
    if record.revoked_at is not None:
        return False
    if record.remember:
        return now - record.created_at < REMEMBER_FOR
    return now - record.last_seen_at < IDLE_TIMEOUT and now - record.created_at < ABSOLUTE_TIMEOUT


def load_user(session_id: str) -> User | None:
    """Flask-Login's loader: session and user in one query; touches last_seen once a minute."""
    row = db.session.execute(
        sa.select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.id == session_id)
    ).first()
    if row is None:
        return None
    record, user = row
    now = utcnow()
    if not session_is_alive(record, now) or user.locked_at is not None:
        return None
    if now - record.last_seen_at > TOUCH_EVERY:
        db.session.execute(
            sa.update(UserSession).where(UserSession.id == record.id).values(last_seen_at=now)
        )
        db.session.commit()
    user.session_id = record.id
    g.user_session = record
    return user


def start_session(user: User, remember: bool = False) -> UserSession:
    """Sign ``user`` in under a fresh session id (the old cookie contents are dropped)."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    record = UserSession(
        id=secrets.token_urlsafe(32),
        user_id=user.id,
        remember=remember and not user.is_staff,
        ip=request.remote_addr or "",
        user_agent=(request.user_agent.string or "")[:300],
    )
    db.session.add(record)
    db.session.flush()
    user.session_id = record.id
    login_user(user, remember=record.remember, duration=REMEMBER_FOR)
    session.permanent = True
    return record


def end_session() -> None:
    """Revoke the current session record and clear the cookie."""
    record = g.get("user_session")
    if record is not None:
        db.session.execute(
            sa.update(UserSession).where(UserSession.id == record.id).values(revoked_at=utcnow())
        )
    logout_user()
    session.clear()


def revoke_sessions(user: User, keep: str | None = None) -> int:
    """Revoke every live session of ``user`` but ``keep``; returns how many ended."""
    query = sa.update(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
    )
    if keep:
        query = query.where(UserSession.id != keep)
    return db.session.execute(query.values(revoked_at=utcnow())).rowcount
