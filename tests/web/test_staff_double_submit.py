"""The back office under double submits and two operators at once: an answer, a lock, a tax ID
correction or an enabled staff account sent twice (a double click without JavaScript, a reload
of the answer, two tabs, two operators) acts once, and the second answer says what happened."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from lkapp.auth import services as accounts
from lkapp.extensions import db
from lkapp.models import AuditEvent, Message, OutboxMail, User
from lkapp.staff import customers as staff_customers
from lkapp.staff import team as staff_team
from lkapp.support import services as support_services
from tests.conftest import AuthActions, text_of
from tests.web.test_races_auth import one_after_other
from tests.web.test_support import make_question

STAFF = "op@example.org"
ANSWER = "The October invoice is in the Documents tab now."


@pytest.fixture
def app(app, tmp_path):
    app.instance_path = str(tmp_path / "instance")
    return app


@pytest.fixture
def ann(make_user):
    return make_user(email="ann@example.com", tax_id="12345678-2-42")


@pytest.fixture
def office(make_user, auth):
    """An operator signed in on ``client``; a second client is the same operator's other tab."""
    make_user(email=STAFF, role="staff", tax_id="")
    auth.login(email=STAFF)


def other_tab(app, client):
    tab = app.test_client()
    tab.set_cookie("session", client.get_cookie("session").value)
    return tab


def actions(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        return db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()


def outbox(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(OutboxMail.recipient).order_by(OutboxMail.id)))


def answers(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(Message.body).where(Message.from_staff)))


# --- answering a question -------------------------------------------------------------------


def _answer_form(client, reference: str) -> dict:
    page = client.get(f"/staff/questions/{reference}").text
    return {"body": ANSWER, "seen": re.search(r'name="seen" value="(\d+)"', page).group(1)}


def test_an_answer_sent_twice_is_stored_and_mailed_once(app, client, ann, office):
    """The second copy was refused with "A new message arrived … send your answer again": the
    new message was the operator's own answer, and sending again mailed it twice."""
    reference = make_question(app, user_id=ann)
    form = _answer_form(client, reference)
    url = f"/staff/questions/{reference}/answer"
    assert client.post(url, data=form).status_code == 302
    again = client.post(url, data=form, follow_redirects=True)
    assert again.status_code == 200
    text = text_of(again.text)
    assert "The answer was sent to ann@example.com." in text
    assert "A new message arrived" not in text
    assert answers(app) == [ANSWER]
    assert outbox(app) == ["ann@example.com"]
    assert len(actions(app, "support.answered")) == 1


def test_an_answer_sent_from_two_tabs_at_once_is_stored_and_mailed_once(
    app, client, ann, office, monkeypatch
):
    """The second copy is checked while the first is being written: it waits for the thread's
    lock, then finds the first, and says it was sent."""
    reference = make_question(app, user_id=ann)
    form = _answer_form(client, reference)
    url = f"/staff/questions/{reference}/answer"
    tab = other_tab(app, client)
    first, second = one_after_other(
        monkeypatch,
        lambda: client.post(url, data=dict(form)),
        lambda: tab.post(url, data=dict(form)),
        hold_after=(support_services, "answer"),
        second_reaches=[(support_services, "answer")],
    )
    assert (first.status_code, second.status_code) == (302, 302), second
    assert "The answer was sent to ann@example.com." in text_of(tab.get(second.location).text)
    assert answers(app) == [ANSWER]
    assert len(actions(app, "support.answered")) == 1
    assert outbox(app) == ["ann@example.com"]


def test_a_colleagues_answer_with_the_same_words_is_still_news(app, client, ann, office, make_user):
    """Only the operator's own answer counts as the form sent again."""
    reference = make_question(app, user_id=ann)
    colleague = make_user(email="colleague@example.org", role="staff", tax_id="")
    form = _answer_form(client, reference)
    with app.app_context():
        question = support_services.find_question(reference)
        support_services.answer(question, db.session.get(User, colleague), ANSWER)
        db.session.commit()
    refused = client.post(f"/staff/questions/{reference}/answer", data=form)
    assert refused.status_code == 409
    assert "A new message arrived while you were writing." in text_of(refused.text)


