"""The office's customer pages: search, the account page, lock / unlock with a reason,
a new confirmation link; never a password."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from lkapp.auth.services import AUTO_LOCK, STAFF_LOCK
from lkapp.extensions import db
from lkapp.models import AuditEvent, Contract, User, UserSession, utcnow
from lkapp.services import audit
from tests.conftest import TEST_PASSWORD, swapped


@pytest.fixture
def customer(app, make_user):
    user_id = make_user(email="ann@example.com", name="Ann's Bakery Ltd", tax_id="12345678-2-42")
    with app.app_context():
        db.session.add(
            Contract(
                number="EL-77",
                holder_name="Ann's Bakery",
                tax_id="1",
                address="x",
                account_id=user_id,
            )
        )
        db.session.commit()
    return user_id


@pytest.fixture
def staff(make_user, auth):
    user_id = make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    return user_id


def events(app, action):
    with app.app_context():
        return db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()


def test_find_by_email_name_or_tax_id_and_only_customers(app, client, customer, staff, make_user):
    make_user(email="bob@example.com", name="Bob Plumbing", tax_id="HU99887766")
    make_user(email="olga@example.com", name="ЭНЕРГОСБЫТ Ольга", tax_id="77")
    for query in ("ANN@", "bakery", "12345678242", "12345678-2-42"):
        page = client.get(f"/staff/customers?q={query}").text
        assert "1 account matches" in page and "ann@example.com" in page, query
        assert "bob@example.com" not in page
    for query in ("энергосбыт", "ОЛЬГА"):  # any letter case, not only ASCII
        page = client.get("/staff/customers", query_string={"q": query}).text
        assert "1 account matches" in page and "olga@example.com" in page, query
    make_user(email="info@пример.рф", name="Primer", tax_id="78")
    # The domain as a mail program shows it, in punycode or full-width letters: stored in letters.
    for query in ("info@xn--e1afmkfd.xn--p1ai", "XN--E1AFMKFD.xn--p1ai", "info@пример。рф"):
        page = client.get("/staff/customers", query_string={"q": query}).text
        assert "1 account matches" in page and "info@пример.рф" in page, query
    page = client.get("/staff/customers?q=hu9988").text  # PostgreSQL's LIKE minds case
    assert "1 account matches" in page and "bob@example.com" in page
    everyone = client.htmx("GET", "/staff/customers").text
    assert "4 customer accounts in all." in everyone
    assert "op@example.org" not in everyone, "staff accounts are not customers"
    fragment = client.htmx("GET", "/staff/customers?q=bob")
    assert swapped(fragment.text).startswith('<div id="customer-results"')
    assert "HX-Request" in fragment.headers["Vary"]
    assert client.get("/staff/customers?q=nobody-here").text.count("<tbody>") == 0


def test_a_search_runs_within_one_field_and_pages_through_many(client, customer, staff, make_user):
    """Email, name and tax id are searched as one lower-cased text: a search running from
    one into the next finds nothing. Many accounts come in pages, the count above them."""
    for query in ("example.com ann's", "example.com\nann's", "ltd 1234", "ltd\n1234", "ltd1234"):
        page = client.get("/staff/customers", query_string={"q": query}).text
        assert "0 accounts match" in page and "ann@example.com" not in page, repr(query)
    for n in range(44):
        make_user(email=f"shop{n:02d}@example.net", name=f"Corner Shop {n}")
    first = client.get("/staff/customers?q=example.net").text
    assert "44 accounts match “example.net”." in first and "Page 1 of 3" in first
    assert "shop19@example.net" in first and "shop20@example.net" not in first
    last = client.get("/staff/customers?q=example.net&page=3").text
    assert "Page 3 of 3" in last and "shop40@example.net" in last and "shop43@example.net" in last
    beyond = client.get("/staff/customers?q=example.net&page=99").text
    assert "44 accounts match" in beyond and "Page 3 of 3" in beyond and "shop43@" in beyond
    everyone = client.get("/staff/customers?page=2").text
    assert "45 customer accounts in all." in everyone and "Page 2 of 3" in everyone


def test_customer_page_shows_contracts_sign_ins_and_sessions_not_the_password(
    app, client, customer, staff, make_user
):
    # The customer signs in from elsewhere once, and fails once.
    other = app.test_client()
    other.post("/login", data={"email": "ann@example.com", "password": "wrong password 1"})
    other.post(
        "/login",
        data={"email": "ann@example.com", "password": TEST_PASSWORD},
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
        headers={"User-Agent": "Mozilla/5.0 (Windows NT 10.0) Firefox/128.0"},
    )
    page = client.get(f"/staff/customers/{customer}")
    assert page.status_code == 200
    text = page.text
    assert "EL-77" in text and 'href="/staff/contracts/EL-77"' in text
    assert "Signed in" in text and "Failed sign-in" in text and "203.0.113.7" in text
    assert "Firefox on Windows" in text, "the active session is listed"
    with app.app_context():
        password_hash = db.session.get(User, customer).password_hash
    assert password_hash not in text and 'type="password"' not in text
    # Staff accounts are not shown here; unknown ids are 404.
    assert client.get(f"/staff/customers/{staff}").status_code == 404
    assert client.get("/staff/customers/999999").status_code == 404


def test_a_reason_in_lines_counts_each_line_break_once(app, client, customer, staff):
    """A browser sends a line break as two characters: a reason of 500 in several lines
    was refused as longer than 500."""
    reason = "\r\n".join(["Stolen laptop, reported by phone."] * 15)[: 500 + 14]
    assert len(reason.replace("\r\n", "\n")) <= 500 < len(reason)
    done = client.post(f"/staff/customers/{customer}/lock", data={"reason": reason})
    assert done.status_code == 302
    [locked] = events(app, "auth.locked")
    assert locked.details["note"] == reason.replace("\r\n", "\n").strip()


def test_lock_needs_a_reason_then_ends_sessions_and_unlock_lifts_it(app, client, customer, staff):
    other = app.test_client()
    other.post("/login", data={"email": "ann@example.com", "password": TEST_PASSWORD})
    assert other.get("/electricity").status_code == 200

    refused = client.post(f"/staff/customers/{customer}/lock", data={"reason": ""})
    assert refused.status_code == 422 and "Say why; it goes into the audit log." in refused.text
    fragment = client.htmx("POST", f"/staff/customers/{customer}/lock", data={"reason": "x"})
    assert fragment.status_code == 422
    assert swapped(fragment.text).startswith('<form id="lock-form"')
    assert events(app, "auth.locked") == []

    done = client.post(
        f"/staff/customers/{customer}/lock", data={"reason": "Customer reported a stolen laptop"}
    )
    assert done.status_code == 302
    page = client.get(done.headers["Location"]).text
    assert "The account is locked" in page and "locked by staff" in page
    assert 'id="unlock-form"' in page
    [locked] = events(app, "auth.locked")
    assert (
        locked.actor_id == staff and locked.details["note"] == "Customer reported a stolen laptop"
    )
    assert other.get("/electricity").status_code == 302, "the customer's session ended"
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count(UserSession.id)).where(
                    UserSession.user_id == customer, UserSession.revoked_at.is_(None)
                )
            )
            == 0
        )
    # The customer cannot sign in now.
    response = other.post("/login", data={"email": "ann@example.com", "password": TEST_PASSWORD})
    assert response.status_code == 422

    unlocked = client.post(
        f"/staff/customers/{customer}/unlock", data={"reason": "Identity checked at the office"}
    )
    assert unlocked.status_code == 302
    [event] = events(app, "auth.unlocked")
    assert event.actor_id == staff and event.details["note"] == "Identity checked at the office"
    with app.app_context():
        assert db.session.get(User, customer).locked_at is None
    assert (
        other.post(
            "/login", data={"email": "ann@example.com", "password": TEST_PASSWORD}
        ).status_code
        == 302
    )


def test_an_account_locked_by_failed_sign_ins_can_be_locked_by_the_office(
    app, client, customer, staff
):
    """Failed sign-ins lock an account until a password reset from its mailbox; the page
    offered only "Unlock", so the office could not keep out whoever was trying."""
    with app.app_context():
        user = db.session.get(User, customer)
        user.locked_at, user.locked_reason = utcnow(), AUTO_LOCK
        db.session.commit()
    page = client.get(f"/staff/customers/{customer}").text
    assert 'id="lock-form"' in page and 'id="unlock-form"' in page
    # Two reason fields, each its own label.
    assert page.count('id="lock-reason"') == 1 and page.count('id="unlock-reason"') == 1
    assert '<label for="lock-reason">' in page and '<label for="unlock-reason">' in page
    refused = client.htmx("POST", f"/staff/customers/{customer}/lock", data={"reason": ""})
    assert 'id="lock-reason-error"' in refused.text
    done = client.post(f"/staff/customers/{customer}/lock", data={"reason": "Someone tries"})
    page = client.get(done.headers["Location"]).text
    assert "The account is locked and all its sessions have ended." in page
    assert "locked by staff" in page and 'id="lock-form"' not in page
    with app.app_context():
        assert db.session.get(User, customer).locked_reason == STAFF_LOCK


def test_resend_confirmation_only_for_unconfirmed(app, client, staff, make_user, mailbox):
    waiting = make_user(email="new@example.com", confirmed=False)
    page = client.get(f"/staff/customers/{waiting}").text
    assert "Send a new confirmation link" in page
    response = client.post(f"/staff/customers/{waiting}/confirmation")
    assert response.status_code == 302
    assert (
        "A new confirmation link was sent to new@example.com."
        in client.get(response.headers["Location"]).text
    )
    [message] = mailbox.to("new@example.com")
    assert any("/confirm/" in link for link in mailbox.links(message))
    [event] = events(app, "auth.confirmation_resent")
    assert event.actor_id == staff and event.object_id == str(waiting)

    confirmed = make_user(email="done@example.com")
    assert "Send a new confirmation link" not in client.get(f"/staff/customers/{confirmed}").text
    client.post(f"/staff/customers/{confirmed}/confirmation")
    assert mailbox.to("done@example.com") == []


def test_too_long_a_search_is_said_in_the_operators_language(client, customer, staff):
    """WTForms' own "Field cannot be longer than N characters." stayed English on a Hungarian
    page (its catalogue lacks that plural): the portal's own words are said instead."""
    client.post("/language", data={"locale": "hu", "next": "/"})
    page = client.get("/staff/customers", query_string={"q": "x" * 101}).text
    assert "Legfeljebb 100 karakterrel keressen." in page
    assert "Field cannot be longer" not in page


