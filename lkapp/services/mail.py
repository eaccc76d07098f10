"""The mail outbox: every message is a row first, written in the caller's transaction.

After the request commits, ``deliver_queued`` sends what this request queued; what fails stays
in the outbox with its error, and ``flask --app lkapp outbox send`` (every 5 minutes) tries it
again, through a mail server's outage of up to three days (``GIVE_UP_AFTER``); then the mail is
given up, with an error in the log and a figure on the back office's start page. A refusal
that says the mail will never be taken (a 5xx answer to its recipient or its content) gives it
up at once. Each sender first takes hold of the mail it sends (``_claim``), so the timer,
``notify``, requests and several servers never send one mail twice.
"""

from __future__ import annotations

import logging
import smtplib
from base64 import b64encode
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr
from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app, g, render_template
from flask_babel import force_locale
from flask_mail import Connection

from ..domain.accounts import ascii_domain
from ..extensions import db
from ..models import OutboxMail, utcnow

log = logging.getLogger(__name__)
GIVE_UP_AFTER = timedelta(days=3)
HOLD = timedelta(minutes=15)  # a sender's hold on the mail it sends; then another may try
PAUSE = timedelta(minutes=5)  # after the server failed, requests leave their mail to the timer
UNAVAILABLE = "Mail server unavailable: "
SUBJECT_LENGTH = OutboxMail.__table__.c.subject.type.length
# How long `outbox prune` keeps mail sent or given up unless told otherwise (the office's list
# of a customer's mail says so).
KEPT_DAYS = 30


def one_click_unsubscribe(link: str | None) -> dict | None:
    """The headers of a notice that its link turns off (RFC 8058), kept with the mail
    (``OutboxMail.headers``); None without an absolute link to put in them."""
    if not link:
        return None
    return {
        "List-Unsubscribe": f"<{link}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def queue_mail(
    recipient: str,
    subject,
    template: str,
    locale: str = "en",
    headers: dict | None = None,
    **context,
) -> OutboxMail:
    """Render ``email/<template>.txt`` and ``.html`` in ``locale`` and add them to the outbox
    (a subject longer than its column is cut with an ellipsis: PostgreSQL refuses it whole),
    with ``headers`` beyond the usual ones (``one_click_unsubscribe``)."""
    with force_locale(locale):
        subject = str(subject)  # a lazy text: in the recipient's language
        if len(subject) > SUBJECT_LENGTH:
            subject = subject[: SUBJECT_LENGTH - 1] + "…"
        message = OutboxMail(
            recipient=recipient,
            subject=subject,
            body_text=render_template(f"email/{template}.txt", **context),
            body_html=render_template(f"email/{template}.html", **context),
            headers=headers,
        )
    db.session.add(message)
    db.session.flush()
    g.setdefault("outbox_ids", []).append(message.id)
    return message


def deliver_queued(response):
    """after_request: send the mail this request queued, if its transaction committed.

    Not while the mail server is failing (a try failed in the last ``PAUSE``): each request
    would wait ``MAIL_TIMEOUT`` for it; the next ``outbox send`` tries instead."""
    ids = g.pop("outbox_ids", None)
    if ids and mail_configured():
        if _failing_lately():
            log.info("Mail %s left for outbox send: the mail server failed lately", ids)
        else:
            _deliver(_claim(ids))
    elif ids:
        _log_unsent(ids)
    return response


class Delivery(NamedTuple):
    sent: int = 0
    kept: int = 0  # failed, tried again at the next pass
    given_up: int = 0

    def __add__(self, other):
        return Delivery(*(a + b for a, b in zip(self, other, strict=True)))


def send_pending(batch: int = 500) -> Delivery:
    """One pass over the mail that is due, oldest first."""
    total = Delivery()
    last_id = 0
    while True:
        ids = sa.select(OutboxMail.id).where(OutboxMail.id > last_id).order_by(OutboxMail.id)
        ids = db.session.scalars(ids.where(_due(utcnow())).limit(batch)).all()
        if not ids:
            return total
        last_id = ids[-1]
        total += _deliver(_claim(ids))


