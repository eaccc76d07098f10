"""Mail goes through the outbox: queued in the transaction, sent after commit, kept on failure."""

import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import OutboxMail
from lkapp.services.mail import queue_mail


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


def test_refused_mail_stays_with_its_error_and_is_resent(app, mailbox, runner, caplog):
    mailbox.refuse = True
    _queue(app)
    [row] = _outbox(app)
    assert row.sent_at is None and "554" in row.last_error
    assert mailbox.messages == []
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert f"Mail {row.id} refused by the mail server, it stays in the outbox" in warning.message
    assert "554" in warning.message

    mailbox.refuse = False
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    assert "Sent 1 message(s); 0 failed" in result.output
    assert len(mailbox.to("ann@example.com")) == 1
    [row] = _outbox(app)
    assert row.sent_at is not None and row.attempts == 2


def test_unreachable_mail_server_keeps_mail_queued(app_config, mailbox):
    from lkapp import create_app

    app_config["MAIL_PORT"] = 1  # nothing listens there
    app = create_app(app_config)
    runner = app.test_cli_runner()
    _queue(app)
    [row] = _outbox(app)
    assert row.sent_at is None and row.last_error
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 1
    assert "1 failed and stay in the outbox" in result.output


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
