"""Mail to an address nobody has confirmed greets no one by name: the name is whatever was
typed beside the address, and with it anyone could put their own words into the utility's
mail to any address (register the address with a "name" that is a phishing text, then make
the portal write to it)."""

from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import User
from lkapp.services import notify
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.sqlite_only  # what the templates write; the same on any database

PHISH = "URGENT overdue invoice - pay today at https://evil.example/pay"


def register(client, email, name):
    return client.post(
        "/register",
        data={
            "email": email,
            "password": TEST_PASSWORD,
            "password2": TEST_PASSWORD,
            "name": name,
            "tax_id": "7701234567",
            "phone": "+36 1 555 0101",
        },
    )


def test_mail_about_an_unconfirmed_account_does_not_quote_its_name(app, client, mailbox):
    assert register(client, "victim@corp.example", PHISH).status_code == 302
    with app.app_context():  # not the account's own second click on "Register" (no mail)
        user = db.session.scalar(sa.select(User).where(User.email == "victim@corp.example"))
        user.created_at -= timedelta(hours=1)
        db.session.commit()
    mailbox.clear()
    assert register(app.test_client(), "victim@corp.example", "whoever").status_code == 302
    [exists] = mailbox.to("victim@corp.example")
    assert exists["Subject"] == "Someone tried to register with your email address"
    for body in (mailbox.text(exists), mailbox.html(exists)):
        assert PHISH not in body and "Hello," in body


def test_a_confirmed_account_is_still_greeted_by_name(app, client, make_user, mailbox):
    make_user(email="ann@example.com", name="Ann's Bakery Ltd")
    assert register(client, "ann@example.com", "whoever").status_code == 302
    [exists] = mailbox.to("ann@example.com")
    assert "Hello, Ann's Bakery Ltd," in mailbox.text(exists)
    assert "Hello, Ann&#39;s Bakery Ltd," in mailbox.html(exists)


def test_a_russian_mail_about_21_new_documents_speaks_of_many(app):
    """Russian uses its "one" form for 21 as for 1: the mail began "В Личном кабинете
    появился новый документ:" above a list of 21. Its documents are named "Счёт № ..." as on
    the portal's pages."""
    documents = [
        SimpleNamespace(
            kind="invoice",
            number=f"INV-2026-{n:04}",
            issued_on=date(2026, 11, 3),
            period=date(2026, 10, 1),
            due_on=date(2026, 11, 21),
            total=Decimal("157.33"),
            contract_number=f"EL-{n:04}",
        )
        for n in range(21)
    ]
    with app.app_context():
        mail = notify._document_mail(1, "ann@example.com", "Ann", "ru", documents)
    assert mail["subject"] == "21 новый документ в Личном кабинете"
    for body in (mail["body_text"], mail["body_html"]):
        assert "появился новый документ" not in body
        assert "Счёт №\xa0INV-2026-0000" in body
        assert "… и ещё 1 документ." in body
