"""In Chromium: a customer with debt sees it on the dashboard, finds the overdue invoice in
Documents, and what each payment paid in Payments (tabs and the filter keep the address)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lkapp.electricity.services import local_today
from tests.browser.test_documents import text_lines
from tests.conftest import TEST_PASSWORD, axe_violations, card_cells

pytestmark = pytest.mark.sqlite_only
NUMBER = "EL-0000042"


@pytest.fixture
def in_debt(app, make_user, ledger):
    """Ann's contract: INV-OLD paid, INV-LATE overdue by 12 days with 75.00 left."""
    with app.app_context():
        today = local_today()
    ann = make_user()
    contract = ledger.contract(NUMBER, account_id=ann)
    ledger.add(
        ledger.document(contract, "INV-OLD", today - timedelta(60), today - timedelta(45), "50.00"),
        ledger.document(
            contract, "INV-LATE", today - timedelta(30), today - timedelta(12), "100.00"
        ),
        ledger.payment(contract, today - timedelta(40), "75.00", "PO 1"),
    )
    return today


def sign_in(page):
    page.goto("/login")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def test_a_customer_with_debt_sees_it_and_finds_the_overdue_invoice(page, in_debt):
    sign_in(page)
    page.goto("/")
    alert = page.get_by_role("alert").filter(has_text="Overdue debt")
    assert "Overdue debt: €75.00" in alert.inner_text()
    row = page.locator(".dashboard-contracts tr", has_text=NUMBER)
    assert "Overdue: €75.00" in row.inner_text()
    assert "INV-LATE" in row.inner_text() and "12 days overdue" in row.inner_text()
    latest = page.locator(".dashboard-documents li", has_text="INV-LATE")
    assert "Overdue" in latest.inner_text()
    assert axe_violations(page) == []

    # Documents: the overdue invoice, marked overdue
    page.get_by_role("link", name=NUMBER).click()
    page.wait_for_url(f"**/electricity/{NUMBER}")
    page.get_by_role("link", name="Documents", exact=True).click()
    page.wait_for_url(f"**/electricity/{NUMBER}/documents")
    late = page.locator("#contract-tab tr", has_text="INV-LATE")
    late.wait_for()
    assert "Overdue" in late.inner_text()
    assert "Paid" in page.locator("#contract-tab tr", has_text="INV-OLD").inner_text()

    # Payments: the debt block and what the payment paid (htmx swap, the address in step)
    page.get_by_role("link", name="Payments", exact=True).click()
    page.wait_for_url(f"**/electricity/{NUMBER}/payments")
    block = page.locator(".debt-block")
    assert "€75.00" in block.inner_text() and "12 days overdue" in block.inner_text()
    payment = page.locator("#payments tbody tr").first
    text = payment.inner_text()
    assert "INV-OLD: €50.00" in text and "INV-LATE: €25.00" in text
    assert "Overdue" in text

    # The period filter swaps the list in place and puts the period in the address.
    month = (in_debt - timedelta(40)).strftime("%Y-%m")
    page.get_by_label("From month").fill(month)
    page.get_by_label("To month").fill(month)
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(f"**/payments?since={month}&until={month}")
    assert "1 payment in this period" in page.locator("#payments").inner_text()
    assert page.locator(".debt-block").count() == 1
    page.go_back()
    page.wait_for_url(f"**/electricity/{NUMBER}/payments")
    assert axe_violations(page) == []


@pytest.mark.parametrize("browser_context_options", [{"java_script_enabled": False}])
def test_without_javascript_the_filter_still_works(page, in_debt):
    sign_in(page)
    page.goto(f"/electricity/{NUMBER}/payments")
    page.get_by_label("From month").fill("1999-01")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/payments?since=1999-01&until=")
    assert "1 payment in this period" in page.locator("#payments").inner_text()


