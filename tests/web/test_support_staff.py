"""Ask a question, the office's side: the list (filters, oldest unanswered first, the count in
the navigation), a thread with who asked, answering by mail, closing, and for "lost login"
the accounts that may be the asker's with a password-reset link."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lkapp.auth.services import AUTO_LOCK, close_account
from lkapp.extensions import db
from lkapp.formatting import moment
from lkapp.models import Attachment, AuditEvent, OutboxMail, Question, User, utcnow
from lkapp.support import services
from tests.conftest import check_fragment, swapped
from tests.web.test_staff_team import ButtonNames
from tests.web.test_support import PDF, SCRIPT, actions, make_contract, make_question

STAFF = "op@example.org"


@pytest.fixture
def app(app, tmp_path):
    app.instance_path = str(tmp_path / "instance")
    return app


@pytest.fixture
def office(make_user, auth):
    """An operator, signed in with two factors; returns the user id."""
    staff_id = make_user(email=STAFF, role="staff", tax_id="")
    auth.login(email=STAFF)
    return staff_id


def age(app, reference, days):
    """Move a thread's times (its messages' too) ``days`` back."""
    with app.app_context():
        moment = utcnow() - timedelta(days=days)
        question = services.find_question(reference)
        question.created_at = question.updated_at = moment
        for message in question.messages:
            message.created_at = moment
        db.session.commit()


def test_only_staff_reach_the_questions(client, make_user, auth):
    assert client.get("/staff/questions").status_code == 302
    make_user()
    auth.login()
    assert client.get("/staff/questions").status_code == 403


def test_list_puts_the_longest_waiting_first_and_filters(app, client, office):
    recent = make_question(app, subject="documents")
    old = make_question(app, subject="lost_login")
    older_answered = make_question(app, subject="documents", status="answered")
    age(app, old, 5)
    age(app, older_answered, 10)
    page = client.get("/staff/questions").get_data(as_text=True)
    assert page.index(old) < page.index(recent) < page.index(older_answered)
    assert "3 questions in all." in page
    assert ">2 unanswered</span>" in page  # the count in the staff navigation
    assert 'href="/staff/questions" aria-current="page"' in page
    # On a phone and a tablet each question is a card, as the office's other lists (the asker and
    # dates were columns off the screen's edge).
    assert '<table class="stack stack-wide">' in page and '<td data-label="Asked by">' in page

    def shown(**query):
        response = client.get("/staff/questions", query_string=query)
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        return {ref for ref in (recent, old, older_answered) if ref in text}

    assert shown(status="new") == {recent, old}
    assert shown(subject="documents") == {recent, older_answered}
    assert shown(age="3") == {old, older_answered}
    assert shown(status="new", age="7") == set()
    assert shown(status="bogus") == {recent, old, older_answered}  # a bad filter: all

    fragment = client.htmx("GET", "/staff/questions", query_string={"status": "answered"})
    text = fragment.get_data(as_text=True)
    assert swapped(text).startswith('<div id="question-results"')
    assert older_answered in text and recent not in text
    assert "HX-Request" in fragment.headers["Vary"]


def test_a_follow_up_while_waiting_keeps_the_threads_place_in_the_queue(
    app, client, office, make_user
):
    """The list sorted the waiting threads by their last message: an asker who added the scan
    they had forgot, a day after asking, went behind everyone who asked after them."""
    ann = make_user(email="ann@example.com")
    first = make_question(app, user_id=ann, body="Where is my invoice?")
    second = make_question(app, email="later@example.net")
    age(app, first, 5)
    age(app, second, 3)
    with app.app_context():
        services.reply(services.find_question(first), db.session.get(User, ann), "The scan.")
        db.session.commit()
    page = client.get("/staff/questions").get_data(as_text=True)
    assert page.index(first) < page.index(second)


def test_thread_shows_the_account_its_contracts_and_earlier_questions(
    app, client, office, make_user
):
    ann = make_user(email="ann@example.com")
    make_contract(app, "EL-0000042", account_id=ann)
    earlier = make_question(app, user_id=ann, subject="payments")
    reference = make_question(app, user_id=ann, body=SCRIPT)
    page = client.get(f"/staff/questions/{reference}").get_data(as_text=True)
    assert "Who asked" in page and "ann@example.com" in page
    assert 'href="/staff/contracts/EL-0000042">EL-0000042</a>' in page
    assert f'href="/staff/questions/{earlier}">{earlier}</a>' in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "Lost login: accounts" not in page  # only for that subject


def test_thread_of_an_anonymous_asker_shows_the_email(app, client, office):
    reference = make_question(
        app, email="visitor@example.net", name="Visitor Kft.", contract_number="EL-404"
    )
    page = client.get(f"/staff/questions/{reference}").get_data(as_text=True)
    assert "not signed in" in page
    assert "visitor@example.net" in page and "Visitor Kft." in page
    assert "EL-404" in page and "no such contract" in page
    assert client.get("/staff/questions/Q-AAAAAAAA").status_code == 404


def test_answer_goes_to_the_asker_in_their_language_and_marks_answered(
    app, client, office, make_user, mailbox
):
    ann = make_user(email="ann@example.com", locale="ru")
    reference = make_question(app, user_id=ann)
    response = client.post(f"/staff/questions/{reference}/answer", data={"body": "Line 1\nLine 2"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/staff/questions/{reference}"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The answer was sent to ann@example.com." in page and ">Answered</span>" in page
    assert f"({STAFF})" in page  # staff see which colleague answered
    [mail] = mailbox.to("ann@example.com")
    assert mail["Subject"] == f"Ответ на ваш вопрос {reference}"  # in Russian, as she chose
    assert "Line 1\r\nLine 2" in mailbox.text(mail)
    assert f"/support/questions/{reference}" in mailbox.text(mail)
    assert '<html lang="ru">' in mailbox.html(mail)
    with app.app_context():
        question = db.session.scalar(sa.select(Question).where(Question.reference == reference))
        assert question.status == "answered" and question.answered_at is not None
    assert "support.answered" in actions(app)


def test_the_answer_goes_to_the_accounts_email_of_today(app, client, office, make_user, mailbox):
    """Ann asked from ann@, then changed her email: the answer and the office's note name
    the new address (the note named the old one, where nothing went)."""
    ann = make_user(email="ann@example.com")
    reference = make_question(app, user_id=ann)
    with app.app_context():
        db.session.get(User, ann).email = "ann.new@example.com"
        db.session.commit()
    response = client.post(f"/staff/questions/{reference}/answer", data={"body": "Done."})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The answer was sent to ann.new@example.com." in page
    assert len(mailbox.to("ann.new@example.com")) == 1 and mailbox.to("ann@example.com") == []


def test_an_answer_to_a_closed_account_is_kept_and_mailed_nowhere(
    app, client, office, make_user, mailbox
):
    """The customer closed the account after asking: its address is erased, and a mail to
    the stand-in address would only fail (and count on the office's start page)."""
    ann = make_user(email="ann@example.com")
    reference = make_question(app, user_id=ann)
    with app.app_context():
        close_account(db.session.get(User, ann))
        db.session.commit()
    # Before sending, the form says so (it said "Goes by email to closed-…@closed.invalid").
    before = client.get(f"/staff/questions/{reference}").text
    assert "Goes by email" not in before and "closed.invalid" not in swapped_form(before)
    assert "The customer closed the account: the answer is kept with the question, unsent" in (
        before
    )
    refused = client.post(f"/staff/questions/{reference}/answer", data={"body": " "}).text
    assert "Goes by email" not in refused and "kept with the question, unsent" in refused
    response = client.post(f"/staff/questions/{reference}/answer", data={"body": "Done."})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The customer closed the account: the answer is kept with the question" in page
    assert "Done." in page
    assert mailbox.messages == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMail)) == 0