def prune_outbox(older_than: timedelta, batch: int = 2000) -> int:
    """Delete the mail sent or given up more than ``older_than`` ago; returns how many.

    Sent mail is a copy of what went out: names, amounts, links. Nothing reads it again, and a
    monthly notice to every account would make it the largest table within a year. Deleted in
    batches, each its own transaction, so that requests do not wait behind one long delete
    (SQLite has one writer)."""
    cutoff = utcnow() - older_than
    done = sa.or_(OutboxMail.sent_at < cutoff, OutboxMail.given_up_at < cutoff)
    removed = 0
    while True:
        ids = db.session.scalars(sa.select(OutboxMail.id).where(done).limit(batch)).all()
        if not ids:
            return removed
        db.session.execute(sa.delete(OutboxMail).where(OutboxMail.id.in_(ids)))
        db.session.commit()
        removed += len(ids)


def mail_configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def _failing_lately() -> bool:
    failed = sa.select(OutboxMail.id).where(
        OutboxMail.sent_at.is_(None),
        OutboxMail.given_up_at.is_(None),
        OutboxMail.last_error.startswith(UNAVAILABLE),  # not one mail refused: the server
        OutboxMail.last_attempt_at >= utcnow() - PAUSE,
    )
    return db.session.execute(failed.limit(1)).first() is not None


def _due(now: datetime):
    return sa.and_(
        OutboxMail.sent_at.is_(None),
        OutboxMail.given_up_at.is_(None),
        sa.or_(OutboxMail.held_until.is_(None), OutboxMail.held_until <= now),
    )


def _claim(ids: list[int]) -> list[OutboxMail]:
    """Take hold of the mail among ``ids`` that is due and that no other sender
    holds, for ``HOLD``; committed at once, so another sender skips it. On PostgreSQL a second
    sender's UPDATE waits for the first's commit and then finds the mail held; SQLite writes
    one at a time."""
    now = utcnow()
    table = OutboxMail.__table__
    held = db.session.execute(
        sa.update(table)
        .where(table.c.id.in_(ids), _due(now))
        .values(held_until=now + HOLD)
        .returning(table.c.id)
    )
    held = sorted(held.scalars())
    db.session.commit()
    if not held:
        return []
    return db.session.scalars(
        sa.select(OutboxMail).where(OutboxMail.id.in_(held)).order_by(OutboxMail.id)
    ).all()


def _log_unsent(ids: list[int]) -> None:
    """Without a mail server the mail stays queued, and the log shows it: whole in development
    (the links to follow), only its address and subject in production, where the links would
    let anyone who reads the log into the accounts."""
    whole = current_app.config["ENV"] != "production"
    for message in db.session.scalars(sa.select(OutboxMail).where(OutboxMail.id.in_(ids))):
        log.info(
            "Mail %s kept in the outbox (no LKAPP_MAIL_SERVER) to %s: %s%s",
            message.id,
            message.recipient,
            message.subject,
            "\n" + message.body_text if whole else "",
        )


class _Hold:
    """This sender's hold on the mail it claimed, kept while the pass goes on.

    A pass may outlast ``HOLD`` (a slow mail server, a long batch); then another sender
    takes the mail as abandoned. So before the hold runs out the pass stops for a moment
    (``keep``): it commits what it sent so far and holds the rest for another ``HOLD``, only
    where its own hold is still the mail's (``held_until`` as it set it)."""

    def __init__(self, messages: list[OutboxMail]):
        self.until = messages[0].held_until if messages else None
        self.ids = {message.id for message in messages}

    def keep(self, pending: list[OutboxMail]) -> set[int]:
        """The ids of ``pending`` still held by this sender (all of them, while the hold is
        far from its end)."""
        now = utcnow()
        if self.until is None or now < self.until - HOLD / 2:
            return self.ids
        table = OutboxMail.__table__
        renewed = db.session.execute(
            sa.update(table)
            .where(
                table.c.id.in_([message.id for message in pending]),
                table.c.held_until == self.until,
                table.c.sent_at.is_(None),
            )
            .values(held_until=now + HOLD)
            .returning(table.c.id)
        )
        self.ids = set(renewed.scalars())
        self.until = now + HOLD
        db.session.commit()  # with the results so far: no other sender sends those again
        return self.ids


