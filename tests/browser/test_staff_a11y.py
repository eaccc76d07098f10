"""In Chromium: the back office for an operator who uses the keyboard, a screen reader or a
zoomed screen. Every page passes axe-core with its moderate and best-practice rules too (one
name per landmark, a level-one heading on the printable slip) and at 200 % zoom (640 px wide)
needs no sideways scrolling; the count of a search typed in is said (a live region); focus
lands on what changed after a filter, a page of results or a refused export; an import's
outcome is said when the polling gets it."""

from __future__ import annotations

import pytest

from lkapp.extensions import db
from lkapp.models import Contract, ImportJob, User, utcnow
from tests.browser.test_staff_imports import sign_in_staff
from tests.conftest import NODE_MODULES
from tests.web import test_readings as readings
from tests.web.test_support import make_question

# The readings' data and clock (a meter with a year of history, the window open).
now, setup = readings.now, readings.setup

pytestmark = pytest.mark.sqlite_only

ZOOMED = {"viewport": {"width": 640, "height": 800}}  # a 1280 px screen at 200 %


def all_axe_violations(page) -> list[str]:
    """axe-core's WCAG rules and its best practices, moderate impact and above."""
    page.evaluate((NODE_MODULES / "axe-core/axe.min.js").read_text())
    result = page.evaluate(
        """async () => await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a',
            'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("moderate", "serious", "critical")
    ]


def sideways(page) -> int:
    """How far the page itself scrolls sideways, in px."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def focused(page) -> dict:
    """The element with focus, once focus has landed: htmx swaps the new content in, and the
    page's script moves focus when it settles, a moment later (the text is there before)."""
    page.wait_for_function("() => document.activeElement !== document.body")
    return page.evaluate(
        """() => { const e = document.activeElement;
            return {tag: e.tagName, id: e.id, role: e.getAttribute('role'),
                    name: e.getAttribute('aria-label') || '', text: e.innerText || ''} }"""
    )


@pytest.fixture
def office(app, setup, make_user):
    """An administrator, a locked customer, a contract to issue a code for, imports, a lost
    login question; Ann's contract with its meters (``setup``)."""
    make_user(email="chief@example.org", role="admin")
    carl = make_user(email="carl@example.com", confirmed=False)
    with app.app_context():
        user = db.session.get(User, carl)
        user.locked_at, user.locked_reason = utcnow(), "staff"
        db.session.add(
            Contract(number="EL-0000100", holder_name="Free Kft.", tax_id="1", address="Győr")
        )
        db.session.add_all(
            [
                ImportJob(
                    kind="contracts",
                    filename="c.csv",
                    file_sha256="c" * 64,
                    status="failed",
                    errors=[
                        {
                            "level": "error",
                            "file": "c.csv",
                            "line": 2,
                            "column": "status",
                            "value": "x",
                            "message": "must be one of: active | terminated",
                        }
                    ],
                ),
                ImportJob(
                    kind="payments",
                    filename="p.csv",
                    file_sha256="d" * 64,
                    status="done",
                    created=3,
                    rows_total=3,
                    finished_at=utcnow(),
                ),
            ]
        )
        db.session.commit()
    return {
        **setup,
        "carl": carl,
        "question": make_question(app, user_id=setup["ann"], subject="lost_login"),
    }


@pytest.mark.parametrize("browser_context_options", [ZOOMED], ids=["zoomed"])
def test_every_office_page_passes_axe_and_fits_a_zoomed_screen(page, office):
    sign_in_staff(page, "chief@example.org")
    # Things happen first, so that the pages show their history and sessions tables.
    page.goto("/staff/contracts/EL-0000042")
    page.get_by_label("Reason").fill("The customer asked")
    page.get_by_role("button", name="Detach").click()
    page.get_by_text("The contract was detached").wait_for()
    page.goto("/staff/contracts/EL-0000100")
    page.get_by_role("button", name="Issue code").click()
    page.get_by_role("heading", name="Code issued").wait_for()
    assert all_axe_violations(page) == [], "a code just issued"
    with page.expect_popup() as popup:
        page.get_by_role("button", name="Print view").click()
    slip = popup.value
    slip.get_by_role(
        "heading", level=1, name="Confirmation code for contract EL-0000100"
    ).wait_for()
    assert all_axe_violations(slip) == [], "the slip's print view"
    slip.close()

    for url in (
        "/staff/",
        "/staff/customers?q=example",
        f"/staff/customers/{office['ann']}",
        f"/staff/customers/{office['carl']}",
        "/staff/contracts?q=EL",
        "/staff/contracts/EL-0000042",
        "/staff/contracts/EL-0000100",
        "/staff/readings/?q=EL-0000042",
        f"/staff/readings/meters/{office['two']}",
        "/staff/questions",
        f"/staff/questions/{office['question']}?tax_id=7701234567",
        "/staff/imports",
        "/staff/imports/new/documents",
        "/staff/imports/1",
        "/staff/imports/2",
        "/staff/audit?contract=EL-0000042",
        "/staff/team",
    ):
        page.goto(url)
        assert all_axe_violations(page) == [], url
        assert sideways(page) == 0, url


def test_what_changes_is_said_and_focus_lands_on_it(app, page, office):
    with app.app_context():
        db.session.add_all(
            Contract(number=f"EL-1{n:06d}", holder_name="Bakery", tax_id="2", address="Pécs")
            for n in range(25)
        )
        job = ImportJob(
            kind="payments",
            filename="running.csv",
            file_sha256="e" * 64,
            status="running",
            rows_total=10,
            rows_done=4,
            started_at=utcnow(),
        )
        db.session.add(job)
        db.session.commit()
        job_id = job.id
    sign_in_staff(page, "chief@example.org")

    # A search typed in: the cursor stays in the field, and the count that screen readers say
    # is the live region that was there before (a region swapped in whole is not said).
    page.goto("/staff/contracts")
    count = page.locator("#contract-count")
    assert count.get_attribute("role") == "status"
    count.evaluate("element => { window.countBefore = element }")
    page.get_by_label("Number, holder name or tax ID").press_sequentially("EL-0000100")
    page.locator("#contract-results").get_by_text("1 contract matches “EL-0000100”.").wait_for()
    assert page.get_by_role("link", name="EL-1000000").count() == 0
    assert count.inner_text() == "1 contract matches “EL-0000100”."
    assert page.evaluate("() => window.countBefore === document.getElementById('contract-count')")
    assert focused(page)["id"] == "q"

    # The next page of results takes focus to its count, read first.
    page.goto("/staff/contracts")
    page.get_by_role("link", name="Next").click()
    page.get_by_text("Page 2 of 2").wait_for()
    assert focused(page)["text"] == "28 contracts in all."

    page.goto("/staff/customers")
    page.get_by_label("Email, name or tax ID").press_sequentially("carl")
    page.locator("#customer-results").get_by_text("1 account matches “carl”.").wait_for()
    customer_count = page.locator("#customer-count")
    assert customer_count.get_attribute("role") == "status"
    assert customer_count.inner_text() == "1 account matches “carl”."

    # Filters replace the form with the results: focus goes to the outcome, not the top.
    page.goto("/staff/audit")
    page.get_by_label("Contract number").fill("EL-0000999")
    page.get_by_role("button", name="Filter").click()
    page.get_by_text("No contract has this number.").wait_for()
    assert focused(page)["text"].startswith("No contract has this number. 0 events.")
    page.goto("/staff/questions")
    page.get_by_label("Status").select_option("answered")
    page.get_by_role("button", name="Show").click()
    page.get_by_text("0 questions match the filters.").wait_for()
    assert focused(page)["text"].startswith("0 questions match the filters.")

    # The export is a plain form (its answer is a file): a refused month opens at the field.
    page.goto("/staff/readings/")
    page.get_by_label("Month (YYYY-MM)").fill("November")
    page.get_by_role("button", name="Download CSV").click()
    page.get_by_text("Enter a month as YYYY-MM, for example 2026-11.").wait_for()
    assert focused(page)["id"] == "period"

    # An import that ends while the page is open: its outcome goes into the live region that
    # was there, once.
    page.goto(f"/staff/imports/{job_id}")
    outcome = page.locator("#import-outcome")
    assert outcome.get_attribute("role") == "status"
    assert "The rows are being checked." in outcome.inner_text()
    outcome.evaluate("element => { window.outcomeBefore = element }")
    with app.app_context():
        stored = db.session.get(ImportJob, job_id)
        stored.status, stored.created, stored.finished_at = "done", 7, utcnow()
        db.session.commit()
    page.get_by_text("7 created, 0 updated, 0 unchanged").wait_for()
    assert "The file was imported: 7 created" in outcome.inner_text()
    assert page.evaluate("() => window.outcomeBefore === document.getElementById('import-outcome')")


def test_the_message_after_a_form_that_loads_a_new_page_is_read_out_first(page, office):
    """Detaching ends in a new page with its message at the top: a live region that arrives
    with its text says nothing, and focus started at the top of the page."""
    sign_in_staff(page, "chief@example.org")
    page.goto("/staff/contracts/EL-0000042")
    page.get_by_label("Reason").fill("The customer asked")
    page.get_by_role("button", name="Detach").click()
    page.get_by_text("The contract was detached").wait_for()
    now = focused(page)
    assert now["tag"] == "P" and now["text"].startswith("The contract was detached")
    page.keyboard.press("Tab")  # and the keyboard goes on from the message
    assert page.evaluate(
        "() => document.querySelector('#flashes').compareDocumentPosition("
        "document.activeElement) & Node.DOCUMENT_POSITION_FOLLOWING"
    )
    # A page whose form put focus on its first error keeps it there.
    page.goto("/staff/readings/")
    page.get_by_role("textbox", name="Month (YYYY-MM)").fill("13/2026")
    page.get_by_role("button", name="Download CSV").click()
    page.wait_for_load_state()
    assert focused(page)["tag"] == "INPUT"


PHONE = {"viewport": {"width": 390, "height": 844}}
TABLET = {"viewport": {"width": 820, "height": 1180}}


@pytest.mark.parametrize("browser_context_options", [PHONE, TABLET], ids=["phone", "tablet"])
def test_the_office_in_hungarian_fits_a_phone_and_a_tablet(app, page, office):
    """Every section of the office in sight, no column off to the side of its table (the
    tablet is too narrow for the wide ones, a hash or a long Russian word widens others),
    a code just issued on one line, the way it is read out, and its slip printed alone."""
    from lkapp.services.audit import record

    with app.app_context():
        chief = db.session.execute(db.select(User).filter_by(email="chief@example.org")).scalar()
        chief.locale = "hu"
        db.session.add(
            Contract(
                number="EL-0000101",
                holder_name="ООО «Электроэнергосбытоваякомпания»",
                tax_id="7701234567",
                address="Москва, Тверская улица, дом 1",
            )
        )
        job = db.session.get(ImportJob, 1)
        record("import.uploaded", chief, job, kind="contracts", file="c.csv", sha256="c" * 64)
        db.session.commit()
    sign_in_staff(page, "chief@example.org")
    page.goto("/staff/contracts/EL-0000100")
    page.get_by_role("button", name="Kód kiadása").click()
    code = page.locator("#issued-code .code-display code")
    code.wait_for()
    lines = code.evaluate(
        "e => { const r = document.createRange(); r.selectNodeContents(e);"
        " return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size }"
    )
    assert lines == 1
    assert sideways(page) == 0
    # The browser's print command, as the page says, prints the slip alone: the rest of the
    # page, though unseen, took its room, and sheets followed the slip.
    page.emulate_media(media="print")
    beside_the_slip = page.evaluate(
        """() => { const slip = document.querySelector('.slip');
            return [...document.body.querySelectorAll('*')].filter(e => !e.contains(slip)
                && !slip.contains(e) && e.getBoundingClientRect().height > 0).length }"""
    )
    assert beside_the_slip == 0
    page.emulate_media(media="screen")

    for url in (
        "/staff/contracts/EL-0000100",
        "/staff/contracts?q=EL-00001",
        "/staff/questions",
        "/staff/imports",
        "/staff/audit",
    ):
        page.goto(url)
        out_of_sight = page.evaluate(
            """() => [...document.querySelectorAll('nav.subnav a')]
                .filter(a => a.getBoundingClientRect().right > innerWidth)
                .map(a => a.innerText)"""
        )
        assert out_of_sight == [], url
        scrolling = page.evaluate(
            """() => [...document.querySelectorAll('main .table-wrap')]
                .filter(w => w.scrollWidth > w.clientWidth)
                .map(w => w.getAttribute('aria-label'))"""
        )
        assert scrolling == [], url
