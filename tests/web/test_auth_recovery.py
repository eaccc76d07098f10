"""Password recovery: email + tax ID + captcha, one answer for all, a link that works once."""

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from itsdangerous import TimestampSigner

from lkapp.auth import tokens
from lkapp.extensions import db
from lkapp.models import AuditEvent, User, UserSession, utcnow
from tests.conftest import TEST_PASSWORD, TEST_TOTP_SECRET, AuthActions, text_of

NEW = "the river runs north in spring"


def _ask(client, captcha_solver, **data):
    page = client.get("/forgot-password").get_data(as_text=True)
    fields = {"email": "ann@example.com", "tax_id": "7701234567", **captcha_solver(page)}
    fields.update(data)
    return client.post("/forgot-password", data=fields)


def _reset_link(mailbox, email="ann@example.com"):
    [message] = mailbox.to(email)
    [link] = [x for x in mailbox.links(message) if "/reset-password/" in x]
    return link


def _actions(app):
    with app.app_context():
        return db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()


def test_form_has_email_tax_id_and_a_captcha_with_audio(client):
    response = client.get("/forgot-password")
    page = response.get_data(as_text=True)
    for label in ("Email", "Tax ID", "Code from the picture"):
        assert f">{label}</label>" in page
    assert '<img class="captcha-image" src="/captcha/' in page
    assert '<audio class="captcha-audio" controls preload="none" src="/captcha/' in page
    assert ">New picture</button>" in page
    assert 'for="captcha"' in page and 'id="captcha"' in page  # the label names the input
    assert page.count('id="captcha"') == 1
    assert 'data-hx-get="/captcha/new"' in page and 'data-hx-target="#captcha-picture"' in page
    assert "data-hx-push-url" not in page.split('id="captcha-picture"')[1].split("</div>")[0]


def test_matching_data_send_a_link_that_expires_in_an_hour(
    app, client, make_user, captcha_solver, mailbox
):
    make_user()
    response = _ask(client, captcha_solver, email="ANN@example.com", tax_id=" 77 0123-4567 ")
    assert response.status_code == 302
    assert response.headers["Location"] == "/forgot-password/sent"
    page = client.get("/forgot-password/sent").get_data(as_text=True)
    assert "If the data match an account, a link was sent" in page
    message = mailbox.to("ann@example.com")[0]
    assert message["Subject"] == "Set a new password"
    assert "60 minutes" in mailbox.text(message)
    assert _reset_link(mailbox).startswith("http://localhost/reset-password/")
    assert "auth.reset_requested" in _actions(app)


@pytest.mark.parametrize(
    "data",
    [
        {"email": "nobody@example.com"},
        {"tax_id": "7709999999"},
        {"email": "op@example.org", "tax_id": ""},
    ],
)
def test_data_that_match_no_account_get_the_same_answer_and_no_mail(
    app, client, make_user, captcha_solver, mailbox, data
):
    make_user()
    make_user(email="op@example.org", role="staff", tax_id="")
    if data.get("tax_id") == "":
        data = {**data, "tax_id": "-"}  # staff have no tax id: nothing matches it
    response = _ask(client, captcha_solver, **data)
    assert response.status_code == 302
    assert response.headers["Location"] == "/forgot-password/sent"
    assert mailbox.messages == []
    assert "auth.reset_requested" in _actions(app)  # the attempt is on record all the same


