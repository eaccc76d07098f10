"""Ask a question in Chromium: a visitor without an account asks (with a file), the office
answers, the answer arrives by mail; the pages pass the Nu HTML checker and axe-core."""

from __future__ import annotations

import re

import pyotp
import pytest

from tests.conftest import (
    TEST_PASSWORD,
    TEST_TOTP_SECRET,
    axe_violations,
    card_cells,
    check_fragment,
    sideways_tables,
    wait_for,
)
from tests.web.test_support import PDF, make_contract, make_question

pytestmark = pytest.mark.sqlite_only

TEST_ANSWER = "e2e-ok"
STAFF = "op@example.org"


@pytest.fixture
def app_config(app_config):
    app_config["CAPTCHA_TEST_ANSWER"] = TEST_ANSWER  # the end-to-end tests' key to the captcha
    return app_config


@pytest.fixture
def app(app, tmp_path):
    app.instance_path = str(tmp_path / "instance")
    return app


def _mail(mailbox, email, subject_start):
    def find():
        return next((m for m in mailbox.to(email) if m["Subject"].startswith(subject_start)), None)

    message = wait_for(find)
    assert message is not None, f"no mail '{subject_start}' to {email}"
    return message


def _sign_in_as_staff(page):
    page.goto("/login")
    page.get_by_label("Email").fill(STAFF)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/login/two-factor**")
    page.get_by_label("Authentication code").fill(pyotp.TOTP(TEST_TOTP_SECRET).now())
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/staff/")


def test_visitor_asks_the_office_answers_and_the_answer_arrives_by_mail(
    page, make_user, mailbox, tmp_path
):
    make_user(email=STAFF, role="staff", tax_id="")
    scan = tmp_path / "meter.pdf"
    scan.write_bytes(PDF)

    page.goto("/")
    page.get_by_role("link", name="Ask a question").first.click()
    page.wait_for_url("**/support/ask")
    page.get_by_label("Email").fill("visitor@example.net")
    page.get_by_label("Name or organisation").fill("Tisza Bakery Kft.")
    page.get_by_label("Contract number").fill("EL-0000042")
    page.get_by_label("Subject").select_option(label="Lost login")
    page.get_by_label("Question").fill("I lost my login.\n<b>Which email</b> did we use?")
    page.get_by_label("Attachments").set_input_files(str(scan))
    page.get_by_label("Code from the picture").fill("WRONG")
    page.get_by_role("button", name="Send").click()
    page.get_by_text("did not match the picture").wait_for()  # swapped in place by htmx
    assert page.get_by_label("Question").input_value().startswith("I lost my login.")
    assert page.get_by_text("Choose the files again").is_visible()
    page.get_by_label("Attachments").set_input_files(str(scan))
    page.get_by_label("Code from the picture").fill(TEST_ANSWER)
    page.get_by_role("button", name="Send").click()
    page.wait_for_url("**/support/ask/sent")
    reference = page.locator(".reference").inner_text()
    assert re.fullmatch(r"Q-[A-Z0-9]{8}", reference)
    copy = _mail(mailbox, "visitor@example.net", "We received your question")
    assert reference in copy["Subject"]

    _sign_in_as_staff(page)
    page.locator(".subnav").get_by_role("link", name="Questions").click()
    page.wait_for_url("**/staff/questions")
    assert page.locator(".subnav").get_by_text("1 unanswered").is_visible()
    page.get_by_role("link", name=reference).click()
    page.wait_for_url(f"**/staff/questions/{reference}")
    body = page.locator(".message-body").first
    assert body.inner_text() == "I lost my login.\n<b>Which email</b> did we use?"
    assert page.get_by_role("link", name="meter.pdf").is_visible()
    assert page.get_by_text("No account has this email or tax ID.").is_visible()
    page.get_by_label("Answer").fill("Please register again;\nwe will move the contract.")
    page.get_by_role("button", name="Send answer").click()
    page.get_by_text("The answer was sent to visitor@example.net.").wait_for()
    assert page.locator("#main").get_by_text("Answered", exact=True).first.is_visible()

    answer = _mail(mailbox, "visitor@example.net", "Answer to your question")
    assert reference in answer["Subject"]
    assert "Please register again;\r\nwe will move the contract." in mailbox.text(answer)