def swapped_form(page: str) -> str:
    """The answer form of a thread page."""
    start = page.index('<form id="answer-form"')
    return page[start : page.index("</form>", start)]


def test_an_answer_to_an_account_the_office_locked_is_kept_unsent(
    app, client, office, make_user, mailbox
):
    """The office locks an account whose mailbox may be in other hands (no reset link, no
    detach notice goes there); the answer went to it all the same, and the form said so."""
    ann = make_user(email="ann@example.com")
    reference = make_question(app, user_id=ann)
    client.post(f"/staff/customers/{ann}/lock", data={"reason": "Mailbox in dispute"})
    before = client.get(f"/staff/questions/{reference}").text
    assert "Goes by email" not in before
    assert "The office locked the account: the answer is kept with the question, unsent" in before
    response = client.post(f"/staff/questions/{reference}/answer", data={"body": "Done."})
    page = client.get(response.headers["Location"]).text
    assert "The office locked the account: the answer is kept with the question, unsent." in page
    assert ">Answered</span>" in page and "Done." in page
    assert mailbox.to("ann@example.com") == []
    # A lock after failed sign-ins is the customer's to lift: the answer goes.
    with app.app_context():
        user = db.session.get(User, ann)
        user.locked_reason = AUTO_LOCK
        db.session.commit()
    assert "Goes by email to ann@example.com" in client.get(f"/staff/questions/{reference}").text
    response = client.post(f"/staff/questions/{reference}/answer", data={"body": "Again."})
    assert "The answer was sent to ann@example.com." in client.get(response.location).text
    assert len(mailbox.to("ann@example.com")) == 1


