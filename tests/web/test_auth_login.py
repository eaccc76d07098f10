"""Sign in and out: server-side sessions, timeouts, redirects, brute force, rate limits."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lkapp import create_app
from lkapp.auth import sessions
from lkapp.domain.accounts import LOCK_AFTER, SLOW_AFTER
from lkapp.extensions import db
from lkapp.models import AuditEvent, User, UserSession, utcnow
from tests.conftest import TEST_PASSWORD, Client

WRONG = "not the password at all"


def _session_record(app) -> UserSession:
    with app.app_context():
        records = db.session.scalars(sa.select(UserSession).order_by(UserSession.created_at)).all()
        for record in records:
            db.session.expunge(record)
        return records[-1]


def _shift(app, session_id, **ages):
    """Move a session's times into the past (created=..., last_seen=...)."""
    now = utcnow()
    values = {f"{name}_at": now - age for name, age in ages.items()}
    with app.app_context():
        db.session.execute(
            sa.update(UserSession).where(UserSession.id == session_id).values(**values)
        )
        db.session.commit()


def _user(app, email="ann@example.com") -> User:
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        db.session.expunge(user)
        return user


def _signed_in(client) -> bool:
    return client.get("/profile").status_code == 200


def test_sign_in_page_has_the_promised_fields_and_links(client):
    page = client.get("/login").get_data(as_text=True)
    for label in ("Email", "Password", "Remember me"):
        assert f">{label}</label>" in page
    assert ">Sign in</button>" in page
    assert 'href="/forgot-password">Forgot password?</a>' in page
    assert 'href="/support/ask">Ask a question</a>' in page
    assert "forgotten" in page.lower() or "Forgot your login?" in page
    assert 'href="/register"' in page


def test_sign_in_rotates_the_session_and_drops_what_the_cookie_held(app, client, make_user):
    make_user()
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
        session["_user_id"] = "fixated-session-id"
    before = client.get_cookie("session").value
    response = client.post("/login", data={"email": "ann@example.com", "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert client.get_cookie("session").value != before
    record = _session_record(app)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == record.id != "fixated-session-id"
    assert len(record.id) >= 43  # 256 random bits
    assert record.ip == "127.0.0.1"
    assert record.user_agent.startswith("Werkzeug")
    assert _signed_in(client)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "https://evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "\\\\evil.example",
    ],
)
def test_next_accepts_only_local_paths(client, make_user, target):
    make_user()
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": "ann@example.com", "password": TEST_PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_local_path_is_where_the_user_lands(client, make_user):
    make_user()
    assert client.get("/profile/sessions").headers["Location"] == "/login?next=/profile/sessions"
    page = client.get("/login?next=/profile/sessions").get_data(as_text=True)
    assert 'action="/login?next=/profile/sessions"' in page
    response = client.post(
        "/login?next=/profile/sessions",
        data={"email": "ann@example.com", "password": TEST_PASSWORD},
    )
    assert response.headers["Location"] == "/profile/sessions"