@pytest.mark.parametrize("browser_context_options", [{"viewport": {"width": 390, "height": 844}}])
def test_on_a_phone_what_a_payment_paid_is_a_card_per_document(page, in_debt, html_checker):
    """The payment's page: each document it paid is a card with every figure in sight, under
    its column's name (the table used to run off the screen); valid HTML, no axe finding."""
    sign_in(page)
    page.goto(f"/electricity/{NUMBER}/payments")
    page.locator("#payments tbody tr").first.get_by_role("link").click()
    page.get_by_role("heading", name="What this payment paid").wait_for()
    region = page.get_by_role("region", name="What this payment paid")
    assert region.evaluate("e => e.scrollWidth <= e.clientWidth")
    cells = card_cells(page, "#contract-tab table.stack tbody tr:first-child")
    assert all(c["left"] >= 0 and c["right"] <= 390 for c in cells), cells
    labels = {c["label"].strip('"'): c["text"] for c in cells if c["label"] != "none"}
    assert labels["Paid from this payment"] == "€50.00", labels
    assert labels["Status of the document"] == "Paid" and labels["Period"], labels
    title = next(c for c in cells if c["label"] == "none")
    assert title["text"] == "Invoice INV-OLD"
    assert title["top"] < min(c["top"] for c in cells if c is not title)
    assert axe_violations(page) == []
    page.reload()  # the page as the server sends it, not as the swap left it
    html_checker(page.content(), "payment page")


@pytest.mark.parametrize("browser_context_options", [{"viewport": {"width": 390, "height": 844}}])
def test_on_a_phone_the_payments_tab_opens_at_the_balance(page, in_debt):
    """The tab's swap puts focus on its first heading, the balance: focus on the payment count
    under it (the list's filter marks it) scrolled the phone past the balance and the tabs."""
    sign_in(page)
    page.goto(f"/electricity/{NUMBER}")
    page.get_by_role("link", name="Payments", exact=True).click()
    page.wait_for_url(f"**/electricity/{NUMBER}/payments")
    page.wait_for_function("() => document.activeElement.id === 'debt-title'", timeout=2000)
    assert page.evaluate("window.scrollY") == 0
    tabs = page.locator("nav.tabs").bounding_box()
    assert tabs["y"] >= 0
    # The filter still takes focus to what it changed: the count of payments.
    page.get_by_role("button", name="Show").click()
    page.wait_for_function(
        "() => document.activeElement.classList.contains('totals')", timeout=2000
    )


@pytest.mark.parametrize("browser_context_options", [{"viewport": {"width": 700, "height": 390}}])
def test_a_large_debt_on_a_phone_held_sideways_in_hungarian(app, page, make_user, ledger):
    """Seven-digit amounts, in Hungarian, on a phone held sideways (700 px): the contracts,
    the payments and the statement are cards, as none fits as a table (the contracts took
    740 px with four-digit amounts, with the debt's column out of sight); an invoice's number
    is on one line wherever a sentence or a list names it (it broke at its hyphens)."""
    with app.app_context():
        today = local_today()
    contract = ledger.contract(NUMBER, account_id=make_user())
    ledger.add(
        ledger.document(
            contract, "INV-2026-0000281", today - timedelta(40), today - timedelta(12), "2383244.00"
        ),
        ledger.payment(contract, today - timedelta(5), "1180514.00", "PO 9248 INV-2026-0000281"),
    )
    sign_in(page)
    page.get_by_label("Language").select_option("hu")
    page.locator(".language-form button").click()
    page.wait_for_load_state()
    for url, name, cell in [
        ("/electricity", "Szerződések", "td.debt"),
        (f"/electricity/{NUMBER}/payments", "Befizetések", ".shares li"),
        (f"/electricity/{NUMBER}/statement", "Egyeztető kimutatás", "tbody td.stack-title"),
    ]:
        page.goto(url)
        region = page.locator(f'.table-wrap[aria-label="{name}"]')
        assert region.evaluate("e => e.scrollWidth <= e.clientWidth"), url
        assert text_lines(region.locator(cell).first, "INV-2026-0000281") == 1, url
