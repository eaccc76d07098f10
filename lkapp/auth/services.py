"""Account use cases: they add and flush, the view commits (and sends the mail).

Nothing here may tell an email with an account from one without: the same work is done
either way (a dummy password check, the same counting of failures), and the callers answer
with the same page.
"""

from __future__ import annotations

import contextlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from ..domain import accounts as rules
from ..electricity.services import detach_contract
from ..extensions import db
from ..models import AuditEvent, User, UserSession, utcnow
from ..security import DUMMY_PASSWORD_HASH, hash_password, keyed_digest, needs_rehash
from ..security import verify_password as _verify_password
from ..services import audit
from . import sessions

LOCK_AFTER_FAILURES = rules.LOCK_AFTER
AUTO_LOCK = "failed_logins"
STAFF_LOCK = "staff"
CLOSED = rules.CLOSED  # by the customer (close_account): nothing lifts it; User.is_closed


def normalize_email(email: str) -> str:
    """An address as it is stored and looked up: no surrounding spaces, the domain in lower
    case and in its one IDNA spelling. A domain's letter case never matters, in any script
    ("info@Пример.рф"), and SQLite's ``lower()`` knows ASCII letters only; nor do the other
    ways of typing one domain that the email check accepts and mail reaches alike:
    punycode ("xn--e1afmkfd.xn--p1ai"), full-width letters or the "。" of an Asian keyboard
    ("example。com"). The part before the @ is kept as typed."""
    local, at, domain = email.strip().rpartition("@")
    return f"{local}{at}{rules.unicode_domain(domain)}" if at else email.strip()


def _spellings(email: str) -> list[str]:
    """``normalize_email``'s address, and how an account of it may have been stored before
    the domain had one spelling: as typed (lower-cased), and in punycode."""
    canonical = normalize_email(email)
    local, at, domain = canonical.rpartition("@")
    spellings = [canonical]
    if at:
        spellings.append(f"{local}@{email.strip().rpartition('@')[2].lower()}")
        with contextlib.suppress(ValueError):
            spellings.append(f"{local}@{rules.ascii_domain(domain)}")
    return list(dict.fromkeys(spellings))


def find_user_by_email(email: str) -> User | None:
    """The account of ``email`` in any letter case and any spelling of its domain. Both
    sides go through the database's own ``lower()``, as the unique index on ``lower(email)``
    does: SQLite's knows ASCII only, and against Python's ``str.lower`` an address with a
    capital "Ü" never matched, not even typed as registered. The domain comes lower-cased by
    ``normalize_email``, so its case matters in no script. Should two accounts have one
    address in two spellings (stored before the domain had one), the older one is it."""
    spellings = [sa.func.lower(spelling) for spelling in _spellings(email)]
    return db.session.scalar(
        sa.select(User).where(sa.func.lower(User.email).in_(spellings)).order_by(User.id).limit(1)
    )


# --- registration -------------------------------------------------------------------------


@dataclass
class Registration:
    user: User | None  # the new account, or None when the email had one already
    existing: User | None  # the account that owns the email already


def register(
    email: str, password: str, name: str, tax_id: str, phone: str, locale: str
) -> Registration:
    """Create an unconfirmed customer account, unless the email has one (then nothing changes).

    Both ways hash the password, so the time taken does not tell them apart.
    """
    email = normalize_email(email)
    password_hash = hash_password(password)
    existing = find_user_by_email(email)
    if existing is not None:
        audit.record("auth.register_existing", obj=existing)
        return Registration(None, existing)
    user = User(
        email=email,
        password_hash=password_hash,
        name=name.strip(),
        tax_id=tax_id.strip(),
        phone=phone.strip(),
        role="customer",
        locale=locale,
    )
    db.session.add(user)
    db.session.flush()  # the unique index on lower(email) speaks here when two race
    audit.record("auth.registered", actor=user, obj=user)
    return Registration(user, None)


def confirm_email(user: User, keep_session: str | None = None) -> int:
    """The confirmation link was opened: the address is the account's. The first time, every
    session but ``keep_session`` (the one that opened the link) ends: until now anyone who
    knew the business's public tax ID could have registered the address and signed in.
    Returns how many ended."""
    first = user.confirmed_at is None
    user.confirmed_at = utcnow()
    ended = sessions.revoke_sessions(user, keep=keep_session) if first else 0
    audit.record(
        "auth.email_confirmed", actor=user, obj=user, email=user.email, sessions_ended=ended
    )
    return ended


# --- sign-in ------------------------------------------------------------------------------


