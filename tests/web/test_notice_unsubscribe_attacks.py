"""Attacks on a notice's stop link (``/notices/stop/<token>``), on the headers the outbox writes
as they are (``OutboxMail.headers``) and on the office's list of a customer's mail."""

from __future__ import annotations

import base64
import io
import json

import pytest
import sqlalchemy as sa

from lkapp.auth import tokens
from lkapp.extensions import db
from lkapp.models import AuditEvent, OutboxMail, User
from lkapp.services.mail import queue_mail
from lkapp.staff import imports as staff_imports

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def ann(make_user):
    return make_user()


def link(app, user_id: int, kind: str, email: str = "ann@example.com") -> str:
    with app.app_context():
        return "/notices/stop/" + tokens.notice_token(user_id, email, kind)


def notify_debt(app, user_id: int) -> bool:
    with app.app_context():
        return db.session.get(User, user_id).notify_debt


def stopped_events(app) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count()).where(AuditEvent.action == "notice.stopped")
        )


def test_a_header_that_is_not_one_line_of_ascii_is_left_out_not_written_as_more_headers(
    app, runner, mailbox
):
    """``set_raw`` writes a value as it is: a line break in it would add headers of its own
    (a Bcc would mail a copy elsewhere). The mail still goes, without that header."""
    with app.app_context():
        queue_mail(
            "ann@example.com",
            "Overdue debt on contract EL-1",
            "notice",
            headers={
                "List-Unsubscribe": "<http://localhost/notices/stop/x>\r\nX-Injected: crlf",
                "X-Odd": "a\u2028X-Injected: line-separator",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            paragraphs=["Please pay."],
            link="",
        )
        db.session.commit()
    assert runner.invoke(args=["outbox", "send"]).exit_code == 0
    [message] = mailbox.to("ann@example.com")
    assert message["X-Injected"] is None
    assert message["List-Unsubscribe"] is None and message["X-Odd"] is None
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Please pay." in mailbox.text(message)


@pytest.fixture
def limited(app_config):
    app_config["RATELIMIT_ENABLED"] = True
    return app_config


def test_a_flood_of_one_click_posts_is_limited_per_address_and_audited_once(limited, app, ann):
    url = link(app, ann, "debt")
    provider = app.test_client()
    answers = [provider.post(url, data=ONE_CLICK, csrf=False).status_code for _ in range(61)]
    assert answers == [200] * 60 + [429]
    assert notify_debt(app, ann) is False and stopped_events(app) == 1
    assert provider.get(url).status_code == 200  # a person opening the link is not limited
    other = provider.post(url, data=ONE_CLICK, csrf=False, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 200


def accounts(app, *user_ids: int) -> list[tuple]:
    """What a stop link or an account's link could change of each account."""
    with app.app_context():
        users = [db.session.get(User, user_id) for user_id in user_ids]
        return [(u.password_hash, u.notify_debt, u.notify_readings) for u in users]


def _with_payload(token: str, **changes) -> str:
    """``token`` with its signed payload changed, the signature kept."""
    payload, timestamp, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(changes)
    encoded = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
    return ".".join([encoded.decode().rstrip("="), timestamp, signature])


def test_a_token_changed_to_another_kind_or_account_or_of_another_purpose_does_nothing(
    app, client, ann, make_user
):
    bob = make_user(email="bob@example.com")
    token = link(app, ann, "readings").rsplit("/", 1)[1]
    before = accounts(app, ann, bob)
    with app.app_context():
        account_links = [
            tokens.make_token(purpose, db.session.get(User, ann), "ann.new@example.net")
            for purpose in ("confirm", "reset", "email")
        ]
    visitor = app.test_client()
    for forged in (
        _with_payload(token, k="debt"),
        _with_payload(token, u=bob),
        *account_links,
    ):
        answer = visitor.post(f"/notices/stop/{forged}", data=ONE_CLICK, csrf=False)
        assert answer.status_code == 404 and "This link is not valid" in answer.text
    # Nor does a notice's token open the account's own links (their "not valid" page).
    for page in ("/confirm/", "/reset-password/", "/profile/email/confirm/"):
        assert client.get(page + token).status_code == 400
        sent = client.post(page + token, data={"password": "a new password of mine"})
        assert sent.status_code == 400, page
    assert accounts(app, ann, bob) == before and stopped_events(app) == 0


def test_the_office_list_escapes_subjects_and_errors_and_shows_no_stop_link(
    app, client, auth, ann, make_user
):
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    with app.app_context():
        db.session.add(
            OutboxMail(
                recipient="ann@example.com",
                subject='<img src=x onerror="alert(1)">',
                body_text="Stop them: http://localhost/notices/stop/SECRET-TOKEN",
                body_html="",
                attempts=1,
                last_error="SMTPDataError: (451, b'<script>alert(2)</script>')",
                headers={"List-Unsubscribe": "<http://localhost/notices/stop/SECRET-TOKEN>"},
            )
        )
        db.session.commit()
    page = client.get(f"/staff/customers/{ann}").text
    assert "&lt;img" in page and "onerror=&#34;alert(1)&#34;&gt;" in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "SECRET-TOKEN" not in page and "/notices/stop/" not in page


DOCUMENTS = """\
contract_number;kind;number;issued_on;period;due_on;net;vat_rate;vat;total
EL-1;invoice;INV-1;2026-03-05;2026-02;2026-03-31;100.00;27;27.00;127.00
"""


@pytest.fixture
def named(app_config, tmp_path):
    """The portal's public name is set, as production requires: other names a request may
    use (the machine's own) must not end up in links mailed to customers."""
    app_config.update(SERVER_NAME="my.utility.example", IMPORT_UPLOAD_FOLDER=str(tmp_path))
    return app_config


@pytest.mark.sqlite_only
def test_an_import_the_office_starts_mails_stop_links_of_the_portal_s_name(
    named, app, client, auth, ann, make_user, ledger, runner, mailbox
):
    ledger.contract("EL-1", account_id=ann)
    make_user(email="op@example.org", role="staff")
    client.environ_base["HTTP_HOST"] = "localhost"  # a trusted name, not the portal's
    auth.login(email="op@example.org")
    upload = client.post(
        "/staff/imports/new/documents",
        data={"file": (io.BytesIO(DOCUMENTS.encode()), "documents.csv")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 302, upload.text[:500]
    assert staff_imports.wait_for_imports(30)
    assert runner.invoke(args=["outbox", "send"]).exit_code == 0
    [message] = mailbox.to("ann@example.com")
    assert message["List-Unsubscribe"].startswith("<http://my.utility.example/notices/stop/")
    assert "http://localhost" not in mailbox.text(message)
    # A name not trusted is refused before any view runs.
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400
