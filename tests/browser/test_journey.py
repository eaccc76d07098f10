"""The whole customer journey in Chromium, checked by tools no one here wrote.

A new customer lands, registers, confirms from the mail, signs in, adds a contract with a code
the office issued (the CLI), downloads a PDF from Documents, submits readings, sees payments
and debt, asks a question and signs out — with JavaScript (htmx), without it (plain forms), and
on a phone-sized screen. On every page: axe-core (no serious or critical violation) and the Nu
HTML checker (every full page and every htmx partial the journey received). Then the keyboard
alone: sign in and add a contract with Tab and Enter, focus visible, focus moved to what an htmx
swap brought, results announced in the live region. Last, a self-test that a Content-Security-
Policy violation really fails a browser test.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from lkapp.electricity.services import local_today
from lkapp.extensions import db
from lkapp.models import Meter
from lkapp.readings import clock
from lkapp.services import pdf as pdf_service
from tests import conftest
from tests.conftest import TEST_PASSWORD, axe_violations, check_fragment, wait_for

pytestmark = pytest.mark.sqlite_only

NUMBER = "EL-0000042"
EMAIL = "zita@example.com"
PASSWORD = "lanterns over the old bridge 9"
JS_OFF = {"java_script_enabled": False}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


# --- data: a contract the office has, with a meter, invoices, a payment ------------------


@pytest.fixture
def app(app, tmp_path):
    app.instance_path = str(tmp_path / "instance")  # PDF cache, attachments
    pdf_service.clear_cache()
    return app


@pytest.fixture
def billing(app, ledger, monkeypatch):
    """EL-0000042, attached to no account: one single-zone meter; INV-OLD (50.00) paid,
    INV-LATE (100.00) overdue by 12 days with 75.00 left. The readings window is open."""
    inside = datetime.now(UTC).replace(day=20, hour=12, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(clock, "utcnow", lambda: inside)
    with app.app_context():
        today = local_today()
    contract = ledger.contract(NUMBER)
    with app.app_context():
        db.session.add(
            Meter(
                contract_id=contract,
                serial="SN-E2E",
                zones="T1",
                digits=6,
                installed_on=date(2020, 1, 1),
            )
        )
        db.session.commit()
    ledger.add(
        ledger.document(contract, "INV-OLD", today - timedelta(60), today - timedelta(45), "50.00"),
        ledger.document(
            contract, "INV-LATE", today - timedelta(30), today - timedelta(12), "100.00"
        ),
        ledger.payment(contract, today - timedelta(40), "75.00", "PO 1"),
    )
    return {"period": inside.strftime("%Y-%m")}


def issue_code(runner) -> str:
    """The office issues a code with the CLI, against the app the live server serves."""
    result = runner.invoke(args=["contracts", "issue-code", NUMBER])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


# --- what is checked on every page --------------------------------------------------------


# With JavaScript off Chromium runs no timers, and axe-core waits on setTimeout: for the
# evaluation alone, timers become microtasks. The page's own scripts still do not run.
TIMERS_AS_MICROTASKS = """() => {
  const later = (fn, args) => { Promise.resolve().then(() => fn(...args)); return 0; };
  window.setTimeout = (fn, _ms, ...args) => later(fn, args);
  window.clearTimeout = () => {};
  window.requestAnimationFrame = fn => later(fn, [performance.now()]);
}"""


class Checks:
    """axe-core, the Nu HTML checker (the page and the htmx partials received since the last
    look) and, on a phone, no horizontal scrolling."""

    def __init__(self, page, html_checker, phone=False, js=True):
        self.page, self.html_checker, self.phone, self.js = page, html_checker, phone, js
        self.fragments: list[tuple[str, str]] = []
        self.pages: list[str] = []
        self.partials = 0
        page.on("response", self._response)

    def _response(self, response):
        request = response.request
        if request.headers.get("hx-request") != "true":
            return
        if "text/html" not in response.headers.get("content-type", ""):
            return  # e.g. 204 + HX-Redirect: nothing to swap
        name = f"partial {request.method} {response.url} ({response.status})"
        self.fragments.append((name, response.text()))

    def __call__(self, name: str) -> None:
        page = self.page
        page.wait_for_load_state()
        where = f"{name} ({page.url})"
        if not self.js:
            page.evaluate(TIMERS_AS_MICROTASKS)
        assert axe_violations(page) == [], where
        self.html_checker(page.content(), where)
        for fragment_name, fragment in self.fragments:
            if fragment.strip():
                check_fragment(self.html_checker, fragment, fragment_name)
                self.partials += 1
        self.fragments.clear()
        if self.phone:
            widths = page.evaluate(
                "() => [document.documentElement.scrollWidth, window.innerWidth]"
            )
            assert widths[0] <= widths[1], f"{where} scrolls sideways: {widths}"
            # Nor does any table: on a phone a wide table is a card per row.
            wide = page.evaluate(
                "() => [...document.querySelectorAll('.table-wrap')]"
                ".filter(e => e.scrollWidth > e.clientWidth + 1)"
                ".map(e => e.getAttribute('aria-label') || e.className)"
            )
            assert wide == [], f"{where}: these tables scroll sideways: {wide}"
        self.pages.append(name)


def confirmation_link(mailbox, live_server) -> str:
    def find():
        for message in mailbox.to(EMAIL):
            for link in mailbox.links(message):
                if "/confirm/" in link:
                    return link
        return None

    link = wait_for(find)
    assert link, f"no confirmation mail to {EMAIL}"
    return re.sub(r"^https?://[^/]+", live_server.url, link)


def customer_journey(page, check, mailbox, live_server, runner, billing, js=True):
    main = page.get_by_role("main")

    # Land, register, confirm from the mail.
    page.goto("/")
    check("landing")
    main.get_by_role("link", name="Register").click()
    page.wait_for_url("**/register")
    check("register")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD + "x")
    page.get_by_label("Name or organisation").fill("Zita's Print Shop Kft")
    page.get_by_label("Tax ID").fill("12345678-2-42")
    page.get_by_label("Phone").fill("+36 1 555 0142")
    page.get_by_role("button", name="Register").click()
    page.get_by_text("The two passwords differ.").wait_for()
    assert page.get_by_label("Name or organisation").input_value() == "Zita's Print Shop Kft"
    check("register, passwords differ")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    page.wait_for_url("**/register/done")
    assert page.get_by_role("heading", name="Check your email").is_visible()
    check("registered")
    page.goto(confirmation_link(mailbox, live_server))
    assert page.get_by_role("heading", name="Confirm your email address").is_visible()
    check("confirmation link")
    page.get_by_role("button", name="Confirm email address").click()
    page.get_by_role("heading", name="Email address confirmed").wait_for()
    check("confirmed")

    # Sign in.
    page.get_by_role("link", name="Sign in").first.click()
    page.wait_for_url("**/login")
    check("sign-in")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/$"))
    assert page.get_by_role("link", name="Profile").is_visible()
    check("dashboard")

    # Add the contract with the code the office issued.
    code = issue_code(runner)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Electricity").click()
    page.wait_for_url("**/electricity")
    assert page.get_by_text("There are no contracts in your account yet.").is_visible()
    check("electricity, empty")
    page.get_by_role("link", name="Add contract").click()
    if not js:
        page.wait_for_url("**/electricity/add")
    page.get_by_label("Contract number").fill(NUMBER)
    page.get_by_label("Confirmation code").fill("AAAA-AAAA-AAAA")
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_text("The contract number or the confirmation code is wrong.").wait_for()
    assert page.get_by_label("Contract number").input_value() == NUMBER
    check("add contract, wrong code")
    page.get_by_label("Confirmation code").fill(code)
    page.get_by_role("button", name="Add", exact=True).click()
    page.locator("#flashes").get_by_text(f"Contract {NUMBER} is now in your account.").wait_for()
    assert page.url.endswith("/electricity")
    check("contract added")

    # Overview, Documents, one invoice and its PDF.
    page.locator("#contracts").get_by_role("link", name=NUMBER).click()
    page.wait_for_url(f"**/electricity/{NUMBER}")
    check("overview")
    page.locator(".tabs").get_by_role("link", name="Documents").click()
    page.wait_for_url(f"**/electricity/{NUMBER}/documents")
    page.locator("#document-results").get_by_text("2 documents in all.").wait_for()
    assert "Overdue" in page.locator("#contract-tab tr", has_text="INV-LATE").inner_text()
    check("documents")
    page.get_by_role("link", name="INV-LATE").click()
    page.wait_for_url("**/documents/invoice/INV-LATE")
    check("invoice")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename == "invoice-INV-LATE.pdf"
    with open(download.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"

    # Readings: the window is open; the receipt shows what was sent.
    page.goto(f"/electricity/{NUMBER}")
    page.locator(".tabs").get_by_role("link", name="Readings").click()
    page.wait_for_url(f"**/electricity/{NUMBER}/readings")
    page.get_by_role("heading", name="Meter SN-E2E").wait_for()
    check("readings")
    form = page.locator("form.reading-form")
    form.get_by_label("T1").fill("12345")
    form.get_by_role("button", name="Submit readings").click()
    page.wait_for_url(f"**/readings/meters/*/{billing['period']}")
    page.get_by_text("Readings received.").wait_for()
    assert "12,345" in page.locator(".receipt").inner_text()
    check("reading receipt")

    # Payments and debt.
    page.get_by_role("link", name="Back to readings").click()
    page.wait_for_url(f"**/electricity/{NUMBER}/readings")
    page.locator(".tabs").get_by_role("link", name="Payments").click()
    page.wait_for_url(f"**/electricity/{NUMBER}/payments")
    debt = page.locator(".debt-block").inner_text()
    assert "€75.00" in debt and "12 days overdue" in debt
    payment = page.locator("#payments tbody tr").first.inner_text()
    assert "INV-OLD: €50.00" in payment and "INV-LATE: €25.00" in payment
    check("payments")

    # A question from inside the cabinet.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Questions").click()
    page.wait_for_url("**/support/questions")
    check("questions")
    main.get_by_role("link", name="Ask a question").click()
    page.wait_for_url("**/support/ask")
    check("ask")
    page.get_by_label("Contract").select_option(NUMBER)
    page.get_by_label("Subject").select_option(label="Documents")
    page.get_by_label("Question").fill("Can I get INV-LATE split in two payments?")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url("**/support/questions/Q-*")
    page.get_by_text("Your question was sent.").wait_for()
    assert page.get_by_text("Can I get INV-LATE split in two payments?").is_visible()
    check("question thread")

    # Sign out.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/$"))
    assert page.get_by_role("link", name="Sign in").first.is_visible()
    check("signed out")


def test_whole_journey_with_javascript(page, html_checker, mailbox, live_server, runner, billing):
    check = Checks(page, html_checker)
    customer_journey(page, check, mailbox, live_server, runner, billing)
    assert check.partials >= 7, "htmx swapped the forms and tabs in place"


@pytest.mark.parametrize("browser_context_options", [JS_OFF])
def test_whole_journey_without_javascript(
    page, html_checker, mailbox, live_server, runner, billing
):
    check = Checks(page, html_checker, js=False)
    customer_journey(page, check, mailbox, live_server, runner, billing, js=False)
    assert check.partials == 0, "without JavaScript every answer is a full page"


@pytest.mark.parametrize("browser_context_options", [PHONE])
def test_whole_journey_on_a_phone(page, html_checker, mailbox, live_server, runner, billing):
    check = Checks(page, html_checker, phone=True)
    customer_journey(page, check, mailbox, live_server, runner, billing)
    assert page.evaluate("window.innerWidth") == 390


# --- the keyboard alone -------------------------------------------------------------------

FOCUSED = """() => {
  const e = document.activeElement;
  const style = getComputedStyle(e);
  const label = e.labels && e.labels.length ? e.labels[0].textContent.trim() : "";
  return {tag: e.tagName.toLowerCase(), id: e.id, text: (e.textContent || "").trim(),
          label: label, outline: style.outlineStyle, outlineWidth: style.outlineWidth};
}"""


def tab_to(page, wanted, limit=60) -> dict:
    """Press Tab until ``wanted(focused)``; every element on the way shows its focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused["tag"] == "body":
            continue
        assert focused["outline"] != "none" and focused["outlineWidth"] != "0px", (
            f"focus not visible on {focused}"
        )
        if wanted(focused):
            return focused
    raise AssertionError("not reached with Tab")