def _email_key(email: str) -> str:
    """How failures of an email without an account are filed (a keyed hash, not the email).
    The address is lower-cased by the database, as ``find_user_by_email`` compares: with
    Python's ``str.lower`` (which turns the Kelvin sign U+212A into "k", where SQLite's ``lower()``
    knows ASCII alone) "Kate@…" shared the count of "kate@…" only when that had no account,
    and the captcha told which addresses had one."""
    folded = db.session.scalar(sa.select(sa.func.lower(normalize_email(email))))
    return keyed_digest(current_app.config["SECRET_KEY"], "login:" + folded)[:40]


def _failures_without_account(email: str, now) -> int:
    times = db.session.scalars(
        sa.select(AuditEvent.created_at)
        .where(
            AuditEvent.object_type == "email",
            AuditEvent.object_id == _email_key(email),
            AuditEvent.action == "auth.login_failed",
        )
        .order_by(AuditEvent.created_at.desc())
        .limit(rules.LOCK_AFTER + 1)
    ).all()
    return rules.failures_from_times(times, now)


def failures_for(email: str) -> int:
    """Failed sign-ins of this email that still count (accounts and non-accounts alike)."""
    now = utcnow()
    user = find_user_by_email(email)
    if user is None:
        return _failures_without_account(email, now)
    return rules.failures_now(user.failed_logins, user.last_failed_login_at, now)


@dataclass
class SignIn:
    user: User | None  # set when the password matched an account that may sign in
    failures: int  # failures of this email after this attempt
    locked: User | None = None  # the account this attempt locked (its owner gets a mail)


def authenticate(email: str, password: str) -> SignIn:
    """Check the password; a failure is counted (and may lock). Same work either way.

    A success does not finish the sign-in: ``signed_in`` does, after a second factor when
    the account has one.
    """
    user = find_user_by_email(email)
    now = utcnow()
    if user is None:
        _verify_password(DUMMY_PASSWORD_HASH, password)
        failures = _failures_without_account(email, now) + 1
        event = audit.record("auth.login_failed", email=email.strip().lower())
        event.object_type, event.object_id = "email", _email_key(email)
        return SignIn(None, failures)
    if _verify_password(user.password_hash, password) and user.locked_at is None:
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        return SignIn(user, rules.failures_now(user.failed_logins, user.last_failed_login_at, now))
    locked = count_failure(user)
    return SignIn(None, user.failed_logins, user if locked else None)


def notifiable():
    """SQL: the accounts the daily notices may write to. A confirmed address (an unconfirmed
    one may be anyone's), and no lock by the office (which may lock an account because its
    mailbox is in dispute); a lock after failed sign-ins guards the sign-in, not the mailbox."""
    return sa.and_(
        User.confirmed_at.is_not(None),
        sa.or_(User.locked_at.is_(None), User.locked_reason.not_in((STAFF_LOCK, CLOSED))),
    )


def may_be_written_to(user: User) -> bool:
    """``notifiable`` for one account: mail the account did not ask for goes only where it
    may. (A closed account has no address left.)"""
    return user.confirmed_at is not None and (
        user.locked_at is None or user.locked_reason not in (STAFF_LOCK, CLOSED)
    )


def barred(user: User) -> bool:
    """Locked in a way only the office lifts (its lock, or an old lock without a reason), or
    closed by its customer. Such an account is offered no password reset, and no reset or
    email-change link of it works (``tokens``): the office may have locked it because its
    mailbox or password is in other hands. A lock after failed sign-ins is not one of them:
    a reset is how its customer lifts it."""
    return user.locked_at is not None and user.locked_reason != AUTO_LOCK


def count_failure(user: User, action: str = "auth.login_failed", **details) -> bool:
    """Count a failed proof of identity (password or code); True when it locked the account."""
    now = utcnow()
    user.failed_logins = rules.failures_after_one_more(
        user.failed_logins, user.last_failed_login_at, now
    )
    user.last_failed_login_at = now
    audit.record(action, obj=user, failures=user.failed_logins, **details)
    if rules.blocked(user.failed_logins) and user.locked_at is None:
        user.locked_at = now
        user.locked_reason = AUTO_LOCK
        sessions.revoke_sessions(user)
        audit.record("auth.locked", obj=user, reason=AUTO_LOCK, failures=user.failed_logins)
        return True
    return False


def wrong_codes_since(user: User, since: datetime) -> int:
    """How many wrong second-step codes the account had since ``since`` (a sign-in's start)."""
    db.session.flush()
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.object_type == "User",
            AuditEvent.object_id == str(user.id),
            AuditEvent.action == "auth.two_factor_failed",
            AuditEvent.created_at >= since,
        )
    )


