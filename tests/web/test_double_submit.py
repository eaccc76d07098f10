"""Double submits, two tabs and the browser's history: a form sent twice (a double click, a
reload of the answer, Back and Send again) stores and mails once, and its second answer says
what happened rather than an error."""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pyotp
import pytest
import sqlalchemy as sa

from lkapp.auth.two_factor import recovery_code_digest
from lkapp.extensions import db
from lkapp.models import (
    AuditEvent,
    CaptchaChallenge,
    Contract,
    Message,
    Meter,
    OutboxMail,
    Question,
    Reading,
    User,
    utcnow,
)
from lkapp.readings import clock
from lkapp.support import services as support_services
from tests.conftest import TEST_PASSWORD, move_events_back, text_of

NEW_PASSWORD = "a brand new password for ann"


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def mails(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(OutboxMail.subject).order_by(OutboxMail.id)))


# --- the profile ----------------------------------------------------------------------------


def test_a_password_change_sent_twice_says_it_was_changed(app, make_user, client, auth):
    user_id = make_user()
    auth.login()
    form = {
        "current_password": TEST_PASSWORD,
        "password": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
    }
    assert client.post("/profile/password", data=form).status_code == 302
    again = client.post("/profile/password", data=form, follow_redirects=True)
    assert again.status_code == 200
    assert "Your password was changed." in text_of(again.text)
    assert "That is not your current password." not in again.text
    with app.app_context():
        assert db.session.get(User, user_id).failed_logins == 0
    assert count(app, AuditEvent, AuditEvent.action == "auth.reauth_failed") == 0


def test_two_factor_set_up_sent_twice_shows_recovery_codes_that_work(app, make_user, client, auth):
    """The first answer showed the codes once; a double click shows the second answer."""
    user_id = make_user()
    auth.login()
    page = client.get("/profile/two-factor/setup").text
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1)
    form = {
        "token": re.search(r'name="token" type="hidden" value="([^"]+)"', page).group(1),
        "code": pyotp.TOTP(secret.replace(" ", "")).now(),
        "current_password": TEST_PASSWORD,
    }
    assert client.post("/profile/two-factor/setup", data=form).status_code == 200
    again = client.post("/profile/two-factor/setup", data=form)
    assert again.status_code == 200
    codes = re.findall(r"<code>([A-Z0-9-]{19})</code>", again.text)
    assert len(codes) == 10
    with app.app_context():
        stored = db.session.get(User, user_id).recovery_codes
    assert sorted(stored) == sorted(recovery_code_digest(code) for code in codes)
    assert mails(app).count("Two-factor sign-in was turned on") == 1
    # The same form with another password (a stolen session guessing it) shows no codes
    # and counts as a failed attempt, as on any sensitive change.
    guess = client.post("/profile/two-factor/setup", data=form | {"current_password": "guess1"})
    assert guess.status_code == 302 and "<code>" not in guess.text
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user.failed_logins == 1
        assert sorted(user.recovery_codes) == sorted(stored)


def test_resend_confirmation_pressed_twice_mails_one_link(app, make_user, client, auth, mailbox):
    """Two mails with two links left the customer asking which one works; the second press
    answers as the first did. A minute later, pressed on purpose, another link goes."""
    make_user(confirmed=False)
    auth.login()
    for _ in range(2):
        response = client.post("/confirm/resend", data={"next": "/"})
        assert response.status_code == 302 and response.headers["Location"] == "/"
        page = text_of(client.get("/").text)
        assert "We sent a new confirmation link to ann@example.com. It works for 48 hours." in page
    assert len(mailbox.to("ann@example.com")) == 1
    assert count(app, AuditEvent, AuditEvent.action == "auth.confirmation_resent") == 1

    move_events_back(app, "auth.confirmation_resent", minutes=2)
    client.post("/confirm/resend", data={"next": "/"})
    assert len(mailbox.to("ann@example.com")) == 2


def test_resend_confirmation_from_two_tabs_at_once_mails_one_link(
    app, make_user, client, auth, mailbox, monkeypatch
):
    """The second press, checked while the first was being written, still finds it: both read
    under the account's row lock."""
    from lkapp.auth import services as account_services
    from lkapp.auth import views
    from tests.web.test_races_auth import one_after_other

    make_user(confirmed=False)
    auth.login()
    other_tab = app.test_client()
    other_tab.set_cookie("session", client.get_cookie("session").value)
    first, second = one_after_other(
        monkeypatch,
        lambda: client.post("/confirm/resend", data={"next": "/"}),
        lambda: other_tab.post("/confirm/resend", data={"next": "/"}),
        hold_after=(views.audit, "record"),
        second_reaches=[(views, "lock_row"), (account_services, "just_asked")],
    )
    assert (first.status_code, second.status_code) == (302, 302)
    assert len(mailbox.to("ann@example.com")) == 1
    assert "We sent a new confirmation link" in text_of(other_tab.get("/").text)


