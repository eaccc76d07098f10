"""The account pages pass the W3C Nu HTML checker and axe-core (no serious/critical issues)."""

import re

import pytest

from tests.conftest import TEST_TOTP_SECRET, axe_violations, check_fragment

pytestmark = pytest.mark.sqlite_only


def test_public_account_pages_are_valid_html(app, client, html_checker, make_user, captcha_solver):
    make_user()
    for url in (
        "/register",
        "/register/done",
        "/forgot-password",
        "/forgot-password/sent",
        "/confirm/not-a-token",
        "/reset-password/not-a-token",
    ):
        html_checker(client.get(url).get_data(as_text=True), url)
    errors = client.htmx("POST", "/register", data={"email": "x", "password": "y"})
    check_fragment(html_checker, errors.get_data(as_text=True), "register errors")
    forgot = client.htmx("POST", "/forgot-password", data={"email": "", "captcha": "x"})
    check_fragment(html_checker, forgot.get_data(as_text=True), "forgot errors")
    check_fragment(
        html_checker, client.htmx("GET", "/captcha/new").get_data(as_text=True), "captcha"
    )
    for _ in range(5):
        failed = client.post("/login", data={"email": "ann@example.com", "password": "wrong one!"})
    html_checker(failed.get_data(as_text=True), "sign-in with captcha")


def test_signed_in_account_pages_are_valid_html(app, client, html_checker, make_user, auth):
    make_user(confirmed=False)
    auth.login()
    for url in (
        "/",
        "/confirm",
        "/profile",
        "/profile/password",
        "/profile/email",
        "/profile/sessions",
        "/profile/two-factor",
        "/profile/two-factor/setup",
        "/profile/close",
    ):
        html_checker(client.get(url).get_data(as_text=True), url)
    errors = client.htmx("POST", "/profile/password", data={"current_password": ""})
    check_fragment(html_checker, errors.get_data(as_text=True), "password errors")
    errors = client.htmx("POST", "/profile/close", data={"current_password": ""})
    check_fragment(html_checker, errors.get_data(as_text=True), "close account errors")


def test_two_factor_pages_are_valid_html(app, client, html_checker, make_user):
    make_user(totp_secret=TEST_TOTP_SECRET)
    client.post(
        "/login", data={"email": "ann@example.com", "password": "correct horse battery staple"}
    )
    html_checker(client.get("/login/two-factor").get_data(as_text=True), "second step")


@pytest.mark.parametrize(
    "browser_context_options", [{}, {"viewport": {"width": 390, "height": 844}}]
)
def test_account_pages_pass_axe(page, make_user):
    make_user()
    for url in ("/register", "/forgot-password"):
        page.goto(url)
        assert axe_violations(page) == [], url
    page.goto("/register")
    page.get_by_role("button", name="Register").click()
    page.get_by_text("Enter your email.").wait_for()
    assert axe_violations(page) == [], "register with errors"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0

    page.goto("/login")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password", exact=True).fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/$"))
    for url in ("/profile", "/profile/sessions", "/profile/two-factor/setup", "/profile/close"):
        page.goto(url)
        assert axe_violations(page) == [], url


@pytest.mark.parametrize("browser_context_options", [{"viewport": {"width": 390, "height": 844}}])
def test_on_a_phone_the_profile_is_within_reach(page, make_user):
    """In Russian (the longest words): the profile's sections wrap instead of running off the
    screen, the language list is a tap target, and every checkbox is the same size."""
    make_user(locale="ru")
    page.goto("/login")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password", exact=True).fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/$"))
    page.goto("/profile")
    sections = page.get_by_role("navigation", name="Профиль")
    assert sections.locator(".wrap").evaluate("row => row.scrollWidth <= row.clientWidth")
    rights = sections.get_by_role("link").evaluate_all(
        "links => links.map(a => a.getBoundingClientRect().right)"
    )
    assert max(rights) <= 390, rights
    assert page.locator("#language-select").bounding_box()["height"] >= 40
    widths = page.locator(".check input").evaluate_all(
        "boxes => boxes.map(b => Math.round(b.getBoundingClientRect().width))"
    )
    assert len(widths) >= 2 and len(set(widths)) == 1, widths
