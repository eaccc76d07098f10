"""The shell's pages pass the W3C Nu HTML checker and axe-core (no serious/critical issues)."""

import pytest

from tests.conftest import axe_violations, check_fragment

pytestmark = pytest.mark.sqlite_only


def test_public_pages_are_valid_html(client, html_checker):
    for url in ("/", "/login", "/no-such-page"):
        html_checker(client.get(url).get_data(as_text=True), url)
    errors = client.htmx("POST", "/login", data={"email": "", "password": ""})
    check_fragment(html_checker, errors.get_data(as_text=True), "login errors fragment")


def test_staff_page_is_valid_html(client, html_checker, make_user, auth):
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    html_checker(client.get("/staff/").get_data(as_text=True), "/staff/")


@pytest.mark.parametrize(
    "browser_context_options", [{}, {"viewport": {"width": 390, "height": 844}}]
)
def test_public_pages_pass_axe(page):
    for url in ("/", "/login"):
        page.goto(url)
        assert axe_violations(page) == [], url
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Enter your email.").wait_for()
    assert axe_violations(page) == [], "login with errors"
