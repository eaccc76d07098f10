"""In Chromium: a customer sends the readings of all meters on one page, with and without
JavaScript and on a phone; the page passes axe-core."""

from __future__ import annotations

import pytest

from tests.browser.test_contracts import sign_in
from tests.conftest import axe_violations
from tests.web import test_readings as readings

# The Readings tab's data and clock (pytest finds fixtures by these module-level names).
now, setup = readings.now, readings.setup

pytestmark = pytest.mark.sqlite_only


def meter(page, serial):
    return page.locator("fieldset").filter(has_text=f"Meter {serial}")


def fill_and_send(page, t1):
    meter(page, "SN-2Z").get_by_label("T1 day").fill(t1)
    meter(page, "SN-2Z").get_by_label("T2 night").fill("1090")
    meter(page, "SN-CT").get_by_label("T1").fill("5")
    page.get_by_role("button", name="Submit readings").click()


def send_all_meters(page, axe=True):
    sign_in(page, "ann@example.com")
    page.wait_for_url("**/")
    page.goto("/readings")

    fill_and_send(page, "2000")  # below October's 2,100: nothing is stored
    summary = page.get_by_role("alert").filter(has_text="Nothing was saved.")
    summary.wait_for()
    assert "Meter SN-2Z (contract EL-0000042)" in summary.inner_text()
    assert meter(page, "SN-CT").get_by_label("T1").input_value() == "5"
    if axe:  # axe-core is a script: it cannot run with JavaScript off
        assert axe_violations(page) == [], "the page with its messages"

    meter(page, "SN-2Z").get_by_label("T1 day").fill("2180")
    page.get_by_role("button", name="Submit readings").click()
    page.get_by_text("Readings of 2 meters received.").wait_for()
    assert page.url.endswith("/readings")
    assert (
        meter(page, "SN-2Z")
        .get_by_text("Received for November 2026: T1 day: 2,180, T2 night: 1,090.")
        .is_visible()
    )
    assert meter(page, "SN-CT").get_by_text("Received for November 2026: T1: 5.").is_visible()


def test_all_meters_at_once(page, setup):
    send_all_meters(page)


def test_the_refusal_takes_focus_where_it_is_announced(page, setup):
    sign_in(page, "ann@example.com")
    page.wait_for_url("**/")
    page.goto("/readings")
    fill_and_send(page, "2000")
    page.get_by_text("Nothing was saved.").wait_for()
    page.wait_for_function("() => document.activeElement !== document.body")
    assert page.evaluate("document.activeElement.className") == "error-summary"


@pytest.mark.parametrize("browser_context_options", [{"java_script_enabled": False}])
def test_all_meters_at_once_without_javascript(page, setup):
    send_all_meters(page, axe=False)


@pytest.mark.parametrize("browser_context_options", [{"viewport": {"width": 390, "height": 844}}])
def test_all_meters_fit_a_phone(page, setup):
    """No sideways scrolling; each contract's address is on a line of its own under its
    number (run on after it, it wrapped mid-address: "…szerződés 3 / Station Road")."""
    sign_in(page, "ann@example.com")
    page.wait_for_url("**/")
    page.goto("/readings")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "no horizontal scroll"
    heading = page.get_by_role("heading", name="Contract EL-0000042")
    assert heading.evaluate(
        """h => { const r = document.createRange(); r.selectNodeContents(h.firstChild);
                  return h.querySelector('.muted').getClientRects()[0].top
                      >= r.getBoundingClientRect().bottom - 1; }"""
    )
    assert axe_violations(page) == []
