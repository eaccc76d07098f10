"""A customer replies while an operator closes the same question, at the same moment.

Each request runs in its own thread and worker-like session (``one_after_other``: the first
is held after its writes, uncommitted, until the second has reached its check). Whatever
the order, the customer's reply is never left in a closed thread that nobody will read.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import AuditEvent, Message, OutboxMail, Question
from lkapp.support import services
from tests.conftest import AuthActions
from tests.web.test_races_auth import one_after_other
from tests.web.test_support import make_question

STAFF = "op@example.org"
REPLY = "One more thing: the meter was replaced in May."


@pytest.fixture
def app(app, tmp_path):
    app.instance_path = str(tmp_path / "instance")
    return app


@pytest.fixture
def thread(app, make_user):
    """An answered question of Ann's, Ann and an operator each signed in on a client."""
    ann = make_user()
    make_user(email=STAFF, role="staff", tax_id="")
    reference = make_question(app, user_id=ann, status="answered")
    customer, office = app.test_client(), app.test_client()
    AuthActions(customer).login()
    AuthActions(office).login(email=STAFF)
    return reference, customer, office


def _state(app, reference):
    with app.app_context():
        question = db.session.scalar(sa.select(Question).where(Question.reference == reference))
        bodies = db.session.scalars(
            sa.select(Message.body).where(Message.question_id == question.id)
        ).all()
        closed = db.session.scalar(
            sa.select(sa.func.count()).where(AuditEvent.action == "support.closed")
        )
        return question.status, question.closed_at, bodies, closed


def test_a_reply_that_lands_while_the_office_closes_keeps_the_thread_open(app, thread, monkeypatch):
    """The reply is written first; the close, made on the thread as it was before the reply,
    must not bury it: the thread stays waiting for the office, with the reply in it."""
    reference, customer, office = thread
    replied, closed = one_after_other(
        monkeypatch,
        lambda: customer.post(f"/support/questions/{reference}/reply", data={"body": REPLY}),
        lambda: office.post(f"/staff/questions/{reference}/close"),
        hold_after=(services, "reply"),
        second_reaches=[(services, "close")],
    )
    assert replied.status_code == 302 and closed.status_code == 302
    status, closed_at, bodies, closes = _state(app, reference)
    assert (status, closed_at, closes) == ("new", None, 0)
    assert REPLY in bodies
    page = office.get(f"/staff/questions/{reference}").get_data(as_text=True)
    assert "is closed" not in page and REPLY in page


def test_a_reply_sent_while_the_office_closes_opens_the_thread_again(app, thread, monkeypatch):
    """The close is written first; the reply, sent to the open thread the customer saw and
    confirmed as added, opens it again for the office."""
    reference, customer, office = thread
    closed, replied = one_after_other(
        monkeypatch,
        lambda: office.post(f"/staff/questions/{reference}/close"),
        lambda: customer.post(f"/support/questions/{reference}/reply", data={"body": REPLY}),
        hold_after=(services, "close"),
        second_reaches=[(services, "reply")],
    )
    assert replied.status_code == 302 and closed.status_code == 302
    status, closed_at, bodies, closes = _state(app, reference)
    assert (status, closed_at, closes) == ("new", None, 1)
    assert REPLY in bodies
    page = customer.get(f"/support/questions/{reference}").get_data(as_text=True)
    assert "Your reply was added." in page


def test_closing_a_thread_nobody_wrote_in_meanwhile_still_closes_it(app, thread):
    reference, _customer, office = thread
    response = office.post(f"/staff/questions/{reference}/close", follow_redirects=True)
    assert f"Question {reference} is closed." in response.get_data(as_text=True)
    assert _state(app, reference)[0] == "closed"


def test_a_reply_that_came_after_the_page_was_opened_is_not_closed_unread(app, thread):
    """The operator opened the thread, the customer replied, the operator pressed "Close
    question" on the page as it was: the reply would have been closed unread."""
    reference, customer, office = thread
    page = office.get(f"/staff/questions/{reference}").get_data(as_text=True)
    seen = re.search(r'name="seen" value="(\d+)"', page).group(1)
    assert customer.post(f"/support/questions/{reference}/reply", data={"body": REPLY})
    closed = office.post(
        f"/staff/questions/{reference}/close", data={"seen": seen}, follow_redirects=True
    )
    text = closed.get_data(as_text=True)
    assert "A new message came after this page was opened: the question stays open." in text
    assert REPLY in text
    assert _state(app, reference)[0] == "new" and _state(app, reference)[3] == 0
    # With the page as it is now, the close goes through.
    seen = re.search(r'name="seen" value="(\d+)"', text).group(1)
    office.post(f"/staff/questions/{reference}/close", data={"seen": seen})
    assert _state(app, reference)[0] == "closed"


NEWS = "A new message arrived while you were writing. Read it, then send your answer again."


def _answers(app, reference):
    with app.app_context():
        bodies = db.session.scalars(
            sa.select(Message.body)
            .join(Question, Question.id == Message.question_id)
            .where(Question.reference == reference, Message.from_staff.is_(True))
            .order_by(Message.id)
        ).all()
        mails = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMail))
        return bodies, mails


def test_two_operators_answering_at_once_send_one_answer(app, thread, make_user, monkeypatch):
    """Both opened the thread as it was; the second answer, checked while the first was
    being written, is neither stored nor mailed: its author is shown the first one."""
    reference, _customer, office = thread
    make_user(email="colleague@example.org", role="staff", tax_id="")
    colleague = app.test_client()
    AuthActions(colleague).login(email="colleague@example.org")
    seen = re.search(
        r'name="seen" value="(\d+)"', office.get(f"/staff/questions/{reference}").text
    ).group(1)
    first, second = one_after_other(
        monkeypatch,
        lambda: office.post(
            f"/staff/questions/{reference}/answer", data={"body": "First.", "seen": seen}
        ),
        lambda: colleague.post(
            f"/staff/questions/{reference}/answer", data={"body": "Second.", "seen": seen}
        ),
        hold_after=(services, "answer"),
        second_reaches=[(services, "answer")],
    )
    assert first.status_code == 302, first
    assert second.status_code == 409, second
    text = second.get_data(as_text=True)
    assert NEWS in text and "First." in text and "\nSecond.</textarea>" in text
    assert _answers(app, reference) == (["First."], 1)


def test_an_answer_checked_while_the_askers_reply_is_written_is_not_sent(app, thread, monkeypatch):
    """The reply is being written when the operator's answer, sent from a form without the
    count of messages (a page from before it had one), is checked: it waits and is refused."""
    reference, customer, office = thread
    replied, answered = one_after_other(
        monkeypatch,
        lambda: customer.post(f"/support/questions/{reference}/reply", data={"body": REPLY}),
        lambda: office.post(f"/staff/questions/{reference}/answer", data={"body": "Done."}),
        hold_after=(services, "reply"),
        second_reaches=[(services, "answer")],
    )
    assert replied.status_code == 302 and answered.status_code == 409, answered
    assert REPLY in answered.get_data(as_text=True)
    assert _answers(app, reference) == ([], 0)
    assert _state(app, reference)[0] == "new"
