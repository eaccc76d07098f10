"""Registration and email confirmation: the form, bad input, the mail, the link."""

import time

import pyotp
import pytest
import sqlalchemy as sa
from flask import Blueprint
from itsdangerous import TimestampSigner

from lkapp import create_app
from lkapp.extensions import db
from lkapp.models import AuditEvent, User
from tests.conftest import TEST_PASSWORD, AuthActions, Client, move_events_back, swapped

GOOD = {
    "email": "Bob@Example.com",
    "password": "пчёлы летят над полем 7",
    "password2": "пчёлы летят над полем 7",
    "name": "Bob's Hardware Kft",
    "tax_id": "12345678-2-42",
    "phone": "+36 1 555 0199",
}


def _register(client, **changes):
    return client.post("/register", data={**GOOD, **changes})


def _user(app, email="bob@example.com"):
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email))
        if user is not None:
            db.session.expunge(user)
        return user


def _actions(app):
    with app.app_context():
        return db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()


def test_form_has_the_promised_labels_and_button(client):
    page = client.get("/register").get_data(as_text=True)
    for label in (
        "Email",
        "Password",
        "Repeat password",
        "Name or organisation",
        "Tax ID",
        "Phone",
    ):
        assert f">{label}</label>" in page, label
    assert ">Register</button>" in page
    assert 'autocomplete="new-password"' in page