def in_focus(page, selector) -> bool:
    return page.evaluate(
        "sel => { const t = document.querySelector(sel); "
        "return !!t && (t === document.activeElement || t.contains(document.activeElement)); }",
        selector,
    )


def keyboard_sign_in(page):
    page.goto("/login")
    tab_to(page, lambda f: f["label"] == "Email")
    page.keyboard.type(EMAIL)
    tab_to(page, lambda f: f["label"] == "Password")
    page.keyboard.type(TEST_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/$"))
    tab_to(page, lambda f: f["tag"] == "a" and f["text"] == "Electricity")
    page.keyboard.press("Enter")
    page.wait_for_url("**/electricity")


def test_keyboard_only_sign_in_and_add_a_contract(page, make_user, runner, billing):
    make_user(email=EMAIL)
    code = issue_code(runner)
    keyboard_sign_in(page)

    # The form opens in place; a wrong code is refused in place, then the right one works.
    # Each time, Tab starts from where app.js puts focus once the swap has settled (tabbing
    # before that races the move, and the typing lands nowhere).
    settled_on = "sel => document.activeElement.matches(sel)"
    form_heading = "#add-contract :is(h1, h2, [data-focus])"
    tab_to(page, lambda f: f["tag"] == "a" and f["text"] == "Add contract")
    page.keyboard.press("Enter")
    page.locator("#add-contract").wait_for()
    page.wait_for_function(settled_on, arg=form_heading, timeout=2000)
    tab_to(page, lambda f: f["label"] == "Contract number")
    page.keyboard.type(NUMBER)
    tab_to(page, lambda f: f["label"] == "Confirmation code")
    page.keyboard.type("AAAA-AAAA-AAAA")
    page.keyboard.press("Enter")
    alert = page.locator("#add-contract [role=alert]")
    alert.get_by_text("The contract number or the confirmation code is wrong.").wait_for()
    page.wait_for_function(settled_on, arg=form_heading, timeout=2000)

    tab_to(page, lambda f: f["label"] == "Confirmation code")
    page.keyboard.type(code)
    page.evaluate("document.getElementById('flashes').dataset.since = 'load'")
    page.keyboard.press("Enter")
    flashes = page.locator("#flashes")
    flashes.get_by_text(f"Contract {NUMBER} is now in your account.").wait_for()
    # The result is announced: the message is in the polite live region, the one the page
    # had from the start (a region swapped in whole is new to a screen reader: it says
    # nothing).
    assert flashes.get_attribute("aria-live") == "polite"
    assert flashes.get_attribute("role") == "status"
    assert flashes.get_attribute("data-since") == "load"

    # Focus went to the new contract's link in the swapped list; it opens with Enter.
    page.wait_for_function(settled_on, arg="#contracts a", timeout=2000)
    focused = page.evaluate(FOCUSED)
    assert (focused["tag"], focused["text"]) == ("a", NUMBER)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/electricity/{NUMBER}")
    page.get_by_role("heading", name="Meters").wait_for()


def test_focus_moves_to_what_an_htmx_swap_brought(page, make_user, runner, billing):
    make_user(email=EMAIL)
    code = issue_code(runner)
    keyboard_sign_in(page)
    focus_in = "sel => document.activeElement.closest(sel) !== null"
    # Where app.js puts focus once a swap has settled: the new content's heading. (htmx itself
    # keeps focus on an input of the same id at the swap, so "somewhere inside" is true too
    # early, and typing then would race the move to the heading.)
    on_heading = "sel => document.activeElement.matches(sel)"
    form_heading = "#add-contract :is(h1, h2, [data-focus])"

    tab_to(page, lambda f: f["tag"] == "a" and f["text"] == "Add contract")
    page.keyboard.press("Enter")
    page.locator("#add-contract").wait_for()
    page.wait_for_function(on_heading, arg=form_heading, timeout=2000)

    page.get_by_label("Contract number").fill(NUMBER)
    page.get_by_label("Confirmation code").fill("AAAA-AAAA-AAAA")
    page.keyboard.press("Enter")
    page.locator("#add-contract [role=alert]").wait_for()
    page.wait_for_function(on_heading, arg=form_heading, timeout=2000)

    page.get_by_label("Confirmation code").fill(code)
    page.keyboard.press("Enter")
    page.locator("#contracts tr.is-new").wait_for()
    page.wait_for_function(focus_in, arg="#contracts", timeout=2000)
    assert page.evaluate(FOCUSED)["text"] == NUMBER  # the new row's link (data-focus)


# --- the page fixture reports CSP violations ----------------------------------------------


def test_a_csp_violation_fails_a_browser_test(chromium, live_server):
    """Drive the real ``page`` fixture: a blocked image and a blocked inline script must make
    its teardown fail with Chromium's "Refused to ..." console errors."""
    fixture = conftest.page.__wrapped__(chromium, live_server, {}, (422,))
    page = next(fixture)
    page.goto("/")
    blocked = page.evaluate(
        """() => new Promise(resolve => {
             document.addEventListener("securitypolicyviolation",
                                       e => resolve(e.violatedDirective), {once: true});
             document.body.insertAdjacentHTML("beforeend",
               '<img alt="" src="https://cdn.example.com/pixel.png">');
           })"""
    )
    assert blocked == "img-src"
    # A script element made by script runs (unlike one in innerHTML), unless the CSP stops it.
    page.evaluate(
        """() => { const script = document.createElement("script");
                   script.textContent = "window.injected = true";
                   document.body.append(script); }"""
    )
    assert page.evaluate("() => window.injected") is None
    with pytest.raises(AssertionError) as failure:
        next(fixture)
    report = str(failure.value)
    assert "https://cdn.example.com/pixel.png" in report and "inline script" in report
    assert "violates the following Content Security Policy directive" in report
