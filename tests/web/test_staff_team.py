"""Staff accounts: admins create them (the owner sets the password from a mailed link, then
two-factor), disable and enable them; other staff cannot."""

from __future__ import annotations

from html.parser import HTMLParser

import pyotp
import pytest
import sqlalchemy as sa

from lkapp.auth.services import AUTO_LOCK, STAFF_LOCK, barred
from lkapp.extensions import db
from lkapp.models import AuditEvent, User, utcnow
from tests.conftest import swapped

NEW_PASSWORD = "a brand new staff passphrase"


@pytest.fixture
def admin(make_user, auth):
    user_id = make_user(email="boss@example.org", role="admin")
    auth.login(email="boss@example.org")
    return user_id


def user_by_email(app, email) -> User | None:
    with app.app_context():
        return db.session.scalar(sa.select(User).where(User.email == email))


def test_staff_who_are_not_admins_get_403(client, make_user, auth):
    colleague = make_user(email="colleague@example.org", role="staff")
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    assert client.get("/staff/team").status_code == 403
    assert (
        client.post("/staff/team", data={"email": "x@example.org", "name": "X"}).status_code == 403
    )
    assert client.post(f"/staff/team/{colleague}/disable").status_code == 403
    assert "Staff accounts" not in client.get("/staff/").text


def test_admin_creates_a_staff_account_whose_owner_sets_password_and_two_factor(
    app, client, admin, mailbox
):
    response = client.post(
        "/staff/team",
        data={"email": " new.op@example.org ", "name": "New Operator", "role": "staff"},
    )
    assert response.status_code == 302
    page = client.get("/staff/team").text
    assert "new.op@example.org" in page and "was created" in page
    created = user_by_email(app, "new.op@example.org")
    assert created.role == "staff" and created.totp_secret is None
    with app.app_context():
        [event] = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "user.staff_created")
        ).all()
        assert event.actor_id == admin and event.details == {"role": "staff"}

    [message] = mailbox.to("new.op@example.org")
    assert "set your password" in message["Subject"]
    [link] = [link for link in mailbox.links(message) if "/reset-password/" in link]
    path = link.split("localhost", 1)[1]

    # The new colleague, in another browser, sets a password and is sent to two-factor set-up.
    newcomer = app.test_client()
    assert newcomer.get(path).status_code == 200
    done = newcomer.post(path, data={"password": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status_code == 302, done.text[:800]
    to_setup = newcomer.get("/staff/")
    assert to_setup.status_code == 302 and "two-factor" in to_setup.headers["Location"]
    # The link worked once.
    assert newcomer.get(path).status_code in (400, 410)


def test_bad_input_and_a_taken_email_keep_the_form(app, client, admin):
    response = client.post(
        "/staff/team", data={"email": "not-an-email", "name": "", "role": "staff"}
    )
    assert response.status_code == 422
    assert "Enter a valid email address." in response.text and "Enter the name." in response.text
    assert 'value="not-an-email"' in response.text
    taken = client.htmx(
        "POST", "/staff/team", data={"email": "BOSS@example.org", "name": "B", "role": "admin"}
    )
    assert taken.status_code == 422
    assert swapped(taken.text).startswith('<form id="staff-form"')
    assert "An account with this email exists already." in taken.text
    odd_role = client.post(
        "/staff/team", data={"email": "x@example.org", "name": "X", "role": "root"}
    )
    assert odd_role.status_code == 422
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1


def test_admin_disables_and_enables_a_colleague_but_not_themself(
    app, client, admin, make_user, auth, mailbox
):
    colleague = make_user(email="colleague@example.org", role="staff")
    other = app.test_client()
    other.post(
        "/login",
        data={"email": "colleague@example.org", "password": "correct horse battery staple"},
    )
    other.post(
        "/login/two-factor",
        data={"code": pyotp.TOTP(user_by_email(app, "colleague@example.org").totp_secret).now()},
    )
    assert other.get("/staff/").status_code == 200

    assert client.post(f"/staff/team/{colleague}/disable").status_code == 302
    assert "Disabled" in client.get("/staff/team").text
    assert user_by_email(app, "colleague@example.org").locked_at is not None
    assert other.get("/staff/").status_code == 302, "the colleague's session ended"

    assert client.post(f"/staff/team/{colleague}/enable").status_code == 302
    assert user_by_email(app, "colleague@example.org").locked_at is None

    client.post(f"/staff/team/{admin}/disable")
    assert "You cannot disable your own account." in client.get("/staff/team").text
    assert user_by_email(app, "boss@example.org").locked_at is None

    assert client.post(f"/staff/team/{colleague}/password-link").status_code == 302
    [message] = mailbox.to("colleague@example.org")
    assert "new link" in message["Subject"]
    with app.app_context():
        actions = db.session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.actor_id == admin)
        ).all()
    assert {"auth.locked", "auth.unlocked", "user.password_link_sent"} <= set(actions)
    # Customers are not staff accounts.
    customer = make_user(email="ann@example.com")
    assert client.post(f"/staff/team/{customer}/disable").status_code == 404


