"""A sign-in from a browser the account has not used lately mails the account a notice: the
one sign it gets of its password in someone else's hands."""

import re
from datetime import timedelta

import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import User, UserSession, utcnow
from tests.conftest import TEST_PASSWORD, TEST_TOTP_SECRET, AuthActions

FIREFOX_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0"
)
SUBJECTS = {
    "en": "New sign-in to your account",
    "hu": "Új bejelentkezés a fiókjába",
}


def _notices(mailbox, subject=SUBJECTS["en"]):
    return [m for m in mailbox.to("ann@example.com") if m["Subject"] == subject]


def _browser(app, agent=FIREFOX_ON_WINDOWS, ip="203.0.113.7"):
    """Another browser: its own cookie jar, its own User-Agent and address."""
    other = app.test_client()
    other.environ_base.update(HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
    return other


def _age_every_session(app, days):
    long_ago = utcnow() - timedelta(days=days)
    with app.app_context():
        db.session.execute(
            sa.update(UserSession).values(created_at=long_ago, last_seen_at=long_ago)
        )
        db.session.commit()


def test_a_new_browser_is_told_to_the_account_a_known_one_is_not(app, client, make_user, mailbox):
    make_user()
    AuthActions(client).login()  # the first sign-in on record: nothing to compare it with
    client.post("/logout")
    AuthActions(client).login()  # the same browser again
    assert _notices(mailbox) == []
    cookie = client.get_cookie("lkapp_device")
    assert cookie.http_only and cookie.same_site == "Lax" and cookie.max_age == 90 * 86400

    other = _browser(app)
    AuthActions(other).login()
    [notice] = _notices(mailbox)
    text = mailbox.text(notice)
    assert "Hello, Ann's Bakery Ltd," in text
    assert "Firefox on Windows" in text and "203.0.113.7" in text
    assert "http://localhost/profile/sessions" in text
    assert "http://localhost/forgot-password" in text
    html = mailbox.html(notice)
    assert "Firefox on Windows" in html and 'href="http://localhost/profile/sessions"' in html

    other.post("/logout")
    AuthActions(other).login()  # that browser is known now
    assert len(_notices(mailbox)) == 1


def test_a_wrong_password_from_a_new_browser_sends_no_notice(app, client, make_user, mailbox):
    make_user()
    AuthActions(client).login()
    other = _browser(app)
    response = other.post("/login", data={"email": "ann@example.com", "password": "not-it-123"})
    assert response.status_code == 422
    assert _notices(mailbox) == []


def test_the_notice_speaks_the_accounts_language(app, client, make_user, mailbox):
    make_user(locale="hu")
    AuthActions(client).login()
    AuthActions(_browser(app)).login()
    [notice] = _notices(mailbox, SUBJECTS["hu"])
    text = mailbox.text(notice)
    assert "Ha Ön volt, nincs teendője." in text
    assert "Eszköz: Firefox" in text and "IP-cím: 203.0.113.7" in text
    assert "Device" not in text and "IP address" not in text


def test_for_two_factor_only_a_passed_second_step_makes_a_browser_known(
    app, client, make_user, mailbox
):
    """Someone with the password but not the app gets as far as the code: that browser must
    not count as known when they get the code later."""
    make_user(totp_secret=TEST_TOTP_SECRET)
    AuthActions(client).login()
    thief = _browser(app)
    response = thief.post("/login", data={"email": "ann@example.com", "password": TEST_PASSWORD})
    assert response.headers["Location"].startswith("/login/two-factor")
    assert _notices(mailbox) == []  # the password step alone is not a sign-in

    thief_again = _browser(app)
    thief_again.set_cookie("lkapp_device", thief.get_cookie("lkapp_device").value)
    AuthActions(thief_again).login()
    assert len(_notices(mailbox)) == 1


def test_the_first_sign_in_after_the_upgrade_records_the_browser_without_a_notice(
    app, client, make_user, mailbox
):
    """Right after the upgrade no account has recorded a browser: its first sign-in learns
    one without a mail, or every account would get one."""
    user_id = make_user()
    AuthActions(client).login()
    with app.app_context():
        db.session.execute(sa.update(UserSession).values(device=None))
        db.session.execute(sa.update(User).values(devices_recorded=False))
        db.session.commit()
    AuthActions(_browser(app)).login()
    assert _notices(mailbox) == []
    with app.app_context():
        assert db.session.get(User, user_id).devices_recorded
    AuthActions(_browser(app, ip="198.51.100.9")).login()
    assert len(_notices(mailbox)) == 1


def test_any_browser_is_new_to_an_account_unused_for_ninety_days(app, client, make_user, mailbox):
    """Its old sessions are gone by then; a sign-in to a dormant account is just what the
    notice is for."""
    make_user()
    AuthActions(client).login()
    client.post("/logout")
    _age_every_session(app, days=91)
    AuthActions(_browser(app)).login()
    assert len(_notices(mailbox)) == 1


def test_a_sign_in_deletes_the_accounts_sessions_that_ended_long_ago(app, client, make_user):
    make_user()
    make_user(email="bob@example.com")
    AuthActions(client).login()
    AuthActions(app.test_client()).login(email="bob@example.com")
    _age_every_session(app, days=91)
    AuthActions(_browser(app)).login()
    with app.app_context():
        owners = db.session.scalars(
            sa.select(User.email).join(UserSession, UserSession.user_id == User.id)
        ).all()
    assert sorted(owners) == ["ann@example.com", "bob@example.com"]  # Ann's new one, Bob's old


def test_a_browser_signed_out_by_the_owner_is_new_again(app, client, make_user, mailbox):
    """The owner got the notice, signed the stranger out and changed the password: if the
    stranger gets the new password too, their next sign-in is told again."""
    make_user()
    AuthActions(client).login()
    thief = _browser(app)
    AuthActions(thief).login()
    assert len(_notices(mailbox)) == 1
    page = client.get("/profile/sessions").text
    [action] = re.findall(r'action="(/profile/sessions/[0-9a-f]+/end)"', page)
    assert client.post(action).status_code == 302
    AuthActions(thief).login()
    assert len(_notices(mailbox)) == 2

    # The same after "Sign out everywhere else" (and so a password change, a lock).
    client.post("/profile/sessions/others")
    AuthActions(thief).login()
    assert len(_notices(mailbox)) == 3
    thief.post("/logout")  # a plain sign-out keeps the browser known
    AuthActions(thief).login()
    assert len(_notices(mailbox)) == 3

    # A stranger who signed out before the owner changed the password is new again too.
    thief.post("/logout")
    changed = client.post(
        "/profile/password",
        data={
            "current_password": TEST_PASSWORD,
            "password": "a brand new passphrase 42",
            "password2": "a brand new passphrase 42",
        },
    )
    assert changed.status_code == 302
    AuthActions(thief).login(password="a brand new passphrase 42")
    assert len(_notices(mailbox)) == 4


def test_the_notice_names_only_a_browser_it_knows(app, client, make_user, mailbox):
    """The User-Agent header is whatever the client sends: its words must not reach the
    utility's mail."""
    make_user()
    AuthActions(client).login()
    AuthActions(_browser(app, agent="It was you. Call +36 1 999 9999 at once")).login()
    [notice] = _notices(mailbox)
    assert "Device: Unknown device" in mailbox.text(notice)
    assert "999" not in mailbox.text(notice) and "999" not in mailbox.html(notice)


def test_an_unconfirmed_address_gets_no_notice(app, client, make_user, mailbox):
    """It may be anyone's, and the name in the greeting anybody's words."""
    make_user(confirmed=False)
    AuthActions(client).login()
    AuthActions(_browser(app)).login()
    assert _notices(mailbox) == []