def test_the_sign_in_history_says_its_details_in_words(app, client, customer, staff):
    """The Details column showed the audit trail's keys ("failures: 1", "reason: staff",
    "second_factor: totp"), in English on every page; now the office's words, translated."""
    other = app.test_client()
    other.post("/login", data={"email": "ann@example.com", "password": "wrong password 1"})
    client.post(f"/staff/customers/{customer}/lock", data={"reason": "Stolen laptop"})
    client.post(f"/staff/customers/{customer}/unlock", data={"reason": "Identity checked"})
    with app.app_context():
        user = db.session.get(User, customer)
        audit.record("auth.login", actor=user, obj=user, second_factor="totp")
        audit.record("auth.sessions_revoked", actor=user, obj=user, count=3)
        db.session.commit()
    client.post("/language", data={"locale": "ru", "next": "/"})
    page = client.get(f"/staff/customers/{customer}").text
    details = re.findall(r"<td data-label=\"Сведения\">(.*?)</td>", page)
    assert details == [
        "завершено 3\xa0сеанса",
        "с кодом из приложения",
        "Причина: Identity checked",
        "заблокирована сотрудником; Причина: Stolen laptop",
        "1\xa0неудачная попытка входа подряд",
    ], details
    # On a phone's card an event's name wraps between its words only ("Разблокировк/а").
    assert '<span class="keep-words">Разблокировка</span>' in page


