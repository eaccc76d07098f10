"""In Chromium: the Documents tab's filters and pager swap in place and keep the address in
step (back works), the same with JavaScript off, the document page prints cleanly, and the
pages pass the Nu HTML checker and axe-core."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from lkapp.extensions import db
from lkapp.models import Contract
from lkapp.services import pdf as pdf_service
from tests.browser.test_contracts import sign_in
from tests.conftest import axe_violations, card_cells, check_fragment, sideways_tables
from tests.web.test_documents import NUMBER, add_contract, add_document, monthly_documents

pytestmark = pytest.mark.sqlite_only
D = Decimal
TAB = f"/electricity/{NUMBER}/documents"


@pytest.fixture
def setup(app, make_user, tmp_path):
    app.instance_path = str(tmp_path)
    pdf_service.clear_cache()
    ann = make_user()
    with app.app_context():
        contract = add_contract(account_id=ann)
        monthly_documents(contract, years=3)
        add_document(
            contract, "INV-BAD", issued_on=date(2019, 3, 1), period=date(2019, 2, 1), net=D("1.00")
        )
        db.session.commit()


def text_lines(locator, part: str | None = None) -> int:
    """How many lines of the screen the element's own text takes (not its card label), or
    the words ``part`` of it."""
    return locator.evaluate(
        """(e, part) => { const r = document.createRange(); r.selectNodeContents(e);
            if (part) {
                const walk = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
                let n; while ((n = walk.nextNode()) && !n.data.includes(part));
                const at = n.data.indexOf(part); r.setStart(n, at); r.setEnd(n, at + part.length);
            }
            return new Set([...r.getClientRects()].filter(x => x.width)
                .map(x => Math.round(x.top))).size; }""",
        part,
    )


@pytest.mark.parametrize(
    ("browser_context_options", "language"),
    [
        ({"viewport": {"width": 1280, "height": 800}}, "hu"),
        ({"viewport": {"width": 1280, "height": 800}}, "ru"),
        ({"viewport": {"width": 1180, "height": 820}}, "hu"),
        ({"viewport": {"width": 820, "height": 1180}}, "hu"),
        ({"viewport": {"width": 700, "height": 390}}, "hu"),
    ],
    ids=["laptop-hu", "laptop-ru", "ipad-air-sideways-hu", "tablet-hu", "phone-sideways-hu"],
)
def test_every_column_of_the_documents_is_in_sight(app, page, setup, language):
    """A large customer's invoice (seven-digit amounts): on a laptop (1280 px) the ten columns
    fit in the two longer languages; on an iPad Air held sideways (1180 px, the table was
    1,161 px in its 1,146 in Hungarian with four-digit amounts), a tablet (820 px) and a phone
    held sideways (700 px) each document is a card. The status of each document is in sight
    without scrolling sideways, so are the totals' columns, and an amount is on one line."""
    with app.app_context():
        contract = db.session.scalar(db.select(Contract).filter_by(number=NUMBER))
        big = ((D("2383244.00"), D("9000000"), D("0.26481")),)
        add_document(contract, "INV-2019-0000281", issued_on=date(2019, 4, 5), lines=big)
        db.session.commit()
    sign_in(page, "ann@example.com")
    page.wait_for_url("**/")
    page.get_by_label("Language").select_option(language)
    page.locator(".language-form button").click()
    page.wait_for_load_state()
    page.goto(TAB)
    page.locator("table.documents").wait_for()
    assert sideways_tables(page) == []
    first = page.locator("table.documents tbody tr").first
    status = first.locator("td:last-child")
    box, width = status.bounding_box(), page.viewport_size["width"]
    assert status.inner_text() and box["x"] + box["width"] <= width
    total = first.locator("td.num").last
    assert total.inner_text().startswith("3") and text_lines(total) == 1


@pytest.mark.parametrize("browser_context_options", [{"viewport": {"width": 390, "height": 844}}])
def test_on_a_phone_each_document_is_a_card_that_names_its_figures(page, setup):
    """In Hungarian, the longest of the three languages: no column is out of sight, and each
    figure stands under its column's name."""
    sign_in(page, "ann@example.com")
    page.wait_for_url("**/")
    page.get_by_label("Language").select_option("hu")
    page.get_by_role("button", name="Change").click()
    page.wait_for_load_state()
    page.goto(TAB)
    region = page.locator("#document-results").get_by_role(
        "region", name="Dokumentumok", exact=True
    )
    assert region.evaluate("e => e.scrollWidth <= e.clientWidth")
    cells = card_cells(page, "table.documents tbody tr:first-child")
    assert all(c["left"] >= 0 and c["right"] <= 390 for c in cells), cells
    labels = {c["label"].strip('"'): c["text"] for c in cells if c["label"] != "none"}
    assert labels["Bruttó"] == "1,27\xa0EUR" and labels["Nettó"] == "1,00\xa0EUR", labels
    assert labels["Típus"] == "Számla" and labels["Állapot"], labels
    number = next(c for c in cells if c["label"] == "none")
    assert number["text"].startswith("INV-") and number["top"] < min(
        c["top"] for c in cells if c is not number
    )


