"""In Chromium, a bakery accountant's first day with two contracts: what the pages must make
clear to someone who has never seen a utility's portal.

The overdue invoice is one tap from "please pay" (its page has the bank details), a day
overdue reads as one day, the CT ratio is explained where it is shown, recovery codes are
never broken across two lines, and the breadcrumbs are big enough to tap on a phone.
"""

from __future__ import annotations

from datetime import date, timedelta

import pyotp
import pytest

from lkapp.electricity.services import local_today
from lkapp.extensions import db
from lkapp.models import Meter
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.sqlite_only

SHOP, OVEN = "EL-0000101", "EL-0000102"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
LAPTOP = {"viewport": {"width": 1280, "height": 800}}
CT_HELP = "CT ratio: consumption is the difference between two readings times this number"


@pytest.fixture
def bakery(app, make_user, ledger):
    """Two contracts of one account: the shop's INV-LATE is overdue by one day; the oven's
    two-zone meter sits behind a current transformer of ratio 40."""
    with app.app_context():
        today = local_today()
    user = make_user()
    shop = ledger.contract(SHOP, account_id=user, address="Budapest, Fő utca 12.")
    oven = ledger.contract(OVEN, account_id=user, address="Budapest, Sütő utca 3.")
    with app.app_context():
        db.session.add(
            Meter(
                contract_id=oven,
                serial="SN-OVEN",
                zones="T1,T2",
                digits=6,
                ct_ratio=40,
                installed_on=date(2021, 3, 1),
            )
        )
        db.session.commit()
    ledger.add(
        ledger.document(shop, "INV-LATE", today - timedelta(20), today - timedelta(1), "100.00")
    )


def sign_in(page):
    page.goto("/login")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def opens_the_invoice_to_pay(page):
    page.wait_for_url(f"**/electricity/{SHOP}/documents/invoice/INV-LATE")
    details = page.locator("section, div", has=page.get_by_role("heading", name="Payment details"))
    assert "€100.00" in details.last.inner_text()


@pytest.mark.parametrize("browser_context_options", [PHONE])
def test_the_overdue_invoice_is_one_tap_from_the_debt(page, bakery):
    sign_in(page)
    page.goto("/")
    assert "Please pay it as soon as you can." in page.get_by_role("alert").inner_text()
    page.locator(".dashboard-contracts").get_by_role("link", name="INV-LATE").click()
    opens_the_invoice_to_pay(page)

    page.goto(f"/electricity/{SHOP}/payments")
    page.locator(".debt-block").get_by_role("link", name="INV-LATE").click()
    opens_the_invoice_to_pay(page)

    page.goto("/electricity")
    row = page.locator("#contracts tr", has_text=SHOP).inner_text()
    assert "since INV-LATE, 1 day" in row and "1 days" not in row


@pytest.mark.parametrize("browser_context_options", [PHONE])
def test_the_ct_ratio_is_explained_where_it_is_shown(page, bakery):
    sign_in(page)
    for tab in ("", "/readings"):
        page.goto(f"/electricity/{OVEN}{tab}")
        assert page.get_by_text("CT ratio", exact=True).first.is_visible()
        assert page.get_by_text(CT_HELP).is_visible(), tab


@pytest.mark.parametrize("browser_context_options", [PHONE, LAPTOP], ids=["phone", "laptop"])
def test_recovery_codes_are_never_broken_across_lines(page, bakery):
    sign_in(page)
    page.goto("/profile/two-factor/setup")
    secret = page.locator("code.secret").inner_text().replace(" ", "")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_label("Current password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Turn on").click()
    codes = page.locator(".codes code")
    codes.first.wait_for()
    assert codes.count() == 10
    lines = page.evaluate(
        "() => [...document.querySelectorAll('.codes code')].map(c => c.getClientRects().length)"
    )
    assert lines == [1] * 10, "a code is split over two lines"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("browser_context_options", [PHONE])
def test_breadcrumbs_are_big_enough_to_tap_on_a_phone(page, bakery):
    sign_in(page)
    page.goto(f"/electricity/{SHOP}/documents/invoice/INV-LATE")
    heights = page.evaluate(
        "() => [...document.querySelectorAll('.breadcrumbs a')]"
        ".map(a => a.getBoundingClientRect().height)"
    )
    assert len(heights) == 3 and min(heights) >= 24, heights
