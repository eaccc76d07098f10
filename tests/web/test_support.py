"""Ask a question, the customer's side: without an account (captcha, limits, one answer for
every email), from the account (own contracts, threads, replies), attachments checked by
content, ownership (404), and bodies shown as text."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

import pytest
import sqlalchemy as sa

from lkapp import create_app
from lkapp.extensions import db
from lkapp.models import Attachment, AuditEvent, Contract, Message, Question, User, utcnow
from lkapp.support import services
from tests.conftest import Client, swapped, text_of

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64
SCRIPT = "<script>alert('x')</script>\nSecond line & more"
REFERENCE = re.compile(r"Q-[A-Z0-9]{8}")


@pytest.fixture
def app(app, tmp_path):
    """The test app with its instance folder (attachments) in a temporary directory."""
    app.instance_path = str(tmp_path / "instance")
    return app


def ask_anonymously(client, captcha_solver, files=None, **data):
    page = client.get("/support/ask").get_data(as_text=True)
    fields = {
        "email": "visitor@example.net",
        "name": "Tisza Bakery Kft.",
        "contract_number": "",
        "subject": "lost_login",
        "question": "I forgot which email I registered with.",
        **captcha_solver(page),
    }
    fields.update(data)
    if files is not None:
        fields["files"] = [(BytesIO(content), name) for name, content in files]
    return client.post("/support/ask", data=fields, content_type="multipart/form-data")


def make_question(app, email="visitor@example.net", user_id=None, status="new", **fields):
    """A thread written straight through the service (fast); returns its reference."""
    with app.app_context():
        user = db.session.get(User, user_id) if user_id else None
        question = services.ask(
            user=user,
            email=user.email if user else email,
            name=fields.pop("name", user.name if user else "Visitor"),
            subject=fields.pop("subject", "documents"),
            body=fields.pop("body", "Where is my invoice?"),
            locale=fields.pop("locale", "en"),
            uploads=fields.pop("uploads", []),
            **fields,
        )
        question.status = status
        db.session.commit()
        return question.reference


def make_contract(app, number="EL-0000042", account_id=None, tax_id="12345678-2-42"):
    with app.app_context():
        contract = Contract(
            number=number,
            holder_name="Tisza Bakery Kft.",
            tax_id=tax_id,
            address="Budapest, Fő utca 1.",
            account_id=account_id,
            attached_at=utcnow() if account_id else None,
        )
        db.session.add(contract)
        db.session.commit()
        return contract.id


def actions(app):
    with app.app_context():
        return db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()


def count(app, model):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# --- asking without an account ------------------------------------------------------------


def test_ask_form_has_the_promised_fields_captcha_and_send_button(client):
    page = client.get("/support/ask").get_data(as_text=True)
    for label in (
        "Email",
        "Name or organisation",
        "Contract number",
        "Subject",
        "Question",
        "Attachments",
        "Code from the picture",
    ):
        assert f">{label}</label>" in page
    for option in ("Lost login", "Documents", "Readings", "Payments", "Other"):
        assert f">{option}</option>" in page
    assert '<img class="captcha-image" src="/captcha/' in page
    assert ">Send</button>" in page
    assert 'enctype="multipart/form-data"' in page
    assert 'href="/support/ask" aria-current="page">Ask a question</a>' in page  # the nav


def test_anonymous_question_gives_a_reference_and_mails_a_copy_at_once(
    app, client, captcha_solver, mailbox
):
    response = ask_anonymously(
        client, captcha_solver, email="Visitor@Example.net", contract_number="EL-0000042"
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/support/ask/sent"
    page = client.get("/support/ask/sent").get_data(as_text=True)
    [reference] = set(REFERENCE.findall(page))
    assert "Your question was sent" in page
    assert "The answer comes to the email address you gave" in page
    with app.app_context():
        question = db.session.scalar(sa.select(Question))
        assert question.reference == reference
        assert question.user_id is None and question.status == "new"
        assert question.contact_email == "visitor@example.net"
        assert question.contract_number == "EL-0000042" and question.contract_id is None
        assert question.subject == "lost_login"
    [copy] = mailbox.to("visitor@example.net")
    assert copy["Subject"] == f"We received your question {reference}"
    text = mailbox.text(copy)
    # The reference, not the text nor the name typed: the form mails any address typed.
    assert reference in text and "Lost login" in text and "\r\nHello,\r\n" in text
    assert "I forgot which email I registered with." not in text
    assert "I forgot which email" not in mailbox.html(copy)
    assert "does not repeat what was typed in the form" in text
    # Nor the contract number typed: 30 characters of anyone's choosing, mailed anywhere.
    assert "EL-0000042" not in text and "EL-0000042" not in mailbox.html(copy)
    assert "support.asked" in actions(app)


def test_the_receipt_does_not_tell_whether_a_contract_number_exists(
    app, client, captcha_solver, mailbox
):
    """The receipt named the contract when the number typed was a real one, and only then:
    anyone with a mailbox could try numbers (the add-contract form tells nothing either)."""
    make_contract(app)
    texts = []
    for number in ("EL-0000042", "EL-0000043"):
        mailbox.clear()
        response = ask_anonymously(
            client, captcha_solver, email="visitor@example.net", contract_number=number
        )
        assert response.status_code == 302
        [copy] = mailbox.to("visitor@example.net")
        text = mailbox.text(copy)
        assert number not in text and number not in mailbox.html(copy)
        texts.append(REFERENCE.sub("", text))
    assert texts[0] == texts[1]
    with app.app_context():
        linked = db.session.scalars(sa.select(Question.contract_id).order_by(Question.id)).all()
    assert linked[0] is not None and linked[1] is None  # the office still sees the match


def test_the_answer_does_not_tell_whether_the_email_has_an_account(
    app, client, make_user, captcha_solver, mailbox
):
    make_user(email="ann@example.com")
    pages = []
    for email in ("ann@example.com", "nobody@example.com"):
        response = ask_anonymously(client, captcha_solver, email=email)
        assert response.status_code == 302
        assert response.headers["Location"] == "/support/ask/sent"
        page = client.get("/support/ask/sent").get_data(as_text=True)
        # CSRF tokens (form fields and the htmx header) carry the second they were signed.
        page = re.sub(r'value="[^"]+"|"X-CSRFToken": "[^"]+"', "", page)
        pages.append(REFERENCE.sub("Q-XXXXXXXX", page))
    assert pages[0] == pages[1]
    # Both got the same kind of mail, and no thread was tied to the account.
    assert [m["Subject"].split(" Q-")[0] for m in mailbox.messages] == [
        "We received your question",
        "We received your question",
    ]
    with app.app_context():
        assert db.session.scalars(sa.select(Question.user_id)).all() == [None, None]


def test_wrong_captcha_keeps_the_fields_shows_a_new_picture_and_writes_nothing(
    app, client, captcha_solver, mailbox
):
    page = client.get("/support/ask").get_data(as_text=True)
    first = captcha_solver(page)
    data = {
        "email": "visitor@example.net",
        "name": "Tisza Bakery Kft.",
        "contract_number": "EL-0000042",
        "subject": "payments",
        "question": "Line one\nLine two",
        "captcha_id": first["captcha_id"],
        "captcha": "ZZZZZ",
    }
    response = client.post("/support/ask", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "did not match the picture" in page and 'id="captcha-error"' in page
    assert 'value="visitor@example.net"' in page and 'value="EL-0000042"' in page
    assert 'value="Tisza Bakery Kft."' in page
    assert '<option selected value="payments">' in page
    assert "Line one\nLine two</textarea>" in page
    assert captcha_solver(page)["captcha_id"] != first["captcha_id"]
    # The used picture is gone: even its right answer no longer counts.
    again = client.post("/support/ask", data={**data, **first})
    assert again.status_code == 422
    assert count(app, Question) == 0 and mailbox.messages == []


def test_missing_fields_say_what_is_missing_and_keep_the_picture(client, captcha_solver):
    page = client.get("/support/ask").get_data(as_text=True)
    solved = captcha_solver(page)
    response = client.htmx(
        "POST",
        "/support/ask",
        data={"email": "not-an-email", "name": "", "subject": "", "question": " ", **solved},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Enter a valid email" in page
    assert "Enter your name or the name of your organisation." in page
    assert "Choose a subject." in page and "Write your message." in page
    assert captcha_solver(page)["captcha_id"] == solved["captcha_id"]
    assert "<header" not in page and swapped(page).startswith('<form id="ask-form"')
    assert "HX-Request" in response.headers["Vary"]


def test_new_picture_without_javascript_keeps_the_form(client, captcha_solver):
    page = client.get("/support/ask").get_data(as_text=True)
    old = captcha_solver(page)["captcha_id"]
    response = client.post(
        "/support/ask",
        data={"email": "visitor@example.net", "question": "Hello", "new_captcha": "1"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert captcha_solver(page)["captcha_id"] != old
    assert 'value="visitor@example.net"' in page and "Hello</textarea>" in page
    assert 'id="email-error"' not in page


def test_an_email_may_ask_only_a_few_questions_an_hour(app, client, captcha_solver, mailbox):
    for _ in range(5):
        make_question(app, email="visitor@example.net")
    response = ask_anonymously(client, captcha_solver, email="VISITOR@example.net")
    page = response.get_data(as_text=True)
    assert response.status_code == 429
    assert "Too many questions from this email address in the last hour" in page
    assert 'value="VISITOR@example.net"' in page
    assert count(app, Question) == 5 and mailbox.messages == []
    # Another address is not held back, nor are questions older than the hour.
    assert ask_anonymously(client, captcha_solver, email="other@example.net").status_code == 302
    with app.app_context():
        db.session.execute(sa.update(Question).values(created_at=utcnow().replace(year=2020)))
        db.session.commit()
    assert ask_anonymously(client, captcha_solver).status_code == 302


@pytest.mark.sqlite_only
def test_anonymous_asking_is_limited_per_ip(app_config, tmp_path, captcha_solver):
    app_config.update(RATELIMIT_ENABLED=True, RATELIMIT_SUPPORT="2 per hour")
    app = create_app(app_config)
    app.instance_path = str(tmp_path / "limited")
    app.test_client_class = Client
    client = app.test_client()
    statuses = [client.post("/support/ask", data={"email": "x"}).status_code for _ in range(3)]
    assert statuses == [422, 422, 429]
    assert "Too many attempts" in client.post("/support/ask", data={}).get_data(as_text=True)
    assert client.get("/support/ask").status_code == 200  # reading the form is not limited
    with app.app_context():
        db.engine.dispose()


# --- attachments --------------------------------------------------------------------------


def test_attachments_are_checked_by_content_and_stored_under_their_sha256(
    app, client, captcha_solver
):
    response = ask_anonymously(
        client, captcha_solver, files=[("scan.pdf", PDF), ("photo.PNG", PNG), ("odd.exe", PDF)]
    )
    assert response.status_code == 302
    with app.app_context():
        rows = db.session.scalars(sa.select(Attachment).order_by(Attachment.id)).all()
        assert [(a.filename, a.content_type, a.size) for a in rows] == [
            ("scan.pdf", "application/pdf", len(PDF)),
            ("photo.PNG", "image/png", len(PNG)),
            ("odd.exe.pdf", "application/pdf", len(PDF)),  # never saved as something to run
        ]
        for row in rows:
            stored = Path(app.instance_path) / row.storage_path
            assert stored.parent.name == "attachments" and stored.name == row.sha256
            assert stored.read_bytes() in (PDF, PNG)
    assert rows[0].sha256 == rows[2].sha256  # one file on disk for the same content


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([("invoice.pdf", EXE)], "invoice.pdf is not a PDF, JPEG or PNG file"),
        ([("readme.png", b"just some text")], "readme.png is not a PDF, JPEG or PNG file"),
        ([("big.pdf", PDF + b"0" * (5 * 1024 * 1024))], "big.pdf is larger than 5 MB."),
        ([("empty.pdf", b"")], "empty.pdf is empty."),
        ([(f"p{i}.pdf", PDF) for i in range(4)], "Attach at most 3 files to one message."),
    ],
)
def test_bad_attachments_are_refused_with_a_message_and_nothing_is_kept(
    app, client, captcha_solver, mailbox, files, message
):
    response = ask_anonymously(client, captcha_solver, files=files)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page and 'id="files-error"' in page
    assert "I forgot which email I registered with.</textarea>" in page
    assert count(app, Question) == 0 and count(app, Attachment) == 0
    assert not (Path(app.instance_path) / "attachments").exists()
    assert mailbox.messages == []


@pytest.mark.sqlite_only
def test_a_request_larger_than_three_files_is_refused_before_it_is_read(client):
    body = {"question": "x", "files": [(BytesIO(b"0" * (17 * 1024 * 1024)), "huge.pdf")]}
    response = client.post("/support/ask", data=body, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "File too large" in response.get_data(as_text=True)


# --- asking from the account --------------------------------------------------------------


@pytest.fixture
def ann(app, make_user, auth):
    """Ann, signed in, with one contract; another account holds another contract."""
    ann_id = make_user(email="ann@example.com")
    other_id = make_user(email="bob@example.com", tax_id="7709999999")
    make_contract(app, "EL-0000042", account_id=ann_id)
    make_contract(app, "EL-0000099", account_id=other_id)
    auth.login(email="ann@example.com")
    return ann_id


def test_signed_in_customer_asks_without_captcha_about_an_own_contract(app, client, ann, mailbox):
    page = client.get("/support/ask").get_data(as_text=True)
    assert "captcha" not in page and ">Code from the picture</label>" not in page
    assert ">Contract</label>" in page
    assert "EL-0000042 · Tisza Bakery Kft. · Budapest, Fő utca 1." in page  # holder and address
    assert "EL-0000099" not in page  # only the account's own contracts
    with app.app_context():
        db.session.get(User, ann).locale = "hu"
        db.session.commit()
    response = client.post(
        "/support/ask",
        data={"contract": "EL-0000042", "subject": "readings", "question": "Meter replaced?"},
    )
    assert response.status_code == 302
    with app.app_context():
        question = db.session.scalar(sa.select(Question))
        assert (question.user_id, question.contact_email) == (ann, "ann@example.com")
        assert question.contract_number == "EL-0000042" and question.contract_id is not None
        assert question.locale == "hu"
    assert response.headers["Location"] == f"/support/questions/{question.reference}"
    thread = client.get(response.headers["Location"]).get_data(as_text=True)
    assert question.reference in thread and "Meter replaced?" in thread
    assert '<html lang="hu">' in thread
    [copy] = mailbox.to("ann@example.com")
    assert f"/support/questions/{question.reference}" in mailbox.text(copy)
    assert '<html lang="hu">' in mailbox.html(copy)  # in the account's language


def test_questions_without_an_account_may_attach_so_many_megabytes_a_day_together(
    app, client, captcha_solver, monkeypatch
):
    """Each address and IP asking without an account was limited, but many of them could
    fill the office's disk at 15 MB a question."""
    from lkapp.domain import questions as rules

    monkeypatch.setattr(rules, "ANONYMOUS_FILE_BYTES", 1024 * 1024)
    scan = PNG + b"\0" * 600_000
    first = ask_anonymously(client, captcha_solver, files=[("meter.png", scan)])
    assert first.status_code == 302
    second = ask_anonymously(
        client,
        captcha_solver,
        files=[("bill.png", scan)],
        email="other@example.org",
        question="My bill, photographed.",
    )
    assert second.status_code == 422
    assert (
        "We cannot take more files from questions asked without an account today. Send the "
        "question without files, sign in to attach them, or call our office."
    ) in text_of(second.text)
    assert "My bill, photographed." in second.text and 'value="other@example.org"' in second.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Question)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 1
    without = ask_anonymously(client, captcha_solver, email="other@example.org")
    assert without.status_code == 302


