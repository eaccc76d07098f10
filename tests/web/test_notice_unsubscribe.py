"""Each notice says why it comes and carries a link that turns its kind off, also as the
one-click unsubscribe of RFC 8058 (``List-Unsubscribe`` + ``List-Unsubscribe-Post``); account
mail does not. The link's page asks first; the mailbox provider's POST needs no cookie."""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa

from lkapp.auth import tokens
from lkapp.extensions import db
from lkapp.models import AuditEvent, Meter, User
from tests.conftest import text_of

WINDOW_DAY = date(2026, 3, 16)  # the readings window of 15-25 March is open
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
WHY = {
    "documents": "You get this email because notices of new documents are on in your profile.",
    "debt": "You get this email because debt notices are on in your profile.",
    "readings": (
        "You get this email because reminders to send meter readings are on in your profile."
    ),
}
QUESTION = {
    "documents": "Stop emails about new documents?",
    "debt": "Stop emails about overdue debt?",
    "readings": "Stop reminders to send meter readings?",
}
DOCUMENTS_CSV = """contract_number;kind;number;issued_on;period;due_on;net;vat_rate;vat;total
EL-1;invoice;INV-2026-03;2026-03-05;2026-02;2026-03-31;100.00;27;27.00;127.00
"""


@pytest.fixture
def app_config(app_config):
    """Links in mail built outside a request carry the portal's name; the test client's."""
    app_config["SERVER_NAME"] = "localhost"
    return app_config


@pytest.fixture
def ann(make_user):
    return make_user()


def preferences(app, user_id: int) -> dict[str, bool]:
    with app.app_context():
        user = db.session.get(User, user_id)
        return {kind: getattr(user, field) for kind, field in tokens.NOTICE_KINDS.items()}


def stopped_events(app) -> list[dict]:
    with app.app_context():
        return db.session.scalars(
            sa.select(AuditEvent.details)
            .where(AuditEvent.action == "notice.stopped")
            .order_by(AuditEvent.id)
        ).all()


def link(app, user_id: int, kind: str, email: str = "ann@example.com") -> str:
    with app.app_context():
        return "/notices/stop/" + tokens.notice_token(user_id, email, kind)


ALL_ON = {"documents": True, "debt": True, "readings": True}