def test_anonymous_asker_gets_the_answer_by_mail_in_the_language_asked(
    app, client, office, mailbox
):
    reference = make_question(app, email="visitor@example.net", locale="hu")
    client.post(f"/staff/questions/{reference}/answer", data={"body": "Here is how."})
    [mail] = mailbox.to("visitor@example.net")
    text = mailbox.text(mail)
    assert "Here is how." in text and f"hivatkozzon a(z) {reference}" in " ".join(text.split())
    assert "/support/questions/" not in text  # no thread to open without an account
    assert '<html lang="hu">' in mailbox.html(mail)


def test_an_empty_answer_is_refused_in_place(app, client, office, mailbox):
    reference = make_question(app)
    response = client.htmx("POST", f"/staff/questions/{reference}/answer", data={"body": "  "})
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Write your message." in text and swapped(text).startswith('<form id="answer-form"')
    assert mailbox.messages == []
    assert "support.answered" not in actions(app)


def test_close_marks_the_thread_closed(app, client, office):
    reference = make_question(app)
    response = client.post(f"/staff/questions/{reference}/close")
    assert response.status_code == 302
    page = client.get(f"/staff/questions/{reference}").get_data(as_text=True)
    assert f"Question {reference} is closed." in page and ">Close question</button>" not in page
    assert actions(app).count("support.closed") == 1
    client.post(f"/staff/questions/{reference}/close")  # twice: nothing more
    assert actions(app).count("support.closed") == 1


def test_closing_an_old_thread_keeps_its_last_message_time(app, client, office, make_user, auth):
    """Closing set the thread's "last activity": the list showed the close as its last
    message, and the age filter took a ten-day-old thread closed today for a fresh one."""
    ann = make_user(email="ann@example.com")
    reference = make_question(app, user_id=ann)
    age(app, reference, 10)
    with app.app_context():
        last = services.find_question(reference).messages[-1].created_at
    assert client.post(f"/staff/questions/{reference}/close").status_code == 302

    page = client.get("/staff/questions", query_string={"age": "7"}).get_data(as_text=True)
    assert reference in page
    with app.test_request_context():
        shown = moment(last)
    assert f'<td class="date" data-label="Last message">{shown}</td>' in page
    client.post("/logout")
    auth.login(email="ann@example.com")
    mine = client.get("/support/questions").get_data(as_text=True)
    assert reference in mine and f'data-label="Last message">{shown}</td>' in mine


