"""In Chromium, the states a page came to have lately: a readings form sent after its month
passed (the Readings tab, all meters, the office), a form kept beside its note when its session
ended, the page that shows back what was typed without JavaScript, a contract list whose months
come in parts, the office's export with nothing new, and the mails' totals. Each is said where
it is seen (focus, alert), passes axe and the HTML checker, and fits a phone.
(tests/browser/test_expired_forms.py has the support reply's note and sending it again.)"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from lkapp.documents import services as document_services
from lkapp.extensions import db
from lkapp.models import Document, UserSession, utcnow
from tests.browser.test_contracts import sign_in
from tests.browser.test_staff_imports import sign_in_staff
from tests.conftest import axe_violations, check_fragment, text_of, wait_for
from tests.web import test_many_contracts as many
from tests.web import test_notify as notify
from tests.web import test_readings as readings
from tests.web.test_readings import NUMBER, set_now

# The Readings tab's data and clock (pytest finds fixtures by these module-level names).
now, setup, month_end_window = readings.now, readings.setup, readings.month_end_window

pytestmark = pytest.mark.sqlite_only

TAB = f"/electricity/{NUMBER}/readings"
PHONE = {"viewport": {"width": 390, "height": 844}}
NARROW = {"viewport": {"width": 320, "height": 640}}
MONTH_PASSED = (
    "This form was for February 2027; readings are now taken for March 2027. Check the values "
    "and send them again."
)


def focused(page) -> str:
    """The text of what has focus."""
    return page.evaluate("(document.activeElement || document.body).innerText.trim()")


def in_sight(page) -> bool:
    """Whether what has focus is on the screen."""
    return page.evaluate(
        """() => { const box = document.activeElement.getBoundingClientRect();
                   return box.top >= 0 && box.bottom <= window.innerHeight; }"""
    )


def sideways(page) -> int:
    """How far the page scrolls sideways (0: not at all)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def two_zone_form(page):
    return page.locator("form.reading-form").filter(has_text="T2 night")


def all_meters_field(page, serial: str, zone: str):
    return page.locator("fieldset").filter(has_text=f"Meter {serial}").get_by_label(zone)


# --- a readings form sent after its month passed ------------------------------------------


def send_the_tab_after_its_month(page, monkeypatch) -> None:
    """Sign in, open the Readings tab in February's last minutes, type the two-zone meter's
    readings and send them in March's first minute."""
    set_now(monkeypatch, readings.FEBRUARY_LAST_MINUTES)
    sign_in(page, "ann@example.com")
    page.wait_for_url("**/")
    page.goto(TAB)
    two_zone_form(page).get_by_label("T1 day").fill("2500")
    two_zone_form(page).get_by_label("T2 night").fill("1250")
    set_now(monkeypatch, readings.MARCH_FIRST_MINUTE)
    two_zone_form(page).get_by_role("button", name="Submit readings").click()


def test_a_form_whose_month_passed_says_so_where_focus_lands(
    month_end_window, page, setup, monkeypatch
):
    """Opened on February's last minutes, sent in March's first: on the tab (htmx) and on the
    all-meters page the message is read out and has focus, the values stay, axe is content."""
    send_the_tab_after_its_month(page, monkeypatch)
    alert = two_zone_form(page).get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == MONTH_PASSED
    page.wait_for_function("() => document.activeElement.getAttribute('role') === 'alert'")
    assert focused(page) == MONTH_PASSED
    assert two_zone_form(page).get_by_role("heading").inner_text() == "Readings for March 2027"
    assert two_zone_form(page).get_by_label("T1 day").input_value() == "2500"
    assert axe_violations(page) == []

    set_now(monkeypatch, readings.FEBRUARY_LAST_MINUTES)
    page.goto("/readings")
    all_meters_field(page, "SN-CT", "T1").fill("5")
    set_now(monkeypatch, readings.MARCH_FIRST_MINUTE)
    page.get_by_role("button", name="Submit readings").click()
    page.get_by_role("alert").filter(has_text="This form was for February 2027").wait_for()
    page.wait_for_function("() => document.activeElement.getAttribute('role') === 'alert'")
    assert focused(page) == MONTH_PASSED
    assert all_meters_field(page, "SN-CT", "T1").input_value() == "5"
    assert axe_violations(page) == []


