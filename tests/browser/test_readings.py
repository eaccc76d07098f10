"""In Chromium: a customer sends the readings of a two-zone meter and sees them in the history
and the chart; the same without JavaScript; the pages pass the HTML checker and axe-core."""

from __future__ import annotations

import pytest

from tests.browser.test_contracts import sign_in
from tests.conftest import axe_violations, card_cells, check_fragment, sideways_tables
from tests.web import test_readings as readings
from tests.web.test_readings import NUMBER

# The Readings tab's data and clock (pytest finds fixtures by these module-level names).
now, setup = readings.now, readings.setup

pytestmark = pytest.mark.sqlite_only
TAB = f"/electricity/{NUMBER}/readings"


def open_tab(page):
    sign_in(page, "ann@example.com")
    page.wait_for_url("**/")
    page.goto(f"/electricity/{NUMBER}")
    page.locator(".tabs").get_by_role("link", name="Readings").click()
    page.wait_for_url(f"**{TAB}")
    page.get_by_role("heading", name="Meter SN-2Z").wait_for()


def meter_form(page):
    return page.locator("form.reading-form").filter(has_text="T2 night")


def test_customer_submits_a_two_zone_meter_and_sees_history_and_chart(page, setup):
    open_tab(page)
    form = meter_form(page)

    # A value below the last one is refused in place, the other value kept.
    form.get_by_label("T1 day").fill("2000")
    form.get_by_label("T2 night").fill("1090")
    form.get_by_role("button", name="Submit readings").click()
    page.get_by_text("This is below the last accepted reading, 2,100 for October 2026.").wait_for()
    assert meter_form(page).get_by_label("T2 night").input_value() == "1090"

    meter_form(page).get_by_label("T1 day").fill("2180")
    meter_form(page).get_by_role("button", name="Submit readings").click()
    page.wait_for_url("**/readings/meters/*/2026-11")
    page.get_by_text("Readings received. A confirmation is on its way to your email.").wait_for()
    receipt = page.locator(".receipt")
    assert "Receipt: meter SN-2Z, November 2026" in receipt.inner_text()
    assert "2,180" in receipt.inner_text() and "1,090" in receipt.inner_text()

    page.get_by_role("link", name="Back to readings").click()
    page.wait_for_url(f"**{TAB}")
    history = page.locator("table.readings-history").first
    history.wait_for()
    november = history.locator("tbody tr").first
    assert november.locator("th, td").all_inner_texts()[:5] == [
        "November 2026",
        "2,180",
        "80",
        "1,090",
        "40",
    ]

    # The chart has November's bars; its figures are in the table under it.
    chart = page.locator("svg.chart").first
    assert chart.is_visible()
    titles = chart.locator("rect.bar title").all_text_contents()
    assert "T1 day, November 2026: 80 kWh" in titles
    assert "T2 night, November 2026: 40 kWh" in titles
    page.get_by_text("The chart's figures as a table").first.click()
    assert page.get_by_role("row", name="November 2026 80 40").first.is_visible()


@pytest.mark.parametrize("browser_context_options", [{"java_script_enabled": False}])
def test_readings_work_without_javascript(page, setup):
    open_tab(page)
    form = meter_form(page)
    form.get_by_label("T1 day").fill("2500")
    form.get_by_label("T2 night").fill("1090")
    form.get_by_role("button", name="Submit readings").click()
    page.get_by_text("That is 400 kWh, over 3 times the average of 100 kWh a month.").wait_for()
    # The answer is a whole page: it opens at the field and its message, not at the top.
    t1 = meter_form(page).get_by_label("T1 day")
    assert t1.evaluate("input => input === document.activeElement")
    top = t1.evaluate("input => input.getBoundingClientRect().top")
    assert 0 <= top < page.viewport_size["height"], top
    meter_form(page).get_by_label("I have checked the reading").check()
    meter_form(page).get_by_role("button", name="Submit readings").click()
    page.wait_for_url("**/readings/meters/*/2026-11")
    assert "2,500" in page.locator(".receipt").inner_text()


@pytest.mark.parametrize("browser_context_options", [{"viewport": {"width": 390, "height": 844}}])
def test_on_a_phone_a_month_of_history_is_one_card(page, setup):
    """A month of the history is one card: the month on top, then each zone's reading beside
    its kWh under their names, then how and when it came; nothing runs off the screen."""
    open_tab(page)
    cells = card_cells(page, "table.readings-history tbody tr:first-child")
    assert all(c["left"] >= 0 and c["right"] <= 390 for c in cells), cells
    month, t1, t1_kwh, t2, t2_kwh, source, received, status = cells
    assert month["text"] == "October 2026" and month["top"] < t1["top"]
    assert [(c["label"].strip('"'), c["text"]) for c in (t1, t1_kwh, t2, t2_kwh)] == [
        ("T1 day", "2,100"),
        ("kWh", "100"),
        ("T2 night", "1,050"),
        ("kWh", "50"),
    ]
    assert t1_kwh["top"] == t1["top"] and t1_kwh["left"] > t1["right"]
    assert t2["top"] > t1["top"] and t2_kwh["top"] == t2["top"]
    assert (source["text"], status["text"]) == ("import", "accepted")
    assert min(source["top"], received["top"], status["top"]) > t2["top"]


