"""In Chromium: the office issues a code, the customer adds the contract with it in place."""

from __future__ import annotations

import re

import pytest

from lkapp.electricity import services
from lkapp.extensions import db
from lkapp.models import Contract, ImportJob, utcnow
from tests.conftest import TEST_PASSWORD, TEST_TOTP_SECRET

pytestmark = pytest.mark.sqlite_only
NUMBER = "EL-0000042"


@pytest.fixture
def contract(app):
    with app.app_context():
        db.session.add_all(
            [
                Contract(
                    number=NUMBER,
                    holder_name="Tisza Bakery Kft.",
                    tax_id="12345678-2-42",
                    address="Budapest, Fő utca 1.",
                ),
                Contract(number="EL-0000099", holder_name="Other Kft.", tax_id="9", address="Pécs"),
            ]
        )
        db.session.commit()


def sign_in(page, email, staff=False):
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if staff:  # staff sign in with a second factor
        import pyotp

        page.wait_for_url("**/login/two-factor**")
        page.get_by_label("Authentication code").fill(pyotp.TOTP(TEST_TOTP_SECRET).now())
        page.get_by_role("button", name="Continue").click()


def test_office_issues_a_code_and_the_customer_adds_the_contract(page, make_user, contract):
    make_user(email="op@example.org", role="staff")
    make_user()

    # The office finds the contract with the live search and issues a code.
    sign_in(page, "op@example.org", staff=True)
    page.wait_for_url("**/staff/")
    page.get_by_role("link", name="Contracts").click()
    # Loaded, so htmx has wired up the live search (typed before that, the text would wait
    # for Enter: the search is a plain GET form without JavaScript).
    page.wait_for_url("**/staff/contracts")
    page.get_by_label("Number, holder name or tax ID").fill("tisza")
    page.locator("#contract-results").get_by_text("1 contract matches").wait_for()
    assert "q=tisza" in page.url, "the address follows the search"
    assert page.locator("#contract-results").get_by_role("link", name="EL-0000099").count() == 0
    page.get_by_role("link", name=NUMBER).click()
    page.wait_for_url(f"**/staff/contracts/{NUMBER}")
    page.get_by_label("Who receives the code").select_option("holder")
    page.get_by_role("button", name="Issue code").click()
    code = page.locator(".code-display code").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", code)
    page.get_by_text("Not used yet").wait_for()  # the codes table was refreshed in place

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download slip (PDF)").click()
    download = download_info.value
    assert download.suggested_filename == f"code-slip-{NUMBER}.pdf"
    with open(download.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"

    page.get_by_role("button", name="Sign out").click()

    # The customer adds the contract: the form opens in place, a wrong code is refused.
    sign_in(page, "ann@example.com")
    page.wait_for_url("**/")
    page.get_by_role("link", name="Electricity").click()
    page.wait_for_url("**/electricity")
    page.evaluate("window.noReload = true")
    page.get_by_role("link", name="Add contract").click()
    page.get_by_label("Contract number").fill(NUMBER)
    page.get_by_label("Confirmation code").fill("AAAA-AAAA-AAAA")
    page.get_by_role("button", name="Add").click()
    page.get_by_text("The contract number or the confirmation code is wrong.").wait_for()
    assert page.get_by_label("Contract number").input_value() == NUMBER
    assert page.get_by_label("Confirmation code").input_value() == ""

    page.get_by_label("Confirmation code").fill(code.lower().replace("-", " "))
    page.get_by_role("button", name="Add").click()
    page.get_by_text(f"Contract {NUMBER} is now in your account.").wait_for()
    row = page.locator("#contracts tr.is-new")
    assert NUMBER in row.inner_text() and "Tisza Bakery Kft." in row.inner_text()
    assert page.evaluate("window.noReload") is True, "no page reload"
    assert page.url.endswith("/electricity")

    # The contract's tabs: each its own URL, swapped in place.
    page.get_by_role("link", name=NUMBER).click()
    page.wait_for_url(f"**/electricity/{NUMBER}")
    page.get_by_role("heading", name="Meters").wait_for()
    page.evaluate("window.noReload = true")
    page.locator(".tabs").get_by_role("link", name="Documents").click()
    page.wait_for_url(f"**/electricity/{NUMBER}/documents")
    page.locator("#document-results").wait_for()
    assert page.evaluate("window.noReload") is True
    page.go_back()
    page.wait_for_url(f"**/electricity/{NUMBER}")
    page.get_by_role("heading", name="Meters").wait_for()


@pytest.mark.parametrize("browser_context_options", [{"java_script_enabled": False}])
def test_adding_and_detaching_work_without_javascript(app, page, make_user, contract):
    make_user()
    with app.app_context():
        code = services.issue_code(services.find_contract(NUMBER))
        db.session.commit()
    sign_in(page, "ann@example.com")
    page.wait_for_url("**/")
    page.goto("/electricity")
    page.get_by_role("link", name="Add contract").click()
    page.wait_for_url("**/electricity/add")
    page.get_by_label("Contract number").fill(NUMBER)
    page.get_by_label("Confirmation code").fill(code)
    page.get_by_role("button", name="Add").click()
    page.wait_for_url("**/electricity")
    page.get_by_text(f"Contract {NUMBER} is now in your account.").wait_for()

    page.get_by_role("link", name=NUMBER).click()
    page.get_by_role("link", name="Detach contract").click()
    page.wait_for_url(f"**/electricity/{NUMBER}/detach")
    page.get_by_role("button", name="Detach").click()
    page.wait_for_url("**/electricity")
    page.get_by_text("is no longer in your account").wait_for()
    assert page.get_by_text("There are no contracts in your account yet.").is_visible()


def test_swaps_nobody_asked_for_leave_focus_where_it_is(page, make_user, contract, app):
    """The live search answers while the operator types, and a running import's page asks
    for itself every second: neither takes focus. The search took its own field away after
    the first pause (the rest of the name went nowhere), the import page pulled focus back
    every second. A submitted form still moves focus to its answer."""
    make_user(email="op@example.org", role="staff")
    sign_in(page, "op@example.org", staff=True)
    page.wait_for_url("**/staff/")
    page.goto("/staff/contracts")
    field = page.get_by_label("Number, holder name or tax ID")
    field.press_sequentially("Tis")
    page.locator("#contract-results").get_by_text("1 contract matches").wait_for()
    page.wait_for_timeout(400)  # the answer has settled
    page.keyboard.type("za B")
    assert field.input_value() == "Tisza B"
    assert page.evaluate("document.activeElement.name") == "q"

    with app.app_context():
        job = ImportJob(
            kind="payments", filename="p.csv", file_sha256="a" * 64, status="running",
            rows_total=10, rows_done=4, started_at=utcnow(),
        )  # fmt: skip
        db.session.add(job)
        db.session.commit()
        job_id = job.id
    page.goto(f"/staff/imports/{job_id}")
    page.get_by_role("link", name="Refresh").focus()
    polled = page.evaluate(
        """() => new Promise(done => document.body.addEventListener(
            "htmx:afterSettle", () => setTimeout(done, 50), {once: true}))"""
    )
    assert polled is None
    assert page.evaluate("document.activeElement.textContent") == "Refresh"