def test_an_account_gets_five_reset_mails_a_day_whoever_asks(
    app, make_user, captcha_solver, mailbox
):
    """Each request needs a solved captcha but is limited per IP only: from many IPs the
    reset mail flooded its customer's mailbox."""
    user_id = make_user()
    pages = []
    for n in range(7):
        visitor = app.test_client()
        visitor.environ_base["REMOTE_ADDR"] = f"203.0.113.{n + 1}"
        response = _ask(visitor, captcha_solver)
        assert response.status_code == 302
        assert response.headers["Location"] == "/forgot-password/sent"
        page = visitor.get("/forgot-password/sent").get_data(as_text=True)
        pages.append(page.split("<main")[1].split("</main>")[0])
    assert len(mailbox.to("ann@example.com")) == 5
    assert len(set(pages)) == 1  # the answer tells nothing
    actions = _actions(app)
    assert actions.count("auth.reset_requested") == 5
    assert actions.count("auth.reset_not_mailed") == 2  # the office sees what was held back
    with app.app_context():
        skipped = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "auth.reset_not_mailed")
        )
        assert skipped.object_id == str(user_id) and skipped.ip == "203.0.113.6"
        # A day later the customer may ask again.
        db.session.execute(
            sa.update(AuditEvent).values(created_at=utcnow() - timedelta(days=1, minutes=1))
        )
        db.session.commit()
    mailbox.clear()
    assert _ask(app.test_client(), captcha_solver).status_code == 302
    assert len(mailbox.to("ann@example.com")) == 1


def test_used_up_reset_mails_keep_no_one_from_a_reset_for_the_rest_of_the_day(
    app, make_user, captcha_solver, mailbox
):
    """Anyone who knows the address and the (public) tax ID could use up the day's five
    mails: from then on its customer asked in vain until the next day, told that a link was
    sent. A new one goes once the last link mailed has stopped working."""
    make_user()

    def ask():
        visitor = app.test_client()
        assert _ask(visitor, captcha_solver).status_code == 302
        mails = mailbox.to("ann@example.com")
        return sum(message["Subject"] == "Set a new password" for message in mails)

    for _n in range(5):
        ask()
    assert ask() == 5  # the last link works for an hour still: nothing new
    with app.app_context():
        db.session.execute(
            sa.update(AuditEvent).values(created_at=utcnow() - timedelta(minutes=61))
        )
        db.session.commit()
    assert ask() == 6  # every link mailed has expired: the customer gets one
    assert ask() == 6
    # A password set with that link kills it: asking again gets a new one at once.
    client = app.test_client()
    last = mailbox.to("ann@example.com")[-1]
    [link] = [x for x in mailbox.links(last) if "/reset-password/" in x]
    link = link.split("localhost", 1)[1]
    form = {"password": NEW, "password2": NEW}
    assert client.post(link, data=form).status_code == 302
    assert ask() == 7
    assert _actions(app).count("auth.reset_not_mailed") == 2


