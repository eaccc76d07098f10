"""Mail goes through the outbox: queued in the transaction, sent after commit, kept on failure."""

import threading
from datetime import timedelta

import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import OutboxMail, utcnow
from lkapp.services.mail import queue_mail, send_pending
from tests.conftest import text_of


def _queue(app, recipient="ann@example.com"):
    with app.test_request_context():
        queue_mail(recipient, "Your notice", "notice", paragraphs=["Hello, Ann & Co."], link="")
        db.session.commit()
        app.process_response(app.response_class())  # runs after_request, as a view's end does


def _outbox(app):
    with app.app_context():
        return db.session.scalars(sa.select(OutboxMail).order_by(OutboxMail.id)).all()


def test_queued_mail_is_sent_after_commit(app, mailbox):
    _queue(app)
    [message] = mailbox.to("ann@example.com")
    assert message["Subject"] == "Your notice"
    assert "Hello, Ann & Co." in mailbox.text(message)
    assert "Hello, Ann &amp; Co." in mailbox.html(message)
    [row] = _outbox(app)
    assert row.sent_at is not None and row.attempts == 1


def test_mail_of_a_rolled_back_transaction_is_never_sent(app, mailbox):
    with app.test_request_context():
        queue_mail("ann@example.com", "Never", "notice", paragraphs=["x"], link="")
        db.session.rollback()
        app.process_response(app.response_class())
    assert mailbox.messages == []
    assert _outbox(app) == []


def test_mail_refused_for_now_stays_with_its_error_and_is_resent(app, mailbox, runner, caplog):
    mailbox.refuse = True  # 451: try again later
    _queue(app)
    [row] = _outbox(app)
    assert row.sent_at is None and row.given_up_at is None and "451" in row.last_error
    assert mailbox.messages == []
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert f"Mail {row.id} refused by the mail server" in warning.message
    assert "451" in warning.message

    mailbox.refuse = False
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    assert "Sent 1 message(s); 0 failed" in result.output
    assert len(mailbox.to("ann@example.com")) == 1
    [row] = _outbox(app)
    assert row.sent_at is not None and row.attempts == 2


def test_mail_refused_for_good_is_given_up_at_once_and_shown_to_the_office(
    app, client, mailbox, runner, caplog, make_user, auth
):
    """A 5xx answer to the message (no such mailbox, content refused) will be the same next
    time: the mail is given up, with an error in the log and a figure on the start page."""
    mailbox.refuse = "550 5.1.1 No such mailbox (test server)"
    _queue(app, "gone@example.com")
    [row] = _outbox(app)
    assert row.given_up_at is not None and "550" in row.last_error
    [error] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert f"Mail {row.id} to gone@example.com given up after 1 attempt(s)" in error.message

    mailbox.refuse = False
    result = runner.invoke(args=["outbox", "send"])
    assert "Sent 0 message(s)" in result.output and mailbox.messages == []
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    page = text_of(client.get("/staff/").text)
    assert "Mail waiting in the outbox 0" in page
    assert "Mail given up in the last 7 days" in page and "the log names each) 1" in page


def test_unreachable_mail_server_keeps_mail_queued_for_three_days(app_config, mailbox, caplog):
    from lkapp import create_app

    app_config["MAIL_PORT"] = 1  # nothing listens there
    app = create_app(app_config)
    runner = app.test_cli_runner()
    _queue(app)
    [row] = _outbox(app)
    assert row.sent_at is None and row.last_error and row.given_up_at is None
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 1
    assert "1 failed and stay in the outbox for a later try; 0 given up" in result.output
    # Ten tries used to be the end: 50 minutes of an outage at one run every 5 minutes.
    for _ in range(13):
        runner.invoke(args=["outbox", "send"])
    [row] = _outbox(app)
    assert row.attempts == 15 and row.given_up_at is None

    with app.app_context():
        db.session.get(OutboxMail, row.id).created_at -= timedelta(days=3)
        db.session.commit()
    result = runner.invoke(args=["outbox", "send"])
    assert "0 failed and stay in the outbox for a later try; 1 given up" in result.output
    [row] = _outbox(app)
    assert row.given_up_at is not None and row.attempts == 16
    assert "given up after 16 attempt(s)" in caplog.text
    again = runner.invoke(args=["outbox", "send"])
    assert "Sent 0 message(s); 0 failed" in again.output and _outbox(app)[0].attempts == 16