@pytest.mark.parametrize("browser_context_options", [{"java_script_enabled": False, **PHONE}])
def test_without_javascript_the_page_opens_at_the_month_passed(
    month_end_window, page, setup, monkeypatch
):
    """The whole page came back at its top: on a phone the message was three screens down,
    under the meter's details, and nothing read it out."""
    send_the_tab_after_its_month(page, monkeypatch)
    page.wait_for_url(f"**{TAB}/meters/*")
    # Autofocus runs once the page is drawn, after its text is there.
    assert wait_for(lambda: focused(page) == MONTH_PASSED, timeout=5) and in_sight(page)
    assert two_zone_form(page).get_by_label("T2 night").input_value() == "1250"

    set_now(monkeypatch, readings.FEBRUARY_LAST_MINUTES)
    page.goto("/readings")
    all_meters_field(page, "SN-CT", "T1").fill("5")
    set_now(monkeypatch, readings.MARCH_FIRST_MINUTE)
    page.get_by_role("button", name="Submit readings").click()
    page.get_by_text("This form was for February 2027").wait_for()
    assert wait_for(lambda: focused(page) == MONTH_PASSED, timeout=5) and in_sight(page)
    assert sideways(page) == 0


def test_the_office_s_entry_whose_month_passed_says_so_where_focus_lands(
    month_end_window, page, setup, monkeypatch, make_user
):
    make_user(email="op@example.org", role="staff")
    set_now(monkeypatch, readings.FEBRUARY_LAST_MINUTES)
    sign_in_staff(page)
    page.goto(f"/staff/readings/meters/{setup['two']}")
    page.get_by_label("T1 day").fill("2500")
    page.get_by_label("T2 night").fill("1250")
    set_now(monkeypatch, readings.MARCH_FIRST_MINUTE)
    page.get_by_role("button", name="Submit readings").click()
    page.get_by_role("alert").filter(has_text="This form was for February 2027").wait_for()
    page.wait_for_function("() => document.activeElement.getAttribute('role') === 'alert'")
    assert focused(page) == MONTH_PASSED
    assert page.get_by_label("T1 day").input_value() == "2500"
    assert axe_violations(page) == []


# --- a form kept after its session ended ----------------------------------------------------


def end_sessions(app) -> None:
    """Idle for longer than a session lives."""
    with app.app_context():
        past = utcnow() - timedelta(hours=1)
        db.session.execute(sa.update(UserSession).values(last_seen_at=past))
        db.session.commit()


@pytest.mark.parametrize("browser_context_options", [NARROW])
# The 400 and 401 that a form sent too late gets (which the browser logs) are answers here.
@pytest.mark.parametrize("answered_statuses", [(400, 401, 422)])
def test_the_kept_readings_form_s_note_fits_a_narrow_phone(app, page, setup):
    """The note stands in the form above its button, has focus, and neither it nor its link
    makes a 320 px page scroll sideways."""
    sign_in(page, "ann@example.com")
    page.wait_for_url("**/")
    page.goto(TAB)
    two_zone_form(page).get_by_label("T1 day").fill("2180")
    end_sessions(app)
    two_zone_form(page).get_by_role("button", name="Submit readings").click()
    note = two_zone_form(page).locator(".form-kept")
    note.wait_for()
    assert note.get_by_role("link", name="Sign in in a new tab").is_visible()
    assert page.evaluate("document.activeElement.classList.contains('form-kept')")
    assert note.evaluate("n => n.nextElementSibling.classList.contains('actions')")
    assert two_zone_form(page).get_by_label("T1 day").input_value() == "2180"
    assert sideways(page) == 0 and in_sight(page)
    assert axe_violations(page) == []


