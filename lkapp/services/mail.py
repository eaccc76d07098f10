"""The mail outbox: every message is a row first, written in the caller's transaction.

After the request commits, ``deliver_queued`` sends what this request queued; what fails stays
in the outbox with its error, and ``flask --app lkapp outbox send`` tries again.
"""

from __future__ import annotations

import logging
import smtplib

import sqlalchemy as sa
from flask import current_app, g, render_template
from flask_babel import force_locale
from flask_mail import Connection, Message

from ..extensions import db
from ..models import OutboxMail, utcnow

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 10


def queue_mail(recipient: str, subject, template: str, locale: str = "en", **context) -> OutboxMail:
    """Render ``email/<template>.txt`` and ``.html`` in ``locale`` and add them to the outbox."""
    with force_locale(locale):
        message = OutboxMail(
            recipient=recipient,
            subject=str(subject),
            body_text=render_template(f"email/{template}.txt", **context),
            body_html=render_template(f"email/{template}.html", **context),
        )
    db.session.add(message)
    db.session.flush()
    g.setdefault("outbox_ids", []).append(message.id)
    return message


def deliver_queued(response):
    """after_request: send the mail this request queued, if its transaction committed."""
    ids = g.pop("outbox_ids", None)
    if ids:
        pending = db.session.scalars(
            sa.select(OutboxMail).where(OutboxMail.id.in_(ids), OutboxMail.sent_at.is_(None))
        ).all()
        _deliver(pending)
    return response


def send_pending(batch: int = 500) -> tuple[int, int]:
    """One pass over all unsent mail, oldest first; returns (sent, failed)."""
    sent = failed = 0
    last_id = 0
    while True:
        messages = db.session.scalars(
            sa.select(OutboxMail)
            .where(
                OutboxMail.sent_at.is_(None),
                OutboxMail.attempts < MAX_ATTEMPTS,
                OutboxMail.id > last_id,
            )
            .order_by(OutboxMail.id)
            .limit(batch)
        ).all()
        if not messages:
            return sent, failed
        last_id = messages[-1].id
        batch_sent, batch_failed = _deliver(messages)
        sent += batch_sent
        failed += batch_failed


def mail_configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def _deliver(messages: list[OutboxMail]) -> tuple[int, int]:
    if not messages:
        return 0, 0
    if not mail_configured():
        for message in messages:
            log.info(
                "Mail kept in the outbox (no LKAPP_MAIL_SERVER) to %s: %s\n%s",
                message.recipient,
                message.subject,
                message.body_text,
            )
        return 0, 0
    for message in messages:
        message.attempts += 1
    try:
        with _TimedConnection(current_app.extensions["mail"]) as connection:
            for message in messages:
                try:
                    connection.send(_as_message(message))
                except Exception as error:  # noqa: BLE001 - a refused message is kept, not raised
                    message.last_error = f"{type(error).__name__}: {error}"[:2000]
                    log.warning(
                        "Mail %s refused by the mail server, it stays in the outbox: %s",
                        message.id,
                        message.last_error,
                    )
                else:
                    message.sent_at = utcnow()
                    message.last_error = ""
    except Exception as error:  # noqa: BLE001 - the server is down: everything stays queued
        log.warning("Mail server unavailable, mail stays in the outbox: %s", error)
        for message in messages:
            if message.sent_at is None:
                message.last_error = f"{type(error).__name__}: {error}"[:2000]
    sent = sum(1 for message in messages if message.sent_at is not None)
    failed = len(messages) - sent
    db.session.commit()
    return sent, failed


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


def _as_message(message: OutboxMail) -> Message:
    return Message(
        subject=message.subject,
        recipients=[message.recipient],
        body=message.body_text,
        html=message.body_html or None,
        extra_headers={"X-Lkapp-Outbox-Id": str(message.id)},
    )