def _tax_id_of(app, user_id):
    with app.app_context():
        return db.session.get(User, user_id).tax_id


def _forgot_password(app, captcha_solver, tax_id):
    """ "Forgot password?" for ann@example.com with ``tax_id``, from a browser of its own."""
    browser = app.test_client()
    fields = captcha_solver(browser.get("/forgot-password").text)
    browser.post("/forgot-password", data={"email": "ann@example.com", "tax_id": tax_id, **fields})


def test_the_office_corrects_a_tax_id_and_the_customer_recovers_with_the_new_one(
    app, client, make_user, staff, mailbox, captcha_solver
):
    """A tax ID mistyped at registration kept its customer from "Forgot password?" for good:
    only the office may change it, and the back office had no way to."""
    customer = make_user(email="ann@example.com", tax_id="12345678-2-42", locale="ru")
    page = client.get(f"/staff/customers/{customer}").text
    assert 'id="tax-id-form"' in page and "Correct the tax ID" in page
    assert '<label for="tax_id">New tax ID</label>' in page
    assert '<label for="tax-id-reason">Reason</label>' in page and "Save the tax ID" in page

    done = client.post(
        f"/staff/customers/{customer}/tax-id",
        data={"tax_id": " HU 87654321-1-41 ", "reason": "Mistyped at registration, contract seen"},
    )
    assert done.status_code == 302
    page = client.get(done.headers["Location"]).text
    assert "The tax ID is changed." in page
    assert "<dd>HU 87654321-1-41</dd>" in page
    assert _tax_id_of(app, customer) == "HU 87654321-1-41"
    [event] = events(app, "auth.tax_id_changed")
    assert event.actor_id == staff and event.object_id == str(customer)
    assert event.details == {
        "old": "12345678-2-42",
        "new": "HU 87654321-1-41",
        "by": "office",
        "note": "Mistyped at registration, contract seen",
    }
    # The customer is told, in their language.
    [message] = mailbox.to("ann@example.com")
    text = mailbox.text(message)
    assert "12345678-2-42" in text and "HU 87654321-1-41" in text
    assert "Здравствуйте" in text and "изменён нашим офисом" in text
    assert message["Subject"] == "ИНН вашей учётной записи изменён"

    # The event is in the audit log under the account and "Accounts and sign-in".
    log = client.get("/staff/audit", query_string={"user": "ann@example.com", "kind": "auth"})
    assert "<code>auth.tax_id_changed</code>" in log.text

    # "Forgot password?" now takes the new tax ID (in any spelling), not the old one.
    mailbox.clear()
    _forgot_password(app, captcha_solver, "12345678-2-42")
    assert mailbox.to("ann@example.com") == []
    _forgot_password(app, captcha_solver, "hu8765432114 1")
    [reset] = mailbox.to("ann@example.com")
    assert any("/reset-password/" in link for link in mailbox.links(reset))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tax_id": "", "reason": "Mistyped"}, "Enter the new tax ID."),
        (
            {"tax_id": "12-34", "reason": "Mistyped"},
            "Enter the tax ID as in the customer's contract: 6 to 20 letters and digits.",
        ),
        (
            {"tax_id": "1" * 21, "reason": "Mistyped"},
            "Enter the tax ID as in the customer's contract: 6 to 20 letters and digits.",
        ),
        (
            {"tax_id": " 12345678 2 42", "reason": "Mistyped"},
            "The new tax ID is the same as the account's tax ID.",
        ),
        ({"tax_id": "HU87654321", "reason": ""}, "Say why; it goes into the audit log."),
    ],
)
def test_a_bad_tax_id_or_no_reason_is_refused_with_the_form_kept(
    app, client, customer, staff, mailbox, data, message
):
    refused = client.post(f"/staff/customers/{customer}/tax-id", data=dict(data))
    assert refused.status_code == 422
    assert message in html.unescape(refused.text)
    assert "Please correct the marked fields." in refused.text
    if data["tax_id"]:
        assert f'value="{data["tax_id"].strip()}"' in refused.text, "what was typed stays"
    if data["reason"]:
        assert f"{data['reason']}</textarea>" in refused.text
    assert _tax_id_of(app, customer) == "12345678-2-42"
    assert events(app, "auth.tax_id_changed") == []
    assert mailbox.to("ann@example.com") == []