def test_lost_login_shows_the_matching_account_and_sends_it_a_reset_link(
    app, client, office, make_user, mailbox
):
    make_user(email="ann@example.com")
    reference = make_question(app, email="ANN@example.com", subject="lost_login")
    page = client.get(f"/staff/questions/{reference}").get_data(as_text=True)
    assert "Lost login: accounts that may be theirs" in page
    assert '<th scope="row">ann@example.com</th>' in page
    assert '<span aria-hidden="true">Send password-reset link</span>' in page
    # A screen reader hears whose (one button a candidate, alike).
    buttons = ButtonNames()
    buttons.feed(page)
    assert "Send a password-reset link to ann@example.com" in buttons.names
    assert '<td data-label="Tax ID">' in page  # a card per account on a phone
    with app.app_context():
        ann_id = db.session.scalar(sa.select(User.id).where(User.email == "ann@example.com"))

    response = client.post(
        f"/staff/questions/{reference}/reset-link", data={"account_id": ann_id, "tax_id": ""}
    )
    assert response.status_code == 302
    assert "A password-reset link was sent" in client.get(response.headers["Location"]).text
    [mail] = mailbox.to("ann@example.com")
    assert mail["Subject"] == "Set a new password"
    [link] = [x for x in mailbox.links(mail) if "/reset-password/" in x]
    client.post("/logout")
    assert client.get(link).status_code == 200  # the customer's link works
    with app.app_context():
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "support.reset_link_sent")
        )
        assert event.details["account_id"] == str(ann_id) and event.actor_id == office


def test_lost_login_finds_accounts_by_tax_id_and_refuses_others(
    app, client, office, make_user, mailbox
):
    bob = make_user(email="bob@example.com", tax_id="7709999999")
    carol = make_user(email="carol@example.com", tax_id="77055 55555")
    make_contract(app, "EL-0000042", tax_id="7705555555")
    reference = make_question(
        app, email="nobody@example.net", subject="lost_login", contract_number="EL-0000042"
    )
    page = client.get(f"/staff/questions/{reference}").get_data(as_text=True)
    assert "carol@example.com" in page and "bob@example.com" not in page  # the contract's tax id
    found = client.get(f"/staff/questions/{reference}?tax_id=77-0999 9999").text
    assert "bob@example.com" in found
    # Bob is no candidate without his tax id: no link for him.
    response = client.post(
        f"/staff/questions/{reference}/reset-link", data={"account_id": bob, "tax_id": ""}
    )
    assert response.status_code == 404
    assert mailbox.messages == []
    client.post(f"/staff/questions/{reference}/reset-link", data={"account_id": carol})
    assert [m["To"] for m in mailbox.messages] == ["carol@example.com"]


def test_lost_login_without_an_account_says_so(app, client, office):
    reference = make_question(app, email="nobody@example.net", subject="lost_login")
    page = client.get(f"/staff/questions/{reference}").get_data(as_text=True)
    assert "No account has this email or tax ID." in page
    other = make_question(app, email="nobody@example.net", subject="documents")
    assert client.post(f"/staff/questions/{other}/reset-link", data={}).status_code == 404


def test_staff_download_any_attachment(app, client, office):
    with app.app_context():
        upload = services.Upload("scan.pdf", "application/pdf", PDF)
    reference = make_question(app, uploads=[upload])
    page = client.get(f"/staff/questions/{reference}").get_data(as_text=True)
    with app.app_context():
        file_id = db.session.scalar(sa.select(Attachment.id))
    assert f'href="/staff/questions/attachments/{file_id}" download>scan.pdf</a>' in page
    response = client.get(f"/staff/questions/attachments/{file_id}")
    assert response.status_code == 200 and response.data == PDF
    assert response.headers["Content-Disposition"].startswith("attachment;")


