"""A form sent after its session ended, or with a token gone stale (a sign-out or sign-in in
another tab), loses nothing the customer typed: with htmx the answer carries the note that
app.js puts beside the form, which stays (tests/browser/test_expired_forms.py); without
JavaScript the page that says so shows back what was typed (not secrets), status 400 or 401."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import Question, UserSession, utcnow
from tests.conftest import TEST_PASSWORD, text_of

pytestmark = pytest.mark.sqlite_only

QUESTION = "Our meter in the bakery shows\nodd numbers since Monday."
# The big forms a customer types into, with what they would type. The CSRF check and the
# sign-in check come before the view: no question, contract or meter needs to exist.
FORMS = {
    "/support/ask": {"contract": "1", "subject": "documents", "question": QUESTION},
    "/support/questions/Q-1/reply": {"body": QUESTION},
    "/electricity/EL-1/readings/meters/1": {"T1": "12345.6", "T2": "6543.2"},
    "/profile": {"name": "Ann's Bakery and Sons", "phone": "+36 1 555 0199", "locale": "en"},
    "/profile/password": {
        "current_password": TEST_PASSWORD,
        "password": "a brand new long secret",
        "password2": "a brand new long secret",
    },
}
# What the page shows back without JavaScript: never a password (with htmx the form stays).
TYPED = {
    url: next(v for k, v in fields.items() if k not in ("contract", "locale"))
    for url, fields in FORMS.items()
    if url != "/profile/password"
}
KEPT_NOTE = '<template data-form-kept data-signed-in="false">'
SIGNED_OUT = (
    "Your session has ended, so this form was not sent. What you typed is still here: "
    "sign in again in a new tab, then send this form again."
)
EXPIRED = "This form was not sent: it had expired. What you typed is still here: send it again."
SAME_SITE = {"Origin": "http://localhost"}
# Asking is open to visitors too, but the account's form (it names a contract, not an email)
# sent after the session ended is sent to sign in too, not taken as a visitor's.
SIGNED_IN_ONLY = list(FORMS)


@pytest.fixture
def ann(make_user, auth):
    make_user()
    auth.login()


def _end_session(app) -> None:
    """Idle for longer than a session lives: the cookie and its token are still good."""
    with app.app_context():
        db.session.execute(
            sa.update(UserSession).values(last_seen_at=utcnow() - timedelta(hours=1))
        )
        db.session.commit()


def _questions(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Question))


@pytest.mark.parametrize("url", FORMS)
def test_htmx_form_with_a_stale_token_gets_the_note_that_keeps_it(app, client, ann, url):
    stale = client._csrf_token()
    client.post("/logout")  # in another tab: a new session, a new token
    response = client.open(
        url,
        method="POST",
        data={**FORMS[url], "csrf_token": stale},
        headers={"HX-Request": "true", "X-CSRFToken": stale, "HX-Current-URL": "http://localhost/"},
    )
    assert response.status_code == 400
    assert KEPT_NOTE in response.text
    assert SIGNED_OUT in text_of(response.text) and EXPIRED in text_of(response.text)
    assert 'href="/login" target="_blank" rel="noopener">Sign in in a new tab</a>' in response.text
    # A button with nothing typed behind it still shows the error in the main area.
    assert response.headers["HX-Retarget"] == "#main"
    assert _questions(app) == 0


def test_signed_in_again_elsewhere_the_note_says_send_again(app, client, make_user, auth):
    make_user()
    auth.login()
    stale = client._csrf_token()
    client.post("/logout")  # in another tab, and signed in again there: a new token
    auth.login()
    response = client.open(
        "/support/ask",
        method="POST",
        data={**FORMS["/support/ask"], "csrf_token": stale},
        headers={"HX-Request": "true", "X-CSRFToken": stale},
    )
    assert response.status_code == 400
    assert '<template data-form-kept data-signed-in="true">' in response.text
    assert _questions(app) == 0


@pytest.mark.parametrize("url", SIGNED_IN_ONLY)
def test_htmx_form_after_the_session_ended_gets_the_note_with_the_way_to_sign_in(
    app, client, ann, url
):
    _end_session(app)
    response = client.htmx("POST", url, data=FORMS[url])
    assert response.status_code == 200  # a body, for app.js: not 204
    assert response.headers["HX-Redirect"] == "/login?next=/"  # what htmx does without app.js
    assert KEPT_NOTE in response.text and SIGNED_OUT in text_of(response.text)
    assert _questions(app) == 0


def test_other_htmx_redirects_stay_empty(app, client, ann):
    assert client.htmx("POST", "/session/keep").status_code == 204
    ok = client.htmx("POST", "/profile", data=FORMS["/profile"])
    assert ok.status_code == 204 and ok.data == b"" and ok.headers["HX-Redirect"] == "/profile"


@pytest.mark.parametrize("url", TYPED)
def test_plain_form_with_a_stale_token_shows_what_was_typed(app, client, ann, url):
    stale = client._csrf_token()
    client.post("/logout")
    response = client.post(url, data={**FORMS[url], "csrf_token": stale}, headers=SAME_SITE)
    assert response.status_code == 400
    page = text_of(response.text)
    assert "The form has expired" in page and "What you typed" in page
    assert TYPED[url] in response.text.replace("&#39;", "'")
    assert TEST_PASSWORD not in response.text and "a brand new long secret" not in response.text
    assert "<template" not in response.text  # the note is for htmx answers only
    assert _questions(app) == 0


def test_another_sites_form_is_not_shown_back(client, ann):
    data = {"body": "Call +1 555 0100 now", "csrf_token": "forged"}
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {}):
        response = client.post("/support/questions/Q-1/reply", data=data, headers=headers)
        assert response.status_code == 400
        assert "Call +1" not in response.text and "What you typed" not in response.text
    same = client.post(
        "/support/questions/Q-1/reply", data=data, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert "Call +1 555 0100 now" in same.text


@pytest.mark.parametrize("url", [url for url in SIGNED_IN_ONLY if url in TYPED])
def test_plain_form_after_the_session_ended_shows_what_was_typed(app, client, ann, url):
    _end_session(app)
    response = client.post(url, data=FORMS[url], headers=SAME_SITE)
    assert response.status_code == 401
    page = text_of(response.text)
    assert "Your session has ended" in page and "What you typed" in page
    assert "The form was not sent. Sign in again, then send it again." in page
    assert TYPED[url] in response.text.replace("&#39;", "'")
    if "readings" in url:  # each reading with its zone: two bare numbers would be no use
        assert "T1: 12345.6" in page and "T2: 6543.2" in page
    assert TEST_PASSWORD not in response.text
    assert 'href="/login" target="_blank" rel="noopener">Sign in in a new tab</a>' in response.text
    assert _questions(app) == 0


def test_plain_passwords_are_never_shown_back(app, client, ann):
    stale = client._csrf_token()
    client.post("/logout")
    data = {**FORMS["/profile/password"], "csrf_token": stale}
    response = client.post("/profile/password", data=data, headers=SAME_SITE)
    assert response.status_code == 400 and "The form has expired" in response.text
    assert TEST_PASSWORD not in response.text and "What you typed" not in response.text


def test_plain_post_with_nothing_typed_still_goes_to_sign_in(app, client, ann):
    _end_session(app)
    for url, data in (("/session/keep", {}), ("/profile/password", FORMS["/profile/password"])):
        response = client.post(url, data=data, headers=SAME_SITE)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