@pytest.mark.parametrize("browser_context_options", [{"java_script_enabled": False}])
def test_asking_works_without_javascript(page, mailbox):
    page.goto("/support/ask")
    page.get_by_label("Email").fill("visitor@example.net")
    page.get_by_label("Name or organisation").fill("Visitor")
    page.get_by_label("Subject").select_option(label="Documents")
    page.get_by_label("Question").fill("Where is my invoice?")
    page.get_by_label("Code from the picture").fill(TEST_ANSWER)
    page.get_by_role("button", name="Send").click()
    page.wait_for_url("**/support/ask/sent")
    assert page.get_by_text("Your reference number:").is_visible()
    assert _mail(mailbox, "visitor@example.net", "We received your question")


def test_question_pages_are_valid_html_and_accessible(
    app, client, page, make_user, auth, html_checker
):
    ann = make_user(email="ann@example.com")
    make_user(email=STAFF, role="staff", tax_id="")
    reference = make_question(app, user_id=ann, subject="lost_login", body="Line\n<i>two</i>")
    html_checker(client.get("/support/ask").text, "ask (anonymous)")
    bad = client.post("/support/ask", data={"email": "x"})
    html_checker(bad.text, "ask with errors")
    check_fragment(html_checker, client.htmx("POST", "/support/ask", data={}).text, "ask form")
    html_checker(client.get("/support/ask/sent").text, "sent")

    auth.login(email="ann@example.com")
    for url in ("/support/ask", "/support/questions", f"/support/questions/{reference}"):
        html_checker(client.get(url).text, url)
    check_fragment(html_checker, client.htmx("GET", "/support/questions").text, "list")
    reply = client.htmx("POST", f"/support/questions/{reference}/reply", data={"body": ""})
    check_fragment(html_checker, reply.text, "reply form with errors")
    client.post("/logout")

    auth.login(email=STAFF)
    for url in ("/staff/questions", "/staff/questions?status=new", f"/staff/questions/{reference}"):
        html_checker(client.get(url).text, url)
    check_fragment(html_checker, client.htmx("GET", "/staff/questions").text, "staff list")
    answer = client.htmx("POST", f"/staff/questions/{reference}/answer", data={"body": ""})
    check_fragment(html_checker, answer.text, "answer form with errors")

    page.goto("/support/ask")
    assert axe_violations(page) == []


@pytest.mark.parametrize("browser_context_options", [{"viewport": {"width": 390, "height": 844}}])
def test_on_a_phone_each_of_my_questions_is_a_card(app, page, make_user):
    ann = make_user(email="ann@example.com")
    make_contract(app, account_id=ann)
    reference = make_question(app, user_id=ann, subject="payments", contract_number="EL-0000042")
    page.goto("/login")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto("/support/questions")
    region = page.get_by_role("region", name="Your questions").first
    assert region.evaluate("e => e.scrollWidth <= e.clientWidth")
    cells = card_cells(page, "#questions table.stack tbody tr:first-child")
    assert all(c["left"] >= 0 and c["right"] <= 390 for c in cells), cells
    labels = {c["label"].strip('"'): c["text"] for c in cells if c["label"] != "none"}
    assert labels["Subject"] == "Payments" and labels["Contract"] == "EL-0000042", labels
    assert labels["Status"] == "New" and labels["Asked"] and labels["Last message"], labels
    title = next(c for c in cells if c["label"] == "none")
    assert title["text"] == reference
    assert axe_violations(page) == []


@pytest.mark.parametrize("browser_context_options", [{"viewport": {"width": 768, "height": 1024}}])
def test_on_a_tablet_in_hungarian_my_questions_are_in_sight(app, page, make_user):
    """The six columns, times and all, ran past a tablet's screen in Hungarian (and Russian):
    "Last message" was out of sight. There each question is a card, as on a phone."""
    ann = make_user(email="ann@example.com", locale="hu")
    make_contract(app, account_id=ann)
    make_question(app, user_id=ann, subject="payments", contract_number="EL-0000042")
    make_question(app, user_id=ann, status="answered")
    page.goto("/login")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.locator("#login-form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto("/support/questions")
    assert page.locator("html").get_attribute("lang") == "hu"
    assert sideways_tables(page) == []
    for row in range(1, 3):
        cells = card_cells(page, f"#questions table.stack tbody tr:nth-child({row})")
        assert all(c["left"] >= 0 and c["right"] <= 768 for c in cells), cells
        assert cells[-1]["text"], cells  # the time of the last message
