"""In Chromium: a reply typed while the session ended, or sent with a token gone stale (a
sign-out in another tab), stays in its field with the note beside the form; signed in again
in another tab, the same form goes with one more press (tests/web/test_expired_forms.py has
the server's answers, with and without htmx)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import Message, UserSession, utcnow
from tests.conftest import TEST_PASSWORD
from tests.web.test_support import make_question

pytestmark = pytest.mark.sqlite_only

REPLY = "The meter in the cellar\nstill shows nothing."
SIGNED_OUT = (
    "Your session has ended, so this form was not sent. What you typed is still here: "
    "sign in again in a new tab, then send this form again."
)


@pytest.fixture
def app(app, tmp_path):
    app.instance_path = str(tmp_path / "instance")
    return app


@pytest.fixture
def answered_statuses():
    """The 400 a form sent with a stale token gets is an answer here."""
    return (400, 422)


def _sign_in(page):
    page.goto("/login")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.locator("#login-form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


def _replies(app) -> list[str]:
    with app.app_context():
        return db.session.scalars(sa.select(Message.body).order_by(Message.id).offset(1)).all()


def test_a_typed_reply_outlives_the_session_and_a_stale_token(app, page, make_user):
    ann = make_user()
    reference = make_question(app, user_id=ann)
    _sign_in(page)
    thread = f"/support/questions/{reference}"
    page.goto(thread)
    reply = page.get_by_label("Your reply")
    reply.fill(REPLY)

    # The session ends while the reply is typed (idle for an hour): no way to sign-in that
    # would leave the page, the note beside the form says what to do.
    with app.app_context():
        past = utcnow() - timedelta(hours=1)
        db.session.execute(sa.update(UserSession).values(last_seen_at=past))
        db.session.commit()
    page.get_by_role("button", name="Send reply").click()
    note = page.locator("#reply-form .form-kept")
    note.wait_for()
    assert note.inner_text().startswith(SIGNED_OUT)
    assert page.evaluate("document.activeElement.classList.contains('form-kept')")
    link = note.get_by_role("link", name="Sign in in a new tab")
    assert link.get_attribute("target") == "_blank"
    assert reply.input_value() == REPLY and page.url.endswith(thread)
    assert _replies(app) == []

    # Signed in again in another tab (a new session and token), one more press sends it.
    other = page.context.new_page()
    _sign_in(other)
    other.close()
    page.get_by_role("button", name="Send reply").click()
    page.locator(".message-body", has_text="still shows nothing").wait_for()
    assert _replies(app) == [REPLY]

    # Signed out in another tab: the token of this page is stale, and the 400 that says so
    # does not replace the form either.
    page.get_by_label("Your reply").fill("One more thing.")
    token = page.evaluate("JSON.parse(document.body.dataset.hxHeaders)['X-CSRFToken']")
    page.context.request.post("/logout", form={"csrf_token": token})
    with page.expect_response(lambda response: response.status == 400):
        page.get_by_role("button", name="Send reply").click()
    note.wait_for()
    assert note.inner_text().startswith(SIGNED_OUT)
    assert page.get_by_label("Your reply").input_value() == "One more thing."
    assert page.locator("h1").first.inner_text() != "The form has expired"
    assert _replies(app) == [REPLY]