def test_htmx_sign_in_redirects_the_whole_page(client, make_user):
    make_user()
    response = client.htmx(
        "POST", "/login", data={"email": "ann@example.com", "password": TEST_PASSWORD}
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/"


def test_sign_out_needs_post_with_csrf_and_kills_the_cookie(app, client, make_user, auth):
    make_user()
    auth.login()
    cookie = client.get_cookie("session").value
    assert client.get("/logout").status_code == 405
    assert client.post("/logout", csrf=False).status_code == 400
    assert _signed_in(client)
    response = client.post("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert not _signed_in(client)
    assert _session_record(app).revoked_at is not None
    client.set_cookie("session", cookie)  # replaying the old cookie gets nothing
    assert not _signed_in(client)


def test_idle_timeout_is_30_minutes(app, client, make_user, auth):
    make_user()
    auth.login()
    record = _session_record(app)
    _shift(app, record.id, last_seen=timedelta(minutes=29))
    assert _signed_in(client)
    _shift(app, record.id, last_seen=timedelta(minutes=31))
    assert not _signed_in(client)


def test_absolute_timeout_is_12_hours_even_when_active(app, client, make_user, auth):
    make_user()
    auth.login()
    record = _session_record(app)
    _shift(app, record.id, created=timedelta(hours=11, minutes=59), last_seen=timedelta(0))
    assert _signed_in(client)
    _shift(app, record.id, created=timedelta(hours=12, minutes=1), last_seen=timedelta(0))
    assert not _signed_in(client)


def _warning(page: str) -> dict[str, int] | None:
    """The data of the warning before the session ends, if the page has it."""
    found = re.search(
        r'id="session-warning"[^>]*?data-left="(\d+)" data-absolute="(\d+)"\s+'
        r'data-after-activity="(\d+)"',
        page,
    )
    if found is None:
        return None
    left, absolute, after_activity = map(int, found.groups())
    return {"left": left, "absolute": absolute, "after_activity": after_activity}


def test_pages_tell_the_script_when_the_session_ends(app, client, make_user, auth):
    """What the warning before the end needs (app.js shows it; WCAG 2.2.1)."""
    assert _warning(client.get("/login").text) is None
    make_user()
    auth.login()
    page = client.get("/").text
    assert "your session ends in two minutes" in page and ">Stay signed in</button>" in page
    assert _warning(page)["left"] in range(29 * 60 + 55, 30 * 60 + 1)
    assert _warning(page)["after_activity"] == 29 * 60  # touched once a minute at most

    record = _session_record(app)
    _shift(app, record.id, created=timedelta(hours=2), last_seen=timedelta(seconds=50))
    times = _warning(client.get("/").text)  # not touched: 50 s < a minute
    assert times["left"] in range(29 * 60 + 5, 29 * 60 + 11)
    assert times["absolute"] in range(10 * 3600 - 5, 10 * 3600 + 1)
    _shift(app, record.id, created=timedelta(hours=11, minutes=50), last_seen=timedelta(0))
    times = _warning(client.get("/").text)  # the absolute limit comes first
    assert times["left"] == times["absolute"] and times["left"] in range(595, 601)


def test_stay_signed_in_extends_an_idle_session(app, client, make_user, auth, monkeypatch):
    make_user()
    auth.login()
    record = _session_record(app)
    _shift(app, record.id, last_seen=timedelta(minutes=28))
    assert client.get("/session/keep").status_code == 405
    assert client.post("/session/keep", csrf=False).status_code == 400
    kept = client.htmx("POST", "/session/keep")
    assert kept.status_code == 204 and kept.data == b""
    # The press is the session's last activity now: 30 minutes from it, not the 2 left.
    assert utcnow() - _session_record(app).last_seen_at < timedelta(seconds=10)
    # Five minutes later on the server's clock the 2 minutes are long past, and the session
    # lives on.
    later = utcnow() + timedelta(minutes=5)
    monkeypatch.setattr(sessions, "utcnow", lambda: later)
    assert _signed_in(client)
    monkeypatch.undo()

    _shift(app, record.id, last_seen=timedelta(minutes=31))
    late = client.htmx(
        "POST",
        "/session/keep",
        headers={"HX-Current-URL": "http://localhost/electricity/EL-1/readings?x=1"},
    )
    assert late.headers["HX-Redirect"] == "/login?next=/electricity/EL-1/readings?x%3D1"


def test_a_remembered_session_has_no_warning(app, client, make_user, auth):
    make_user()
    auth.login(remember="y")
    page = client.get("/").text
    assert "Sign out" in page and _warning(page) is None and "Stay signed in" not in page


def test_page_views_do_not_rewrite_the_session_cookie(app, client, make_user, auth):
    """The cookie only names the server-side session (the timeouts above live in the
    database), so a page that changes nothing in it answers without a Set-Cookie."""
    make_user()
    auth.login()
    client.get("/")  # the first page may still add the CSRF token to the cookie
    response = client.get("/")
    assert response.status_code == 200 and "Sign out" in response.text
    assert "Set-Cookie" not in response.headers
    record = _session_record(app)
    _shift(app, record.id, last_seen=timedelta(minutes=31))
    assert not _signed_in(client)


def test_remember_me_keeps_a_customer_for_30_days(app, client, make_user, auth):
    make_user()
    auth.login(remember="y")
    record = _session_record(app)
    assert record.remember
    assert client.get_cookie("remember_token") is not None
    _shift(app, record.id, created=timedelta(days=29), last_seen=timedelta(days=3))
    assert _signed_in(client)
    _shift(app, record.id, created=timedelta(days=30, minutes=1), last_seen=timedelta(0))
    assert not _signed_in(client)


def test_remember_me_survives_the_browser_session_cookie(app, client, make_user, auth):
    make_user()
    auth.login(remember="y")
    client.delete_cookie("session")  # the browser was closed
    assert _signed_in(client)


def test_staff_are_never_remembered(app, client, make_user, auth):
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org", remember="y")
    assert not _session_record(app).remember
    assert client.get_cookie("remember_token") is None


def test_locked_account_gets_the_wrong_password_message(app, client, make_user):
    make_user(locked_at=utcnow(), locked_reason="staff")
    response = client.post("/login", data={"email": "ann@example.com", "password": TEST_PASSWORD})
    assert response.status_code == 422
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert not _signed_in(client)


def test_locking_ends_the_sessions_of_a_signed_in_account(app, client, make_user, auth):
    user_id = make_user()
    auth.login()
    with app.app_context():
        user = db.session.get(User, user_id)
        user.locked_at = utcnow()
        db.session.commit()
    assert not _signed_in(client)


def test_known_and_unknown_emails_cost_the_same_work(client, make_user, monkeypatch):
    from lkapp.auth import services

    calls = []
    real = services._verify_password
    monkeypatch.setattr(services, "_verify_password", lambda h, p: calls.append(h) or real(h, p))
    make_user()
    for email in ("ann@example.com", "nobody@example.com"):
        calls.clear()
        response = client.post("/login", data={"email": email, "password": WRONG})
        assert response.status_code == 422
        assert len(calls) == 1 and calls[0].startswith("$argon2id$")


def _fail(client, email, times, **extra):
    for _ in range(times):
        response = client.post("/login", data={"email": email, "password": WRONG, **extra})
    return response


@pytest.mark.parametrize("email", ["ann@example.com", "nobody@example.com"])
def test_after_five_failures_the_form_asks_for_the_captcha(
    app, client, make_user, captcha_solver, email
):
    make_user()
    first = _fail(client, email, SLOW_AFTER - 1)
    assert 'name="captcha_id"' not in first.get_data(as_text=True)
    fifth = _fail(client, email, 1)
    page = fifth.get_data(as_text=True)
    assert 'name="captcha_id"' in page and ">Code from the picture</label>" in page
    # Without the code, not even the right password is looked at.
    response = client.post("/login", data={"email": email, "password": TEST_PASSWORD})
    assert response.status_code == 422
    assert "Enter the code from the picture." in response.get_data(as_text=True)
    wrong_code = client.post(
        "/login",
        data={
            "email": email,
            "password": TEST_PASSWORD,
            "captcha_id": captcha_solver(page)["captcha_id"],
            "captcha": "WRONG",
        },
    )
    assert "did not match the picture" in wrong_code.get_data(as_text=True)
    assert not _signed_in(client)
    solved = captcha_solver(wrong_code.get_data(as_text=True))
    response = client.post("/login", data={"email": email, "password": TEST_PASSWORD, **solved})
    if email == "ann@example.com":
        assert response.status_code == 302
        assert _user(app).failed_logins == 0  # a sign-in clears the count
    else:
        assert response.status_code == 422
        assert "Wrong email or password." in response.get_data(as_text=True)


def test_the_captcha_after_failures_tells_no_account_by_a_look_alike_letter(client, make_user):
    """The Kelvin sign (U+212A) is "k" to Python's lower() and not to SQLite's: after five
    failures of kate@..., "\u212aate@..." was asked for the picture only when kate@... had
    no account."""
    make_user(email="kate@example.com")  # kurt@example.com has none
    asked = []
    for email in ("kate@example.com", "kurt@example.com"):
        _fail(client, email, SLOW_AFTER)
        look_alike = _fail(client, "\u212a" + email[1:], 1)
        assert look_alike.status_code == 422
        asked.append('name="captcha_id"' in look_alike.get_data(as_text=True))
    assert asked[0] == asked[1]


def test_the_picture_stays_when_another_field_is_wrong(client, make_user, captcha_solver):
    """The picture went away with an empty password, and the next try was refused for the
    code nobody had been asked for."""
    make_user()
    for _ in range(SLOW_AFTER):
        response = client.post("/login", data={"email": "ann@example.com", "password": WRONG})
    solved = captcha_solver(response.get_data(as_text=True))
    response = client.post("/login", data={"email": "ann@example.com", "password": "", **solved})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Enter your password." in page
    assert f'name="captcha_id" value="{solved["captcha_id"]}"' in page
    response = client.post(
        "/login", data={"email": "ann@example.com", "password": TEST_PASSWORD, **solved}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_failures_older_than_a_day_do_not_count(app, client, make_user):
    make_user()
    _fail(client, "ann@example.com", SLOW_AFTER)
    with app.app_context():
        db.session.execute(
            sa.update(User).values(last_failed_login_at=utcnow() - timedelta(days=1, minutes=1))
        )
        db.session.commit()
    response = client.post("/login", data={"email": "ann@example.com", "password": TEST_PASSWORD})
    assert response.status_code == 302


def _fail_solving(client, captcha_solver, email, times):
    page = client.get("/login").get_data(as_text=True)
    for _ in range(times):
        extra = captcha_solver(page) if 'name="captcha_id"' in page else {}
        response = client.post("/login", data={"email": email, "password": WRONG, **extra})
        assert response.status_code == 422
        page = response.get_data(as_text=True)
    return page


def test_twenty_failures_lock_the_account_until_a_reset(
    app, client, make_user, captcha_solver, mailbox
):
    make_user()
    page = _fail_solving(client, captcha_solver, "ann@example.com", LOCK_AFTER)
    assert "sign-in is blocked" in page
    user = _user(app)
    assert user.locked_at is not None and user.locked_reason == "failed_logins"
    [message] = mailbox.to("ann@example.com")
    assert message["Subject"] == "Sign-in to your account is blocked"
    assert "/forgot-password" in mailbox.text(message)

    # Even the right password (with a solved captcha) is refused, with the same message.
    response = client.post(
        "/login",
        data={"email": "ann@example.com", "password": TEST_PASSWORD, **captcha_solver(page)},
    )
    assert response.status_code == 422 and "sign-in is blocked" in response.get_data(as_text=True)
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action)).all()
        ips = set(db.session.scalars(sa.select(AuditEvent.ip)).all())
    assert actions.count("auth.locked") == 1
    assert actions.count("auth.login_failed") == LOCK_AFTER + 1
    assert ips == {"127.0.0.1"}


def test_the_lock_mail_to_an_unconfirmed_address_greets_no_one(
    app, client, make_user, captcha_solver, mailbox
):
    """Anyone may register any address with a name of their choosing: the utility's mail to
    an address nobody confirmed must not carry that name."""
    make_user(confirmed=False, name="Refund office: call +36 1 999 9999")
    _fail_solving(client, captcha_solver, "ann@example.com", LOCK_AFTER)
    [message] = mailbox.to("ann@example.com")
    assert "Hello," in mailbox.text(message)
    assert "999" not in mailbox.text(message) and "999" not in mailbox.html(message)


def test_an_email_without_account_looks_blocked_alike(client, captcha_solver, mailbox):
    page = _fail_solving(client, captcha_solver, "nobody@example.com", LOCK_AFTER)
    assert "sign-in is blocked" in page
    assert mailbox.messages == []


def test_password_reset_lifts_the_failure_lock_but_not_a_staff_lock(
    app, client, make_user, captcha_solver, mailbox
):
    make_user()
    make_user(email="kim@example.com", locked_at=utcnow(), locked_reason="staff")
    _fail_solving(client, captcha_solver, "ann@example.com", LOCK_AFTER)
    mailbox.clear()
    for email in ("ann@example.com", "kim@example.com"):
        page = client.get("/forgot-password").get_data(as_text=True)
        client.post(
            "/forgot-password",
            data={"email": email, "tax_id": "7701234567", **captcha_solver(page)},
        )
    [message] = mailbox.messages  # none for the account staff locked
    assert message["To"] == "ann@example.com"
    [link] = [x for x in mailbox.links(message) if "/reset-password/" in x]
    new = "a fresh start for the bakery"
    response = client.post(link, data={"password": new, "password2": new})
    assert response.status_code == 302
    assert _user(app).locked_at is None and _user(app).failed_logins == 0
    client.post("/logout")
    assert (
        client.post("/login", data={"email": "ann@example.com", "password": new}).status_code == 302
    )


def test_per_ip_rate_limit_on_sign_in(app_config, make_user):
    app_config.update(RATELIMIT_ENABLED=True, RATELIMIT_SIGNIN="3 per minute")
    app = create_app(app_config)
    app.test_client_class = Client
    client = app.test_client()
    for _ in range(3):
        client.post("/login", data={"email": "x@example.com", "password": WRONG})
    response = client.post("/login", data={"email": "x@example.com", "password": WRONG})
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)
    assert re.search(
        r"Try again in (1 minute|[1-5]?[0-9] seconds)\.", response.get_data(as_text=True)
    )
    assert client.get("/login").status_code == 200  # reading the form is not limited
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("url", "setting"),
    [("/register", "RATELIMIT_REGISTER"), ("/forgot-password", "RATELIMIT_RECOVERY")],
)
def test_per_ip_rate_limits_on_registration_and_recovery(app_config, url, setting):
    app_config.update({"RATELIMIT_ENABLED": True, setting: "2 per hour"})
    app = create_app(app_config)
    app.test_client_class = Client
    client = app.test_client()
    answers = [client.post(url, data={"email": "x"}) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [422, 422, 429]
    # How long, not "a minute": the limit is per hour.
    assert re.search(
        r"Try again in (1 hour|60 minutes|59 minutes)\.", answers[2].get_data(as_text=True)
    )
    with app.app_context():
        db.engine.dispose()


def test_sign_in_sign_out_and_failures_are_audited_with_the_ip(app, client, make_user, auth):
    make_user()
    client.post("/login", data={"email": "nobody@example.com", "password": WRONG})
    auth.login()
    auth.logout()
    with app.app_context():
        events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
        summary = [(e.action, e.object_type, e.ip) for e in events]
    assert summary == [
        ("auth.login_failed", "email", "127.0.0.1"),
        ("auth.login", "User", "127.0.0.1"),
        ("auth.logout", "User", "127.0.0.1"),
    ]
    assert "nobody@example.com" not in events[0].object_id  # a keyed hash, not the address


def test_production_session_cookie_after_sign_in(app_config, make_user):
    app_config.update(ENV="production", SERVER_NAME="localhost")
    app = create_app(app_config)
    app.test_client_class = Client
    make_user()
    client = app.test_client()
    response = client.post(
        "/login",
        data={"email": "ann@example.com", "password": TEST_PASSWORD, "remember": "y"},
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},
    )
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("__Host-session=") for c in cookies)
    assert any(c.startswith("__Host-remember=") for c in cookies)
    assert any(c.startswith("__Host-device=") for c in cookies)
    for cookie in cookies:
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Domain" not in cookie and "Path=/" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    with app.app_context():
        db.engine.dispose()


