"""A customer closes the account: contracts leave it, sessions end, personal details go; the
supply contracts themselves and the office's records stay."""

import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import AuditEvent, Contract, User, UserSession
from tests.conftest import TEST_PASSWORD, AuthActions, swapped
from tests.web.test_documents import add_contract


def _add_contracts(app, user_id, *numbers):
    with app.app_context():
        for number in numbers:
            add_contract(number, account_id=user_id)
        db.session.commit()


def _user(app, user_id) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def test_the_page_says_what_closing_does_and_asks_for_the_password(app, client, make_user, auth):
    user_id = make_user()
    _add_contracts(app, user_id, "EL-1", "EL-2")
    auth.login()
    assert 'href="/profile/close"' in client.get("/profile").text
    page = client.get("/profile/close").text
    assert "<h1>Close account</h1>" in page
    assert "does not end your electricity supply" in page
    assert "Contracts EL-1, EL-2 leave the account." in page
    assert ">Current password</label>" in page and ">Close my account</button>" in page

    wrong = client.htmx("POST", "/profile/close", data={"current_password": "not it at all"})
    assert wrong.status_code == 422
    assert swapped(wrong.text).startswith('<form id="close-form"')
    assert "That is not your current password." in wrong.text
    empty = client.post("/profile/close", data={"current_password": ""})
    assert empty.status_code == 422 and "Enter your current password." in empty.text
    user = _user(app, user_id)
    assert user.email == "ann@example.com" and user.locked_at is None
    assert client.get("/electricity/EL-1").status_code == 200  # nothing changed
    assert client.post("/profile/close", data={}, csrf=False).status_code == 400


def test_closing_detaches_the_contracts_ends_sessions_and_erases_the_details(
    app, client, make_user, auth, mailbox
):
    user_id = make_user(totp_secret=None)
    _add_contracts(app, user_id, "EL-1", "EL-2")
    auth.login()
    other = app.test_client()
    AuthActions(other).login()

    response = client.post("/profile/close", data={"current_password": TEST_PASSWORD})
    assert response.status_code == 302 and response.location == "/"
    assert "Your account is closed." in client.get("/").text
    assert client.get("/profile").status_code == 302  # signed out
    assert other.get("/profile").status_code == 302  # every session ended

    user = _user(app, user_id)
    assert user.email == f"closed-{user_id}@closed.invalid"
    assert (user.name, user.tax_id, user.phone) == ("", "", "")
    assert user.locked_reason == "closed" and user.locked_at is not None
    assert not (user.notify_documents or user.notify_debt or user.notify_readings)
    with app.app_context():
        contracts = db.session.scalars(sa.select(Contract).order_by(Contract.number)).all()
        assert [(c.number, c.account_id) for c in contracts] == [("EL-1", None), ("EL-2", None)]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(UserSession)) == 0
        actions = db.session.scalars(sa.select(AuditEvent.action)).all()
        assert actions.count("contract.detached") == 2 and "auth.account_closed" in actions

    # The confirmation went to the address the account had.
    [notice] = [m for m in mailbox.to("ann@example.com") if "closed" in m["Subject"]]
    assert notice["Subject"] == "Your account in My Account is closed"
    text = mailbox.text(notice)
    assert "Contracts EL-1, EL-2 left the account." in text
    assert "http://localhost/register" in text

    # The old password opens nothing, and the address may register again.
    refused = client.post("/login", data={"email": "ann@example.com", "password": TEST_PASSWORD})
    assert refused.status_code == 422 and "Wrong email or password." in refused.text
    again = client.post(
        "/register",
        data={
            "email": "ann@example.com",
            "password": "пчёлы летят над полем 7",
            "password2": "пчёлы летят над полем 7",
            "name": "Ann's Bakery Ltd",
            "tax_id": "12345678-2-42",
            "phone": "+36 1 555 0101",
        },
    )
    assert again.status_code == 302
    assert again.location == "/register/done"
    with app.app_context():
        emails = db.session.scalars(sa.select(User.email).order_by(User.id)).all()
    assert emails == [f"closed-{user_id}@closed.invalid", "ann@example.com"]


def test_the_office_sees_a_closed_account_and_cannot_reopen_it(app, client, make_user, auth):
    user_id = make_user()
    auth.login()
    client.post("/profile/close", data={"current_password": TEST_PASSWORD})
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    page = client.get(f"/staff/customers/{user_id}").text
    assert "Closed" in page and "the account's details were erased" in page
    assert "Closed by the customer" in page  # the sign-in history
    assert f'action="/staff/customers/{user_id}/unlock"' not in page
    assert f'action="/staff/customers/{user_id}/lock"' not in page
    for action in ("unlock", "lock"):
        response = client.post(f"/staff/customers/{user_id}/{action}", data={"reason": "try it"})
        assert response.status_code == 302
        assert "it cannot be opened again" in client.get(response.location).text
    assert _user(app, user_id).locked_reason == "closed"
    results = client.get("/staff/customers?q=closed").text
    assert f"closed-{user_id}@closed.invalid" in results and ">Closed</span>" in results


def test_staff_accounts_are_not_closed_from_the_profile(client, make_user, auth):
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    assert 'href="/profile/close"' not in client.get("/profile").text
    assert client.get("/profile/close").status_code == 403
    assert (
        client.post("/profile/close", data={"current_password": TEST_PASSWORD}).status_code == 403
    )


def test_an_unconfirmed_account_closes_without_a_mail(app, client, make_user, auth, mailbox):
    """Nobody proved the address is theirs: the utility does not write to it."""
    make_user(confirmed=False)
    auth.login()
    assert "We send a confirmation" not in client.get("/profile/close").text
    response = client.post("/profile/close", data={"current_password": TEST_PASSWORD})
    assert response.status_code == 302
    page = client.get("/").text
    assert "Your account is closed." in page and "We sent a confirmation" not in page
    assert mailbox.messages == []


def test_the_office_sends_no_confirmation_link_to_a_closed_account(
    app, client, make_user, auth, mailbox
):
    user_id = make_user(confirmed=False)
    auth.login()
    client.post("/profile/close", data={"current_password": TEST_PASSWORD})
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    assert "Send a new confirmation link" not in client.get(f"/staff/customers/{user_id}").text
    response = client.post(f"/staff/customers/{user_id}/confirmation")
    assert "it cannot be opened again" in client.get(response.location).text
    assert mailbox.messages == []