def _deliver(messages: list[OutboxMail]) -> Delivery:
    """Send ``messages`` (held by this sender) on one connection."""
    if not messages:
        return Delivery()
    hold = _Hold(messages)
    tried = []  # the messages this pass tried to send
    settled = set()  # the messages this pass sent or had refused
    try:
        with _TimedConnection(current_app.extensions["mail"]) as connection:
            for index, message in enumerate(messages):
                if message.id not in hold.keep(messages[index:]):
                    continue  # the hold ran out and another sender has it
                _attempt(message, tried)
                try:
                    if connection.host is not None:  # None: MAIL_SUPPRESS_SEND (tests)
                        connection.host.send_message(_as_message(message))
                except Exception as error:  # noqa: BLE001 - a refused message is kept, not raised
                    log.warning(
                        "Mail %s refused by the mail server: %s", message.id, _describe(error)
                    )
                    _failed(message, error)
                else:
                    message.sent_at = utcnow()
                    message.held_until = None
                    message.last_error = ""
                settled.add(message.id)
    except Exception as error:  # noqa: BLE001 - the server is down: everything stays queued
        log.warning("Mail server unavailable, mail stays in the outbox: %s", _describe(error))
        unsettled = [message for message in messages if message.id not in settled]
        held = hold.keep(unsettled) if unsettled else set()
        for message in unsettled:  # not tried, or the connection broke during it
            if message.id in held:
                if not tried or tried[-1] is not message:  # never tried: it broke before
                    _attempt(message, tried)
                _failed(message, error, UNAVAILABLE)
    db.session.commit()
    sent = sum(1 for message in tried if message.sent_at is not None)
    given_up = sum(1 for message in tried if message.given_up_at is not None)
    return Delivery(sent, len(tried) - sent - given_up, given_up)


def _attempt(message: OutboxMail, tried: list[OutboxMail]) -> None:
    message.attempts += 1
    message.last_attempt_at = utcnow()
    tried.append(message)


def _failed(message: OutboxMail, error: Exception, prefix: str = "") -> None:
    """Keep ``message`` for the next pass, or give it up: refused for good (a 5xx answer to its
    recipient or its content), or still unsent ``GIVE_UP_AFTER`` it was queued."""
    message.last_error = (prefix + _describe(error))[:2000]
    message.held_until = None
    now = utcnow()
    if _refused_for_good(error) or now - message.created_at >= GIVE_UP_AFTER:
        message.given_up_at = now
        log.error(
            "Mail %s to %s given up after %s attempt(s): %s",
            message.id,
            message.recipient,
            message.attempts,
            message.last_error,
        )


class BadRecipient(ValueError):
    """The recipient's address cannot be written into a mail: no later try can send it."""


def _refused_for_good(error: Exception) -> bool:
    """A 5xx answer to the recipient or the content, or an address no mail can carry:
    sending it again gets the same answer. (A 5xx to the sender or the sign-in is the server's
    set-up, which an admin may fix.)"""
    if isinstance(error, BadRecipient):
        return True
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    return isinstance(error, smtplib.SMTPDataError) and error.smtp_code >= 500


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


class _TimedConnection(Connection):
    """Flask-Mail's connection, opened with ``MAIL_TIMEOUT`` (seconds per network step).

    Flask-Mail opens smtplib's without a timeout: a mail server that took the connection and
    never answered held the request that sent a mail until its worker was killed (a 500 after
    the change was saved), and the outbox's timer run for good."""

    def configure_host(self) -> smtplib.SMTP:
        state = self.mail
        kind = smtplib.SMTP_SSL if state.use_ssl else smtplib.SMTP
        host = kind(state.server, state.port, timeout=current_app.config["MAIL_TIMEOUT"])
        if state.use_tls:
            host.starttls()
        if state.username and state.password:
            host.login(state.username, state.password)
        return host


