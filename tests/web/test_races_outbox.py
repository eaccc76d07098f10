"""Two senders of the outbox while one pass outlasts its hold on the mail (``mail.HOLD``).

On several servers each has its own ``outbox send`` timer, and a slow mail server makes a
pass of 500 mails take longer than the 15 minutes a sender holds them. The other sender
then took every mail the first had not committed as sent (all of the batch: it committed at
the end) and sent it again. A clock of the test's own makes the pass long; the first sender
is held in the middle of its pass while the second runs, deterministically.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import OutboxMail, utcnow
from lkapp.services import mail
from lkapp.services.mail import queue_mail, send_pending

STEP = timedelta(minutes=8)  # what each mail of the slow pass costs; two outlast HOLD


def _queue(app, count):
    with app.test_request_context():
        for n in range(count):
            queue_mail(f"customer{n}@example.com", "Your notice", "notice", paragraphs=["Hi"])
        db.session.commit()


def test_a_pass_longer_than_the_hold_keeps_its_mail_and_sends_each_once(app, mailbox, monkeypatch):
    _queue(app, 3)
    clock = [utcnow()]
    monkeypatch.setattr(mail, "utcnow", lambda: clock[0])
    first_pass = threading.current_thread()
    built, held, release = [], threading.Event(), threading.Event()
    real_as_message = mail._as_message

    def slow(message):
        """The first sender: every mail after the first takes ``STEP``; held at the third,
        16 minutes into its pass."""
        if threading.current_thread() is not first_pass:
            built.append(message.id)
            if len(built) > 1:
                clock[0] += STEP
            if len(built) == 3:
                held.set()
                release.wait(30)
        return real_as_message(message)

    monkeypatch.setattr(mail, "_as_message", slow)
    results = {}

    def first():
        with app.app_context():
            results["first"] = send_pending()

    sender = threading.Thread(target=first)
    sender.start()
    assert held.wait(30)
    with app.app_context():  # the other server's timer, 16 minutes into the first pass
        results["second"] = send_pending()
    release.set()
    sender.join(30)
    assert not sender.is_alive()

    delivered = sorted(int(message["X-Lkapp-Outbox-Id"]) for message in mailbox.messages)
    with app.app_context():
        ids = db.session.scalars(sa.select(OutboxMail.id).order_by(OutboxMail.id)).all()
        unsent = db.session.scalar(sa.select(sa.func.count()).where(OutboxMail.sent_at.is_(None)))
        attempts = db.session.scalars(sa.select(OutboxMail.attempts)).all()
    assert delivered == ids  # each mail once
    assert unsent == 0 and attempts == [1, 1, 1]
    assert (results["first"].sent, results["second"].sent) == (3, 0)