@pytest.mark.parametrize("status", [400, 401])
def test_what_was_typed_shown_back_is_valid_and_passes_axe(
    app, client, page, setup, auth, html_checker, status
):
    """Without JavaScript a reply that could not be taken comes back on the error page."""
    from tests.web.test_support import make_question

    auth.login()
    reference = make_question(app, user_id=setup["ann"])
    url = f"/support/questions/{reference}/reply"
    if status == 401:
        end_sessions(app)
    data = {"body": "The meter in the cellar\nstill shows nothing."}
    headers = {"Origin": "http://localhost"}
    response = client.post(url, data=data, headers=headers, csrf=status == 401)
    assert response.status_code == status
    assert "What you typed" in response.text and "still shows nothing" in response.text
    html_checker(response.text, f"what was typed, {status}")
    # The page as the browser shows it (axe needs the script the page was sent without).
    page.route("**/typed-back", lambda route: route.fulfill(body=response.text, status=200,
               content_type="text/html; charset=utf-8"))  # fmt: skip
    page.goto("/typed-back")
    assert axe_violations(page) == []
    if status == 400:  # with htmx: the main area's answer and the note app.js uses
        hx = {"HX-Request": "true", "X-CSRFToken": "stale", **headers}
        fragment = client.open(url, method="POST", data=data, headers=hx)
        assert fragment.status_code == 400 and "data-form-kept" in fragment.text
        check_fragment(html_checker, fragment.text, "the 400 with the kept-form note")


# --- a contract list whose months come in parts --------------------------------------------


@pytest.fixture
def chain(app, make_user, ledger, monkeypatch):
    """Twelve contracts with documents for January to October 2026, ten documents a
    download: each month comes in three parts."""
    monkeypatch.setattr(many.clock, "utcnow", lambda: many.NOW)
    for module in ("electricity.services", "electricity.views", "payments.services",
                   "payments.dashboard", "documents.views"):  # fmt: skip
        monkeypatch.setattr(f"lkapp.{module}.local_today", lambda: many.TODAY)
    chain = many.Chain(app, ledger, make_user())
    chain.grow(12)
    with app.app_context():
        october = db.session.scalars(sa.select(Document)).all()
        earlier = [
            {
                "contract_id": doc.contract_id,
                "kind": doc.kind,
                "number": f"{doc.number}-{month:02}",
                "issued_on": date(2026, month, 5),
                "period": date(2026, month, 1),
                "net": doc.net,
                "vat_rate": doc.vat_rate,
                "vat": doc.vat,
                "total": doc.total,
                "paid": doc.total,
                "created_at": doc.created_at,
            }
            for month in range(1, 10)
            for doc in october
        ]
        db.session.execute(sa.insert(Document), earlier)
        db.session.commit()
    monkeypatch.setattr(document_services, "MONTH_ZIP_DOCUMENTS", 10)
    return chain


@pytest.mark.parametrize("browser_context_options", [NARROW, PHONE])
def test_months_in_parts_read_a_month_a_line_on_a_phone(page, chain, browser_context_options):
    """Thirty links run on in one paragraph, commas inside them and between them ("October
    2026, part 1 of 3, October 2026, part 2 of 3, …"), each broken across two lines."""
    sign_in(page, "ann@example.com")
    page.wait_for_url("**/")
    page.goto("/electricity")
    months = page.get_by_role("list", name="Documents of all contracts by month (ZIP):")
    lines = months.get_by_role("listitem")
    assert lines.count() == 10
    assert " ".join(lines.first.inner_text().split()) == (
        "October 2026, part 1 of 3; October 2026, part 2 of 3; October 2026, part 3 of 3"
    )
    links = months.get_by_role("link")
    assert links.count() == 30
    assert links.nth(4).get_attribute("href") == "/electricity/documents/2026-09.zip?part=2"
    # A link is never broken across lines, nor parted from its ";": one line each, all on
    # the screen.
    boxes = links.evaluate_all(
        """links => links.map(a => { const part = a.parentElement.getClientRects();
            return [a.getClientRects().length, part.length, part[0].right]; })"""
    )
    width = browser_context_options["viewport"]["width"]
    assert all(rects == lines == 1 and right <= width for rects, lines, right in boxes), boxes
    assert sideways(page) == 0
    assert axe_violations(page) == []