def test_two_senders_at_once_send_each_mail_once(app, mailbox):
    """The timer's run, a notify run, a request and other servers may send at the same time:
    each takes hold of the mail it sends first. Two runs used to send every mail twice."""
    mailbox.refuse = True
    for n in range(6):
        _queue(app, f"customer{n}@example.com")
    mailbox.refuse, mailbox.delay = False, 0.1
    results = []

    def send():
        with app.app_context():
            results.append(send_pending())

    senders = [threading.Thread(target=send) for _ in range(2)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(30)
    delivered = sorted(int(message["X-Lkapp-Outbox-Id"]) for message in mailbox.messages)
    assert delivered == [row.id for row in _outbox(app)]
    assert sum(result.sent for result in results) == 6


def test_a_mail_server_that_never_answers_keeps_mail_queued_after_the_timeout(app_config):
    """A server that takes the connection and says nothing (a hung relay, a firewall that
    swallows packets): the request ends after ``MAIL_TIMEOUT`` with its mail in the outbox.
    Flask-Mail's own connection has no timeout and waited for good."""
    import socket
    import threading

    from lkapp import create_app

    with socket.create_server(("127.0.0.1", 0)) as silent:
        app_config.update(MAIL_PORT=silent.getsockname()[1], MAIL_TIMEOUT=0.5)
        app = create_app(app_config)
        sender = threading.Thread(target=_queue, args=(app,), daemon=True)
        sender.start()
        sender.join(10)
        assert not sender.is_alive(), "the request still waits for the mail server"
    [row] = _outbox(app)
    assert row.sent_at is None and "timed out" in row.last_error


def test_long_paragraphs_and_accented_subjects_arrive_whole(app, mailbox):
    """A question of one long Russian paragraph (2,000 letters: 4,000 bytes on one line, where
    SMTP allows 998), and a Hungarian subject folded between two encoded words: the mail was
    refused by the server, and the subject lost the space before "gyári"."""
    paragraph = "Прошу проверить начисление за октябрь, " * 50
    subject = "Mérőállás beérkezett: EM1021-00000002 gyári számú mérő"
    with app.test_request_context():
        queue_mail("ann@example.com", subject, "notice", paragraphs=[paragraph], link="")
        db.session.commit()
        app.process_response(app.response_class())
    [message] = mailbox.to("ann@example.com")
    assert message["Subject"] == subject
    assert paragraph.strip() in mailbox.text(message)
    assert message["Auto-Submitted"] == "auto-generated"
    [row] = _outbox(app)
    assert row.sent_at is not None


def test_subjects_of_every_length_arrive_as_written(app, mailbox):
    subjects = [
        ("Новый документ СФ-2026/11-000123 по договору EL-0000002, " * 4)[:200],
        "Ответ на вопрос Q-2026-000042: «Почему счёт больше обычного?»",
        "Díjértesítő  két szóközzel, és egy nagyon-nagyon-nagyon-hosszú-szóval-a-végén",
        "A plain English subject that is long enough to be folded by the mail library here",
    ]
    with app.test_request_context():
        for subject in subjects:
            queue_mail("ann@example.com", subject, "notice", paragraphs=["x"], link="")
        db.session.commit()
        app.process_response(app.response_class())
    assert [message["Subject"] for message in mailbox.to("ann@example.com")] == subjects


def test_after_the_server_failed_requests_leave_their_mail_to_the_timer(
    app_config, smtp_server, mailbox
):
    """With the mail server down or hung, each request that sent a mail waited for it (up to
    ``MAIL_TIMEOUT``). For five minutes after a failure they leave their mail queued; the
    timer's `outbox send` tries it. One refused mail is no reason to stop."""
    from lkapp import create_app

    app_config["MAIL_PORT"] = 1  # nothing listens there
    down = create_app(app_config)
    _queue(down, "first@example.com")
    _queue(down, "second@example.com")
    first, second = _outbox(down)
    assert first.attempts == 1 and first.last_error.startswith("Mail server unavailable: ")
    assert second.attempts == 0 and second.last_error == ""

    app_config["MAIL_PORT"] = smtp_server.port  # back
    back = create_app(app_config)
    result = back.test_cli_runner().invoke(args=["outbox", "send"])
    assert "Sent 2 message(s)" in result.output
    assert len(mailbox.messages) == 2

    mailbox.refuse = True  # one mail refused for now (451): the next request still sends
    _queue(back, "third@example.com")
    mailbox.refuse = False
    _queue(back, "fourth@example.com")
    assert [m["To"] for m in mailbox.messages][2:] == ["fourth@example.com"]


def test_prune_deletes_mail_sent_or_given_up_long_ago_and_keeps_the_rest(app, runner):
    now = utcnow()
    rows = {
        "sent long ago": {"sent_at": now - timedelta(days=31)},
        "given up long ago": {"given_up_at": now - timedelta(days=40)},
        "sent lately": {"sent_at": now - timedelta(days=29)},
        "waiting since long ago": {"created_at": now - timedelta(days=60)},
    }
    with app.app_context():
        for subject, times in rows.items():
            db.session.add(
                OutboxMail(recipient="ann@example.com", subject=subject, body_text="x", **times)
            )
        db.session.commit()
    result = runner.invoke(args=["outbox", "prune", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert "Deleted 2 mail(s) sent or given up more than 30 days ago." in result.output
    assert [row.subject for row in _outbox(app)] == ["sent lately", "waiting since long ago"]

    refused = runner.invoke(args=["outbox", "prune", "--days", "1"])
    assert refused.exit_code == 2 and "1 is not in the range x>=7" in refused.output
    assert len(_outbox(app)) == 2


def test_a_subject_longer_than_its_column_is_cut_with_an_ellipsis(app):
    """PostgreSQL refused the whole row (and the transaction that queued it)."""
    with app.test_request_context():
        queue_mail("ann@example.com", "Overdue " + "EL-0000001, " * 30, "notice", paragraphs=["x"])
        db.session.commit()
        subject = db.session.scalar(sa.select(OutboxMail.subject))
    assert len(subject) == 200 and subject.endswith("EL-0000001,…")


def test_a_domain_with_sharp_s_is_not_sent_to_another_domain(app, mailbox):
    """``straße.de`` is ``xn--strae-oqa.de`` (IDNA 2008, as the address was checked with);
    Python's own codec made it ``strasse.de``, someone else's domain, and a reset link went
    there."""
    _queue(app, "info@straße.de")
    [message] = mailbox.messages
    assert message["To"] == "info@xn--strae-oqa.de"
    _queue(app, "info@пример.рф")
    assert mailbox.messages[1]["To"] == "info@xn--e1afmkfd.xn--p1ai"


def test_an_address_no_mail_can_carry_is_given_up_at_once(app, mailbox, caplog):
    """Tried every five minutes for three days before, each run failing the same way."""
    _queue(app, "ann@example.com\nBcc: eve@example.com")
    [row] = _outbox(app)
    assert row.given_up_at is not None and row.attempts == 1
    assert "is not an address mail can go to" in row.last_error
    assert mailbox.messages == []


def test_a_sender_of_a_domain_in_other_letters_sends_mail(app_config, mailbox):
    """``no-reply@энерго.рф`` (the utility's own domain): the From address went out as an
    encoded word, and the mail server, asked for a non-ASCII sender it did not support, took
    no mail at all (each kept for three days, then given up)."""
    from lkapp import create_app

    app_config["MAIL_DEFAULT_SENDER"] = "Городская энергия <no-reply@энерго.рф>"
    app = create_app(app_config)
    _queue(app)
    [row] = _outbox(app)
    assert row.sent_at is not None, row.last_error
    [message] = mailbox.to("ann@example.com")
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (
        "Городская энергия",
        "no-reply@xn--c1adxgi9e.xn--p1ai",
    )
    assert message["Message-ID"].endswith("@xn--c1adxgi9e.xn--p1ai>")
    with app.app_context():
        db.engine.dispose()