def seen_on(page: str, form: str = "answer-form") -> str:
    """The count of messages that a form of ``page`` carries (what the page showed)."""
    start = page.index(f'<form id="{form}"')
    return re.search(r'name="seen" value="(\d+)"', page[start:]).group(1)


NEWS = "A new message arrived while you were writing. Read it, then send your answer again."


def test_an_answer_written_without_a_colleagues_answer_is_not_sent(
    app, client, office, make_user, mailbox, html_checker
):
    """Two operators opened the same question; the colleague's answer went first. The second
    answer was stored and mailed too, and its author never saw the first."""
    ann = make_user(email="ann@example.com")
    colleague = make_user(email="colleague@example.org", role="staff", tax_id="")
    reference = make_question(app, user_id=ann)
    seen = seen_on(client.get(f"/staff/questions/{reference}").text)
    with app.app_context():
        question = services.find_question(reference)
        services.answer(question, db.session.get(User, colleague), "Sent yesterday.")
        db.session.commit()

    response = client.post(
        f"/staff/questions/{reference}/answer", data={"body": "It was sent.", "seen": seen}
    )
    assert response.status_code == 409
    page = response.text
    assert NEWS in page and "Sent yesterday." in page and "(colleague@example.org)" in page
    assert "\nIt was sent.</textarea>" in page  # what was typed, kept in the box
    html_checker(page, "answer refused: a new message")
    assert actions(app).count("support.answered") == 1  # the colleague's alone
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMail)) == 0
    # The page now shows both answers: the answer goes.
    response = client.post(
        f"/staff/questions/{reference}/answer",
        data={"body": "It was sent.", "seen": seen_on(page)},
    )
    assert response.status_code == 302
    assert actions(app).count("support.answered") == 2
    assert len(mailbox.to("ann@example.com")) == 1


def test_an_answer_written_without_the_askers_reply_comes_back_in_place(
    app, client, office, make_user, mailbox, html_checker
):
    """With HTMX only the form is swapped: the reply joins the page's messages (out of band)."""
    ann = make_user(email="ann@example.com")
    reference = make_question(app, user_id=ann, status="answered")
    page = client.get(f"/staff/questions/{reference}").text
    with app.app_context():
        services.reply(services.find_question(reference), db.session.get(User, ann), "Not yet!")
        db.session.commit()

    response = client.htmx(
        "POST",
        f"/staff/questions/{reference}/answer",
        data={"body": "Done.", "seen": seen_on(page)},
    )
    assert response.status_code == 409 and "HX-Request" in response.headers["Vary"]
    fragment = swapped(response.text)
    assert fragment.startswith('<form id="answer-form"')
    form = fragment[: fragment.index("</form>")]
    assert NEWS in form and "\nDone.</textarea>" in form
    assert seen_on(fragment) == "2"
    assert seen_on(fragment, "close-form") == "2"  # closing the page as it is now works
    assert '<form id="close-form"' in fragment and 'data-hx-swap-oob="true">' in fragment
    assert (
        '<section id="thread-messages" aria-labelledby="messages-title" data-hx-swap-oob="true">'
        in (fragment)
    )
    assert "Not yet!" in fragment[fragment.index('id="thread-messages"') :]
    check_fragment(html_checker, response.text, "answer refused: a new message")
    assert mailbox.messages == [] and "support.answered" not in actions(app)
    # An empty answer on a page that missed the reply: the errors, and the reply shown too.
    stale = client.htmx(
        "POST", f"/staff/questions/{reference}/answer", data={"body": " ", "seen": "1"}
    )
    assert stale.status_code == 422 and NEWS in stale.text and 'id="thread-messages"' in stale.text
    # Nothing new: only the form, with its errors.
    empty = client.htmx(
        "POST", f"/staff/questions/{reference}/answer", data={"body": " ", "seen": "2"}
    )
    assert "Please correct the marked fields." in empty.text and "thread-messages" not in empty.text
    assert NEWS not in empty.text
