"""Server-side sessions: the cookie carries a random id; this table says whether it is alive.

A sign-in of an account with two-factor sign-in happens in two steps. The password step
creates the session record with ``second_factor_done`` false and keeps its id under
``pending_session`` in the cookie, without signing in; the code step completes that same
record and only then signs in. ``load_user`` never accepts a record of a two-factor account
whose second step is not done.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cache
from typing import NamedTuple

import sqlalchemy as sa
from flask import after_this_request, current_app, g, request, session
from flask_login import login_user, logout_user

from ..extensions import db
from ..models import User, UserSession, utcnow

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
REMEMBER_FOR = timedelta(days=30)
TOUCH_EVERY = timedelta(seconds=60)
# Time to type the code from the authenticator app after the password.
SECOND_STEP_WITHIN = timedelta(minutes=5)
PENDING_KEY = "pending_session"
# How long a browser's device cookie (``note_device``) is kept. Session records last seen
# before that are deleted at the account's next sign-in: they ended long before.
DEVICE_REMEMBERED_FOR = timedelta(days=90)


def session_is_alive(record: UserSession, now: datetime) -> bool:
    if record.revoked_at is not None:
        return False
    if record.remember:
        return now - record.created_at < REMEMBER_FOR
    return now - record.last_seen_at < IDLE_TIMEOUT and now - record.created_at < ABSOLUTE_TIMEOUT


@cache
def _session_and_user() -> sa.Select:
    """Built once, the session id a parameter: every signed-in request runs it."""
    return (
        sa.select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.id == sa.bindparam("session_id"))
    )


def load_user(session_id: str) -> User | None:
    """Flask-Login's loader: session and user in one query; touches last_seen once a minute."""
    row = db.session.execute(_session_and_user(), {"session_id": session_id}).first()
    if row is None:
        return None
    record, user = row
    now = utcnow()
    if not session_is_alive(record, now) or user.locked_at is not None:
        return None
    if user.has_two_factor and not record.second_factor_done:
        return None
    last_seen = record.last_seen_at
    if not record.remember:
        g.session_ends = (last_seen + IDLE_TIMEOUT, record.created_at + ABSOLUTE_TIMEOUT)
    if now - last_seen > TOUCH_EVERY:
        db.session.execute(
            sa.update(UserSession).where(UserSession.id == record.id).values(last_seen_at=now)
        )
        db.session.commit()
        if not record.remember:
            g.session_ends = (now + IDLE_TIMEOUT, g.session_ends[1])
    user.session_id = record.id
    g.user_session = record
    return user


class TimeLeft(NamedTuple):
    """What the page's script needs to warn before the session ends (WCAG 2.2.1), in
    seconds: until it ends if nothing more is done, until it ends whatever is done, and what
    a later request gives at least (it is counted to the minute, ``TOUCH_EVERY``)."""

    left: int
    absolute: int
    after_activity: int


def time_left() -> TimeLeft | None:
    """This request's session's ``TimeLeft``; None for a remembered session (or none)."""
    ends = g.get("session_ends")
    if ends is None:
        return None
    now = utcnow()
    idle_end, absolute_end = ends
    return TimeLeft(
        max(0, int((min(idle_end, absolute_end) - now).total_seconds())),
        max(0, int((absolute_end - now).total_seconds())),
        int((IDLE_TIMEOUT - TOUCH_EVERY).total_seconds()),
    )