# --- a customer's account -------------------------------------------------------------------


def test_a_tax_id_correction_sent_twice_says_it_is_changed(app, client, ann, office):
    """The second copy was refused (422, "Please correct the marked fields", "the same as the
    account's tax ID"): the operator was told the correction just made had failed."""
    url = f"/staff/customers/{ann}/tax-id"
    form = {"tax_id": "HU87654321", "reason": "Typo at registration"}
    assert client.post(url, data=form).status_code == 302
    again = client.post(url, data=form)
    assert again.status_code == 302
    assert "The tax ID is changed." in text_of(client.get(again.location).text)
    assert len(actions(app, "auth.tax_id_changed")) == 1
    assert outbox(app) == ["ann@example.com"]
    # The same value typed again later, with another reason, is still refused as no change.
    refused = client.post(url, data=form | {"reason": "Checked again"})
    assert refused.status_code == 422
    assert "The new tax ID is the same as the account's tax ID." in text_of(refused.text)


def test_a_lock_sent_from_two_tabs_at_once_locks_once(app, client, ann, office, monkeypatch):
    """Both copies read the account unlocked: it was locked twice, two "locked" events on its
    trail and two "locked" messages."""
    url = f"/staff/customers/{ann}/lock"
    tab = other_tab(app, client)
    first, second = one_after_other(
        monkeypatch,
        lambda: client.post(url, data={"reason": "Stolen laptop"}),
        lambda: tab.post(url, data={"reason": "Stolen laptop"}),
        hold_after=(accounts, "lock_account"),
        second_reaches=[(staff_customers, "_reason_form_or_422")],
    )
    assert (first.status_code, second.status_code) == (302, 302)
    assert "The account is locked already." in text_of(tab.get(second.location).text)
    assert len(actions(app, "auth.locked")) == 1


def test_a_lock_while_the_customer_closes_the_account_keeps_it_closed(
    app, client, ann, office, monkeypatch
):
    """The lock, checked on the account as it was before the close, turned a closed account
    into one locked by staff, which an operator could then unlock."""

    def close():
        with app.test_request_context():
            accounts.close_account(db.session.get(User, ann))
            db.session.commit()

    _, locked = one_after_other(
        monkeypatch,
        close,
        lambda: client.post(f"/staff/customers/{ann}/lock", data={"reason": "Stolen laptop"}),
        hold_after=(accounts, "close_account"),
        second_reaches=[(staff_customers, "_reason_form_or_422")],
    )
    assert locked.status_code == 302
    page = text_of(client.get(locked.location).text)
    assert "The customer closed this account; it cannot be opened again." in page
    with app.app_context():
        assert db.session.get(User, ann).locked_reason == accounts.CLOSED
    assert actions(app, "auth.locked") == []


# --- the team -------------------------------------------------------------------------------


def test_a_staff_account_enabled_by_two_admins_at_once_is_enabled_once(
    app, client, make_user, auth, monkeypatch
):
    make_user(email="boss@example.org", role="admin", tax_id="")
    make_user(email="boss2@example.org", role="admin", tax_id="")
    member = make_user(email="member@example.org", role="staff", tax_id="")
    with app.app_context():
        accounts.lock_account(db.session.get(User, member), None)
        db.session.commit()
    auth.login(email="boss@example.org")
    colleague = app.test_client()
    AuthActions(colleague).login(email="boss2@example.org")
    url = f"/staff/team/{member}/enable"
    first, second = one_after_other(
        monkeypatch,
        lambda: client.post(url),
        lambda: colleague.post(url),
        hold_after=(accounts, "unlock_account"),
        second_reaches=[(staff_team, "_member")],
    )
    assert (first.status_code, second.status_code) == (302, 302)
    assert "The account is not disabled." in text_of(colleague.get(second.location).text)
    assert len(actions(app, "auth.unlocked")) == 1