def test_the_tax_id_form_swaps_with_htmx(app, client, customer, staff):
    fragment = client.htmx(
        "POST", f"/staff/customers/{customer}/tax-id", data={"tax_id": "x", "reason": "Typo"}
    )
    assert fragment.status_code == 422 and "HX-Request" in fragment.headers["Vary"]
    assert swapped(fragment.text).startswith('<form id="tax-id-form"')
    assert 'id="tax_id-error"' in fragment.text and 'value="x"' in fragment.text
    done = client.htmx(
        "POST",
        f"/staff/customers/{customer}/tax-id",
        data={"tax_id": "HU87654321", "reason": "Typo"},
    )
    assert done.status_code == 204
    assert done.headers["HX-Redirect"] == f"/staff/customers/{customer}"
    assert _tax_id_of(app, customer) == "HU87654321"


def test_a_tax_id_change_mails_only_an_account_that_may_be_written_to(
    app, client, staff, make_user, mailbox
):
    """An unconfirmed address may be anyone's, and the office may have locked an account
    because its mailbox is in dispute: the change is made, no mail goes."""
    waiting = make_user(email="new@example.com", tax_id="11111111", confirmed=False)
    locked = make_user(email="held@example.com", tax_id="22222222")
    client.post(f"/staff/customers/{locked}/lock", data={"reason": "Mailbox in dispute"})
    for user_id in (waiting, locked):
        done = client.post(
            f"/staff/customers/{user_id}/tax-id", data={"tax_id": "33333333", "reason": "Typo"}
        )
        assert done.status_code == 302
        assert _tax_id_of(app, user_id) == "33333333"
    assert mailbox.to("new@example.com") == [] and mailbox.to("held@example.com") == []
    assert len(events(app, "auth.tax_id_changed")) == 2


