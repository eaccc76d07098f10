"""The office's customer page lists the mail to the customer's address: when queued, the subject
and whether it went out, newest first; never what a mail said (its links open the account)."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lkapp.auth import mails
from lkapp.extensions import db
from lkapp.models import OutboxMail, User, utcnow
from lkapp.services.mail import queue_mail
from lkapp.staff.customers import mail_to
from tests.conftest import TEST_PASSWORD, AuthActions, text_of

GONE = "550 5.1.1 No such mailbox (test server)"


@pytest.fixture
def ann(make_user):
    return make_user(email="ann@example.com")


@pytest.fixture
def staff(make_user, auth):
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")


def _send(app, write):
    """``write(user)`` queues mail in a request of its own, which then ends as a view's does:
    the mail is sent to the test's SMTP server."""
    with app.test_request_context():
        write(db.session.scalar(sa.select(User).where(User.email == "ann@example.com")))
        db.session.commit()
        app.process_response(app.response_class())


def _notice(recipient, subject, words="Hello"):
    return lambda _user: queue_mail(recipient, subject, "notice", paragraphs=[words], link="")


def _mail_rows(page: str) -> list[str]:
    """The rows of the page's mail table, as read."""
    section = page.split('id="mail-title"', 1)[1].split("</section>", 1)[0]
    rows = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("</tr>")[:-1]
    return [html.unescape(text_of(row)).strip() for row in rows]


def test_each_mail_with_its_state_newest_first_and_never_its_body(
    app, client, mailbox, ann, staff, make_user
):
    make_user(email="bob@example.com")
    _send(app, mails.confirmation)
    _send(app, mails.password_reset)
    links = [link for message in mailbox.to("ann@example.com") for link in mailbox.links(message)]
    tokens = [link.rsplit("/", 1)[1] for link in links if "/confirm/" in link or "/reset-" in link]
    assert len(tokens) == 2
    mailbox.refuse = True  # 451: tried again later
    _send(app, _notice("ann@example.com", "Debt notice", "Overdue: 1 200,00 EUR"))
    mailbox.refuse = GONE  # given up at once
    _send(app, _notice("ann@example.com", "Reading reminder"))
    mailbox.refuse = False
    _send(app, _notice("bob@example.com", "Bob's invoice"))
    # An address typed in other letters (a question asked without an account) is the same one.
    _send(app, _notice("Ann@Example.COM", "Answer to your question Q-1"))

    page = client.get(f"/staff/customers/{ann}").text
    assert "Mail to this customer" in page
    rows = _mail_rows(page)
    subjects = [
        "Answer to your question Q-1",
        "Reading reminder",
        "Debt notice",
        "Set a new password",
        "Confirm your email address",
    ]
    for row, subject in zip(rows, subjects, strict=True):
        assert subject in row
    assert "Sent" in rows[0]
    assert "Not delivered SMTPDataError: (550, b'5.1.1 No such mailbox" in rows[1]
    assert "Waiting attempt 1, last error: SMTPDataError: (451," in rows[2]
    assert "Sent" in rows[3] and "Sent" in rows[4]
    assert "Bob's invoice" not in page  # another customer's mail
    for token in tokens:
        assert token not in page
    assert "Overdue: 1 200,00 EUR" not in page and "Hello" not in page
    assert "The latest" not in page  # all of them shown
    assert "Sent mail is kept for 30 days." in text_of(page)


def test_twenty_of_more_say_how_many_and_none_says_how_long_mail_is_kept(app, client, ann, staff):
    page = text_of(client.get(f"/staff/customers/{ann}").text)
    assert "No mail to this address is on record (sent mail is kept for 30 days)." in page

    with app.test_request_context():  # queued, not sent: no mail server answered yet
        for number in range(21):
            _notice("ann@example.com", f"Notice {number:02d}")(None)
        db.session.commit()
    page = client.get(f"/staff/customers/{ann}").text
    rows = _mail_rows(page)
    assert [row.split(" Notice ")[1].split()[0] for row in rows] == [
        f"{number:02d}" for number in range(20, 0, -1)
    ]
    assert all("Waiting not tried yet" in row for row in rows)
    assert "The latest 20 of 21." in text_of(page)


def test_after_an_email_change_the_mail_to_the_new_address_and_no_customer_sees_it(
    app, client, mailbox, ann, staff
):
    _send(app, _notice("ann@example.com", "Invoice for October"))
    customer = app.test_client()
    AuthActions(customer).login()
    customer.post(
        "/profile/email", data={"email": "ann.new@example.net", "current_password": TEST_PASSWORD}
    )
    [message] = mailbox.to("ann.new@example.net")
    [link] = [x for x in mailbox.links(message) if "/profile/email/confirm/" in x]
    assert customer.post(link).status_code == 200

    rows = _mail_rows(client.get(f"/staff/customers/{ann}").text)
    assert len(rows) == 1 and "Confirm your new email address" in rows[0]
    assert "Sent" in rows[0]

    refused = customer.get(f"/staff/customers/{ann}")
    assert refused.status_code == 403
    assert "Confirm your new email address" not in refused.text


def test_mail_to_the_address_before_the_account_was_opened_is_not_its_own(app, client, ann, staff):
    """An address comes back after its account was closed (or changed away), for a new one:
    the mail of the account before is not this one's."""
    _send(app, _notice("ann@example.com", "Your account is closed"))
    _send(app, _notice("ann@example.com", "Confirm your email address"))
    with app.app_context():
        opened = db.session.get(User, ann).created_at
        db.session.execute(
            sa.update(OutboxMail)
            .where(OutboxMail.subject == "Your account is closed")
            .values(created_at=opened - timedelta(days=2))
        )
        db.session.commit()
    rows = _mail_rows(client.get(f"/staff/customers/{ann}").text)
    assert len(rows) == 1 and "Confirm your email address" in rows[0]


def test_the_index_serves_the_list(app, ann, backend):
    """The list and its count read ``ix_outbox_mail_recipient``, not the whole outbox, and the
    list needs no sort."""
    statements = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        if "FROM outbox_mail" in statement:
            statements.append((statement, parameters))

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            mail_to("Ann@example.com", utcnow() - timedelta(days=1))
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
        [(statement, parameters)] = statements
        with db.engine.connect() as conn:
            if backend == "sqlite":
                plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
                plan = " ".join(row[-1] for row in plan)
                assert "USING INDEX ix_outbox_mail_recipient" in plan, plan
                assert "TEMP B-TREE" not in plan, plan
            else:
                # A table of a few rows is read whole, or through a bitmap and sorted, as
                # its statistics (left by earlier tests) say; the question is whether the
                # index gives the rows in order.
                conn.exec_driver_sql("SET enable_seqscan = off")
                conn.exec_driver_sql("SET enable_bitmapscan = off")
                plan = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
                plan = " ".join(row[0] for row in plan)
                assert "ix_outbox_mail_recipient" in plan and "Sort" not in plan, plan
