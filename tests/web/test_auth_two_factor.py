"""Two-factor sign-in: enrolment with a QR code, codes once only, recovery codes, staff gate."""

import base64
import io
import re
import time
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import sqlalchemy as sa
import zxingcpp
from PIL import Image

from lkapp.extensions import db
from lkapp.models import AuditEvent, User, UserSession, utcnow
from tests.conftest import TEST_PASSWORD, TEST_TOTP_SECRET, AuthActions


def _user(app, email="ann@example.com") -> User:
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        db.session.expunge(user)
        return user


def _password_step(client, email="ann@example.com", **extra):
    return client.post("/login", data={"email": email, "password": TEST_PASSWORD, **extra})


def _code(secret=TEST_TOTP_SECRET, offset=0):
    totp = pyotp.TOTP(secret)
    return totp.at(utcnow() + timedelta(seconds=offset))


def _forget_last_step(app):
    with app.app_context():
        db.session.execute(sa.update(User).values(totp_last_step=None))
        db.session.commit()


def _shown_secret(page):
    return re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")


def _shown_token(page):
    return re.search(r'name="token" type="hidden" value="([^"]+)"', page).group(1)


def _enrol(client, url="/profile/two-factor/setup"):
    page = client.get(url).get_data(as_text=True)
    secret = _shown_secret(page)
    response = client.post(
        url,
        data={
            "token": _shown_token(page),
            "code": _code(secret),
            "current_password": TEST_PASSWORD,
        },
    )
    return secret, response


def test_enrolment_shows_a_qr_code_and_then_recovery_codes_once(
    app, client, make_user, auth, mailbox
):
    make_user()
    auth.login()
    other = app.test_client()
    AuthActions(other).login()
    page = client.get("/profile/two-factor").get_data(as_text=True)
    assert "Set up two-factor sign-in" in page
    setup = client.get("/profile/two-factor/setup").get_data(as_text=True)
    # The QR code scans to the key the page shows, for this account and this utility.
    qr = re.search(r'<img class="qr" src="data:image/png;base64,([^"]+)"', setup).group(1)
    scanned = zxingcpp.read_barcode(Image.open(io.BytesIO(base64.b64decode(qr))))
    uri = urlsplit(scanned.text)
    shown = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', setup).group(1)
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    assert unquote(uri.path) == f"/{app.config['UTILITY_NAME']}:ann@example.com"
    assert parse_qs(uri.query)["secret"] == [shown.replace(" ", "")]
    assert ">Code from the app</label>" in setup and ">Current password</label>" in setup

    wrong = client.post(
        "/profile/two-factor/setup",
        data={"token": _shown_token(setup), "code": "000000", "current_password": TEST_PASSWORD},
    )
    assert wrong.status_code == 422 and "That code is not right" in wrong.get_data(as_text=True)
    assert _user(app).totp_secret is None

    secret, response = _enrol(client)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    codes = re.findall(r"<code>([A-Z0-9-]{19})</code>", page)
    assert len(codes) == 10 and len(set(codes)) == 10
    user = _user(app)
    assert user.totp_secret == secret
    assert len(user.recovery_codes) == 10 and codes[0] not in user.recovery_codes  # hashed
    assert client.get("/profile").status_code == 200  # this session goes on
    assert other.get("/profile").status_code == 302  # others did not pass the new factor
    subjects = [m["Subject"] for m in mailbox.to("ann@example.com")]
    # The second browser's sign-in was told too, before the change.
    assert subjects == ["New sign-in to your account", "Two-factor sign-in was turned on"]
    with app.app_context():
        assert "auth.two_factor_enabled" in db.session.scalars(sa.select(AuditEvent.action)).all()