def signed_in(user: User, second_factor: str | None = None) -> None:
    """The sign-in is complete: the failure count starts again."""
    user.failed_logins = 0
    if second_factor:
        audit.record("auth.login", actor=user, obj=user, second_factor=second_factor)
    else:
        audit.record("auth.login", actor=user, obj=user)


def check_password(user: User, password: str, action: str = "auth.reauth_failed") -> bool:
    """The current password again (before a sensitive change); a wrong one counts as a failure.

    Returns False for a locked account too.
    """
    if _verify_password(user.password_hash, password) and user.locked_at is None:
        return True
    count_failure(user, action)
    return False


# --- passwords ----------------------------------------------------------------------------


def _set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()


# Each request needs a solved captcha, but its limit is per IP: from many IPs the reset mail
# could flood one mailbox. An account gets a few a day, and then one more only once the last
# link it was mailed has stopped working (a link works for an hour, until a password is set):
# whoever used up the day's mails (anyone who knows the address and the public tax ID) must
# not keep its customer from a reset for the rest of the day. The others are on record as not
# mailed, and the page answers the same either way.
RESET_MAILS_PER_DAY = 5


@dataclass
class ResetRequest:
    user: User  # the account to mail a reset link to
    tax_id: str = ""  # the tax ID the link gives the account when it is used ("": none)


def request_password_reset(email: str, tax_id: str) -> ResetRequest | None:
    """The account to mail a reset link to now, else None: its email matches, it may reset,
    its cap of reset mails is not used up, and its tax ID matches, or was never proven.

    A never-confirmed account's tax ID is only what whoever registered the address typed
    (they could not confirm it: the link went to the mailbox), so its owner, typing the true
    one, would never get a link. For it the mailbox is the proof: the link goes on the email
    alone and carries the tax ID typed here, which becomes the account's when the link is
    used (``reset_password``). One that is not a valid tax ID gets no link. A confirmed
    account keeps needing the matching tax ID."""
    user = find_user_by_email(email)
    given = rules.normalize_tax_id(tax_id)
    stored = rules.normalize_tax_id(user.tax_id) if user is not None else "\x00"
    matched = bool(
        user is not None
        and stored
        and hmac.compare_digest(stored.encode(), given.encode())
        and not barred(user)
    )
    claimed = not matched and _may_claim(user, tax_id)
    if matched or claimed:
        mailed, last = _reset_mails_of_last_day(user)
        if mailed >= RESET_MAILS_PER_DAY and _reset_link_works(user, last):
            audit.record(
                "auth.reset_not_mailed", obj=user, reason=f"{mailed} reset mails in 24 hours"
            )
            return None
        if claimed:
            audit.record("auth.reset_requested", actor=user, obj=user, tax_id=tax_id.strip())
            return ResetRequest(user, tax_id.strip())
        audit.record("auth.reset_requested", actor=user, obj=user)
        return ResetRequest(user)
    audit.record(
        "auth.reset_requested",
        obj=user,
        email=email.strip().lower(),
        matched=False,
    )
    return None


def _may_claim(user: User | None, tax_id: str) -> bool:
    """Whether ``user`` gets a reset link on its email alone, one that gives it ``tax_id``: a
    customer account whose address was never confirmed, and a tax ID registration would
    take."""
    return bool(
        user is not None
        and user.role == "customer"
        and user.confirmed_at is None
        and not barred(user)
        and rules.tax_id_is_valid(tax_id)
    )


def tax_id_from_link(user: User, tax_id: str) -> str:
    """The tax ID a reset link (``request_password_reset``) gives ``user`` if used now: the
    one it carries while the address is still unconfirmed and the account has another one,
    else "". Once confirmed (only from the mailbox), the account's tax ID is proven and only
    the office changes it; the link still sets the password."""
    if not tax_id or user.confirmed_at is not None:
        return ""
    if rules.normalize_tax_id(tax_id) == rules.normalize_tax_id(user.tax_id):
        return ""
    return tax_id


def _reset_mails_of_last_day(user: User) -> tuple[int, datetime | None]:
    """How many reset links ``user`` was mailed in the last 24 hours, and when the last one."""
    return db.session.execute(
        sa.select(sa.func.count(AuditEvent.id), sa.func.max(AuditEvent.created_at)).where(
            AuditEvent.action == "auth.reset_requested",
            AuditEvent.actor_id == user.id,
            AuditEvent.created_at >= utcnow() - timedelta(days=1),
        )
    ).one()


