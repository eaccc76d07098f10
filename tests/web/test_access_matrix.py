"""Every URL rule of the app, walked as anonymous, as customer A, as customer B with A's object
ids, and as staff: each answers as its access rule promises. A new route that is not in
``ACCESS`` fails the suite, so nobody adds a page without deciding who may see it.

Staff pages (``/staff/...``) are walked in detail by tests/web/test_staff_permissions.py; here
they only have to refuse anonymous visitors and customers.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from lkapp.extensions import db
from lkapp.models import Attachment, Message, Meter, Question, Reading

pytestmark = pytest.mark.sqlite_only

PUBLIC = "public"  # anyone, signed in or not
SIGNED_IN = "signed in"  # customer pages without another customer's object in the URL
OWNED = "owned"  # names a contract, document, meter, payment, question or file: 404 for others
POST_ONLY = "post"  # a POST endpoint: checked by the CSRF test

ACCESS = {
    "static": PUBLIC,
    "main.index": PUBLIC,
    "main.healthz": PUBLIC,
    "main.set_language": POST_ONLY,
    "auth.login": PUBLIC,
    "auth.two_factor": PUBLIC,  # the second step: without a first one it sends to sign-in
    "auth.logout": POST_ONLY,
    "auth.register": PUBLIC,
    "auth.registered": PUBLIC,
    "auth.confirm": PUBLIC,
    "auth.unconfirmed": SIGNED_IN,
    "auth.resend_confirmation": POST_ONLY,
    "auth.keep_session": POST_ONLY,
    "auth.forgot_password": PUBLIC,
    "auth.forgot_password_sent": PUBLIC,
    "auth.reset_password": PUBLIC,
    "auth.captcha_new": PUBLIC,
    "auth.captcha_image": PUBLIC,
    "auth.captcha_audio": PUBLIC,
    "auth.profile": SIGNED_IN,
    "auth.change_email": SIGNED_IN,
    "auth.confirm_email_change": PUBLIC,
    "auth.change_password": SIGNED_IN,
    "auth.profile_sessions": SIGNED_IN,
    "auth.close_account": SIGNED_IN,
    "auth.end_one_session": POST_ONLY,
    "auth.end_other_sessions": POST_ONLY,
    "auth.two_factor_status": SIGNED_IN,
    "auth.two_factor_setup": SIGNED_IN,
    "auth.two_factor_disable": POST_ONLY,
    "auth.two_factor_new_codes": POST_ONLY,
    "auth.stop_notices": PUBLIC,  # a notice's link: its token names the account
    "electricity.index": SIGNED_IN,
    "electricity.contracts_csv": SIGNED_IN,
    "electricity.add": SIGNED_IN,
    "electricity.contract": OWNED,
    "electricity.detach": OWNED,
    "documents.tab": OWNED,
    "documents.document": OWNED,
    "documents.document_pdf": OWNED,
    "documents.year_zip": OWNED,
    "documents.month_zip": SIGNED_IN,
    "documents.statement": OWNED,
    "documents.statement_pdf": OWNED,
    "payments.tab": OWNED,
    "payments.payment": OWNED,
    "readings.tab": OWNED,
    "readings.submit": POST_ONLY,
    "readings.receipt": OWNED,
    "readings_all.form": SIGNED_IN,
    "readings_all.submit": POST_ONLY,
    "support.ask": PUBLIC,
    "support.sent": PUBLIC,
    "support.questions": SIGNED_IN,
    "support.thread": OWNED,
    "support.reply": POST_ONLY,
    "support.attachment": OWNED,
}

NUMBER_A = "EL-0000100"
NUMBER_B = "EL-0000200"


@pytest.fixture
def world(app, make_user, ledger):
    """Customer A with a contract and one of everything; customer B with a contract; staff."""
    a = make_user(email="a@example.com", name="Alpha Trading Ltd")
    b = make_user(email="b@example.com", name="Beta Foods Kft.")
    make_user(email="op@example.org", role="staff")
    contract_a = ledger.contract(NUMBER_A, account_id=a)
    ledger.contract(NUMBER_B, account_id=b, holder_name="Beta Foods Kft.", tax_id="87654321")
    invoice = ledger.document(
        contract_a, "INV-2026-1", date(2026, 10, 3), date(2026, 10, 20), "127.00"
    )
    payment = ledger.payment(contract_a, date(2026, 10, 15), "50.00", "PO 1 INV-2026-1")
    _, payment_id = ledger.add(invoice, payment)
    with app.app_context():
        meter = Meter(
            contract_id=contract_a,
            serial="M-A-1",
            zones="T1",
            digits=6,
            installed_on=date(2020, 1, 1),
        )
        db.session.add(meter)
        db.session.flush()
        db.session.add(
            Reading(
                meter_id=meter.id,
                zone="T1",
                period=date(2026, 10, 1),
                value=Decimal("1234"),
                source="import",
                submitted_at=datetime(2026, 10, 18, tzinfo=UTC),
            )
        )
        question = Question(
            reference="Q-ACDEFGHJ",
            user_id=a,
            contact_email="a@example.com",
            contact_name="Alpha",
            subject="documents",
        )
        db.session.add(question)
        db.session.flush()
        message = Message(question_id=question.id, author_id=a, body="Where is my invoice?")
        db.session.add(message)
        db.session.flush()
        attachment = Attachment(
            message_id=message.id,
            filename="scan.pdf",
            content_type="application/pdf",
            size=4,
            sha256="0" * 64,
            storage_path="attachments/" + "0" * 64,
        )
        db.session.add(attachment)
        db.session.commit()
        return {
            "number": NUMBER_A,
            "kind": "invoice",
            "doc_number": "INV-2026-1",
            "year": 2026,
            "payment_id": payment_id,
            "meter_id": meter.id,
            "period": "2026-10",
            "reference": "Q-ACDEFGHJ",
            "attachment_id": attachment.id,
        }


def _rules(app):
    return [rule for rule in app.url_map.iter_rules() if not rule.rule.startswith("/staff")]


def _url(rule, values):
    from werkzeug.routing import BuildError

    arguments = {name: values.get(name, "1") for name in rule.arguments}
    if rule.endpoint == "static":
        arguments = {"filename": "css/app.css"}
    if rule.endpoint in ("auth.captcha_image", "auth.captcha_audio"):
        arguments = {"challenge_id": "unknown"}
    try:
        return rule.build(arguments, append_unknown=False)[1]
    except BuildError:  # pragma: no cover - a rule whose arguments we do not know
        pytest.fail(f"cannot build a URL for {rule.endpoint}")


def test_every_rule_has_a_declared_access(app):
    undeclared = sorted({rule.endpoint for rule in _rules(app)} - set(ACCESS))
    assert undeclared == [], "declare who may reach these endpoints in ACCESS"


def test_anonymous_is_sent_to_sign_in_from_every_customer_page(app, client, world):
    for rule in _rules(app):
        access = ACCESS[rule.endpoint]
        if "GET" not in rule.methods or access == POST_ONLY:
            continue
        response = client.get(_url(rule, world))
        if access == PUBLIC:
            assert response.status_code < 500, rule.rule
            if rule.endpoint != "auth.two_factor":
                assert not response.headers.get("Location", "").startswith("/login"), rule.rule
        else:
            assert response.status_code == 302, rule.rule
            assert response.headers["Location"].startswith("/login"), rule.rule


def test_customer_b_gets_404_for_every_object_of_customer_a(app, client, auth, world):
    auth.login(email="b@example.com")
    for rule in _rules(app):
        if ACCESS[rule.endpoint] == OWNED and "GET" in rule.methods:
            response = client.get(_url(rule, world))
            assert response.status_code == 404, rule.rule
            assert "Alpha" not in response.text, rule.rule


def test_customer_a_reaches_every_own_page(app, client, auth, world):
    auth.login(email="a@example.com")
    for rule in _rules(app):
        if ACCESS[rule.endpoint] in (OWNED, SIGNED_IN) and "GET" in rule.methods:
            if rule.endpoint in ("support.attachment", "auth.unconfirmed"):
                continue  # no file on disk in this world; a confirmed account is not gated
            response = client.get(_url(rule, world))
            assert response.status_code == 200, (rule.rule, response.status_code)


def test_customers_get_403_and_anonymous_sign_in_on_staff_pages(app, client, auth, world):
    staff_rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/staff")]
    assert staff_rules
    for rule in staff_rules:
        if "GET" not in rule.methods:
            continue
        url = _url(rule, {"number": NUMBER_A})
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
    auth.login(email="a@example.com")
    for rule in staff_rules:
        if "GET" in rule.methods:
            assert client.get(_url(rule, {"number": NUMBER_A})).status_code == 403, rule.rule


def test_every_post_route_refuses_a_request_without_csrf_token(app, client, auth, world):
    auth.login(email="a@example.com")
    posts = [r for r in app.url_map.iter_rules() if "POST" in r.methods]
    assert len(posts) > 20
    for rule in posts:
        url = _url(rule, {**world, "session_id": "x", "token": "x", "kind": "invoice"})
        response = client.post(url, data={}, csrf=False)
        assert response.status_code == 400, (rule.rule, response.status_code)
        assert "The form has expired" in response.text, rule.rule


def test_every_post_route_refuses_a_body_larger_than_it_takes_unread(app, client, auth, world):
    """A form's worth (1 MB) everywhere; the questions' attachments 16 MB; billing files
    MAX_CONTENT_LENGTH (200 MB): a larger body is refused before it is read (and spooled to
    disk) for the CSRF check."""
    from lkapp.security import FORM_BODY_LIMIT
    from lkapp.support.views import MAX_REQUEST_SIZE

    app.config["MAX_CONTENT_LENGTH"] = 3 * 1024 * 1024  # 200 MB by default
    auth.login(email="a@example.com")
    for rule in [r for r in app.url_map.iter_rules() if "POST" in r.methods]:
        url = _url(rule, {**world, "session_id": "x", "token": "x", "kind": "invoice"})
        limit = {
            "staff.upload": app.config["MAX_CONTENT_LENGTH"],
            "support.ask": MAX_REQUEST_SIZE,
            "support.reply": MAX_REQUEST_SIZE,
        }.get(rule.endpoint, FORM_BODY_LIMIT)
        body = {"file": (io.BytesIO(b"0" * (limit + 1)), "big.csv")}
        response = client.post(url, data=body, content_type="multipart/form-data", csrf=False)
        assert response.status_code == 413, (rule.rule, response.status_code)


def test_no_response_holds_a_stack_trace(app, client, auth, world):
    auth.login(email="a@example.com")
    for rule in _rules(app):
        if "GET" in rule.methods and ACCESS[rule.endpoint] != POST_ONLY:
            body = client.get(_url(rule, world)).data
            assert b"Traceback (most recent call last)" not in body, rule.rule
