"""The Electricity and back-office contract pages pass the Nu HTML checker and axe-core."""

from __future__ import annotations

from datetime import date

import pytest

from lkapp.electricity import services
from lkapp.extensions import db
from lkapp.models import Contract, Meter, User, utcnow
from tests.conftest import TEST_PASSWORD, axe_violations, check_fragment

pytestmark = pytest.mark.sqlite_only
NUMBER = "EL-0000042"


@pytest.fixture
def setup(app, make_user):
    """Ann with one contract (and a meter), a free contract with a code, a staff operator."""
    ann = make_user()
    make_user(email="op@example.org", role="staff")
    with app.app_context():
        mine = Contract(
            number=NUMBER,
            holder_name="Tisza Bakery Kft.",
            tax_id="12345678-2-42",
            address="Budapest, Fő utca 1.",
            account_id=ann,
            attached_at=utcnow(),
        )
        free = Contract(number="EL-0000043", holder_name="Free Kft.", tax_id="1", address="Pécs")
        db.session.add_all([mine, free])
        db.session.flush()
        db.session.add(
            Meter(contract_id=mine.id, serial="M-1", zones="T1,T2", installed_on=date(2020, 1, 1))
        )
        services.issue_code(mine, issued_by=db.session.get(User, ann))
        db.session.commit()


def test_customer_pages_are_valid_html(client, html_checker, setup, auth):
    auth.login()
    for url in (
        "/electricity",
        "/electricity/add",
        f"/electricity/{NUMBER}",
        f"/electricity/{NUMBER}/documents",
        f"/electricity/{NUMBER}/detach",
    ):
        html_checker(client.get(url).text, url)
    for url in ("/electricity", "/electricity/add", f"/electricity/{NUMBER}/readings"):
        check_fragment(html_checker, client.htmx("GET", url).text, url + " (fragment)")
    errors = client.htmx("POST", "/electricity/add", data={"number": "X", "code": "AAAA"})
    check_fragment(html_checker, errors.text, "add form with errors")
    wrong = client.post("/electricity/add", data={"number": "X", "code": "AAAA-AAAA-AAAA"})
    html_checker(wrong.text, "add page with a problem")


def test_staff_pages_are_valid_html(client, html_checker, setup, auth):
    auth.login(email="op@example.org")
    for url in ("/staff/contracts", "/staff/contracts?q=kft", f"/staff/contracts/{NUMBER}"):
        html_checker(client.get(url).text, url)
    check_fragment(html_checker, client.htmx("GET", "/staff/contracts?q=k").text, "results")
    issued = client.post("/staff/contracts/EL-0000043/codes", data={"received_by": "holder"})
    html_checker(issued.text, "code issued page")
    fragment = client.htmx(
        "POST", "/staff/contracts/EL-0000043/codes", data={"received_by": "holder"}
    )
    check_fragment(html_checker, fragment.text, "code issued fragment")
    code = fragment.text.split("<code>")[1].split("</code>")[0]
    slip = client.post("/staff/contracts/EL-0000043/slip", data={"code": code})
    html_checker(slip.text, "print view")
    errors = client.htmx(
        "POST", "/staff/contracts/EL-0000043/codes", data={"received_by": "representative"}
    )
    check_fragment(html_checker, errors.text, "issue form with errors")


@pytest.mark.parametrize(
    "browser_context_options", [{}, {"viewport": {"width": 390, "height": 844}}]
)
def test_contract_pages_pass_axe(page, setup):
    page.goto("/login")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    for url in ("/electricity", f"/electricity/{NUMBER}"):
        page.goto(url)
        assert axe_violations(page) == [], url
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{url}: no horizontal scroll on the page"
    page.goto("/electricity")
    page.get_by_role("link", name="Add contract").click()
    page.get_by_role("button", name="Add").click()
    page.get_by_text("Enter the contract number.").wait_for()
    assert axe_violations(page) == [], "add form with errors"