def test_two_admins_disabling_each_other_at_once_leave_one_who_can_sign_in(app, make_user):
    """Each request checked the other account before either wrote: both were disabled, and
    no administrator was left to enable anyone."""
    from lkapp.staff import team

    ann = make_user(email="ann@example.org", role="admin")
    bob = make_user(email="bob@example.org", role="admin")
    with app.app_context():
        ann_disables = (db.session.get(User, bob), db.session.get(User, ann))
        assert not any(barred(user) for user in ann_disables)  # read before Bob's request
        with app.app_context():
            bob_disables = (db.session.get(User, ann), db.session.get(User, bob))
            assert team.disable(*bob_disables) == "disabled"
            db.session.commit()
        assert team.disable(*ann_disables) == "actor_disabled"
        db.session.commit()
    assert barred(user_by_email(app, "ann@example.org"))
    assert not barred(user_by_email(app, "bob@example.org"))
    with app.app_context():
        locks = db.session.scalar(
            sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.action == "auth.locked")
        )
    assert locks == 1


def test_a_new_colleague_is_welcomed_in_the_admins_language(app, client, admin, mailbox):
    """The welcome went out in English whatever language the office works in."""
    with app.app_context():
        db.session.get(User, admin).locale = "hu"
        db.session.commit()
    response = client.post(
        "/staff/team", data={"email": "kata@example.org", "name": "Kovács Kata", "role": "staff"}
    )
    assert response.status_code == 302
    assert user_by_email(app, "kata@example.org").locale == "hu"
    [message] = mailbox.to("kata@example.org")
    assert "Tisztelt Kovács Kata!" in mailbox.text(message)


class ButtonNames(HTMLParser):
    """The names a screen reader gives the page's buttons: their text, less what sits in an
    ``aria-hidden`` element (an ``aria-label`` wins)."""

    def __init__(self):
        super().__init__()
        self.names: list[str] = []
        self._button: list[str] | None = None
        self._label: str | None = None
        self._hidden = 0  # depth inside an aria-hidden element, 0 when outside

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "button":
            self._button, self._label = [], attrs.get("aria-label")
        elif self._button is not None and (self._hidden or attrs.get("aria-hidden") == "true"):
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag == "button" and self._button is not None:
            self.names.append(self._label or " ".join("".join(self._button).split()))
            self._button = None
        elif self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if self._button is not None and not self._hidden:
            self._button.append(data)


def test_each_rows_buttons_name_the_account_for_a_screen_reader(app, client, admin, make_user):
    """A screen reader heard "Disable, Send a password link, Disable, ..." without knowing
    whose; the visible words stay short."""
    make_user(email="colleague@example.org", role="staff")
    locked = make_user(email="gone@example.org", role="staff")
    with app.app_context():
        db.session.get(User, locked).locked_at = utcnow()
        db.session.commit()
    page = client.get("/staff/team").text
    parser = ButtonNames()
    parser.feed(page)
    assert {
        "Disable colleague@example.org",
        "Send a password link to colleague@example.org",
        "Enable gone@example.org",
    } <= set(parser.names)
    assert "Send a password link to gone@example.org" not in parser.names, "no link works"
    assert not {"Disable", "Enable", "Send a password link"} & set(parser.names)
    assert '<span aria-hidden="true">Disable</span>' in page  # what one sees is unchanged