def _reset_link_works(user: User, mailed_at: datetime | None) -> bool:
    """Whether the reset link mailed at ``mailed_at`` works still (``tokens``)."""
    from .tokens import RESET_FOR  # tokens imports this module

    changed = user.password_changed_at
    return (
        mailed_at is not None
        and mailed_at > utcnow() - RESET_FOR
        and (changed is None or changed < mailed_at)
    )


def reset_password(user: User, password: str, tax_id: str = "", link: str = "") -> bool:
    """A new password from a reset link: every session ends, a failure lock is lifted.
    Returns True when it also confirmed the address.

    The link came to the account's mailbox, which confirms an unconfirmed address too. Such
    an account may have been registered by someone else (the tax ID of a business is
    public), so its second factor, if any, goes as well: it may be theirs, and the owner of
    the mailbox would be asked for it at every sign-in. The tax ID the link carries
    (``tax_id_from_link``) replaces the one typed at registration. ``link``: which link it
    was (``tokens.link_digest``), to know its form sent a second time."""
    tax_id = tax_id_from_link(user, tax_id)
    _set_password(user, password)
    user.failed_logins = 0
    user.last_failed_login_at = None
    if user.locked_at is not None and user.locked_reason == AUTO_LOCK:
        user.locked_at = None
        user.locked_reason = ""
    confirmed = user.confirmed_at is None
    if confirmed:
        user.confirmed_at = utcnow()
        if user.totp_secret is not None or user.totp_last_step is not None or user.recovery_codes:
            user.totp_secret = None
            user.totp_last_step = None
            user.recovery_codes = []
            audit.record("auth.two_factor_disabled", actor=user, obj=user, by="reset")
        if tax_id:
            audit.record(
                "auth.tax_id_changed", actor=user, obj=user, old=user.tax_id, new=tax_id, by="reset"
            )
            user.tax_id = tax_id
        audit.record("auth.email_confirmed", actor=user, obj=user, email=user.email, by="reset")
    sessions.revoke_sessions(user)
    audit.record("auth.password_reset", actor=user, obj=user, link=link)
    return confirmed


# How long after a password change the same form sent again (a double click, a reload of the
# answer) is recognised as the change already made, rather than a wrong current password.
RESENT_FORM = timedelta(minutes=10)


def password_just_set(user: User, new_password: str, current_password: str) -> bool:
    """True when ``new_password`` is the one set by a change a moment ago and the "current"
    one typed with it no longer is: the same form sent a second time. Whoever types the
    account's password learns nothing from this, and it is no failed attempt."""
    changed = user.password_changed_at
    return (
        changed is not None
        and utcnow() - changed < RESENT_FORM
        and user.locked_at is None
        and new_password != current_password
        and _verify_password(user.password_hash, new_password)
    )


def change_password(user: User, password: str, keep_session: str | None) -> int:
    """A new password from the profile; every other session ends. Returns how many ended."""
    _set_password(user, password)
    ended = sessions.revoke_sessions(user, keep=keep_session)
    audit.record("auth.password_changed", actor=user, obj=user, sessions_ended=ended)
    return ended


# A link asked for again within this time is the same request sent twice (a double click,
# Back and Send, a second tab): the first one's mail is on its way, and a second mail with
# another link only leaves its reader asking which one works. Asked for later, a new one goes.
ASKED_AGAIN_WITHIN = timedelta(minutes=1)


def just_asked(action: str, user: User, **details) -> bool:
    """True when ``action`` was recorded on ``user`` within ``ASKED_AGAIN_WITHIN``, with these
    ``details``. The caller holds the user's row (``lock_row``): two requests at once then
    check one after the other, and the second finds the first."""
    event = audit.latest(action, user, utcnow() - ASKED_AGAIN_WITHIN)
    return event is not None and all(
        event.details.get(key) == str(value) for key, value in details.items()
    )


# --- email change -------------------------------------------------------------------------


@dataclass
class EmailChange:
    free: bool  # no other account has the new address: a confirmation link goes there
    owner: User | None  # the other account that has it (it gets a notice instead)


EMAIL_CHANGES_PER_DAY = 5


def email_changes_left(user: User) -> int:
    """How many more email changes ``user`` may ask for now. Each one mails an address the
    user typed, so an account (even an unconfirmed one, whose email may be wrong) gets a few
    a day, not as many as the per-IP limit lets through."""
    asked = _events_of_last_day("auth.email_change_requested", AuditEvent.actor_id == user.id)
    return max(EMAIL_CHANGES_PER_DAY - asked, 0)


# An unconfirmed account's address may be anyone's: from many IPs, whoever registered it
# could have it mailed new confirmation links without end.
CONFIRMATIONS_PER_DAY = 10