def test_an_email_change_sent_twice_mails_one_link(app, make_user, client, auth, mailbox):
    user_id = make_user()
    auth.login()
    form = {"email": "ann.new@example.net", "current_password": TEST_PASSWORD}
    for _ in range(2):
        response = client.post("/profile/email", data=dict(form), follow_redirects=True)
        assert response.status_code == 200
        assert (
            "We sent a confirmation link to ann.new@example.net. Until you open it, you sign "
            "in with ann@example.com." in text_of(response.text)
        )
    [message] = mailbox.to("ann.new@example.net")
    [link] = [x for x in mailbox.links(message) if "/profile/email/confirm/" in x]
    assert count(app, AuditEvent, AuditEvent.action == "auth.email_change_requested") == 1
    # Another address at once is another request; the one link sent still works.
    client.post("/profile/email", data=form | {"email": "ann.other@example.net"})
    assert len(mailbox.to("ann.other@example.net")) == 1
    assert client.post(link).status_code == 200
    with app.app_context():
        assert db.session.get(User, user_id).email == "ann.new@example.net"


def test_an_email_change_to_a_taken_address_sent_twice_tells_its_owner_once(
    app, make_user, client, auth, mailbox
):
    make_user(email="owner@example.org")
    make_user()
    auth.login()
    form = {"email": "owner@example.org", "current_password": TEST_PASSWORD}
    answers = [client.post("/profile/email", data=dict(form)) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [302, 302]
    assert len(mailbox.to("owner@example.org")) == 1
    assert mailbox.to("ann@example.com") == []


def test_the_offices_password_link_pressed_twice_mails_one_link(
    app, make_user, client, auth, mailbox
):
    make_user(email="boss@example.org", role="admin")
    colleague = make_user(email="colleague@example.org", role="staff")
    auth.login(email="boss@example.org")
    for _ in range(2):
        response = client.post(f"/staff/team/{colleague}/password-link")
        assert response.status_code == 302
        page = text_of(client.get("/staff/team").text)
        assert "A link to set a password went to colleague@example.org." in page
    assert len(mailbox.to("colleague@example.org")) == 1
    assert count(app, AuditEvent, AuditEvent.action == "user.password_link_sent") == 1

    move_events_back(app, "user.password_link_sent", minutes=2)
    client.post(f"/staff/team/{colleague}/password-link")
    assert len(mailbox.to("colleague@example.org")) == 2


# --- questions ------------------------------------------------------------------------------


@pytest.fixture
def ann(app, make_user, auth, tmp_path):
    app.instance_path = str(tmp_path / "instance")
    user_id = make_user()
    auth.login()
    return user_id


def ask(client):
    form = {"contract": "", "subject": "documents", "question": "Where is my October invoice?"}
    return client.post("/support/ask", data=form, content_type="multipart/form-data")


def test_a_question_sent_twice_from_the_account_makes_one_thread(app, ann, client):
    first = ask(client)
    assert first.status_code == 302
    again = ask(client)
    assert again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"]
    assert count(app, Question) == 1
    assert len(mails(app)) == 1
    page = client.get(again.headers["Location"])
    assert "Your question was sent." in text_of(page.text)


def test_a_question_sent_from_two_tabs_at_once_makes_one_thread(app, ann, client, monkeypatch):
    """Both copies pass their checks together; the account's row, locked, lets one in first."""
    barrier = threading.Barrier(2, timeout=20)
    real = support_services.asked_already

    def together(*args, **kwargs):
        barrier.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(support_services, "asked_already", together)
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    answers = []
    threads = [threading.Thread(target=lambda c=c: answers.append(ask(c))) for c in (client, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(answer.status_code for answer in answers) == [302, 302]
    assert answers[0].headers["Location"] == answers[1].headers["Location"]
    assert count(app, Question) == 1
    assert len(mails(app)) == 1


def test_the_same_words_asked_again_later_are_a_new_question(app, ann, client):
    ask(client)
    with app.app_context():
        db.session.execute(sa.update(Question).values(created_at=utcnow().replace(year=2020)))
        db.session.commit()
    ask(client)
    assert count(app, Question) == 2


def test_a_question_sent_again_without_an_account_shows_its_reference(
    app, client, captcha_solver, tmp_path
):
    """A double click sends the picture's code twice, and the code works once: the second copy
    came back with a new picture and "The code did not match", though the question was sent.
    Now it answers as the first: the page of the question sent."""
    app.instance_path = str(tmp_path / "instance")
    fields = {
        "email": "visitor@example.net",
        "name": "Tisza Bakery Kft.",
        "contract_number": "",
        "subject": "lost_login",
        "question": "I forgot which email I registered with.",
    }
    page = client.get("/support/ask").text
    solved = captcha_solver(page)
    assert client.post("/support/ask", data={**fields, **solved}).status_code == 302
    again = client.post("/support/ask", data={**fields, **solved})
    assert again.status_code == 302 and again.headers["Location"] == "/support/ask/sent"
    with app.app_context():
        reference = db.session.scalar(sa.select(Question.reference))
    assert reference in client.get("/support/ask/sent").text
    assert count(app, Question) == 1
    assert len(mails(app)) == 1

    # Other words with the used picture are not that form again; nor is it a minute later.
    other = client.post("/support/ask", data={**fields, **solved, "question": "And my code?"})
    assert other.status_code == 422
    assert "The code did not match the picture." in other.text
    assert "And my code?" in other.text
    used_a_while_ago(app, solved["captcha_id"])
    late = client.post("/support/ask", data={**fields, **solved})
    assert late.status_code == 422
    assert count(app, Question) == 1


def used_a_while_ago(app, challenge_id: str) -> None:
    with app.app_context():
        challenge = db.session.get(CaptchaChallenge, challenge_id)
        challenge.used_at -= timedelta(minutes=2)
        db.session.commit()


def test_forgot_password_sent_twice_mails_one_link(app, make_user, client, captcha_solver):
    """The second copy, with the picture the first used up, said "The code did not match"
    on the page the customer saw, though the link was on its way."""
    make_user()
    fields = {"email": "ann@example.com", "tax_id": "7701234567"}
    solved = captcha_solver(client.get("/forgot-password").text)
    answers = [client.post("/forgot-password", data={**fields, **solved}) for _ in range(2)]
    assert [a.headers.get("Location") for a in answers] == ["/forgot-password/sent"] * 2
    assert mails(app) == ["Set a new password"]

    wrong = captcha_solver(client.get("/forgot-password").text) | {"captcha": "XXXXX"}
    for _ in range(2):
        refused = client.post("/forgot-password", data={**fields, **wrong})
        assert refused.status_code == 422
        assert "The code did not match the picture." in refused.text
    used_a_while_ago(app, solved["captcha_id"])
    assert client.post("/forgot-password", data={**fields, **solved}).status_code == 422
    assert mails(app) == ["Set a new password"]


def test_a_reply_sent_twice_is_added_once(app, ann, client):
    ask(client)
    with app.app_context():
        reference = db.session.scalar(sa.select(Question.reference))
    url = f"/support/questions/{reference}/reply"
    form = {"body": "Here is the scan.", "seen": "1"}
    assert client.post(url, data=form, content_type="multipart/form-data").status_code == 302
    again = client.post(url, data=form, content_type="multipart/form-data", follow_redirects=True)
    assert "Your reply was added." in text_of(again.text)
    assert count(app, Message) == 2
    # The same words once more from a page that showed the reply: a reply of its own.
    form["seen"] = "2"
    client.post(url, data=form, content_type="multipart/form-data")
    assert count(app, Message) == 3


# --- readings -------------------------------------------------------------------------------


@pytest.fixture
def meter(app, ann, monkeypatch):
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 11, 20, 12, tzinfo=UTC))
    with app.app_context():
        contract = Contract(
            number="EL-TWICE",
            holder_name="Twice Kft.",
            tax_id="1",
            address="Pécs",
            account_id=ann,
            attached_at=utcnow(),
        )
        db.session.add(contract)
        db.session.flush()
        meter = Meter(
            contract_id=contract.id, serial="SN-TWICE", zones="T1", installed_on=date(2020, 1, 1)
        )
        db.session.add(meter)
        db.session.flush()
        db.session.add(Reading(meter_id=meter.id, zone="T1", period=date(2026, 10, 1), value=1000))
        db.session.commit()
        return meter.id


def test_readings_sent_twice_are_stored_and_mailed_once(app, meter, client):
    url = f"/electricity/EL-TWICE/readings/meters/{meter}"
    first = client.post(url, data={"T1": "1100"})
    assert first.status_code == 302
    again = client.post(url, data={"T1": "1100"})
    assert again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"]
    november = Reading.period == date(2026, 11, 1)
    assert count(app, Reading, november) == 1
    assert len(mails(app)) == 1
    # A correction is still a correction: it supersedes and is mailed.
    client.post(url, data={"T1": "1101"})
    with app.app_context():
        rows = db.session.execute(
            sa.select(Reading.value, Reading.status).where(november).order_by(Reading.id)
        ).all()
    assert rows == [(Decimal("1100"), "superseded"), (Decimal("1101"), "accepted")]
    assert len(mails(app)) == 2