def test_a_closed_account_gets_no_tax_id(app, client, staff, make_user):
    user_id = make_user(email="gone@example.com", tax_id="44444444")
    with app.app_context():
        from lkapp.auth.services import close_account

        close_account(db.session.get(User, user_id))
        db.session.commit()
    assert 'id="tax-id-form"' not in client.get(f"/staff/customers/{user_id}").text
    done = client.post(
        f"/staff/customers/{user_id}/tax-id", data={"tax_id": "55555555", "reason": "Typo"}
    )
    assert done.status_code == 302
    page = client.get(done.headers["Location"]).text
    assert "The customer closed this account; it cannot be opened again." in page
    assert _tax_id_of(app, user_id) == "" and events(app, "auth.tax_id_changed") == []


def test_two_corrections_keep_each_old_value_on_the_trail(app, client, customer, staff):
    """Each save reads the row again under its lock: the second one's "old" is the first
    one's "new", so the trail has no gap."""
    for new in ("HU87654321", "HU99999999"):
        client.post(f"/staff/customers/{customer}/tax-id", data={"tax_id": new, "reason": "Typo"})
    chain = [(e.details["old"], e.details["new"]) for e in events(app, "auth.tax_id_changed")]
    assert chain == [("12345678-2-42", "HU87654321"), ("HU87654321", "HU99999999")]


def test_customers_and_staff_accounts_cannot_have_a_tax_id_set(
    app, client, auth, customer, make_user
):
    colleague = make_user(email="colleague@example.org", role="staff")
    auth.login(email="ann@example.com")
    refused = client.post(
        f"/staff/customers/{customer}/tax-id", data={"tax_id": "HU87654321", "reason": "Mine"}
    )
    assert refused.status_code == 403
    assert _tax_id_of(app, customer) == "12345678-2-42"
    auth.logout()
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    response = client.post(
        f"/staff/customers/{colleague}/tax-id", data={"tax_id": "HU87654321", "reason": "x y z"}
    )
    assert response.status_code == 404
    assert events(app, "auth.tax_id_changed") == []