def test_registration_creates_an_unconfirmed_account_and_mails_a_link(app, client, mailbox):
    response = _register(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/register/done"
    page = client.get("/register/done").get_data(as_text=True)
    assert "Your account was created" in page and "confirmation link" in page

    user = _user(app)
    assert user.email == "Bob@example.com"  # the domain lower-cased, the rest as typed
    assert user.confirmed_at is None and user.role == "customer"
    assert user.password_hash.startswith("$argon2id$")
    assert user.name == "Bob's Hardware Kft" and user.tax_id == "12345678-2-42"
    assert "auth.registered" in _actions(app)

    [message] = mailbox.to("bob@example.com")
    assert message["Subject"] == "Confirm your email address"
    [link] = [link for link in mailbox.links(message) if "/confirm/" in link]
    assert link.startswith("http://localhost/confirm/")
    assert link in mailbox.html(message)
    assert "48 hours" in mailbox.text(message)


def test_confirmation_link_works_once(app, client, mailbox):
    _register(client)
    [link] = [x for x in mailbox.links(mailbox.messages[0]) if "/confirm/" in x]
    response = client.post(link)
    assert response.status_code == 200
    assert "Email address confirmed" in response.get_data(as_text=True)
    assert _user(app).confirmed_at is not None
    assert "auth.email_confirmed" in _actions(app)

    for again in (client.post(link), client.get(link)):
        assert again.status_code == 400
        assert "expired or has already been used" in again.get_data(as_text=True)


def test_opening_the_link_asks_for_a_press_so_a_mail_scanner_confirms_nothing(app, client, mailbox):
    _register(client)
    [link] = [x for x in mailbox.links(mailbox.messages[0]) if "/confirm/" in x]
    scanner = app.test_client()  # a mailbox's link protection opens it first, without cookies
    opened = scanner.get(link)
    assert opened.status_code == 200
    page = opened.get_data(as_text=True)
    assert "Press the button to confirm that Bob@example.com is your address." in page
    assert ">Confirm email address</button>" in page
    assert opened.headers["Cache-Control"] == "no-store"
    assert _user(app).confirmed_at is None

    refused = client.post(link, csrf=False)  # a press from another site
    assert refused.status_code == 400
    assert _user(app).confirmed_at is None

    assert "Email address confirmed" in client.post(link).get_data(as_text=True)
    assert _user(app).confirmed_at is not None


def test_expired_or_forged_confirmation_link_is_refused(app, client, make_user, monkeypatch):
    user_id = make_user(email="carol@example.com", confirmed=False)
    from lkapp.auth import tokens

    with app.test_request_context():
        user = db.session.get(User, user_id)
        fresh = tokens.make_token("confirm", user)
        real_timestamp = TimestampSigner.get_timestamp
        monkeypatch.setattr(
            TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 49 * 3600
        )
        old = tokens.make_token("confirm", user)
        monkeypatch.setattr(TimestampSigner, "get_timestamp", real_timestamp)
        reset = tokens.make_token("reset", user)  # the wrong kind of token
    for token in (old, fresh[:-3] + "abc", reset, "nonsense"):
        assert client.get(f"/confirm/{token}").status_code == 400
        assert client.post(f"/confirm/{token}").status_code == 400
    assert _user(app, "carol@example.com").confirmed_at is None
    assert client.post(f"/confirm/{fresh}").status_code == 200
    assert _user(app, "carol@example.com").confirmed_at is not None


def test_existing_email_gets_the_same_answer_and_its_owner_a_notice(
    app, client, make_user, mailbox
):
    make_user(email="bob@example.com", confirmed=True)
    response = _register(client, email="BOB@example.com")
    assert response.status_code == 302
    assert response.headers["Location"] == "/register/done"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1
    [message] = mailbox.messages
    assert message["To"] == "bob@example.com"
    assert message["Subject"] == "Someone tried to register with your email address"
    assert "nothing was changed" in mailbox.text(message)
    assert not [link for link in mailbox.links(message) if "/confirm/" in link]


def test_an_address_gets_five_such_notices_a_day_whoever_asks(app, make_user, mailbox):
    """Registering an address again needs no captcha and is limited per IP: from many IPs
    it mailed its owner without end."""
    make_user(email="bob@example.com", confirmed=True)
    for n in range(7):
        visitor = app.test_client()
        visitor.environ_base["REMOTE_ADDR"] = f"203.0.113.{n + 1}"
        response = _register(visitor)
        assert response.status_code == 302 and response.headers["Location"] == "/register/done"
    assert len(mailbox.to("bob@example.com")) == 5
    assert _actions(app).count("auth.register_existing") == 7


def test_register_pressed_twice_mails_the_confirmation_alone(app, client, mailbox):
    """The second form finds the account the first made: its owner got "someone tried to
    register with your address" beside the confirmation link."""
    for _ in range(2):
        assert _register(client).headers["Location"] == "/register/done"
    [message] = mailbox.messages
    assert message["Subject"] == "Confirm your email address"
    assert _actions(app).count("auth.register_existing") == 1


def test_registration_works_with_htmx(client):
    response = client.htmx("POST", "/register", data=GOOD)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/register/done"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "", "Enter your email."),
        ("email", "not-an-email", "Enter a valid email"),
        ("password", "short pass", "Use at least 12 characters."),
        ("password", "a" * 129, "Use at most 128 characters."),
        ("password", "password1234", "one of the most common"),
        ("password", "write to bob@example.com", "must not contain your email"),
        ("password", "bobs hardware kft rules", "must not contain your name"),
        ("password2", "something else entirely", "The two passwords differ."),
        ("name", "", "Enter your name or the name of your organisation."),
        ("name", "x" * 201, "Use 2 to 200 characters."),
        ("name", "\u200b\u200b\u200b", "This name has no visible characters."),
        ("name", "\u2066\u200d\u2069 \ufeff\u00ad", "This name has no visible characters."),
        ("name", "\u3164\u3164", "This name has no visible characters."),
        ("name", "\u202e\u202d\u202e", "Enter your name or the name of your organisation."),
        ("tax_id", "", "Enter your tax ID."),
        ("tax_id", "12-AB", "Enter the tax ID as in your contract"),
        ("phone", "", "Enter a phone number."),
        ("phone", "call me maybe", "Enter a phone number with 7 to 15 digits"),
    ],
)
def test_each_bad_field_gets_its_message_and_the_rest_is_kept(app, client, field, value, message):
    data = {**GOOD, field: value}
    if field == "password":
        data["password2"] = value
    response = client.post("/register", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    assert f'id="{field}-error"' in page  # the error sits beside its field
    assert 'aria-invalid="true"' in page
    for kept in ("name", "phone", "tax_id"):
        if kept != field:
            assert f'value="{GOOD[kept]}"'.replace("'", "&#39;") in page
    assert GOOD["password"] not in page  # secrets are never sent back
    assert _user(app) is None


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Иванов Иван Иванович", "Иванов Иван Иванович"),
        ("Kovács Árpádné", "Kovács Árpádné"),
        ("株式会社 山田", "株式会社 山田"),
        ("शर्मा क्\u200dष Traders", "शर्मा क्\u200dष Traders"),  # a joiner the script needs
        ("گل\u200cفروشی", "گل\u200cفروشی"),  # a non-joiner Persian needs
        # A direction override read "Evil Corp" backwards in the office's lists.
        ("Evil \u202eproC\u202c Ltd", "Evil proC Ltd"),
        ("\u2067Bob\u2069 \u202aKft\u202c", "Bob Kft"),
    ],
)
def test_names_in_any_script_are_kept_without_direction_controls(app, client, typed, stored):
    response = _register(client, name=typed)
    assert response.status_code == 302
    assert _user(app).name == stored


