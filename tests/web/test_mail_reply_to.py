"""LKAPP_MAIL_REPLY_TO: where a customer's Reply goes, since every mail is sent from a
no-reply address that nobody reads."""

import os

import pytest

from lkapp import ConfigError, create_app
from lkapp.extensions import db
from lkapp.services.mail import queue_mail
from tests.web.test_cli import _flask


def _send_one(app_config, recipient="ann@example.com"):
    app = create_app(app_config)
    with app.test_request_context():
        queue_mail(recipient, "Your notice", "notice", paragraphs=["Hello, Ann."], link="")
        db.session.commit()
        app.process_response(app.response_class())  # runs after_request: sends the mail
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("setting", "name", "address"),
    [
        (
            "City Power Support <support@utility.example>",
            "City Power Support",
            "support@utility.example",
        ),
        # The domain as every mail server takes it: in punycode, like the recipient's.
        ("Ügyfélszolgálat <help@áram.example>", "Ügyfélszolgálat", "help@xn--ram-dla.example"),
    ],
)
def test_a_reply_goes_to_the_reply_to_address_when_one_is_set(
    app_config, mailbox, setting, name, address
):
    _send_one(app_config, "before@example.com")  # not set: no Reply-To, as before
    app_config["MAIL_REPLY_TO"] = setting
    _send_one(app_config, "after@example.com")
    [before] = mailbox.to("before@example.com")
    assert "Reply-To" not in before
    [after] = mailbox.to("after@example.com")
    [reply_to] = after["Reply-To"].addresses
    assert (reply_to.display_name, reply_to.addr_spec) == (name, address)
    assert after["From"] == before["From"] == "My Account <no-reply@lkapp.test>"
    # and the footer says where a reply goes
    assert "replies are not read" in mailbox.text(before)
    assert "A reply to it reaches our customer service." in mailbox.text(after)
    assert "replies are not read" not in mailbox.text(after)


def test_production_refuses_a_reply_to_that_is_not_an_address(tmp_path, monkeypatch):
    """A Reply-To that is not one address would make every mail fail as it is written (each
    kept in the outbox and given up after three days): the app does not start instead."""
    production = {
        "LKAPP_ENV": "production",
        "LKAPP_SECRET_KEY": "k" * 48,
        "LKAPP_SERVER_NAME": "my.utility.example",
        "LKAPP_MAIL_SERVER": "smtp.utility.example",
        "LKAPP_MAIL_DEFAULT_SENDER": "City Power <no-reply@utility.example>",
        "LKAPP_INSTANCE_PATH": str(tmp_path),
    }
    # What an operator sees: one line, exit 1, nothing migrated.
    result = _flask("db", "upgrade", LKAPP_MAIL_REPLY_TO="support", **production)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: LKAPP_MAIL_REPLY_TO='support' is not a mail")
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert not (tmp_path / "lkapp.sqlite3").exists(), "nothing migrated"
    # The other ways to get it wrong in this process (refused before anything starts).
    for name in [name for name in os.environ if name.startswith("LKAPP_")]:
        monkeypatch.delenv(name)
    for name, value in production.items():
        monkeypatch.setenv(name, value)
    for wrong in (
        "City Power Support <support@>",
        "help@áram..example",
        "help@☃.example",  # IDNA 2003 took it, the outbox's IDNA 2008 does not
        "support@utility.example, billing@utility.example",
    ):
        monkeypatch.setenv("LKAPP_MAIL_REPLY_TO", wrong)
        with pytest.raises(ConfigError, match=r"^LKAPP_MAIL_REPLY_TO=.* is not a mail address"):
            create_app()
    # The sender is written the same way (its domain in punycode): one IDNA 2008 refuses
    # failed every mail at send time, for three days each, instead of stopping the start.
    monkeypatch.delenv("LKAPP_MAIL_REPLY_TO")
    for wrong in ("City Power <no-reply@☃.example>", "no-reply@a, b@utility.example"):
        monkeypatch.setenv("LKAPP_MAIL_DEFAULT_SENDER", wrong)
        with pytest.raises(ConfigError, match=r"^LKAPP_MAIL_DEFAULT_SENDER=.* is not a mail"):
            create_app()
    monkeypatch.setenv("LKAPP_MAIL_DEFAULT_SENDER", "Городская энергия <no-reply@энерго.рф>")
    assert create_app().config["MAIL_DEFAULT_SENDER"].endswith("<no-reply@энерго.рф>")
    right = "Ügyfélszolgálat <help@áram.example>"
    result = _flask("db", "upgrade", LKAPP_MAIL_REPLY_TO=right, **production)
    assert result.returncode == 0, result.stderr
