"""Mail to an address nobody has confirmed greets no one by name: the name is whatever was
typed beside the address, and with it anyone could put their own words into the utility's
mail to any address (register the address with a "name" that is a phishing text, then make
the portal write to it)."""

import pytest

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