def test_a_colleague_locked_by_failed_sign_ins_can_still_be_disabled(app, client, admin, make_user):
    """Failed sign-ins lock an account until its owner resets the password; the team page
    called it "Disabled", offered no Disable, and refused one ("disabled already"): whoever
    holds the mailbox could reset and sign in."""
    colleague = make_user(email="colleague@example.org", role="staff")
    with app.app_context():
        user = db.session.get(User, colleague)
        user.locked_at, user.locked_reason = utcnow(), AUTO_LOCK
        db.session.commit()
    page = client.get("/staff/team").text
    parser = ButtonNames()
    parser.feed(page)
    assert {"Disable colleague@example.org", "Enable colleague@example.org"} <= set(parser.names)
    assert ">Disabled</span>" not in page and "too many failed sign-ins" in page

    client.post(f"/staff/team/{colleague}/disable")
    page = client.get("/staff/team").text
    assert "The account colleague@example.org is disabled." in page and ">Disabled</span>" in page
    with app.app_context():
        user = db.session.get(User, colleague)
        assert user.locked_reason == STAFF_LOCK and barred(user), "a reset no longer lifts it"


def test_no_password_link_for_a_disabled_colleague(app, client, admin, make_user, mailbox):
    """No reset link of a disabled account works: the page said a link went out, and the
    colleague got one that only said it was invalid."""
    colleague = make_user(email="colleague@example.org", role="staff")
    client.post(f"/staff/team/{colleague}/disable")
    page = client.get("/staff/team").text
    parser = ButtonNames()
    parser.feed(page)
    assert "Send a password link to colleague@example.org" not in parser.names
    assert "Enable colleague@example.org" in parser.names

    assert client.post(f"/staff/team/{colleague}/password-link").status_code == 302
    page = client.get("/staff/team").text
    assert "colleague@example.org is disabled: its link would not work. Enable it first." in page
    assert "A link to set a password went" not in page
    assert mailbox.to("colleague@example.org") == []
    with app.app_context():
        assert not db.session.scalar(
            sa.select(sa.func.count()).where(AuditEvent.action == "user.password_link_sent")
        )

    client.post(f"/staff/team/{colleague}/enable")
    client.post(f"/staff/team/{colleague}/password-link")
    [message] = mailbox.to("colleague@example.org")
    assert "new link" in message["Subject"]


def test_the_form_sent_twice_at_once_creates_one_account_and_says_so(
    app, client, admin, monkeypatch
):
    """A double click without JavaScript sends the form twice: the second, checked before
    the first was committed, was a 500 (the unique address) instead of the form's message."""
    from lkapp.staff import team
    from tests.conftest import AuthActions
    from tests.web.test_races_auth import one_after_other

    second_tab = app.test_client()
    AuthActions(second_tab).login(email="boss@example.org")
    data = {"email": "new.op@example.org", "name": "New Operator", "role": "staff"}
    first, second = one_after_other(
        monkeypatch,
        lambda: client.post("/staff/team", data=dict(data)),
        lambda: second_tab.post("/staff/team", data=dict(data)),
        hold_after=(team, "send_password_link"),
        second_reaches=[(team, "hash_password")],
    )
    assert first.status_code == 302
    assert second.status_code == 422, second
    assert "An account with this email exists already." in second.text
    assert 'value="New Operator"' in second.text
    with app.app_context():
        assert (
            db.session.scalar(sa.select(sa.func.count()).where(User.email == "new.op@example.org"))
            == 1
        )


def test_too_long_an_email_or_name_is_said_in_the_admins_language(client, admin):
    """WTForms' own "Field cannot be longer than N characters." stayed English on a Hungarian
    page (its catalogue lacks that plural): the portal's own words are said instead."""
    client.post("/language", data={"locale": "hu", "next": "/"})
    response = client.post(
        "/staff/team",
        data={"email": "a" * 250 + "@example.org", "name": "N" * 201, "role": "staff"},
    )
    assert response.status_code == 422
    assert "Az e-mail-cím legfeljebb 254 karakter hosszú lehet." in response.text
    assert "Legfeljebb 200 karaktert használjon." in response.text
    assert "Field cannot be longer" not in response.text