@pytest.mark.parametrize("browser_context_options", [{"viewport": {"width": 390, "height": 844}}])
def test_on_a_phone_the_small_tables_stay_tables(page, setup):
    """The last readings and the chart's figures stay tables on a phone, a line per zone or
    month under the columns' names (as cards, the chart's 24 months of three zones were
    3,400 px tall in Hungarian, and each zone repeated "Last accepted reading")."""

    def one_line(row):
        tops = row.locator("th, td").evaluate_all(
            "cells => cells.map(c => Math.round(c.getBoundingClientRect().top))"
        )
        return len(set(tops)) == 1

    open_tab(page)
    last = page.get_by_role("region", name="Last accepted readings of meter SN-2Z")
    t1 = last.get_by_role("row", name="T1 day")
    assert t1.locator("th, td").all_inner_texts() == ["T1 day", "2,100", "October 2026"]
    assert one_line(t1) and last.get_by_role("columnheader", name="Month").is_visible()

    page.get_by_text("The chart's figures as a table").first.click()
    figures = page.locator("details.chart-data").first
    october = figures.get_by_role("row", name="October 2026")
    assert october.locator("th, td").all_inner_texts() == ["October 2026", "100", "50"]
    assert one_line(october) and figures.get_by_role("columnheader", name="T2 night").is_visible()
    assert sideways_tables(page) == []


def chart_axes(page) -> dict:
    """The first chart's visible axis labels as drawn: text, size on screen (px) and box,
    the months (hung under the plot) apart from the values."""
    return page.locator("svg.chart").first.evaluate(
        """svg => {
            const box = svg.getBoundingClientRect(), scale = box.width / svg.viewBox.baseVal.width;
            const labels = [...svg.querySelectorAll("text")]
                .filter(t => getComputedStyle(t).display !== "none")
                .map(t => { const r = t.getBoundingClientRect(); return {
                    text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * scale,
                    inside: r.left >= box.left && r.right <= box.right
                        && r.top >= box.top && r.bottom <= box.bottom,
                    left: r.left, right: r.right,
                    month: t.getAttribute("dominant-baseline") === "hanging"}; });
            return {months: labels.filter(l => l.month), values: labels.filter(l => !l.month)};
        }"""
    )


@pytest.mark.parametrize("browser_context_options", [{"viewport": {"width": 320, "height": 640}}])
def test_on_the_smallest_phone_in_hungarian_the_tab_fits(page, setup):
    """At 320 px, in Hungarian (long words), the tables that stay tables need no scrolling,
    and the chart's labels can be read: the chart is drawn at 0.4 of its size there, and its
    11-unit labels were 4.4 px tall. Every sixth month is labelled instead of every third."""
    open_tab(page)
    page.get_by_label("Language").select_option("hu")
    page.get_by_role("button", name="Change").click()
    page.get_by_role("heading", name="SN-2Z gyári számú mérő").wait_for()
    page.locator("details.chart-data summary").first.click()
    assert page.get_by_role("columnheader", name="Utolsó elfogadott mérőállás").first.is_visible()
    assert sideways_tables(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") == 320

    axes = chart_axes(page)
    months, values = axes["months"], axes["values"]
    assert [label["text"] for label in values] == ["0", "25", "50", "75", "100"]
    assert len(months) == 4 and months[-1]["text"] == "2026. 11."
    assert all(label["px"] >= 10 and label["inside"] for label in months + values)
    assert all(a["right"] < b["left"] for a, b in zip(months, months[1:], strict=False))


@pytest.mark.parametrize("browser_context_options", [{"viewport": {"width": 1280, "height": 900}}])
def test_on_a_laptop_in_russian_the_readings_tables_fit(page, setup):
    """Russian has the longest words: on a 1280 px screen every table of the tab is read
    without scrolling sideways (the last readings in their card lost their month and time).
    The language is changed on the tab, opened in place: the customer stays on it."""
    open_tab(page)
    page.get_by_label("Language").select_option("ru")
    page.get_by_role("button", name="Change").click()
    page.get_by_role("heading", name="Счётчик SN-2Z").wait_for()
    assert page.url.endswith(TAB)
    assert page.locator("table.readings-history").count() == 1
    assert sideways_tables(page) == []


def test_readings_pages_are_valid_and_accessible(
    page, client, auth, setup, make_user, html_checker
):
    auth.login()
    html_checker(client.get(TAB).text, TAB)
    check_fragment(html_checker, client.htmx("GET", TAB).text, "readings tab (fragment)")
    url = f"{TAB}/meters/{setup['two']}"
    errors = client.post(url, data={"T1": "2500", "T2": "x"})
    html_checker(errors.text, "readings tab with errors")
    fragment = client.htmx("POST", url, data={"T1": "2500", "T2": "1090"})
    check_fragment(html_checker, fragment.text, "form asking for confirmation")
    client.post(url, data={"T1": "2150", "T2": "1090"})
    html_checker(client.get(f"{url}/2026-11").text, "receipt")

    make_user(email="op@example.org", role="staff")
    auth.logout()
    auth.login(email="op@example.org")
    for staff_url in (
        "/staff/readings/",
        f"/staff/readings/?q={NUMBER}",
        f"/staff/readings/meters/{setup['two']}",
    ):
        html_checker(client.get(staff_url).text, staff_url)
    bad = client.post("/staff/readings/export", data={"period": "x"})
    html_checker(bad.text, "export with a bad month")

    open_tab(page)
    assert axe_violations(page) == []