def test_filters_and_pager_swap_in_place_and_back_works(page, setup):
    sign_in(page, "ann@example.com")
    page.wait_for_url("**/")
    page.goto(TAB)
    results = page.locator("#document-results")
    results.get_by_text("73 documents in all.").wait_for()
    # on a laptop the filters are unfolded, with nothing to unfold them by
    assert not results.get_by_text("Filter documents").is_visible()
    page.get_by_label("Kind").select_option("vat_invoice")
    page.get_by_label("Period from").fill("2017-01")
    page.get_by_label("Period to").fill("2017-06")
    page.get_by_role("button", name="Show").click()
    results.get_by_text("6 documents match these filters.").wait_for()
    assert "kind=vat_invoice" in page.url and "period_from=2017-01" in page.url
    assert page.locator("header.site-header").count() == 1  # swapped in place, no reload
    assert results.locator("table.documents tbody tr").count() == 6

    page.get_by_role("link", name="Clear filters").click()
    results.get_by_text("73 documents in all.").wait_for()
    page.locator(".pager").get_by_role("link", name="Next").click()
    results.get_by_text("Page 2 of 4").wait_for()
    assert "page=2" in page.url

    page.go_back()
    page.wait_for_url(f"**{TAB}")
    page.locator("#document-results").get_by_text("Page 1 of 4").wait_for()
    page.go_back()
    page.wait_for_url("**kind=vat_invoice**")
    page.locator("#document-results").get_by_text("6 documents match these filters.").wait_for()

    page.get_by_role("link", name="VAT-2017-06").click()
    page.wait_for_url("**/documents/vat_invoice/VAT-2017-06")
    assert page.get_by_role("button", name="Print").is_visible()
    page.emulate_media(media="print")
    assert not page.locator("header.site-header").is_visible()
    assert not page.get_by_role("button", name="Print").is_visible()
    assert page.locator("#document-title").is_visible()
    assert page.locator("table.lines").is_visible()


@pytest.mark.parametrize("browser_context_options", [{"java_script_enabled": False}])
def test_filters_work_without_javascript(page, setup):
    sign_in(page, "ann@example.com")
    page.wait_for_url("**/")
    page.goto(TAB)
    page.get_by_label("Payment status").select_option("overdue")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**status=overdue**")
    # the last three invoices are unpaid and long due, their VAT invoices show it; and INV-BAD
    page.get_by_text("7 documents match these filters.").wait_for()
    page.goto(f"{TAB}/invoice/INV-2018-12")
    assert not page.get_by_role("button", name="Print").is_visible()  # needs JavaScript
    page.get_by_text("To print, use your browser's Print command.").wait_for()


def test_document_pages_are_valid_html(client, html_checker, setup, auth):
    auth.login()
    for url in (
        TAB,
        f"{TAB}?kind=invoice&period_from=2017-13&status=x",
        f"{TAB}/invoice/INV-2017-05",
        f"{TAB}/vat_invoice/VAT-2017-05",
        f"{TAB}/invoice/INV-BAD",
        f"/electricity/{NUMBER}/statement",
        f"/electricity/{NUMBER}/statement?start=2017-01-01&end=2016-01-01",
    ):
        html_checker(client.get(url).text, url)
    check_fragment(
        html_checker,
        client.htmx("GET", TAB + "?page=2", headers={"HX-Target": "document-results"}).text,
        "results fragment",
    )
    check_fragment(html_checker, client.htmx("GET", TAB).text, "tab fragment")


def test_document_pages_pass_axe(page, setup):
    sign_in(page, "ann@example.com")
    page.wait_for_url("**/")
    for url in (TAB, f"{TAB}/invoice/INV-2017-05", f"/electricity/{NUMBER}/statement"):
        page.goto(url)
        assert axe_violations(page) == [], url


PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize(
    "browser_context_options",
    [{"viewport": PHONE}, {"viewport": PHONE, "java_script_enabled": False}],
    ids=["htmx", "no-javascript"],
)
def test_on_a_phone_the_first_document_is_on_the_first_screen(page, setup):
    """The four filters fold away until one is set: the first document is in sight at once
    (it was at y=970). Unfolded, every filter keeps its label and works; once one is set
    the filters stay unfolded, with a way to clear them."""
    sign_in(page, "ann@example.com")
    page.wait_for_url("**/")
    page.goto(TAB)
    first = page.locator("table.documents tbody tr").first
    box = first.bounding_box()
    assert box["y"] + 60 <= PHONE["height"], box
    assert first.get_by_role("link", name="INV-BAD").is_visible()
    assert not page.get_by_label("Kind").is_visible()

    page.get_by_text("Filter documents").click()
    page.get_by_label("Kind").select_option("vat_invoice")
    page.get_by_label("Period from").fill("2017-01")
    page.get_by_label("Period to").fill("2017-06")
    assert page.get_by_label("Payment status").is_visible()
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**kind=vat_invoice**")
    page.get_by_text("6 documents match these filters.").wait_for()
    assert page.get_by_label("Period from").input_value() == "2017-01"
    assert page.get_by_role("link", name="Clear filters").is_visible()
    page.get_by_role("link", name="Clear filters").click()
    page.get_by_text("73 documents in all.").wait_for()
    assert not page.get_by_label("Kind").is_visible()

    # The document's total: one rule across its card, above "Total" and the amount (on the
    # cells it was two, the second between the two).
    page.goto(f"{TAB}/invoice/INV-2017-05")
    rules = page.locator("table.lines tr.grand-total").evaluate(
        "row => [row, ...row.children].map(e => getComputedStyle(e).borderTopWidth)"
    )
    assert rules == ["2px", "0px", "0px"], rules
