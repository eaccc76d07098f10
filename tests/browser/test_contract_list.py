"""In Chromium: a customer with many contracts finds one in the Electricity list, with the
keyboard, with JavaScript off and on a phone; the page passes axe."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lkapp.electricity.services import local_today
from tests.conftest import TEST_PASSWORD, axe_violations

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def many(app, make_user, ledger):
    """Ann with twelve contracts, the odd ones in Szeged; EL-07 is overdue."""
    ann = make_user()
    ids = {}
    for n in range(1, 13):
        city = "Szeged, Kárász utca" if n % 2 else "Győr, Baross Gábor út"
        ids[n] = ledger.contract(
            f"EL-{n:02}", account_id=ann, holder_name=f"Napfény Pékség {n}", address=f"{city} {n}."
        )
    with app.app_context():
        today = local_today()
    ledger.add(ledger.document(ids[7], "INV-7", today - timedelta(20), today - timedelta(5), "30"))


def sign_in(page):
    page.goto("/login")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def listed(page) -> list[str]:
    return page.locator("#contracts tbody th a").all_inner_texts()


def test_finding_a_contract_with_the_keyboard(page, many):
    sign_in(page)
    page.goto("/electricity")
    page.get_by_label("Number, holder or address").focus()
    page.keyboard.type("szeged")
    page.keyboard.press("Tab")  # to "Show"
    page.keyboard.press("ArrowDown")  # "With overdue debt"
    page.keyboard.press("Tab")  # to the "Show" button
    page.keyboard.press("Enter")
    page.get_by_text("1 of 12 contracts matches.").wait_for()
    assert listed(page) == ["EL-07"]
    assert "q=szeged" in page.url and "show=overdue" in page.url, "the address follows"
    focused = page.evaluate("document.activeElement.getAttribute('role')")
    assert focused == "status", "focus moves to the answer, which is announced"
    assert page.get_by_label("Number, holder or address").input_value() == "szeged"
    assert axe_violations(page) == []

    page.get_by_role("link", name="Clear filters").click()
    page.get_by_text("12 contracts in your account.").wait_for()
    assert len(listed(page)) == 12 and page.url.endswith("/electricity")
    page.go_back()
    page.get_by_text("1 of 12 contracts matches.").wait_for()


@pytest.mark.parametrize("browser_context_options", [{"java_script_enabled": False}])
def test_finding_a_contract_without_javascript(page, many):
    sign_in(page)
    page.goto("/electricity")
    page.get_by_label("Number, holder or address").fill("győr 1")
    page.get_by_role("button", name="Show", exact=True).click()
    page.wait_for_url("**/electricity?q=*")
    assert listed(page) == ["EL-10", "EL-12"]
    assert page.get_by_text("Total of 2 contracts").is_visible()


@pytest.mark.parametrize("browser_context_options", [{"viewport": {"width": 390, "height": 844}}])
def test_the_list_and_its_search_fit_a_phone(page, many):
    sign_in(page)
    page.goto("/electricity?q=szeged")
    assert len(listed(page)) == 6
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "no horizontal scroll"
    assert axe_violations(page) == []