def _fresh_cookie() -> None:
    """Drop everything the cookie held before (but the chosen language)."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale


def _device() -> str:
    """A hash of this browser's device cookie. A browser without a well-formed one gets a new
    one; either way the answer sets it again for another ``DEVICE_REMEMBERED_FOR``."""
    name = current_app.config["DEVICE_COOKIE_NAME"]
    token = request.cookies.get(name, "")
    if len(token) != 43 or not token.isascii():
        token = secrets.token_urlsafe(32)

    @after_this_request
    def remember_device(response):
        response.set_cookie(
            name,
            token,
            max_age=int(DEVICE_REMEMBERED_FOR.total_seconds()),
            secure=current_app.config["SESSION_COOKIE_SECURE"],
            httponly=True,
            samesite="Lax",
        )
        return response

    return hashlib.sha256(token.encode()).hexdigest()


def _new_record(user: User, remember: bool, second_factor_done: bool) -> UserSession:
    now = utcnow()
    db.session.execute(
        sa.delete(UserSession).where(
            UserSession.user_id == user.id,
            UserSession.last_seen_at < now - DEVICE_REMEMBERED_FOR,
        )
    )
    record = UserSession(
        id=secrets.token_urlsafe(32),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        remember=remember and not user.is_staff,
        second_factor_done=second_factor_done,
        ip=request.remote_addr or "",
        user_agent=(request.user_agent.string or "")[:300],
        device=_device(),
    )
    db.session.add(record)
    db.session.flush()
    return record


def note_device(user: User, record: UserSession) -> bool:
    """Note the browser of ``record``'s completed sign-in; True when it has not signed in to
    this account in the last ``DEVICE_REMEMBERED_FOR`` (an account unused for longer: any
    browser). False at the account's first sign-in that records browsers (a new account, or
    every account right after the upgrade that brought devices in), which marks the account:
    there is nothing to compare with, and the notice would go to everyone. For a two-factor
    account only sign-ins that passed the second step count: a password alone must not make
    a browser known."""
    if not user.devices_recorded:
        user.devices_recorded = True
        return False
    earlier = sa.select(UserSession.device).where(
        UserSession.user_id == user.id,
        UserSession.id != record.id,
        UserSession.device.is_not(None),
    )
    if user.has_two_factor:
        earlier = earlier.where(UserSession.second_factor_done.is_(True))
    return record.device not in set(db.session.scalars(earlier))


def _sign_in(user: User, record: UserSession) -> None:
    user.session_id = record.id
    g.user_session = record
    login_user(user, remember=record.remember, duration=REMEMBER_FOR)
    session.permanent = True


def start_session(user: User, remember: bool = False) -> UserSession:
    """Sign ``user`` in under a fresh session id (the old cookie contents are dropped).

    Only for accounts without two-factor sign-in (``start_pending_session`` is the way in for
    the others): the record does not count as having passed a second step, so ``load_user``
    refuses it for a two-factor account.
    """
    _fresh_cookie()
    record = _new_record(user, remember, second_factor_done=False)
    _sign_in(user, record)
    return record


def start_pending_session(user: User, remember: bool = False) -> UserSession:
    """The password step of a two-factor sign-in: a fresh record, not signed in yet."""
    _fresh_cookie()
    record = _new_record(user, remember, second_factor_done=False)
    session[PENDING_KEY] = record.id
    session.permanent = True
    return record


def _pending_record() -> tuple[UserSession, User] | None:
    session_id = session.get(PENDING_KEY)
    if not isinstance(session_id, str):
        return None
    return db.session.execute(
        sa.select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.id == session_id)
    ).first()


def pending_session() -> tuple[UserSession, User] | None:
    """The half-done sign-in of this browser, if it is recent and still open."""
    row = _pending_record()
    if row is None:
        return None
    record, user = row
    now = utcnow()
    if (
        record.revoked_at is not None
        or record.second_factor_done
        or now - record.created_at >= SECOND_STEP_WITHIN
        or user.locked_at is not None
        or not user.has_two_factor
    ):
        return None
    return record, user


def complete_pending_session(record: UserSession, user: User) -> None:
    """The second step passed: the same record becomes a full session and the user is in."""
    now = utcnow()
    record.second_factor_done = True
    record.last_seen_at = now
    session.pop(PENDING_KEY, None)
    _sign_in(user, record)


def resume_completed_session() -> bool:
    """Sign in to the session whose second step this browser's pending sign-in passed
    already, if it is still alive; True when it did. "Continue" pressed twice without
    JavaScript sends the step twice with the cookie from before the first answer, and the
    browser keeps the second answer's cookie: the user the first one signed in was signed
    out again. The pending id is the session's id, as secret as the cookie of the session."""
    row = _pending_record()
    if row is None:
        return False
    record, user = row
    if (
        not record.second_factor_done
        or not session_is_alive(record, utcnow())
        or user.locked_at is not None
        or not user.has_two_factor
    ):
        return False
    session.pop(PENDING_KEY, None)
    _sign_in(user, record)
    return True


def drop_pending_session() -> None:
    """Forget a half-done sign-in (its record is revoked, if there is one)."""
    session_id = session.pop(PENDING_KEY, None)
    if isinstance(session_id, str):
        db.session.execute(
            sa.update(UserSession)
            .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


def end_session() -> None:
    """Revoke the current session record and clear the cookie."""
    record = g.get("user_session")
    if record is not None:
        db.session.execute(
            sa.update(UserSession).where(UserSession.id == record.id).values(revoked_at=utcnow())
        )
    drop_pending_session()
    logout_user()
    session.clear()


def current_session_id() -> str | None:
    record = g.get("user_session")
    return record.id if record is not None else None


def mark_second_factor_done() -> None:
    """After enrolling a second factor in this session: this session has passed it."""
    record = g.get("user_session")
    if record is not None:
        db.session.execute(
            sa.update(UserSession)
            .where(UserSession.id == record.id)
            .values(second_factor_done=True)
        )


def revoke_sessions(user: User, keep: str | None = None) -> int:
    """Revoke every live session of ``user`` but ``keep``; returns how many ended.

    The browsers of all those sessions, ended ones too, are not "known" any more
    (``note_device``): after a password change, a reset or a lock, a stranger who had
    signed in and out before is told to the account again at their next sign-in."""
    others = sa.update(UserSession).where(UserSession.user_id == user.id)
    if keep:
        others = others.where(UserSession.id != keep)
    ended = db.session.execute(
        others.where(UserSession.revoked_at.is_(None)).values(revoked_at=utcnow())
    ).rowcount
    db.session.execute(others.where(UserSession.device.is_not(None)).values(device=None))
    return ended


def active_sessions(user: User) -> list[UserSession]:
    """The user's sessions that would still be accepted, newest activity first."""
    now = utcnow()
    records = db.session.scalars(
        sa.select(UserSession)
        .where(
            UserSession.user_id == user.id,
            UserSession.revoked_at.is_(None),
            UserSession.created_at > now - max(REMEMBER_FOR, ABSOLUTE_TIMEOUT),
        )
        .order_by(UserSession.last_seen_at.desc())
    ).all()
    return [
        record
        for record in records
        if session_is_alive(record, now) and (record.second_factor_done or not user.has_two_factor)
    ]


def session_handle(session_id: str) -> str:
    """What the sessions page names a session by. The id itself is what the signed cookie
    carries, so it stays out of pages, URLs and access logs; a hash cannot be turned back."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:32]


def revoke_one(user: User, handle: str) -> bool:
    """Revoke the live session of ``user`` that ``handle`` names (not another user's, not the
    current one); True when it was live."""
    candidates = db.session.scalars(
        sa.select(UserSession.id).where(
            UserSession.user_id == user.id,
            UserSession.revoked_at.is_(None),
            UserSession.id != current_session_id(),
        )
    )
    session_id = next((sid for sid in candidates if session_handle(sid) == handle), None)
    if session_id is None:
        return False
    db.session.execute(
        sa.update(UserSession)
        .where(UserSession.id == session_id)
        .values(revoked_at=utcnow(), device=None)  # as revoke_sessions
    )
    return True
