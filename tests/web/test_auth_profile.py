"""The profile: details, password change, email change, the list of sessions."""

import re

import sqlalchemy as sa

from lkapp.auth.sessions import session_handle
from lkapp.extensions import db
from lkapp.models import AuditEvent, User, UserSession
from tests.conftest import TEST_PASSWORD, AuthActions

NEW = "a quiet harbour at dawn"


def _user(app, user_id) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def _actions(app):
    with app.app_context():
        return db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()


def _second_device(app):
    other = app.test_client()
    AuthActions(other).login()
    return other


def test_profile_pages_need_sign_in(client):
    for url in (
        "/profile",
        "/profile/password",
        "/profile/email",
        "/profile/sessions",
        "/profile/two-factor",
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"] == f"/login?next={url}"
    response = client.htmx("POST", "/profile", data={"name": "x"})
    assert response.headers["HX-Redirect"].startswith("/login")


def test_details_change_name_phone_language_and_notices(app, client, make_user, auth):
    user_id = make_user()
    auth.login()
    page = client.get("/profile").get_data(as_text=True)
    for label in ("Name or organisation", "Phone", "Language"):
        assert f">{label}</label>" in page
    assert "7701234567" in page  # the tax id, read-only
    response = client.post(
        "/profile",
        data={
            "name": "Ann's Bakery and Café",
            "phone": "+36 30 123 4567",
            "locale": "hu",
            "notify_documents": "y",
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    user = _user(app, user_id)
    assert user.name == "Ann's Bakery and Café" and user.phone == "+36 30 123 4567"
    assert user.locale == "hu"
    assert (user.notify_documents, user.notify_debt, user.notify_readings) == (True, False, False)
    assert 'lang="hu"' in client.get("/profile").get_data(as_text=True)
    assert "auth.profile_updated" in _actions(app)


def test_details_bad_input_comes_back_beside_the_fields(app, client, make_user, auth):
    user_id = make_user()
    auth.login()
    response = client.htmx("POST", "/profile", data={"name": "", "phone": "12", "locale": "xx"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="name-error"' in page and 'id="phone-error"' in page and 'id="locale-error"' in page
    assert "<header" not in page and 'id="details-form"' in page
    assert _user(app, user_id).name == "Ann's Bakery Ltd"


def test_password_change_needs_the_current_one_and_ends_other_sessions(
    app, client, make_user, auth, mailbox
):
    user_id = make_user()
    auth.login()
    other = _second_device(app)
    page = client.get("/profile/password").get_data(as_text=True)
    for label in ("Current password", "New password", "Repeat new password"):
        assert f">{label}</label>" in page

    wrong = client.post(
        "/profile/password",
        data={"current_password": "not it at all", "password": NEW, "password2": NEW},
    )
    assert wrong.status_code == 422
    assert "That is not your current password." in wrong.get_data(as_text=True)
    assert _user(app, user_id).failed_logins == 1
    weak = client.post(
        "/profile/password",
        data={"current_password": TEST_PASSWORD, "password": "ann@example.com!", "password2": "x"},
    )
    assert "must not contain your email" in weak.get_data(as_text=True)

    mailbox.clear()
    response = client.post(
        "/profile/password",
        data={"current_password": TEST_PASSWORD, "password": NEW, "password2": NEW},
    )
    assert response.status_code == 302
    after = client.get("/profile")  # this session goes on
    assert "1 other session was signed out" in after.get_data(as_text=True)
    assert other.get("/profile").status_code == 302  # the other one has ended
    [notice] = mailbox.to("ann@example.com")
    assert notice["Subject"] == "Your password was changed"
    assert "changed in the profile" in mailbox.text(notice)
    assert "auth.password_changed" in _actions(app)


def test_email_change_goes_through_the_new_mailbox(app, client, make_user, auth, mailbox):
    user_id = make_user()
    auth.login()
    page = client.get("/profile/email").get_data(as_text=True)
    assert ">New email</label>" in page and ">Current password</label>" in page
    response = client.post(
        "/profile/email",
        data={"email": "ann.new@example.net", "current_password": TEST_PASSWORD},
    )
    assert response.status_code == 302
    assert _user(app, user_id).email == "ann@example.com"  # not before it is confirmed
    [message] = mailbox.to("ann.new@example.net")
    assert message["Subject"] == "Confirm your new email address"
    [link] = [x for x in mailbox.links(message) if "/profile/email/confirm/" in x]

    mailbox.clear()
    opened = app.test_client().get(link)  # as the new mailbox's link protection opens it
    assert opened.status_code == 200 and opened.headers["Cache-Control"] == "no-store"
    assert "Press the button to sign in with ann.new@example.net from now on" in opened.get_data(
        as_text=True
    )
    assert _user(app, user_id).email == "ann@example.com" and mailbox.messages == []
    assert client.post(link, csrf=False).status_code == 400
    assert _user(app, user_id).email == "ann@example.com"

    confirmed = client.post(link)
    assert confirmed.status_code == 200
    assert "ann.new@example.net" in confirmed.get_data(as_text=True)
    user = _user(app, user_id)
    assert user.email == "ann.new@example.net" and user.confirmed_at is not None
    [notice] = mailbox.to("ann@example.com")  # the old address hears of it
    assert notice["Subject"] == "The email address of your account was changed"
    assert "ann.new@example.net" in mailbox.text(notice)
    assert {"auth.email_change_requested", "auth.email_changed"} <= set(_actions(app))
    assert client.post(link).status_code == 400  # once only
    assert client.get(link).status_code == 400

    client.post("/logout")
    assert (
        client.post(
            "/login", data={"email": "ann.new@example.net", "password": TEST_PASSWORD}
        ).status_code
        == 302
    )


def _email_change_link(client, mailbox, new_email):
    mailbox.clear()
    client.post("/profile/email", data={"email": new_email, "current_password": TEST_PASSWORD})
    [message] = mailbox.to(new_email)
    [link] = [x for x in mailbox.links(message) if "/profile/email/confirm/" in x]
    return link


def test_an_email_change_link_dies_once_the_email_changed_after_it(
    app, client, make_user, auth, mailbox
):
    """A to B, then B back to A: the first link finds the same email and password as when it
    was sent, yet must not bring B back."""
    user_id = make_user()
    auth.login()
    first = _email_change_link(client, mailbox, "ann.new@example.net")
    assert client.post(first).status_code == 200
    second = _email_change_link(client, mailbox, "ann@example.com")
    assert client.post(second).status_code == 200
    assert _user(app, user_id).email == "ann@example.com"

    again = client.post(first)
    assert again.status_code == 400
    assert "The link has expired or has already been used" in again.get_data(as_text=True)
    assert _user(app, user_id).email == "ann@example.com"


def test_email_change_to_a_taken_address_says_nothing_but_tells_its_owner(
    app, client, make_user, auth, mailbox
):
    user_id = make_user()
    make_user(email="bob@example.com", locale="ru")
    auth.login()
    response = client.post(
        "/profile/email", data={"email": "BOB@example.com", "current_password": TEST_PASSWORD}
    )
    assert response.status_code == 302
    assert "We sent a confirmation link" in client.get("/profile/email").get_data(as_text=True)
    [notice] = mailbox.messages
    assert notice["To"] == "bob@example.com"
    assert not mailbox.links(notice) or "/confirm/" not in " ".join(mailbox.links(notice))
    assert _user(app, user_id).email == "ann@example.com"


def test_email_change_bad_input(app, client, make_user, auth, mailbox):
    make_user()
    auth.login()
    same = client.post(
        "/profile/email", data={"email": "Ann@Example.com", "current_password": TEST_PASSWORD}
    )
    assert "This is your current email address." in same.get_data(as_text=True)
    wrong = client.post(
        "/profile/email", data={"email": "new@example.com", "current_password": "nope nope"}
    )
    assert "That is not your current password." in wrong.get_data(as_text=True)
    invalid = client.htmx("POST", "/profile/email", data={"email": "new@", "current_password": ""})
    page = invalid.get_data(as_text=True)
    assert invalid.status_code == 422 and 'id="email-error"' in page
    assert 'id="current_password-error"' in page and 'value="new@"' in page
    assert mailbox.messages == []


def test_email_confirmation_fails_when_the_address_was_taken_meanwhile(
    app, client, make_user, auth, mailbox
):
    make_user()
    auth.login()
    client.post(
        "/profile/email", data={"email": "late@example.com", "current_password": TEST_PASSWORD}
    )
    [link] = [x for x in mailbox.links(mailbox.messages[0]) if "/confirm/" in x]
    make_user(email="LATE@example.com")
    response = client.post(link)
    assert response.status_code == 409
    assert "Another account uses this email address" in response.get_data(as_text=True)


def test_sessions_list_and_sign_out_everywhere_else(app, client, make_user, auth):
    make_user()
    make_user(email="bob@example.com")
    auth.login()
    other = _second_device(app)
    bob = app.test_client()
    AuthActions(bob).login(email="bob@example.com")
    page = client.get("/profile/sessions").get_data(as_text=True)
    assert "This device" in page and "127.0.0.1" in page
    assert page.count('/end"') == 1  # a button for the other device, none for this one
    assert ">Sign out everywhere else</button>" in page

    with app.app_context():
        bob_session = db.session.scalar(
            sa.select(UserSession.id).join(User).where(User.email == "bob@example.com")
        )
    assert client.post(f"/profile/sessions/{bob_session}/end").status_code == 404
    assert client.post(f"/profile/sessions/{session_handle(bob_session)}/end").status_code == 404
    assert bob.get("/profile").status_code == 200

    response = client.post("/profile/sessions/others")
    assert response.status_code == 302
    assert other.get("/profile").status_code == 302
    assert client.get("/profile").status_code == 200
    assert bob.get("/profile").status_code == 200
    assert "auth.sessions_revoked" in _actions(app)
    assert client.post("/profile/sessions/others", csrf=False).status_code == 400


def test_one_other_session_can_be_ended_by_its_handle_not_its_id(app, client, make_user, auth):
    """The session id is what a signed cookie carries: the page and its URLs (and so the
    access log) name a session by a hash of it instead."""
    make_user()
    auth.login()
    other = _second_device(app)
    with app.app_context():
        this_id, other_id = db.session.scalars(
            sa.select(UserSession.id).order_by(UserSession.created_at)
        ).all()
    page = client.get("/profile/sessions").get_data(as_text=True)
    assert this_id not in page and other_id not in page
    [action] = re.findall(r'action="(/profile/sessions/[0-9a-f]+/end)"', page)

    assert client.post(f"/profile/sessions/{other_id}/end").status_code == 404
    assert other.get("/profile").status_code == 200
    assert client.post(action).status_code == 302
    assert other.get("/profile").status_code == 302
    assert client.get("/profile").status_code == 200
    assert client.post(action).status_code == 404  # ended already


def test_header_links_to_the_profile_and_sign_out(client, make_user, auth):
    make_user()
    auth.login()
    page = client.get("/").get_data(as_text=True)
    assert 'href="/profile"' in page and 'action="/logout"' in page


def test_email_change_mail_greets_no_one_and_comes_five_times_a_day(
    app, client, make_user, auth, mailbox
):
    """It goes to an address nobody has confirmed yet: the name typed beside the account
    ("WIN 5000 EUR refund! Claim now at …") went out in the utility's mail to any address,
    as often as the per-IP limit let through."""
    make_user(name="WIN 5000 EUR refund! Claim at refund.example")
    auth.login()
    for n in range(5):
        response = client.post(
            "/profile/email",
            data={"email": f"target{n}@example.org", "current_password": TEST_PASSWORD},
        )
        assert response.status_code == 302
    messages = mailbox.messages
    assert len(messages) == 5
    assert all("WIN 5000" not in mailbox.text(m) + mailbox.html(m) for m in messages)
    greetings = [line for line in mailbox.text(messages[0]).splitlines() if "Hello" in line]
    assert greetings == ["Hello,"]

    sixth = client.post(
        "/profile/email", data={"email": "target5@example.org", "current_password": TEST_PASSWORD}
    )
    assert sixth.status_code == 422
    assert "You have asked for 5 email changes in the last 24 hours." in sixth.text
    assert 'value="target5@example.org"' in sixth.text
    assert len(mailbox.messages) == 5


def test_what_a_screen_reader_names_on_the_profile_pages(app, client, make_user, auth):
    """Each language is marked as written in its own language, and each "Sign out" button of
    the sessions table names the device it ends (it was one of several alike)."""
    make_user()
    auth.login()
    other = app.test_client()
    other.post(
        "/login",
        data={"email": "ann@example.com", "password": TEST_PASSWORD},
        headers={"User-Agent": "Mozilla/5.0 (Windows NT 10.0) Firefox/128.0"},
    )
    profile = client.get("/profile").text
    assert '<option lang="hu" value="hu">Magyar</option>' in profile
    sessions = client.get("/profile/sessions").text
    [session_id] = re.findall(r'aria-describedby="(session-\d+)">Sign out</button>', sessions)
    device = re.search(rf'<th scope="row" class="stack-title" id="{session_id}">([^<]*)', sessions)
    assert "Firefox" in device.group(1)


def test_a_name_pasted_with_line_breaks_is_kept_on_one_line(app, client, make_user, auth):
    """A name is one line in every greeting and page header: a pasted line break or tab used
    to be stored, and split the greeting of every mail ("Hello, Nagy Péter⏎Bcc: …,")."""
    user_id = make_user()
    auth.login()
    response = client.post(
        "/profile",
        data={
            "name": " Nagy Péter\r\nBcc: x@example.org\t Kft. ",
            "phone": "+36 1 555 0101",
            "locale": "en",
        },
    )
    assert response.status_code == 302
    assert _user(app, user_id).name == "Nagy Péter Bcc: x@example.org Kft."


def test_a_name_of_invisible_characters_only_is_refused(app, client, make_user, auth):
    """Zero-width spaces, direction controls and the like were stored as a name, and showed
    as nothing in the back office and in the greeting of every mail."""
    user_id = make_user()
    auth.login()
    for name, message in (
        ("\u200b\u200b \u200b", "This name has no visible characters."),
        ("\u2060\ufeff\u034f", "This name has no visible characters."),
        ("\u202e\u2066", "Enter your name or the name of your organisation."),
    ):
        response = client.post(
            "/profile", data={"name": name, "phone": "+36 1 555 0101", "locale": "en"}
        )
        page = response.get_data(as_text=True)
        assert response.status_code == 422
        error = page.split('id="name-error"')[1].split("</")[0]
        assert message in error
        assert "Use 2 to 200 characters." not in page
        assert 'value="+36 1 555 0101"' in page  # the rest of the form is kept
    assert _user(app, user_id).name == "Ann's Bakery Ltd"
    assert "auth.profile_updated" not in _actions(app)
    response = client.post(
        "/profile",
        data={"name": "\u202eKovács Árpádné\u202c", "phone": "+36 1 555 0101", "locale": "en"},
    )
    assert response.status_code == 302
    assert _user(app, user_id).name == "Kovács Árpádné"


def test_an_email_change_link_dies_when_the_office_locks_the_account(
    app, client, make_user, auth, mailbox
):
    """A stolen session asked to move the account to the thief's address; the office locks
    the account: the link must not move it, neither during the lock nor after the unlock."""
    victim = make_user()
    auth.login()
    link = _email_change_link(client, mailbox, "intruder@evil.example")
    office = app.test_client()
    make_user(email="op@example.org", role="staff")
    AuthActions(office).login(email="op@example.org")
    locked = office.post(f"/staff/customers/{victim}/lock", data={"reason": "stolen laptop"})
    assert locked.status_code == 302

    intruder = app.test_client()
    for response in (intruder.get(link), intruder.post(link)):
        assert response.status_code == 400
        assert "The link has expired or has already been used" in response.get_data(as_text=True)
    assert _user(app, victim).email == "ann@example.com"
    assert "auth.email_changed" not in _actions(app)

    office.post(f"/staff/customers/{victim}/unlock", data={"reason": "checked"})
    assert intruder.post(link).status_code == 400
    assert _user(app, victim).email == "ann@example.com"
    assert mailbox.to("ann@example.com") == []  # no "your address was changed" either


def test_a_wrong_tax_id_leads_to_the_question_form(client, make_user, auth):
    """The tax ID cannot be changed here: the page says where to ask, with a link to it."""
    make_user()
    auth.login()
    page = client.get("/profile").get_data(as_text=True)
    assert "The tax ID cannot be changed here: it ties the account to your contracts." in page
    assert '<a href="/support/ask">Is it wrong? Ask us to correct it.</a>' in page
    assert client.get("/support/ask").status_code == 200


def test_a_current_password_over_the_cap_is_refused_in_the_readers_language(
    client, make_user, auth
):
    """WTForms' own "Field cannot be longer than N characters." stayed English on a Hungarian
    page (its catalogue lacks that plural): the portal's own words are said instead."""
    make_user()
    auth.login()
    client.post("/language", data={"locale": "hu", "next": "/"})
    for url in ("/profile/password", "/profile/email", "/profile/close"):
        response = client.post(url, data={"current_password": "x" * 1025})
        assert response.status_code == 422, url
        assert "Legfeljebb 1024 karaktert használjon." in response.text, url
        assert "Field cannot be longer" not in response.text, url