def test_turning_it_on_needs_the_current_password(app, client, make_user, auth, mailbox):
    """A session alone (a stolen one, say) must not enrol an authenticator: that would end the
    owner's sessions and leave the owner's password reset stuck at the code prompt."""
    make_user()
    auth.login()
    thief = app.test_client()
    AuthActions(thief).login()
    mailbox.clear()
    setup = thief.get("/profile/two-factor/setup").get_data(as_text=True)
    secret, token = _shown_secret(setup), _shown_token(setup)
    for password, message in (
        ("", "Enter your current password."),
        ("not it at all", "That is not your current password."),
    ):
        response = thief.htmx(
            "POST",
            "/profile/two-factor/setup",
            data={"token": token, "code": _code(secret), "current_password": password},
        )
        page = response.get_data(as_text=True)
        assert response.status_code == 422 and "<header" not in page
        assert 'id="two-factor-setup-form"' in page
        assert f'<p class="error" id="current_password-error">{message}</p>' in page
        # The same key again: the app already holds it, so the user only retries.
        assert _shown_secret(page) == secret and _shown_token(page) == token
        assert 'src="data:image/png;base64,' in page
    full = thief.post(
        "/profile/two-factor/setup",
        data={"token": token, "code": _code(secret), "current_password": "still not it"},
    )
    assert full.status_code == 422 and "<header" in full.get_data(as_text=True)
    assert "That is not your current password." in full.get_data(as_text=True)

    user = _user(app)
    assert user.totp_secret is None and user.recovery_codes == []
    assert user.failed_logins == 2  # the wrong passwords count; the empty one was not tried
    assert client.get("/profile").status_code == 200  # the owner is still signed in
    assert mailbox.messages == []
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action)).all()
        assert "auth.two_factor_enabled" not in actions and "auth.reauth_failed" in actions

    retry = thief.post(
        "/profile/two-factor/setup",
        data={"token": token, "code": _code(secret), "current_password": TEST_PASSWORD},
    )
    assert retry.status_code == 200 and _user(app).totp_secret == secret


def test_setup_token_of_another_account_is_refused(app, client, make_user, auth):
    make_user()
    make_user(email="bob@example.com")
    auth.login(email="bob@example.com")
    token = _shown_token(client.get("/profile/two-factor/setup").get_data(as_text=True))
    client.post("/logout")
    auth.login()
    response = client.post("/profile/two-factor/setup", data={"token": token, "code": "123456"})
    assert response.status_code == 422
    assert "took too long" in response.get_data(as_text=True)


def test_sign_in_asks_for_the_code_after_the_password(app, client, make_user):
    make_user(totp_secret=TEST_TOTP_SECRET)
    response = _password_step(client, **{"remember": "y"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login/two-factor"
    assert client.get("/profile").status_code == 302  # not signed in yet
    assert client.get_cookie("remember_token") is None
    page = client.get("/login/two-factor").get_data(as_text=True)
    assert ">Authentication code</label>" in page

    wrong = client.post("/login/two-factor", data={"code": "123456"})
    assert wrong.status_code == 422 and "That code is not right" in wrong.get_data(as_text=True)
    assert _user(app).failed_logins == 1

    response = client.post("/login/two-factor", data={"code": _code()})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/profile").status_code == 200
    assert _user(app).failed_logins == 0
    with app.app_context():
        [record] = db.session.scalars(sa.select(UserSession)).all()  # one record per sign-in
        assert record.second_factor_done and record.remember
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "auth.login"))
        assert event.details == {"second_factor": "totp"}


def test_a_code_works_only_once(app, client, make_user):
    make_user(totp_secret=TEST_TOTP_SECRET)
    code = _code()
    _password_step(client)
    assert client.post("/login/two-factor", data={"code": code}).status_code == 302
    client.post("/logout")
    _password_step(client)
    replay = client.post("/login/two-factor", data={"code": code})
    assert replay.status_code == 422


def test_a_code_sent_twice_at_once_passes_once(app, make_user):
    """Two requests with the same code read the same last step before either wrote it, and
    both signed in (a code seen over the shoulder, sent while its owner sent it)."""
    from lkapp.auth import two_factor

    user_id = make_user(totp_secret=TEST_TOTP_SECRET)
    code = _code()
    with app.app_context():
        first = db.session.get(User, user_id)
        first.totp_last_step  # noqa: B018  (loaded before the other request writes)
        with app.app_context():
            second = db.session.get(User, user_id)
            assert two_factor.check_second_factor(second, code) == "totp"
            db.session.commit()
        assert two_factor.check_second_factor(first, code) is None
        db.session.commit()
    with app.app_context():
        assert db.session.get(User, user_id).totp_last_step is not None