def test_an_account_may_attach_so_many_megabytes_a_month(app, client, ann, monkeypatch):
    """Replies were limited per IP only: from many addresses one account could fill the
    office's disk at 15 MB a message."""
    from lkapp.domain import questions as rules

    monkeypatch.setattr(rules, "ACCOUNT_FILE_BYTES", 1024 * 1024)
    scan = PNG + b"\0" * 600_000
    data = {"subject": "other", "question": "The meter, photographed."}
    files = {"files": [(BytesIO(scan), "meter.png")]}
    first = client.post("/support/ask", data={**data, **files}, content_type="multipart/form-data")
    assert first.status_code == 302
    reference = first.headers["Location"].rsplit("/", 1)[1]
    again = client.post(
        f"/support/questions/{reference}/reply",
        data={"body": "And from the other side.", "files": [(BytesIO(scan), "side.png")]},
        content_type="multipart/form-data",
    )
    assert again.status_code == 422
    # Some room is left: said, not "reached" (a smaller file still goes).
    left = 1024 * 1024 - len(scan)
    assert (
        f"These files take {-(-len(scan) // 1024)} KB, but only {left // 1024} KB is left of the"
        " 1 MB an account may send in 30 days." in text_of(again.text)
    )
    assert "And from the other side." in again.text  # the reply is kept
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1
    rest = PNG + b"\0" * (left - len(PNG))  # exactly what is left
    fits = client.post(
        f"/support/questions/{reference}/reply",
        data={"body": "The seal.", "files": [(BytesIO(rest), "seal.png")]},
        content_type="multipart/form-data",
    )
    assert fits.status_code == 302
    full = client.post(
        f"/support/questions/{reference}/reply",
        data={"body": "One more.", "files": [(BytesIO(PNG + b"\0" * 100), "more.png")]},
        content_type="multipart/form-data",
    )
    assert full.status_code == 422
    assert "Your files of the last 30 days have reached 1 MB" in text_of(full.text)
    without = client.post(f"/support/questions/{reference}/reply", data={"body": "No photo then."})
    assert without.status_code == 302