def test_bad_email_and_empty_password_are_named_beside_their_fields(client):
    response = client.post("/login", data={"email": "ann@", "password": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="email-error"' in page and "Enter a valid email" in page
    assert 'id="password-error"' in page and "Enter your password." in page
    assert 'value="ann@"' in page


def test_the_sign_in_page_sends_a_signed_in_visitor_on_to_next(client, make_user, auth):
    """A tab sent to sign-in keeps its ?next=; once another tab has signed in, loading it
    again goes there (static/js/app.js reloads it), and never off the portal."""
    make_user()
    auth.login()
    assert client.get("/login?next=/profile").location == "/profile"
    assert client.get("/login?next=https://evil.example/").location == "/"
    assert client.get("/login").location == "/"


@pytest.mark.sqlite_only
def test_a_password_over_the_cap_is_refused_in_the_readers_language(client, make_user):
    """WTForms' own "Field cannot be longer than N characters." stayed English on a Hungarian
    page (its catalogue lacks that plural): the portal's own words are said instead."""
    make_user()
    client.post("/language", data={"locale": "hu", "next": "/"})
    response = client.post("/login", data={"email": "ann@example.com", "password": "x" * 1025})
    assert response.status_code == 422
    assert "Legfeljebb 1024 karaktert használjon." in response.text
    assert "Field cannot be longer" not in response.text