def test_codes_of_the_neighbouring_steps_are_accepted_older_ones_not(app, client, make_user):
    make_user(totp_secret=TEST_TOTP_SECRET)
    _password_step(client)
    assert client.post("/login/two-factor", data={"code": _code(offset=-95)}).status_code == 422
    # The previous step's code, sent well inside the current step: at a step boundary it would
    # already be two steps old by the time the server checks it.
    time.sleep(max(0.0, 3 - (30 - time.time() % 30)))
    assert client.post("/login/two-factor", data={"code": _code(offset=-30)}).status_code == 302


def test_recovery_code_works_once(app, client, make_user, auth):
    make_user()
    auth.login()
    _secret, response = _enrol(client)
    codes = re.findall(r"<code>([A-Z0-9-]{19})</code>", response.get_data(as_text=True))
    client.post("/logout")
    _password_step(client)
    response = client.post("/login/two-factor", data={"code": codes[3].lower().replace("-", " ")})
    assert response.status_code == 302
    assert "9 are left" in client.get("/").get_data(as_text=True)
    client.post("/logout")
    _password_step(client)
    assert client.post("/login/two-factor", data={"code": codes[3]}).status_code == 422


def test_a_recovery_code_sent_twice_at_once_passes_once(app, make_user):
    """Both requests read the same list of codes before either crossed the code off, and both
    signed in: a recovery code is a password that works once."""
    from lkapp.auth import two_factor
    from lkapp.domain.accounts import new_recovery_codes, recovery_code_digest

    code = new_recovery_codes(1)[0]
    user_id = make_user(totp_secret=TEST_TOTP_SECRET)
    with app.app_context():
        db.session.get(User, user_id).recovery_codes = [recovery_code_digest(code), "other"]
        db.session.commit()
    with app.app_context():
        first = db.session.get(User, user_id)
        first.recovery_codes  # noqa: B018  (loaded before the other request writes)
        with app.app_context():
            second = db.session.get(User, user_id)
            assert two_factor.check_second_factor(second, code) == "recovery_code"
            db.session.commit()
        assert two_factor.check_second_factor(first, code) is None
        db.session.commit()
    with app.app_context():
        assert db.session.get(User, user_id).recovery_codes == ["other"]


def test_pending_sign_in_expires_after_five_minutes(app, client, make_user):
    make_user(totp_secret=TEST_TOTP_SECRET)
    _password_step(client)
    with app.app_context():
        db.session.execute(
            sa.update(UserSession).values(created_at=utcnow() - timedelta(minutes=6))
        )
        db.session.commit()
    response = client.post("/login/two-factor", data={"code": _code()})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/profile").status_code == 302


def test_second_step_without_a_password_step_goes_back_to_sign_in(client):
    response = client.get("/login/two-factor")
    assert response.status_code == 302 and response.headers["Location"] == "/login"