def _encoded_words(text: str) -> str:
    """``text`` as RFC 2047 encoded words, a line each (64 characters: "Subject: " and one
    fit in 78), cut between letters rather than at spaces: a reader drops the space between
    two encoded words, and Python 3.11's own folding moved a space there ("00000002 gyári"
    arrived as "00000002gyári")."""
    words, chunk = [], ""
    for char in text:
        if len((chunk + char).encode()) > 39:  # 52 characters of base64
            words.append(chunk)
            chunk = ""
        chunk += char
    words.append(chunk)
    return "\n ".join(f"=?utf-8?b?{b64encode(word.encode()).decode()}?=" for word in words)


def _ascii_domain(address: str) -> str:
    """``info@пример.рф`` as every mail server takes it: the domain in punycode (the local part
    is ASCII: the portal takes no other)."""
    local, _, domain = address.rpartition("@")
    return f"{local}@{ascii_domain(domain)}"


def _as_message(message: OutboxMail) -> EmailMessage:
    """The outbox row as a mail, encoded by the standard library's policy for SMTP: long lines
    wrapped in quoted-printable or base64. Flask-Mail sent UTF-8 bodies unwrapped (a line over
    998 bytes, 500 Cyrillic letters of a question, was refused by the mail server). A subject
    with other letters is written here as encoded words (``_encoded_words``): the policy's
    folding, like Flask-Mail's, may lose a space between two of them. The mail's own headers
    (``OutboxMail.headers``) go out as written, on one line: folded, the policy would write a
    long ``List-Unsubscribe`` link as encoded words, which no mailbox provider reads as a link
    (RFC 2369 forbids whitespace inside its brackets)."""
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    mail = EmailMessage(policy=SMTP.clone(refold_source="none"))  # set_raw values as they are
    if message.subject.isascii():
        mail["Subject"] = message.subject
    else:
        mail.set_raw("Subject", _encoded_words(message.subject))
    # The utility's own domain in punycode too: in its letters it went out as an encoded word,
    # which no mail server takes for an address.
    sender_name, sender_address = parseaddr(sender)
    sender_address = _ascii_domain(sender_address)
    mail["From"] = Address(sender_name, addr_spec=sender_address)
    try:
        mail["To"] = _ascii_domain(message.recipient)
    except ValueError as error:  # a domain IDNA refuses, a line break
        raise BadRecipient(f"{message.recipient!r} is not an address mail can go to") from error
    if reply_to := current_app.config["MAIL_REPLY_TO"]:
        # Where a customer's Reply goes instead of the no-reply sender; the domain in punycode.
        name, address = parseaddr(reply_to)
        mail["Reply-To"] = Address(name, addr_spec=_ascii_domain(address))
    mail["Date"] = format_datetime(utcnow())
    mail["Message-ID"] = make_msgid(domain=sender_address.rpartition("@")[2] or None)
    mail["Auto-Submitted"] = "auto-generated"  # no out-of-office replies to a no-reply address
    mail["X-Lkapp-Outbox-Id"] = str(message.id)
    for name, value in (message.headers or {}).items():
        # Built by url_for: printable ASCII on one line. set_raw checks nothing: a line break
        # (or any character str.splitlines takes for one) would start another header, such as
        # a Bcc that smtplib sends to (Python 3.11.10 and later refuse the whole mail instead).
        texts = (name, value)
        one_line = all(isinstance(t, str) and t.isascii() and t.isprintable() for t in texts)
        if not one_line or ":" in name or " " in name:
            log.warning("Mail %s: header %r left out, not one line of ASCII", message.id, name)
            continue
        mail.set_raw(name, value)
    mail.set_content(message.body_text)
    if message.body_html:
        mail.add_alternative(message.body_html, subtype="html")
    return mail