def test_every_notice_says_why_and_carries_a_one_click_unsubscribe(
    app, runner, mailbox, ann, ledger, tmp_path
):
    contract = ledger.contract("EL-1", account_id=ann)
    ledger.add(ledger.document(contract, "INV-77", date(2026, 2, 10), date(2026, 3, 1), "120.00"))
    with app.app_context():
        db.session.add(Meter(contract_id=contract, serial="SN-1", installed_on=date(2020, 1, 1)))
        db.session.commit()
    path = tmp_path / "documents.csv"
    path.write_text(DOCUMENTS_CSV, encoding="utf-8")
    assert runner.invoke(args=["import", "documents", str(path)]).exit_code == 0
    result = runner.invoke(args=["notify", "--date", WINDOW_DAY.isoformat(), "--other-day"])
    assert result.exit_code == 0, result.output

    by_subject = {message["Subject"]: message for message in mailbox.to("ann@example.com")}
    kinds = {
        "New document INV-2026-03 for contract EL-1": "documents",
        "Overdue debt on contract EL-1": "debt",
        "Time to send your meter readings": "readings",
    }
    assert set(by_subject) == set(kinds)
    client = app.test_client()
    for subject, kind in kinds.items():
        message = by_subject[subject]
        # As sent: on one line, not folded into encoded words no mailbox provider reads.
        raw = dict(message.raw_items())
        match = re.fullmatch(r"<(http://localhost/notices/stop/[\w.-]+)>", raw["List-Unsubscribe"])
        assert match, raw["List-Unsubscribe"]
        url = match.group(1)
        assert raw["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # The body's last line says why, and links the same page.
        body = mailbox.text(message).replace("\r\n", "\n").split("\n-- \n")[0].strip()
        assert body.splitlines()[-1] == f"{WHY[kind]} Stop them: {url}", subject
        html = mailbox.html(message)
        assert f'<a href="{url}" style="color: #0b5cad;">Stop them</a>' in html
        assert WHY[kind] in text_of(html)
        page = client.get(url)
        assert page.status_code == 200 and QUESTION[kind] in page.get_data(as_text=True)
    assert preferences(app, ann) == ALL_ON  # opening the links changed nothing


def test_account_mail_carries_no_unsubscribe(app, client, mailbox, ann, captcha_solver):
    page = client.get("/forgot-password").get_data(as_text=True)
    fields = {"email": "ann@example.com", "tax_id": "7701234567", **captcha_solver(page)}
    assert client.post("/forgot-password", data=fields).status_code == 302
    [message] = mailbox.to("ann@example.com")
    assert "/reset-password/" in mailbox.text(message)
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None
    assert "You get this email because" not in mailbox.text(message)


def test_one_click_turns_off_that_kind_alone_without_cookie_or_form_token(app, ann):
    url = link(app, ann, "debt")
    provider = app.test_client()  # a mailbox provider's server: no cookie, no CSRF token
    answer = provider.post(url, data=ONE_CLICK, csrf=False)
    assert answer.status_code == 200
    assert answer.get_data(as_text=True) == "You will no longer get emails about overdue debt."
    assert preferences(app, ann) == {"documents": True, "debt": False, "readings": True}
    assert stopped_events(app) == [{"kind": "debt", "via": "one-click"}]

    # Sent again: the same answer, nothing more on the audit trail.
    assert provider.post(url, data=ONE_CLICK, csrf=False).status_code == 200
    assert len(stopped_events(app)) == 1


def test_the_page_asks_first_and_its_form_needs_its_token(app, ann):
    url = link(app, ann, "documents")
    visitor = app.test_client()
    page = visitor.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "<h1>Stop emails about new documents?</h1>" in html
    assert f'<form method="post" action="{url}"' in html and 'name="csrf_token"' in html
    assert visitor.head(url).status_code == 200
    # A form sent without its token (from another site) is refused.
    assert visitor.post(url, data={}, csrf=False).status_code == 400
    assert preferences(app, ann) == ALL_ON and stopped_events(app) == []


def test_the_form_turns_off_with_and_without_htmx_and_the_profile_shows_it(app, client, auth, ann):
    documents, readings = link(app, ann, "documents"), link(app, ann, "readings")
    client.get(documents)
    sent = client.post(documents)  # JavaScript off: post, redirect, get
    assert sent.status_code == 302 and sent.headers["Location"] == documents
    page = text_of(client.get(documents).get_data(as_text=True))
    assert (
        "You will no longer get emails about new documents. "
        "You can turn them on again in your profile." in page
    )
    assert "Profile settings" in page and "Stop these emails" not in page

    swapped = client.htmx("POST", readings)
    fragment = swapped.get_data(as_text=True)
    assert swapped.status_code == 200 and "HX-Request" in swapped.headers["Vary"]
    assert "<html" not in fragment and '<div id="notices-stop">' in fragment
    assert "You will no longer get reminders to send meter readings." in fragment
    assert 'href="/profile"' in fragment
    assert preferences(app, ann) == {"documents": False, "debt": True, "readings": False}
    assert stopped_events(app) == [
        {"kind": "documents", "via": "link"},
        {"kind": "readings", "via": "link"},
    ]

    auth.login()
    profile = client.get("/profile").get_data(as_text=True)
    boxes = {
        name: tag for tag, name in re.findall(r'<input([^>]*name="(notify_\w+)"[^>]*)>', profile)
    }
    assert "checked" not in boxes["notify_documents"]
    assert "checked" in boxes["notify_debt"]
    assert "checked" not in boxes["notify_readings"]


def test_bad_tampered_foreign_and_closed_account_links_change_nothing(app, ann, make_user):
    good = link(app, ann, "debt")
    head, _, signature = good.rpartition(".")
    tampered = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    with app.app_context():
        foreign = "/notices/stop/" + tokens.make_token("confirm", db.session.get(User, ann))
    closed = make_user(email="gone@example.com")
    closed_link = link(app, closed, "debt", email="gone@example.com")
    with app.app_context():
        from lkapp.auth import services

        services.close_account(db.session.get(User, closed))
        db.session.commit()
    gone = link(app, 9999, "debt", email="nobody@example.com")
    visitor = app.test_client()
    for url in (tampered, foreign, closed_link, gone, "/notices/stop/garbage"):
        for answer in (visitor.get(url), visitor.post(url, data=ONE_CLICK, csrf=False)):
            assert answer.status_code == 404, url
            assert "This link is not valid" in answer.get_data(as_text=True)
    assert preferences(app, ann) == ALL_ON and stopped_events(app) == []


def test_a_link_mailed_before_an_email_change_no_longer_works(app, ann):
    old = link(app, ann, "readings")
    with app.app_context():
        db.session.get(User, ann).email = "ann@new.example"
        db.session.commit()
    visitor = app.test_client()
    assert visitor.post(old, data=ONE_CLICK, csrf=False).status_code == 404
    assert preferences(app, ann) == ALL_ON and stopped_events(app) == []
    # The address's own link works.
    new = link(app, ann, "readings", email="ann@new.example")
    assert visitor.post(new, data=ONE_CLICK, csrf=False).status_code == 200
    assert preferences(app, ann)["readings"] is False