def confirmations_left(user: User) -> int:
    """How many more confirmation links ``user`` may ask for now (those the office sends do
    not count). Kept on the audit trail, as every counter that guards a mailbox is: a rate
    limit in memory counts per worker and starts again at each restart."""
    asked = _events_of_last_day("auth.confirmation_resent", AuditEvent.actor_id == user.id)
    return max(CONFIRMATIONS_PER_DAY - asked, 0)


def _events_of_last_day(action: str, *where) -> int:
    since = utcnow() - timedelta(days=1)
    return db.session.scalar(
        sa.select(sa.func.count(AuditEvent.id)).where(
            AuditEvent.action == action, AuditEvent.created_at >= since, *where
        )
    )


# "Someone tried to register with your email address" goes to an address whoever registers
# it again chooses, from any number of IPs (registration has no captcha; its limit is per
# IP): an address gets a few a day. The page answers the same either way.
ACCOUNT_EXISTS_MAILS_PER_DAY = 5
# Nor right after the account's own registration: "Register" pressed twice sends the form
# twice, and its owner, who has just got the confirmation link, read "someone tried to
# register with your address" beside it.
JUST_REGISTERED = timedelta(minutes=10)


def may_mail_account_exists(user: User) -> bool:
    """Whether the registration just recorded for ``user``'s address may still mail it."""
    if user.confirmed_at is None and user.created_at > utcnow() - JUST_REGISTERED:
        return False
    recorded = _events_of_last_day(
        "auth.register_existing",
        AuditEvent.object_type == "User",
        AuditEvent.object_id == str(user.id),
    )
    return recorded <= ACCOUNT_EXISTS_MAILS_PER_DAY


def request_email_change(user: User, new_email: str) -> EmailChange:
    owner = find_user_by_email(new_email)
    audit.record(
        "auth.email_change_requested",
        actor=user,
        obj=user,
        new_email=new_email.strip(),
        free=owner is None,
    )
    return EmailChange(owner is None, owner)


def change_email(user: User, new_email: str) -> bool:
    """Set the confirmed new email; False when another account took it in between.

    confirmed_at is set anew every time: email-change links fingerprint it (``tokens``), so
    that a change kills the links issued before it even when the address comes back.
    """
    new_email = normalize_email(new_email)
    owner = find_user_by_email(new_email)
    if owner is not None and owner.id != user.id:
        return False
    old = user.email
    user.email = new_email
    user.confirmed_at = utcnow()
    audit.record("auth.email_changed", actor=user, obj=user, old=old, new=new_email)
    return True


# --- profile ------------------------------------------------------------------------------


def update_profile(user: User, **values) -> list[str]:
    """Set name, phone, locale and notification choices; returns the names that changed."""
    changed = []
    for name, value in values.items():
        if getattr(user, name) != value:
            setattr(user, name, value)
            changed.append(name)
    if changed:
        audit.record("auth.profile_updated", actor=user, obj=user, fields=",".join(changed))
    return changed


# --- staff actions ------------------------------------------------------------------------


def close_account(user: User) -> None:
    """The customer closes the account: its contracts are detached, and what identified them
    goes (email, name, tax ID, phone, password, second factor, the sessions with their
    addresses and browsers), so the address may register again. The row stays, anonymous, for
    the audit trail and the questions the office answered."""
    for contract in list(user.contracts):
        detach_contract(contract, user, reason="account closed")
    audit.record("auth.account_closed", actor=user, obj=user)
    db.session.execute(sa.delete(UserSession).where(UserSession.user_id == user.id))
    user.email = f"closed-{user.id}@closed.invalid"
    user.name = ""
    user.tax_id = ""
    user.phone = ""
    user.password_hash = "!"  # noqa: S105  (not a password: no argon2 hash, matches none)
    user.totp_secret = None
    user.totp_last_step = None
    user.recovery_codes = []
    user.notify_documents = user.notify_debt = user.notify_readings = False
    user.locked_at = utcnow()
    user.locked_reason = CLOSED


def lock_account(user: User, actor: User) -> None:
    """Staff lock: only staff lift it (a password reset does not); every session ends."""
    user.locked_at = utcnow()
    user.locked_reason = STAFF_LOCK
    sessions.revoke_sessions(user)
    audit.record("auth.locked", actor=actor, obj=user, reason=STAFF_LOCK)


def unlock_account(user: User, actor: User) -> None:
    """Staff unlock: lifts any lock and clears the failure count."""
    user.locked_at = None
    user.locked_reason = ""
    user.failed_logins = 0
    user.last_failed_login_at = None
    audit.record("auth.unlocked", actor=actor, obj=user)