def test_the_list_with_months_in_parts_is_valid_html(client, auth, chain, html_checker):
    auth.login()
    html_checker(client.get("/electricity").text, "contract list, months in parts")
    fragment = client.htmx("GET", "/electricity?page=1").text
    check_fragment(html_checker, fragment, "contract list fragment, months in parts")


# --- the office's export with nothing new --------------------------------------------------


def test_an_export_with_nothing_new_opens_at_what_it_says(page, setup, make_user, html_checker):
    """The second press (a double click, or the next day) gets the page, not a file: it
    opened at its top, the notice unread, the cursor nowhere."""
    make_user(email="op@example.org", role="staff")
    sign_in_staff(page)
    page.goto("/staff/readings/")
    page.get_by_label("Month (YYYY-MM)").fill("2026-10")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    assert download.value.suggested_filename == "readings-2026-10.csv"
    page.get_by_role("button", name="Download CSV").click()
    notice = page.get_by_role("status").filter(has_text="Nothing new to download")
    notice.wait_for()
    assert wait_for(
        lambda: focused(page).startswith(
            "Nothing new to download: the readings of October 2026 went in the export of "
        ),
        timeout=5,
    )
    assert page.get_by_label("Month (YYYY-MM)").input_value() == "2026-10"
    assert axe_violations(page) == []
    html_checker(page.content(), "export page, nothing new")


# --- the mails' totals ---------------------------------------------------------------------


def test_the_totals_of_the_debt_and_new_documents_mails_are_valid_html(
    app, runner, mailbox, tmp_path, make_user, html_checker
):
    ann = make_user(name="Ann's Bakery Kft.")
    notify.shops(app, ann, 3, in_debt=range(1, 4))
    notify.run(runner, notify.DAY)
    [debt] = mailbox.messages
    assert "Overdue in all: €30.03 on 3 contracts." in text_of(mailbox.html(debt))
    html_checker(mailbox.html(debt), "debt notice of three contracts")
    mailbox.clear()
    rows = [notify.DOCUMENTS_CSV.splitlines()[0]] + [
        f"SHOP-{n:04};invoice;I-{n};2026-03-05;2026-02;2026-03-20;100.00;27;27.00;127.00"
        for n in (1, 2)
    ]
    notify.import_documents(runner, tmp_path, "\n".join(rows) + "\n")
    notify.run(runner, notify.DAY)
    [documents] = mailbox.messages
    assert "2 new invoices, €254.00 in all." in text_of(mailbox.html(documents))
    html_checker(mailbox.html(documents), "new documents notice of two invoices")


# --- a notice's stop link --------------------------------------------------------------------


@pytest.mark.parametrize("browser_context_options", [PHONE, {"java_script_enabled": False}])
def test_a_notice_s_stop_link_asks_then_says_it_is_done(
    app, page, make_user, html_checker, browser_context_options
):
    """From a debt notice's link: the question, one button, then the answer where focus
    lands (with htmx) or on the page the form redirects to (without JavaScript)."""
    from lkapp.auth import tokens
    from lkapp.models import User

    ann = make_user()
    with app.app_context():
        link = "/notices/stop/" + tokens.notice_token(ann, "ann@example.com", "debt")
    scripts = browser_context_options.get("java_script_enabled", True)
    page.goto(link)
    assert page.get_by_role("heading", level=1).inner_text() == "Stop emails about overdue debt?"
    if scripts:  # axe runs as a script: without JavaScript its promise never settles
        assert axe_violations(page) == []
        assert sideways(page) == 0
    html_checker(page.content(), "a notice's stop link: the question")
    page.get_by_role("button", name="Stop these emails").click()
    page.get_by_role("heading", name="Emails turned off").wait_for()
    assert "You will no longer get emails about overdue debt." in page.inner_text("main")
    if scripts:
        assert wait_for(lambda: focused(page) == "Emails turned off", timeout=5)
        assert axe_violations(page) == []
    else:  # the form's redirect: the link's page, now with the answer
        assert page.url.endswith(link)
    html_checker(page.content(), "a notice's stop link: the answer")
    with app.app_context():
        user = db.session.get(User, ann)
        assert (user.notify_debt, user.notify_documents, user.notify_readings) == (
            False,
            True,
            True,
        )