def test_the_code_page_opened_again_once_signed_in_says_nothing_ran_out(client, make_user):
    """Back or a reload after the second step told a user who was signed in "Sign in again:
    the time for the code ran out"."""
    make_user(totp_secret=TEST_TOTP_SECRET)
    _password_step(client)
    assert client.post("/login/two-factor?next=/profile", data={"code": _code()}).status_code
    for url in ("/login/two-factor?next=/profile", "/login/two-factor"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"] == ("/profile" if "next" in url else "/")
    page = client.get("/profile").get_data(as_text=True)
    assert "ran out" not in page
    assert client.htmx("GET", "/login/two-factor").headers["HX-Redirect"] == "/"


def test_twenty_wrong_codes_lock_the_account(app, client, make_user, mailbox):
    make_user(totp_secret=TEST_TOTP_SECRET)
    _password_step(client)
    for _ in range(19):
        assert client.post("/login/two-factor", data={"code": "000000"}).status_code == 422
    response = client.post("/login/two-factor", data={"code": "000000"})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert _user(app).locked_at is not None
    subjects = [message["Subject"] for message in mailbox.to("ann@example.com")]
    assert subjects == [
        "Your password was used, but the code was wrong",  # at the first wrong code
        "Sign-in to your account is blocked",
    ]


def test_a_wrong_code_after_the_password_is_mailed_once_per_sign_in(
    app, client, make_user, mailbox
):
    """A password in someone else's hands showed nowhere on an account with a second factor:
    they get no further, so no new-device notice comes. The first wrong code after it says so."""
    make_user(totp_secret=TEST_TOTP_SECRET)
    client.post(
        "/login",
        data={"email": "ann@example.com", "password": TEST_PASSWORD},
        headers={"User-Agent": "Mozilla/5.0 (Windows NT 10.0) Firefox/128.0"},
    )
    for _ in range(3):
        assert client.post("/login/two-factor", data={"code": "000000"}).status_code == 422
    [notice] = mailbox.to("ann@example.com")
    assert notice["Subject"] == "Your password was used, but the code was wrong"
    text = mailbox.text(notice)
    assert "typed the right password of your account, then a wrong code" in text
    assert "Firefox on Windows" in text and "/forgot-password" in text
    assert client.post("/login/two-factor", data={"code": _code()}).status_code == 302
    assert len(mailbox.to("ann@example.com")) == 1  # a right code says nothing more
    # The next sign-in is another: its first wrong code is mailed again.
    client.post("/logout")
    _forget_last_step(app)
    _password_step(client)
    client.post("/login/two-factor", data={"code": "000000"})
    assert len(mailbox.to("ann@example.com")) == 2


def test_second_step_with_htmx(client, make_user):
    make_user(totp_secret=TEST_TOTP_SECRET)
    _password_step(client)
    response = client.htmx("POST", "/login/two-factor", data={"code": "12"})
    assert response.status_code == 422 and "<header" not in response.get_data(as_text=True)
    response = client.htmx("POST", "/login/two-factor", data={"code": _code()})
    assert response.headers["HX-Redirect"] == "/"


def test_next_survives_the_second_step(client, make_user):
    make_user(totp_secret=TEST_TOTP_SECRET)
    response = client.post(
        "/login?next=/profile/sessions",
        data={"email": "ann@example.com", "password": TEST_PASSWORD},
    )
    assert response.headers["Location"] == "/login/two-factor?next=/profile/sessions"
    response = client.post("/login/two-factor?next=/profile/sessions", data={"code": _code()})
    assert response.headers["Location"] == "/profile/sessions"
    evil = client.post("/login/two-factor?next=//evil.example", data={"code": _code()})
    assert evil.status_code in (302, 422)
    assert "evil" not in evil.headers.get("Location", "")


def test_turning_it_off_needs_password_and_code(app, client, make_user, auth, mailbox):
    make_user(totp_secret=TEST_TOTP_SECRET)
    auth.login()
    mailbox.clear()
    wrong = client.post(
        "/profile/two-factor/disable", data={"current_password": TEST_PASSWORD, "code": "000000"}
    )
    assert wrong.status_code == 422 and _user(app).totp_secret
    _forget_last_step(app)
    response = client.post(
        "/profile/two-factor/disable", data={"current_password": TEST_PASSWORD, "code": _code()}
    )
    assert response.status_code == 302
    assert _user(app).totp_secret is None and _user(app).recovery_codes == []
    assert mailbox.to("ann@example.com")[0]["Subject"] == "Two-factor sign-in was turned off"


def test_new_recovery_codes_replace_the_old(app, client, make_user, auth):
    make_user()
    auth.login()
    _secret, response = _enrol(client)
    old = re.findall(r"<code>([A-Z0-9-]{19})</code>", response.get_data(as_text=True))
    wrong = client.htmx(
        "POST", "/profile/two-factor/recovery-codes", data={"current_password": "nope nope"}
    )
    assert wrong.status_code == 422 and 'id="recovery-codes-form"' in wrong.get_data(as_text=True)
    fresh = client.htmx(
        "POST", "/profile/two-factor/recovery-codes", data={"current_password": TEST_PASSWORD}
    )
    page = fresh.get_data(as_text=True)
    assert 'id="recovery-codes"' in page and "<header" not in page
    new = re.findall(r"<code>([A-Z0-9-]{19})</code>", page)
    assert len(new) == 10 and not set(new) & set(old)
    client.post("/logout")
    _password_step(client)
    assert client.post("/login/two-factor", data={"code": old[0]}).status_code == 422
    assert client.post("/login/two-factor", data={"code": new[0]}).status_code == 302


def test_staff_without_a_second_factor_must_set_it_up_before_the_back_office(
    app, client, make_user, auth
):
    make_user(email="op@example.org", role="staff", totp_secret=None)
    response = auth.login(email="op@example.org")
    assert response.headers["Location"] == "/staff/"
    gate = client.get("/staff/")
    assert gate.status_code == 302
    assert gate.headers["Location"] == "/profile/two-factor/setup?next=/staff/"
    page = client.get(gate.headers["Location"]).get_data(as_text=True)
    assert "Staff accounts sign in with two factors" in page
    _secret, response = _enrol(client, "/profile/two-factor/setup?next=/staff/")
    assert 'href="/staff/"' in response.get_data(as_text=True)
    assert client.get("/staff/").status_code == 200


def test_staff_sign_in_takes_both_steps_and_cannot_turn_it_off(app, client, make_user, auth):
    make_user(email="op@example.org", role="staff")
    response = _password_step(client, email="op@example.org")
    assert response.headers["Location"] == "/login/two-factor"
    assert client.get("/staff/").status_code == 302
    response = client.post("/login/two-factor", data={"code": _code()})
    assert response.headers["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200
    page = client.get("/profile/two-factor").get_data(as_text=True)
    assert "Staff accounts always sign in with two factors." in page
    refused = client.post(
        "/profile/two-factor/disable", data={"current_password": TEST_PASSWORD, "code": "1"}
    )
    assert refused.status_code == 403


def test_password_reset_of_a_two_factor_account_still_asks_for_the_code(
    app, client, make_user, captcha_solver, mailbox
):
    make_user(totp_secret=TEST_TOTP_SECRET)
    page = client.get("/forgot-password").get_data(as_text=True)
    client.post(
        "/forgot-password",
        data={"email": "ann@example.com", "tax_id": "7701234567", **captcha_solver(page)},
    )
    [link] = [x for x in mailbox.links(mailbox.messages[0]) if "/reset-password/" in x]
    new = "lanterns over the old bridge"
    response = client.post(link, data={"password": new, "password2": new})
    assert response.headers["Location"] == "/login/two-factor"
    assert client.get("/profile").status_code == 302
    assert client.post("/login/two-factor", data={"code": _code()}).status_code == 302
    assert client.get("/profile").status_code == 200


def test_continue_pressed_twice_without_javascript_leaves_the_user_signed_in(
    app, client, make_user
):
    """A double click on "Continue" sends the step twice with the same cookie, and the
    browser keeps the cookie of the second answer: it said "the time for the code ran out"
    and left the user signed out, whom the first answer had signed in."""
    make_user(totp_secret=TEST_TOTP_SECRET)
    _password_step(client, **{"remember": "y"})
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    pending = client.get_cookie(cookie_name).value
    code = _code()
    first = client.post("/login/two-factor", data={"code": code})
    assert first.status_code == 302 and first.headers["Location"] == "/"
    client.set_cookie(cookie_name, pending)  # the second click went with the old cookie
    client.delete_cookie("remember_token")  # nor did the first answer's cookies count
    second = client.post("/login/two-factor", data={"code": code})
    assert second.status_code == 302 and second.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "ran out" not in page
    assert client.get("/profile").status_code == 200
    with app.app_context():
        [record] = db.session.scalars(sa.select(UserSession)).all()  # still one sign-in
        assert record.second_factor_done and record.revoked_at is None
        actions = db.session.scalars(sa.select(AuditEvent.action)).all()
        assert actions.count("auth.login") == 1 and "auth.two_factor_failed" not in actions
    # Signed out, the old cookie of the step is worth nothing.
    client.post("/logout")
    client.set_cookie(cookie_name, pending)
    again = client.post("/login/two-factor", data={"code": code})
    assert again.status_code == 302 and again.headers["Location"] == "/login"
    assert client.get("/profile").status_code == 302


def test_turning_it_on_with_htmx_reads_as_the_page_without_javascript(client, make_user, auth):
    """The answer replaces the set-up heading too: no "Set up two-factor sign-in" above
    "Two-factor sign-in is on", where the page without JavaScript says "Two-factor sign-in"."""
    make_user()
    auth.login()
    setup = client.get("/profile/two-factor/setup").get_data(as_text=True)
    target = re.search(r'data-hx-target="#([\w-]+)"', setup).group(1)
    assert re.search(rf'id="{target}"[^>]*>\s*<h1>Set up two-factor sign-in</h1>', setup)
    secret = _shown_secret(setup)
    wrong = client.htmx(
        "POST",
        "/profile/two-factor/setup",
        data={"token": _shown_token(setup), "code": "000000", "current_password": TEST_PASSWORD},
    )
    page = wrong.get_data(as_text=True)
    assert wrong.status_code == 422 and "<header" not in page
    assert re.search(rf'id="{target}"[^>]*>\s*<h1>Set up two-factor sign-in</h1>', page)
    assert "That code is not right" in page and _shown_secret(page) == secret
    response = client.htmx(
        "POST",
        "/profile/two-factor/setup",
        data={
            "token": _shown_token(page),
            "code": _code(secret),
            "current_password": TEST_PASSWORD,
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "<header" not in page
    assert re.search(r"^<title>[^<]*</title>\s*<div[^>]*>\s*<h1>Two-factor sign-in</h1>", page)
    assert "Set up two-factor sign-in" not in page and "Two-factor sign-in is on." in page
    assert len(re.findall(r"<code>([A-Z0-9-]{19})</code>", page)) == 10


def test_the_code_reads_the_same_at_set_up_sign_in_and_turning_off(app, client, make_user, auth):
    """The set-up's "Code from the app" and the later "Authentication code" are one thing: the
    help under each field says so in the same words."""
    same = "The 6-digit code your authenticator app shows now"

    def help_of_code(page):
        assert 'aria-describedby="code-help"' in page
        return re.search(r'<p class="help" id="code-help">([^<]*)</p>', page).group(1)

    make_user()
    auth.login()
    setup = client.get("/profile/two-factor/setup").get_data(as_text=True)
    assert ">Code from the app</label>" in setup
    assert help_of_code(setup) == f"{same}."
    _enrol(client)
    status = client.get("/profile/two-factor").get_data(as_text=True)
    assert ">Authentication code</label>" in status
    assert help_of_code(status) == f"{same}, or one of your recovery codes."
    client.post("/logout")
    _password_step(client)
    page = client.get("/login/two-factor").get_data(as_text=True)
    assert ">Authentication code</label>" in page
    assert help_of_code(page) == f"{same}, or one of your recovery codes."


def test_a_code_over_the_cap_is_refused_in_the_readers_language(client, make_user, auth):
    """WTForms' own "Field cannot be longer than N characters." stayed English on a Hungarian
    page (its catalogue lacks that plural): the portal's own words are said instead."""
    make_user(totp_secret=TEST_TOTP_SECRET)
    auth.login()
    client.post("/language", data={"locale": "hu", "next": "/"})
    response = client.post(
        "/profile/two-factor/disable", data={"current_password": TEST_PASSWORD, "code": "1" * 41}
    )
    assert response.status_code == 422
    assert "Ez sem az alkalmazás kódja, sem helyreállító kód." in response.text
    assert "Field cannot be longer" not in response.text
