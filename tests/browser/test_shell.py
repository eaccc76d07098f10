"""The shell in real Chromium: htmx loads under the CSP, forms swap in place, JS-off works."""

import pyotp
import pytest

from tests.conftest import TEST_TOTP_SECRET

pytestmark = pytest.mark.sqlite_only


def test_sign_in_form_swaps_errors_in_place_then_signs_in(page, make_user):
    make_user(email="op@example.org", role="staff")
    page.goto("/login")
    assert page.evaluate("typeof htmx") == "object", "htmx loaded from static/vendor"
    page.get_by_label("Email").fill("op@example.org")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    error = page.get_by_text("Wrong email or password.")
    error.wait_for()
    assert page.get_by_label("Email").input_value() == "op@example.org"
    assert page.get_by_label("Password").input_value() == ""

    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Authentication code").fill(pyotp.TOTP(TEST_TOTP_SECRET).now())
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/staff/")
    assert page.get_by_role("heading", name="Back office").is_visible()


@pytest.mark.parametrize("browser_context_options", [{"java_script_enabled": False}])
def test_language_switch_works_without_javascript(page):
    page.goto("/")
    page.get_by_label("Language").select_option("hu")
    page.get_by_role("button", name="Change").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "hu"


@pytest.mark.parametrize("browser_context_options", [{"viewport": {"width": 390, "height": 844}}])
def test_phone_viewport_has_no_horizontal_scroll(page):
    page.goto("/")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