def test_wrong_captcha_shows_a_new_picture_and_keeps_the_other_fields(
    app, client, make_user, captcha_solver, mailbox
):
    make_user()
    page = client.get("/forgot-password").get_data(as_text=True)
    first = captcha_solver(page)
    response = client.post(
        "/forgot-password",
        data={
            "email": "ann@example.com",
            "tax_id": "7701234567",
            "captcha_id": first["captcha_id"],
            "captcha": "ZZZZZ",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "did not match the picture" in page
    assert 'id="captcha-error"' in page
    assert 'value="ann@example.com"' in page and 'value="7701234567"' in page
    second = captcha_solver(page)
    assert second["captcha_id"] != first["captcha_id"]
    assert mailbox.messages == []
    # The first picture is used up: even its right answer no longer counts.
    again = client.post(
        "/forgot-password", data={"email": "ann@example.com", "tax_id": "7701234567", **first}
    )
    assert again.status_code == 422
    assert "auth.reset_requested" not in _actions(app)


def test_missing_fields_keep_the_picture_and_say_what_is_missing(client, captcha_solver):
    page = client.get("/forgot-password").get_data(as_text=True)
    solved = captcha_solver(page)
    response = client.htmx("POST", "/forgot-password", data={"email": "", "tax_id": "", **solved})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Enter your email." in page and "Enter your tax ID." in page
    assert captcha_solver(page)["captcha_id"] == solved["captcha_id"]
    assert "<header" not in page and "HX-Request" in response.headers["Vary"]
    empty = client.post("/forgot-password", data={"email": "a@example.com", "tax_id": "1"})
    assert "Enter the code from the picture." in empty.get_data(as_text=True)


def test_new_picture_without_javascript_keeps_the_form(client, captcha_solver):
    page = client.get("/forgot-password").get_data(as_text=True)
    old = captcha_solver(page)["captcha_id"]
    response = client.post(
        "/forgot-password",
        data={"email": "ann@example.com", "tax_id": "7701234567", "new_captcha": "1"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert captcha_solver(page)["captcha_id"] != old
    assert 'value="ann@example.com"' in page and "is-invalid" not in page
    assert 'id="email-error"' not in page


def test_reset_link_sets_the_password_signs_in_and_ends_other_sessions(
    app, client, make_user, captcha_solver, mailbox, auth
):
    make_user()
    other = app.test_client()
    type(auth)(other).login()  # the account is signed in elsewhere too
    _ask(client, captcha_solver)
    link = _reset_link(mailbox)
    form = client.get(link)
    assert form.headers["Cache-Control"] == "no-store"
    page = form.get_data(as_text=True)
    assert ">New password</label>" in page and ">Set new password</button>" in page

    weak = client.post(link, data={"password": "password1234", "password2": "password1234"})
    assert weak.status_code == 422 and "most common" in weak.get_data(as_text=True)
    differ = client.post(link, data={"password": NEW, "password2": NEW + "!"})
    assert "The two passwords differ." in differ.get_data(as_text=True)

    mailbox.clear()
    response = client.post(link, data={"password": NEW, "password2": NEW})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/profile").status_code == 200  # signed in here
    assert other.get("/profile").status_code == 302  # and nowhere else
    with app.app_context():
        live = db.session.scalars(
            sa.select(UserSession).where(UserSession.revoked_at.is_(None))
        ).all()
        assert len(live) == 1
    [notice] = mailbox.to("ann@example.com")
    assert notice["Subject"] == "Your password was changed"
    assert "password recovery link" in mailbox.text(notice)
    assert {"auth.password_reset", "auth.login"} <= set(_actions(app))

    # The link works once. Its form sent again (a double click, a reload of the answer) says
    # what the first did, and does nothing; with another password (someone else used the link
    # meanwhile) it is the used link it is.
    assert client.get(link).status_code == 400
    again = client.post(link, data={"password": NEW, "password2": NEW}, follow_redirects=True)
    assert "Your password was changed." in text_of(again.text)
    assert again.request.path == "/"
    client.post("/logout")
    again = client.post(link, data={"password": NEW, "password2": NEW})
    assert again.status_code == 302 and again.headers["Location"] == "/login"
    other_password = "quite another long secret"
    again = client.post(link, data={"password": other_password, "password2": other_password})
    assert again.status_code == 400 and "expired or has already been used" in again.text
    assert _actions(app).count("auth.password_reset") == 1
    # The old password is gone, the new one works.
    assert (
        client.post(
            "/login", data={"email": "ann@example.com", "password": TEST_PASSWORD}
        ).status_code
        == 422
    )
    assert (
        client.post("/login", data={"email": "ann@example.com", "password": NEW}).status_code == 302
    )


def test_reset_link_confirms_an_unconfirmed_email(app, client, make_user, captcha_solver, mailbox):
    make_user(confirmed=False)
    _ask(client, captcha_solver)
    client.post(_reset_link(mailbox), data={"password": NEW, "password2": NEW})
    with app.app_context():
        assert db.session.scalar(sa.select(User.confirmed_at)) is not None


def test_reset_link_dies_when_the_password_changes_another_way(
    app, client, make_user, captcha_solver, mailbox, auth
):
    make_user()
    _ask(client, captcha_solver)
    link = _reset_link(mailbox)
    auth.login()
    response = client.post(
        "/profile/password",
        data={"current_password": TEST_PASSWORD, "password": NEW, "password2": NEW},
    )
    assert response.status_code == 302
    client.post("/logout")
    response = client.get(link)
    assert response.status_code == 400
    assert "expired or has already been used" in response.get_data(as_text=True)


def test_expired_and_forged_reset_links_are_refused(app, client, make_user, monkeypatch):
    ann = make_user()
    bob = make_user(email="bob@example.com", tax_id="7709999999")
    with app.test_request_context():
        ann_user, bob_user = db.session.get(User, ann), db.session.get(User, bob)
        real = TimestampSigner.get_timestamp
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 3601)
        expired = tokens.make_token("reset", ann_user)
        monkeypatch.setattr(TimestampSigner, "get_timestamp", real)
        # A token signed for Bob whose payload is edited to name Ann fails the signature.
        bob_token = tokens.make_token("reset", bob_user)
        serializer = tokens._serializer("reset")
        payload = serializer.loads(bob_token)
        forged = serializer.dump_payload({**payload, "u": ann}).decode()
        forged = forged + "." + bob_token.split(".", 1)[1]
        # Ann's state fingerprint does not fit Bob's account either.
        crossed = serializer.dumps({"u": bob, "f": tokens._fingerprint("reset", ann_user)})
        confirm_token = tokens.make_token("confirm", ann_user)
    for token in (expired, forged, crossed, confirm_token, "x" * 2000):
        response = client.get(f"/reset-password/{token}")
        assert response.status_code in (400, 404), token


def test_another_users_reset_link_while_signed_in_is_refused(
    app, client, make_user, captcha_solver, mailbox, auth
):
    make_user()
    make_user(email="bob@example.com", tax_id="7709999999")
    _ask(client, captcha_solver)
    link = _reset_link(mailbox)
    auth.login(email="bob@example.com")
    response = client.get(link)
    assert response.status_code == 400
    assert "belongs to another account" in response.get_data(as_text=True)
    response = client.post(link, data={"password": NEW, "password2": NEW})
    assert response.status_code == 400
    with app.app_context():
        ann = db.session.scalar(sa.select(User).where(User.email == "ann@example.com"))
        from lkapp.security import verify_password

        assert verify_password(ann.password_hash, TEST_PASSWORD)


def test_reset_form_works_with_htmx(client, make_user, captcha_solver, mailbox):
    make_user()
    response = client.htmx(
        "POST",
        "/forgot-password",
        data={
            "email": "ann@example.com",
            "tax_id": "7701234567",
            **captcha_solver(client.get("/forgot-password").get_data(as_text=True)),
        },
    )
    assert response.headers["HX-Redirect"] == "/forgot-password/sent"
    link = _reset_link(mailbox)
    path = link.replace("http://localhost", "")
    bad = client.htmx("POST", path, data={"password": "short", "password2": "short"})
    assert bad.status_code == 422 and "<header" not in bad.get_data(as_text=True)
    good = client.htmx("POST", path, data={"password": NEW, "password2": NEW})
    assert good.headers["HX-Redirect"] == "/"


def test_recovery_without_csrf_is_refused(client, captcha_solver, make_user, mailbox):
    make_user()
    page = client.get("/forgot-password").get_data(as_text=True)
    response = client.post(
        "/forgot-password",
        data={"email": "ann@example.com", "tax_id": "7701234567", **captcha_solver(page)},
        csrf=False,
    )
    assert response.status_code == 400
    assert mailbox.messages == []


def test_mail_kept_in_the_outbox_when_the_server_refuses(
    app, client, make_user, captcha_solver, mailbox, runner
):
    from lkapp.models import OutboxMail

    make_user()
    mailbox.refuse = True
    _ask(client, captcha_solver)
    with app.app_context():
        [row] = db.session.scalars(sa.select(OutboxMail)).all()
        assert row.sent_at is None and "451" in row.last_error
    mailbox.refuse = False
    assert runner.invoke(args=["outbox", "send"]).exit_code == 0
    assert _reset_link(mailbox)


def test_mail_is_in_the_users_language(app, client, make_user, captcha_solver, mailbox):
    make_user(locale="hu")
    _ask(client, captcha_solver)
    [message] = mailbox.to("ann@example.com")
    assert "/reset-password/" in mailbox.text(message)  # plain text and HTML bodies
    html = mailbox.html(message)
    assert 'lang="hu"' in html
    assert mailbox.links(message)


def test_recovery_mail_goes_out_only_after_the_answer(client, make_user, captcha_solver, mailbox):
    """Sending takes time; sending before answering would tell that the data matched."""
    make_user()
    page = client.get("/forgot-password").get_data(as_text=True)
    response = client.post(
        "/forgot-password",
        data={"email": "ann@example.com", "tax_id": "7701234567", **captcha_solver(page)},
        buffered=False,
    )
    assert response.status_code == 302
    assert mailbox.messages == []
    response.close()  # what a WSGI server does once the answer is sent
    assert _reset_link(mailbox)


def test_reset_form_needs_both_fields(client, make_user, captcha_solver, mailbox):
    make_user()
    _ask(client, captcha_solver)
    response = client.post(_reset_link(mailbox), data={"password": "", "password2": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="password-error"' in page and 'id="password2-error"' in page


@pytest.mark.sqlite_only
def test_a_forged_host_cannot_redirect_the_reset_link(
    app_config, make_user, captcha_solver, mailbox
):
    """Host-header poisoning: with the portal's name configured, a request naming another
    host is refused before anything is sent, and links carry the portal's own name."""
    from lkapp import create_app
    from tests.conftest import Client

    make_user()
    app = create_app({**app_config, "SERVER_NAME": "my.utility.example"})
    app.test_client_class = Client
    client = app.test_client()
    forged = client.get("/forgot-password", base_url="http://evil.example")
    assert forged.status_code == 400
    assert "evil.example" not in forged.get_data(as_text=True)

    page = client.get("/forgot-password", base_url="http://my.utility.example")
    fields = {"email": "ann@example.com", "tax_id": "7701234567"}
    fields.update(captcha_solver(page.get_data(as_text=True)))
    response = client.post("/forgot-password", data=fields, base_url="http://evil.example")
    assert response.status_code == 400
    assert mailbox.messages == []
    response = client.post("/forgot-password", data=fields, base_url="http://my.utility.example")
    assert response.status_code == 302
    assert _reset_link(mailbox).startswith("http://my.utility.example/reset-password/")
    # the machine's own names stay open for health checks
    assert client.get("/healthz", base_url="http://127.0.0.1:8000").status_code == 200


# --- links of an account the office locked ------------------------------------------------


def _office(app, make_user):
    office = app.test_client()
    make_user(email="op@example.org", role="staff")
    AuthActions(office).login(email="op@example.org")
    return office


def _password_is(app, password, email="ann@example.com") -> bool:
    from lkapp.security import verify_password

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        return verify_password(user.password_hash, password)


def test_a_reset_link_dies_when_the_office_locks_the_account(
    app, client, make_user, captcha_solver, mailbox
):
    """The office locks an account whose mailbox is in dispute: a reset link mailed before
    must set no password, neither during the lock nor after the unlock."""
    victim = make_user()
    _ask(client, captcha_solver)
    link = _reset_link(mailbox)
    office = _office(app, make_user)
    locked = office.post(f"/staff/customers/{victim}/lock", data={"reason": "mailbox in dispute"})
    assert locked.status_code == 302

    intruder = app.test_client()
    for response in (
        intruder.get(link),
        intruder.post(link, data={"password": NEW, "password2": NEW}),
    ):
        assert response.status_code == 400
        assert "expired or has already been used" in response.get_data(as_text=True)
    assert _password_is(app, TEST_PASSWORD)
    assert "auth.password_reset" not in _actions(app)

    office.post(f"/staff/customers/{victim}/unlock", data={"reason": "checked"})
    assert intruder.post(link, data={"password": NEW, "password2": NEW}).status_code == 400
    assert _password_is(app, TEST_PASSWORD)
    assert (
        intruder.post("/login", data={"email": "ann@example.com", "password": NEW}).status_code
        == 422
    )
    # A link asked for after the unlock works.
    mailbox.clear()
    _ask(client, captcha_solver)
    assert (
        client.post(_reset_link(mailbox), data={"password": NEW, "password2": NEW}).status_code
        == 302
    )
    assert _password_is(app, NEW)


def test_a_reset_link_still_lifts_a_lock_after_failed_sign_ins_that_came_after_it(
    app, client, make_user, captcha_solver, mailbox
):
    make_user()
    _ask(client, captcha_solver)
    link = _reset_link(mailbox)
    with app.app_context():
        db.session.execute(
            sa.update(User).values(locked_at=utcnow(), locked_reason="failed_logins")
        )
        db.session.commit()
    response = client.post(link, data={"password": NEW, "password2": NEW})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert _password_is(app, NEW)
    with app.app_context():
        assert db.session.scalar(sa.select(User.locked_at)) is None


# --- a never-confirmed account: its address may have been registered by someone else ------


def test_a_reset_that_confirms_an_address_drops_the_second_factor_and_every_session(
    app, client, make_user, captcha_solver, mailbox
):
    """Someone registered the business's address (its tax ID is public) and enrolled an
    authenticator before that was refused: the owner's reset must not stop at its code."""
    from lkapp.domain.accounts import recovery_code_digest

    make_user(
        confirmed=False,
        totp_secret=TEST_TOTP_SECRET,
        totp_last_step=1,
        recovery_codes=[recovery_code_digest("ABCD-EFGH-JKLM-NPQR")],
    )
    squatter = app.test_client()
    squatter.post("/login", data={"email": "ann@example.com", "password": TEST_PASSWORD})
    _ask(client, captcha_solver)
    response = client.post(_reset_link(mailbox), data={"password": NEW, "password2": NEW})
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    assert client.get("/profile").status_code == 200  # signed in, no code asked
    with app.app_context():
        user = db.session.scalar(sa.select(User))
        assert user.confirmed_at is not None
        assert user.totp_secret is None and user.totp_last_step is None
        assert user.recovery_codes == []
        live = db.session.scalars(
            sa.select(UserSession).where(UserSession.revoked_at.is_(None))
        ).all()
        assert len(live) == 1
    assert "auth.two_factor_disabled" in _actions(app)
    assert (
        squatter.post("/login/two-factor", data={"code": "ABCD-EFGH-JKLM-NPQR"}).status_code == 302
    )
    assert squatter.get("/profile").status_code == 302  # the code leads nowhere now


# --- a never-confirmed account with another tax ID: the mailbox is the proof --------------

SQUATTERS_TAX_ID = "7709999999"


def _sent_answer(client, response) -> tuple:
    """What the one asking sees: the redirect, and the page it leads to."""
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    return (
        response.status_code,
        response.headers["Location"],
        response.get_data(as_text=True),
        page.split("<main")[1].split("</main>")[0],
    )


def test_the_forgot_page_answers_the_same_whatever_the_account_and_tax_id(
    app, make_user, captcha_solver, mailbox
):
    """The mail now goes for an unconfirmed address whatever tax ID is typed: the answer
    must still tell nothing, with JavaScript and without."""
    make_user()  # confirmed, tax ID 7701234567
    make_user(email="new@example.com", confirmed=False, tax_id=SQUATTERS_TAX_ID)
    cases = {
        "confirmed, matching": {},
        "confirmed, wrong tax ID": {"tax_id": "7705555555"},
        "unconfirmed, another tax ID": {"email": "new@example.com"},
        "unconfirmed, not a tax ID": {"email": "new@example.com", "tax_id": "12-ab"},
        "no account": {"email": "nobody@example.com"},
    }
    plain, htmx = set(), set()
    for data in cases.values():
        client = app.test_client()
        plain.add(_sent_answer(client, _ask(client, captcha_solver, **data)))
        page = client.get("/forgot-password").get_data(as_text=True)
        fields = {"email": "ann@example.com", "tax_id": "7701234567", **captcha_solver(page)}
        response = client.htmx("POST", "/forgot-password", data={**fields, **data})
        htmx.add((response.status_code, response.headers["HX-Redirect"], response.text))
    assert len(plain) == 1 and len(htmx) == 1
    assert len(mailbox.to("ann@example.com")) == 2
    assert len(mailbox.to("new@example.com")) == 2  # not for "12-ab": no tax ID
    assert mailbox.to("nobody@example.com") == []


def test_a_confirmed_account_still_needs_its_tax_id(
    app, client, make_user, captcha_solver, mailbox
):
    make_user(tax_id=SQUATTERS_TAX_ID)
    assert _ask(client, captcha_solver).status_code == 302
    assert mailbox.messages == []
    with app.app_context():
        assert db.session.scalar(sa.select(User.tax_id)) == SQUATTERS_TAX_ID


def test_an_unconfirmed_account_gets_five_reset_mails_a_day_whatever_the_tax_id(
    app, make_user, captcha_solver, mailbox
):
    make_user(confirmed=False, tax_id=SQUATTERS_TAX_ID)
    for n in range(7):
        visitor = app.test_client()
        visitor.environ_base["REMOTE_ADDR"] = f"203.0.113.{n + 1}"
        assert _ask(visitor, captcha_solver, tax_id=f"770123456{n}").status_code == 302
    assert len(mailbox.to("ann@example.com")) == 5
    assert _actions(app).count("auth.reset_not_mailed") == 2


def test_a_link_the_squatter_asked_for_goes_to_the_owner_and_says_what_it_would_set(
    app, client, make_user, captcha_solver, mailbox
):
    """Whoever registered the address may ask for a link too, with any tax ID: it goes to
    the address, not to them. Its page shows the tax ID it would set, and the owner's own
    link, once used, kills it."""
    make_user(confirmed=False, tax_id=SQUATTERS_TAX_ID)
    squatter = app.test_client()
    _ask(squatter, captcha_solver, tax_id="7708888888")
    squatters_link = _reset_link(mailbox)  # in the owner's mailbox
    assert "becomes 7708888888" in client.get(squatters_link).text
    mailbox.clear()
    _ask(client, captcha_solver)
    owners_link = _reset_link(mailbox)
    assert "becomes 7701234567" in client.get(owners_link).text
    assert client.post(owners_link, data={"password": NEW, "password2": NEW}).status_code == 302
    client.post("/logout")
    assert (
        squatter.post(squatters_link, data={"password": NEW, "password2": NEW}).status_code == 400
    )
    with app.app_context():
        assert db.session.scalar(sa.select(User.tax_id)) == "7701234567"


def test_the_tax_id_a_link_carries_cannot_be_changed(app, client, make_user):
    user_id = make_user(confirmed=False, tax_id=SQUATTERS_TAX_ID)
    with app.test_request_context():
        token = tokens.make_token("reset", db.session.get(User, user_id), tax_id="7701234567")
        serializer = tokens._serializer("reset")
        edited = serializer.dump_payload({**serializer.loads(token), "t": "7708888888"}).decode()
        edited = edited + "." + token.split(".", 1)[1]
    assert client.get(f"/reset-password/{edited}").status_code == 400
    response = client.post(f"/reset-password/{edited}", data={"password": NEW, "password2": NEW})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(User.tax_id)) == SQUATTERS_TAX_ID
    assert "becomes 7701234567" in client.get(f"/reset-password/{token}").text


def test_a_link_used_after_the_address_was_confirmed_sets_the_password_alone(
    app, client, make_user, captcha_solver, mailbox
):
    """Once confirmed (only from the mailbox), an account's tax ID is proven: only the
    office changes it. The link still sets the password: it came to that mailbox."""
    make_user(confirmed=False, tax_id=SQUATTERS_TAX_ID)
    _ask(client, captcha_solver)
    link = _reset_link(mailbox)
    with app.app_context():
        db.session.execute(sa.update(User).values(confirmed_at=utcnow()))
        db.session.commit()
    assert "becomes" not in client.get(link).text
    response = client.post(link, data={"password": NEW, "password2": NEW})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert _password_is(app, NEW)
    with app.app_context():
        assert db.session.scalar(sa.select(User.tax_id)) == SQUATTERS_TAX_ID
    assert "auth.tax_id_changed" not in _actions(app)