def test_bad_input_with_htmx_swaps_the_form_only(client):
    response = client.htmx("POST", "/register", data={**GOOD, "phone": "x"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert swapped(page).startswith('<form id="register-form"') or 'id="register-form"' in page
    assert "<header" not in page
    assert "HX-Request" in response.headers["Vary"]


def test_registration_without_csrf_token_is_refused(app, client):
    response = client.post("/register", data=GOOD, csrf=False)
    assert response.status_code == 400
    assert "The form has expired" in response.get_data(as_text=True)
    assert _user(app) is None


def test_password_is_taken_exactly_as_typed(client, mailbox):
    password = "  пчёлы летят над полем 7  "
    _register(client, password=password, password2=password)
    [link] = [x for x in mailbox.links(mailbox.messages[0]) if "/confirm/" in x]
    client.post(link)
    stripped = client.post("/login", data={"email": GOOD["email"], "password": password.strip()})
    assert stripped.status_code == 422
    response = client.post("/login", data={"email": "bob@EXAMPLE.com", "password": password})
    assert response.status_code == 302


def test_unconfirmed_account_signs_in_but_sees_only_the_banner(app, client, make_user, auth):
    cabinet = Blueprint("cabinet_for_test", __name__)

    @cabinet.get("/cabinet-for-test")
    def inside():
        return "the cabinet"

    app.register_blueprint(cabinet)
    make_user(confirmed=False)
    auth.login()
    page = client.get("/").get_data(as_text=True)
    assert "Resend confirmation" in page
    assert "Confirm your email address" in page
    response = client.get("/cabinet-for-test")
    assert response.status_code == 302
    assert response.headers["Location"] == "/confirm"
    assert "Resend confirmation" in client.get("/confirm").get_data(as_text=True)
    htmx = client.htmx("GET", "/cabinet-for-test")
    assert htmx.headers["HX-Redirect"] == "/confirm"


def test_confirmed_account_has_no_banner_and_reaches_the_cabinet(app, client, make_user, auth):
    cabinet = Blueprint("cabinet_for_test", __name__)
    cabinet.add_url_rule("/cabinet-for-test", "inside", lambda: "the cabinet")
    app.register_blueprint(cabinet)
    make_user()
    auth.login()
    assert "Resend confirmation" not in client.get("/").get_data(as_text=True)
    assert client.get("/cabinet-for-test").get_data(as_text=True) == "the cabinet"


def test_resend_confirmation_sends_a_new_link_that_confirms(app, client, make_user, auth, mailbox):
    make_user(confirmed=False)
    auth.login()
    response = client.post("/confirm/resend", data={"next": "/"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "We sent a new confirmation link" in client.get("/").get_data(as_text=True)
    [message] = mailbox.to("ann@example.com")
    [link] = [x for x in mailbox.links(message) if "/confirm/" in x]
    assert client.post(link).status_code == 200
    assert "Resend confirmation" not in client.get("/").get_data(as_text=True)
    assert client.post("/confirm/resend", csrf=False).status_code == 400


def test_an_account_gets_ten_new_confirmation_links_a_day_from_any_ip(
    app_config, make_user, mailbox
):
    """The per-IP limit alone let whoever registered someone else's address mail it without
    end from many IPs. Past the day's links its customer is told so (a rate limit's 429 said
    "Wait a minute and try again", for a day), and the count holds in every worker."""
    app = create_app({**app_config, "RATELIMIT_ENABLED": True})
    app.test_client_class = Client
    make_user(confirmed=False)
    answers = []
    for n in range(11):
        visitor = app.test_client()
        visitor.environ_base["REMOTE_ADDR"] = f"203.0.113.{n + 1}"
        AuthActions(visitor).login()
        response = visitor.post("/confirm/resend", data={"next": "/"})
        answers.append(response.status_code)
        move_events_back(app, "auth.confirmation_resent", minutes=2)  # not a double click
    assert answers == [302] * 11
    assert len(mailbox.to("ann@example.com")) == 10
    page = visitor.get(response.headers["Location"]).get_data(as_text=True)
    assert "You have asked for 10 new links in the last 24 hours." in page
    assert "We sent a new confirmation link" not in page
    # Another worker (its own rate-limit counts in memory) says the same.
    other = create_app({**app_config, "RATELIMIT_ENABLED": True})
    other.test_client_class = Client
    visitor = other.test_client()
    AuthActions(visitor).login()
    assert visitor.post("/confirm/resend", data={"next": "/"}).status_code == 302
    assert len(mailbox.to("ann@example.com")) == 10
    for each in (app, other):
        with each.app_context():
            db.engine.dispose()


def test_landing_page_leads_to_sign_in_and_registration(client):
    page = client.get("/").get_data(as_text=True)
    assert 'href="/login"' in page and 'href="/register"' in page
    assert "power of attorney" in page
    assert "invoices" in page and "readings" in page and "payments" in page


def test_signed_in_user_is_sent_away_from_register(client, make_user, auth):
    make_user()
    auth.login()
    assert client.get("/register").status_code == 302
    assert TEST_PASSWORD  # the fixture password is the one make_user set


def test_an_address_mail_cannot_carry_is_refused_with_a_reason(app, client, mailbox):
    response = _register(client, email="Ügyfél@example.hu")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Before the @, use only Latin letters, digits and . _ - +" in page
    assert 'value="Ügyfél@example.hu"' in page and 'value="Bob&#39;s Hardware Kft"' in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0
    assert mailbox.messages == []
    # Other letters after the @ are fine: the domain travels as punycode.
    assert _register(client, email="info@пример.рф").status_code == 302
    [message] = mailbox.messages
    assert "info@xn--e1afmkfd.xn--p1ai" in message["To"]


def test_an_older_address_with_accented_capitals_signs_in_in_any_ascii_case(client, make_user):
    make_user(email="Ügyfél@Example.hu")  # registered before such addresses were refused
    for typed in ("Ügyfél@Example.hu", "Ügyfél@example.HU"):
        response = client.post("/login", data={"email": typed, "password": TEST_PASSWORD})
        assert response.status_code == 302, typed
        client.post("/logout")


def test_a_domain_in_another_script_matches_in_any_letter_case(app, client, mailbox):
    """SQLite's lower() knows ASCII only: the domain is stored lower-cased, so "Пример.РФ" is
    the same address as "пример.рф" on both databases, for signing in and for registering."""
    assert _register(client, email="Info@Пример.РФ").status_code == 302
    with app.app_context():
        assert db.session.scalars(sa.select(User.email)).all() == ["Info@пример.рф"]
        db.session.execute(sa.update(User).values(confirmed_at=sa.func.now()))
        db.session.commit()
    again = _register(client, email="info@ПРИМЕР.рф", name="Someone Else")
    assert again.status_code == 302  # the same answer as a new account gets
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1
    assert [m["Subject"] for m in mailbox.messages][-1].startswith("Someone tried to register")
    for typed in ("Info@Пример.РФ", "info@пример.рф", "INFO@ПРИМЕР.РФ"):
        response = client.post("/login", data={"email": typed, "password": GOOD["password"]})
        assert response.status_code == 302 and "/login" not in response.headers["Location"], typed
        client.post("/logout")


@pytest.mark.parametrize(
    "typed",
    [
        "bob@ｅxample.com",  # a full-width letter: the email check takes it, mail reaches bob@
        "bob@example。com",  # the full stop of a Chinese or Japanese keyboard
    ],
)
def test_another_spelling_of_a_registered_domain_is_the_same_address(
    app, client, make_user, mailbox, typed
):
    """Such an address was a second account of the same mailbox (its link went to it)."""
    make_user(email="bob@example.com")
    assert _register(client, email=typed).status_code == 302
    with app.app_context():
        assert db.session.scalars(sa.select(User.email)).all() == ["bob@example.com"]
    [message] = mailbox.messages
    assert message["Subject"] == "Someone tried to register with your email address"
    response = client.post("/login", data={"email": typed, "password": TEST_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_a_domain_in_punycode_is_the_same_as_in_its_letters(app, client, make_user, mailbox):
    make_user(email="info@пример.рф")
    assert _register(client, email="info@xn--e1afmkfd.xn--p1ai").status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1
    assert mailbox.messages[-1]["Subject"].startswith("Someone tried to register")
    response = client.post(
        "/login", data={"email": "INFO@XN--E1AFMKFD.XN--P1AI", "password": TEST_PASSWORD}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_an_account_stored_with_its_domain_in_punycode_still_signs_in(client, make_user):
    make_user(email="info@xn--e1afmkfd.xn--p1ai")  # stored before domains had one spelling
    for typed in ("info@пример.рф", "info@xn--e1afmkfd.xn--p1ai"):
        response = client.post("/login", data={"email": typed, "password": TEST_PASSWORD})
        assert response.status_code == 302 and response.headers["Location"] == "/", typed
        client.post("/logout")


# --- an address registered by someone else first ------------------------------------------


def _squatter(app, client, mailbox, email="owner@corp.example"):
    """Someone registers a business's address (its tax ID is public) and signs in."""
    assert _register(client, email=email, name="Corp Kft.").status_code == 302
    mailbox.clear()
    response = AuthActions(client).login(email=email, password=GOOD["password"])
    assert response.status_code == 302
    return client


def test_an_unconfirmed_account_cannot_dig_itself_in(app, client, mailbox):
    """No second factor, password, name or address before the mailbox answered: the real
    owner of the address takes the account over with a password reset."""
    _squatter(app, client, mailbox)
    password_hash = _user(app, "owner@corp.example").password_hash
    for url in (
        "/profile/two-factor",
        "/profile/two-factor/setup",
        "/profile",
        "/profile/password",
    ):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"] == "/confirm", url
        assert client.htmx("GET", url).headers["HX-Redirect"] == "/confirm", url
    with app.test_request_context():
        from lkapp.auth import two_factor

        user = db.session.scalar(sa.select(User))
        secret = two_factor.new_secret()
        token = two_factor.setup_token(user, secret)
    response = client.post(
        "/profile/two-factor/setup",
        data={
            "token": token,
            "code": pyotp.TOTP(secret).now(),
            "current_password": GOOD["password"],
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/confirm"
    other = "somebody else's password now"
    changes = {
        "/profile/password": {
            "current_password": GOOD["password"],
            "password": other,
            "password2": other,
        },
        "/profile": {"name": "Not Corp", "phone": "+36 1 555 0000", "locale": "en"},
        "/profile/two-factor/disable": {"current_password": GOOD["password"], "code": "1"},
        "/profile/two-factor/recovery-codes": {"current_password": GOOD["password"]},
    }
    for url, data in changes.items():
        response = client.post(url, data=data)
        assert response.status_code == 302 and response.headers["Location"] == "/confirm", url
    user = _user(app, "owner@corp.example")
    assert user.totp_secret is None and user.recovery_codes == []
    assert user.name == "Corp Kft." and user.phone == GOOD["phone"]
    assert user.password_hash == password_hash
    assert mailbox.messages == []
    # What stays open: the sessions, signing out, closing the account, a new link, and
    # another address for one typed wrong ("Wrong address? Change it" on /confirm).
    assert 'href="/profile/email"' in client.get("/confirm").text
    assert client.get("/profile/email").status_code == 200
    assert client.get("/profile/sessions").status_code == 200
    assert client.get("/profile/close").status_code == 200
    assert client.get("/confirm").status_code == 200


def test_the_owner_takes_a_pre_registered_address_over_with_a_reset(
    app, client, captcha_solver, mailbox
):
    squatter = _squatter(app, app.test_client(), mailbox)
    with app.test_request_context():
        from lkapp.auth import two_factor

        secret = two_factor.new_secret()
        token = two_factor.setup_token(db.session.scalar(sa.select(User)), secret)
    squatter.post(
        "/profile/two-factor/setup",
        data={
            "token": token,
            "code": pyotp.TOTP(secret).now(),
            "current_password": GOOD["password"],
        },
    )
    page = client.get("/forgot-password").get_data(as_text=True)
    client.post(
        "/forgot-password",
        data={"email": "owner@corp.example", "tax_id": GOOD["tax_id"], **captcha_solver(page)},
    )
    [message] = mailbox.to("owner@corp.example")
    [link] = [x for x in mailbox.links(message) if "/reset-password/" in x]
    new = "lanterns over the old harbour"
    response = client.post(link, data={"password": new, "password2": new})
    # To the profile: the name and phone there are what the squatter typed.
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    assert client.get("/profile").status_code == 200
    assert squatter.get("/profile").status_code == 302
    assert squatter.get("/profile").headers["Location"].startswith("/login")
    assert _user(app, "owner@corp.example").confirmed_at is not None


def test_the_owner_takes_over_an_address_registered_with_a_wrong_tax_id(
    app, client, captcha_solver, mailbox
):
    """The squatter typed a wrong tax ID: the owner, typing the true one, got no reset link,
    and could not register the address either. The address was never confirmed, so the
    mailbox is the proof: the link comes, and using it gives the account the owner's tax ID."""
    squatter = app.test_client()
    assert (
        _register(
            squatter, email="owner@corp.example", name="Corp Kft.", tax_id="87654321-1-11"
        ).status_code
        == 302
    )
    AuthActions(squatter).login(email="owner@corp.example", password=GOOD["password"])
    assert squatter.get("/confirm").status_code == 200  # signed in, unconfirmed
    # The owner cannot register the address: it has an account.
    _register(client, email="owner@corp.example")
    assert _user(app, "owner@corp.example").tax_id == "87654321-1-11"
    mailbox.clear()

    page = client.get("/forgot-password").get_data(as_text=True)
    response = client.post(
        "/forgot-password",
        data={"email": "owner@corp.example", "tax_id": GOOD["tax_id"], **captcha_solver(page)},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/forgot-password/sent"
    [message] = mailbox.to("owner@corp.example")
    assert message["Subject"] == "Set a new password"
    assert "Corp Kft." not in mailbox.text(message)  # no name of the squatter's in it
    [link] = [x for x in mailbox.links(message) if "/reset-password/" in x]
    assert _user(app, "owner@corp.example").tax_id == "87654321-1-11"  # nothing changed yet

    form = client.get(link).get_data(as_text=True)
    assert "the tax ID of the account becomes 12345678-2-42" in form
    new = "lanterns over the old harbour"
    mailbox.clear()
    response = client.post(link, data={"password": new, "password2": new})
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    profile = client.get("/profile").get_data(as_text=True)
    assert "perhaps by someone else: check them" in profile
    assert "12345678-2-42" in profile and "87654321-1-11" not in profile
    assert 'value="Corp Kft."' in profile  # kept, for the owner to check and correct

    user = _user(app, "owner@corp.example")
    assert user.tax_id == "12345678-2-42" and user.confirmed_at is not None
    response = squatter.get("/profile")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    signed_in = squatter.post(
        "/login", data={"email": "owner@corp.example", "password": GOOD["password"]}
    )
    assert signed_in.status_code == 422  # the squatter's password is gone
    [notice] = mailbox.to("owner@corp.example")
    assert notice["Subject"] == "Your password was changed"
    assert "Hello," in mailbox.text(notice).splitlines()
    assert "Corp Kft." not in mailbox.text(notice) + mailbox.html(notice)

    client.post("/logout")
    response = AuthActions(client).login(email="owner@corp.example", password=new)
    assert response.status_code == 302
    assert client.get("/profile").status_code == 200
    with app.app_context():
        [event] = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "auth.tax_id_changed")
        ).all()
        assert event.actor_id == user.id and event.object_id == str(user.id)
        assert event.details == {"old": "87654321-1-11", "new": "12345678-2-42", "by": "reset"}
    actions = _actions(app)
    assert actions.index("auth.tax_id_changed") < actions.index("auth.password_reset")
    assert "auth.email_confirmed" in actions


def test_confirming_the_address_ends_the_sessions_opened_before_but_the_one_that_confirms(
    app, client, mailbox
):
    assert _register(client, email="owner@corp.example", name="Corp Kft.").status_code == 302
    [message] = mailbox.to("owner@corp.example")
    [link] = [x for x in mailbox.links(message) if "/confirm/" in x]
    squatter = app.test_client()
    AuthActions(squatter).login(email="owner@corp.example", password=GOOD["password"])
    AuthActions(client).login(email="owner@corp.example", password=GOOD["password"])
    assert client.post(link).status_code == 200  # the owner, signed in here
    assert client.get("/profile").status_code == 200  # goes on
    response = squatter.get("/profile")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    with app.app_context():
        [event] = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "auth.email_confirmed")
        ).all()
        assert event.details["sessions_ended"] == "1"


def test_a_confirmation_link_opened_signed_out_ends_every_session(app, client, mailbox):
    assert _register(client, email="owner@corp.example", name="Corp Kft.").status_code == 302
    [message] = mailbox.to("owner@corp.example")
    [link] = [x for x in mailbox.links(message) if "/confirm/" in x]
    AuthActions(client).login(email="owner@corp.example", password=GOOD["password"])
    assert app.test_client().post(link).status_code == 200
    response = client.get("/profile")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