def test_an_unconfirmed_account_asks_with_the_captcha(app, client, make_user, auth, mailbox):
    """Its email may be anyone's: it asks as a visitor does (the picture, the per-IP limit),
    since the receipt quotes the question to that address."""
    make_user(email="new@example.com", confirmed=False)
    auth.login(email="new@example.com")
    page = client.get("/support/ask").get_data(as_text=True)
    assert ">Code from the picture</label>" in page and ">Contract</label>" not in page
    response = client.post("/support/ask", data={"subject": "other", "question": "Pay at x"})
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Question)) == 0
    assert mailbox.messages == []


def test_signed_in_customer_cannot_pick_someone_elses_contract(app, client, ann):
    response = client.post(
        "/support/ask",
        data={"contract": "EL-0000099", "subject": "other", "question": "Hi"},
    )
    assert response.status_code == 422
    assert "Choose one of the contracts in your account." in response.get_data(as_text=True)
    assert count(app, Question) == 0


def test_questions_list_shows_status_and_the_thread_takes_replies(app, client, ann):
    answered = make_question(app, user_id=ann, status="answered", body="First")
    make_question(app, user_id=ann, status="closed", subject="payments")
    make_question(app, email="someone@example.net", body="Not Ann's")
    page = client.get("/support/questions").get_data(as_text=True)
    assert page.count('<span class="badge') == 2
    assert ">Answered</span>" in page and ">Closed</span>" in page
    assert "Not Ann" not in page and 'href="/support/questions" aria-current="page"' in page

    fragment = client.htmx("GET", "/support/questions")
    assert swapped(fragment.get_data(as_text=True)).startswith('<section id="questions"')
    assert "HX-Request" in fragment.headers["Vary"]

    response = client.post(
        f"/support/questions/{answered}/reply",
        data={"body": "Still not solved", "files": [(BytesIO(PNG), "meter.png")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    page = client.get(f"/support/questions/{answered}").get_data(as_text=True)
    assert "Still not solved" in page and "meter.png" in page and ">New</span>" in page
    with app.app_context():
        assert (
            db.session.scalar(sa.select(Question.status).where(Question.reference == answered))
            == "new"
        )
    assert "support.replied" in actions(app)

    empty = client.htmx("POST", f"/support/questions/{answered}/reply", data={"body": ""})
    assert empty.status_code == 422 and "Write your message." in empty.get_data(as_text=True)


def test_a_message_that_fits_the_box_is_taken_whatever_its_line_breaks(app, client, ann):
    """Browsers send a line break as CRLF but count it as one character for ``maxlength``:
    a reply of 5,000 characters in ten paragraphs came back "Use at most 5000 characters"."""
    reference = make_question(app, user_id=ann)
    body = "\r\n".join(["a" * 491] * 10) + "\r\n" + "b" * 80  # 5,000 in the browser
    response = client.post(f"/support/questions/{reference}/reply", data={"body": body})
    assert response.status_code == 302
    with app.app_context():
        stored = db.session.scalars(sa.select(Message.body).order_by(Message.id)).all()[-1]
    assert stored == body.replace("\r\n", "\n") and len(stored) == 5000


def test_a_closed_thread_takes_no_reply(app, client, ann):
    closed = make_question(app, user_id=ann, status="closed")
    page = client.get(f"/support/questions/{closed}").get_data(as_text=True)
    assert "This question is closed." in page and 'id="reply-form"' not in page
    client.post(f"/support/questions/{closed}/reply", data={"body": "Hello?"})
    assert count(app, Message) == 1


def _seen(page: str) -> str:
    return re.search(r'name="seen" value="(\d+)"', page).group(1)


def test_a_reply_written_before_the_office_closed_the_thread_is_kept(app, client, ann, make_user):
    """The office closed the thread while Ann was writing on its page: her reply was thrown
    away ("This question is closed"), with what she typed. It is taken and opens the thread."""
    reference = make_question(app, user_id=ann, status="answered")
    seen = _seen(client.get(f"/support/questions/{reference}").text)
    staff = make_user(email="op@example.org", role="staff", tax_id="")
    with app.app_context():
        assert services.close(services.find_question(reference), db.session.get(User, staff))
        db.session.commit()
    # A file that is refused: the form comes back, with the text, on the closed thread's page.
    refused = client.post(
        f"/support/questions/{reference}/reply",
        data={"body": "It is still wrong.", "seen": seen, "files": [(BytesIO(EXE), "x.exe")]},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert "\nIt is still wrong.</textarea>" in refused.text and 'id="reply-form"' in refused.text
    response = client.post(
        f"/support/questions/{reference}/reply",
        data={"body": "It is still wrong.", "seen": seen},
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "Your reply was added." in page and "It is still wrong." in page
    assert ">New</span>" in page and 'id="reply-form"' in page
    assert count(app, Message) == 2


def test_a_reply_says_when_the_office_answered_while_it_was_written(app, client, ann, make_user):
    reference = make_question(app, user_id=ann)
    seen = _seen(client.get(f"/support/questions/{reference}").text)
    staff = make_user(email="op@example.org", role="staff", tax_id="")
    with app.app_context():
        services.answer(services.find_question(reference), db.session.get(User, staff), "Paid.")
        db.session.commit()
    response = client.post(
        f"/support/questions/{reference}/reply",
        data={"body": "Any news?", "seen": seen},
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert (
        "Your reply was added. Our office wrote to you while you were writing: their message "
        "is above yours."
    ) in page
    assert page.index("Paid.") < page.index("Any news?")
    assert count(app, Message) == 3
    # A reply on a page that showed the answer: the usual words.
    seen = _seen(page)
    response = client.post(
        f"/support/questions/{reference}/reply",
        data={"body": "Thanks.", "seen": seen},
        follow_redirects=True,
    )
    assert "Your reply was added. We will answer by email and here." in response.text


def test_a_customer_sees_only_own_threads_and_files(app, client, ann, make_user):
    bob_id = db_user_id(app, "bob@example.com")
    with app.app_context():
        upload = services.Upload("bob.pdf", "application/pdf", PDF)
    bobs = make_question(app, user_id=bob_id, uploads=[upload])
    anonymous = make_question(app, email="ann@example.com")  # Ann's email, but not signed in
    with app.app_context():
        file_id = db.session.scalar(sa.select(Attachment.id))
    for url in (
        f"/support/questions/{bobs}",
        f"/support/questions/{anonymous}",
        "/support/questions/Q-AAAAAAAA",
        "/support/questions/nonsense",
        f"/support/attachments/{file_id}",
        "/support/attachments/999",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Page not found" in response.get_data(as_text=True)
    assert client.post(f"/support/questions/{bobs}/reply", data={"body": "x"}).status_code == 404
    assert count(app, Message) == 2
    # Bob himself gets his file, as a download of its checked type.
    client.post("/logout")
    from tests.conftest import AuthActions

    AuthActions(client).login(email="bob@example.com")
    response = client.get(f"/support/attachments/{file_id}")
    assert response.status_code == 200 and response.data == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "bob.pdf" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def db_user_id(app, email):
    with app.app_context():
        return db.session.scalar(sa.select(User.id).where(User.email == email))


def test_signed_out_visitors_are_sent_to_sign_in_for_threads(client):
    for url in ("/support/questions", "/support/questions/Q-AAAAAAAA", "/support/attachments/1"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_thread_gives_file_sizes_as_the_quota_message_does(app, client, ann):
    """A thread listed every file in KB ("1536 KB"); the quota's message says MB from 1 MB."""
    with app.app_context():
        uploads = [
            services.Upload(
                "scan.pdf", "application/pdf", PDF + b"0" * (3 * 512 * 1024 - len(PDF))
            ),
            services.Upload("photo.png", "image/png", PNG),
        ]
    reference = make_question(app, user_id=ann, uploads=uploads)
    page = text_of(client.get(f"/support/questions/{reference}").text)
    assert "scan.pdf (1.5 MB) photo.png (1 KB)" in page
    client.post("/language", data={"locale": "ru"})
    page = text_of(client.get(f"/support/questions/{reference}").text)
    assert "scan.pdf (1,5 МБ) photo.png (1 КБ)" in page


def test_message_bodies_are_shown_as_text(app, client, ann, mailbox):
    reference = make_question(app, user_id=ann, body=SCRIPT)
    page = client.get(f"/support/questions/{reference}").get_data(as_text=True)
    assert "<script>alert" not in page
    assert (
        '<div class="message-body">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;\n'
        "Second line &amp; more</div>"
    ) in page
    # The copy mailed to a signed-in asker.
    client.post("/support/ask", data={"subject": "other", "question": SCRIPT})
    [copy] = mailbox.messages
    assert "<script>" not in mailbox.html(copy) and "&lt;script&gt;" in mailbox.html(copy)
    assert SCRIPT in mailbox.text(copy).replace("\r\n", "\n")  # plain text stays plain
