"""A customer's whole way in, in Chromium: register, confirm, recover, sign in again."""

import re
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import UserSession, utcnow
from tests.conftest import TEST_PASSWORD, axe_violations, wait_for

pytestmark = pytest.mark.sqlite_only

TEST_ANSWER = "e2e-ok"
FIRST = "пчёлы летят над полем 7"
SECOND = "lanterns over the old bridge"


@pytest.fixture
def app_config(app_config):
    # LKAPP_TESTING=1 + LKAPP_CAPTCHA_TEST_ANSWER: the end-to-end tests' key to the captcha.
    app_config["CAPTCHA_TEST_ANSWER"] = TEST_ANSWER
    return app_config


def _link(mailbox, email, part):
    def find():
        for message in mailbox.to(email):
            for link in mailbox.links(message):
                if part in link:
                    return link
        return None

    link = wait_for(find)
    assert link, f"no mail with {part} to {email}"
    return link


def _sign_in(page, email, password):
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/$"))


def test_register_confirm_recover_and_sign_in(page, live_server, mailbox):
    page.goto("/")
    page.get_by_role("main").get_by_role("link", name="Register").click()
    page.get_by_label("Email").fill("bob@example.com")
    page.get_by_label("Password", exact=True).fill(FIRST)
    page.get_by_label("Repeat password").fill("a different one entirely")
    page.get_by_label("Name or organisation").fill("Bob's Hardware Kft")
    page.get_by_label("Tax ID").fill("12345678-2-42")
    page.get_by_label("Phone").fill("+36 1 555 0199")
    page.get_by_role("button", name="Register").click()
    page.get_by_text("The two passwords differ.").wait_for()  # swapped in place by htmx
    assert page.get_by_label("Name or organisation").input_value() == "Bob's Hardware Kft"
    page.get_by_label("Password", exact=True).fill(FIRST)
    page.get_by_label("Repeat password").fill(FIRST)
    page.get_by_role("button", name="Register").click()
    page.wait_for_url("**/register/done")
    assert page.get_by_role("heading", name="Check your email").is_visible()

    page.goto(
        _link(mailbox, "bob@example.com", "/confirm/").replace("http://localhost", live_server.url)
    )
    page.get_by_role("button", name="Confirm email address").click()
    page.get_by_role("heading", name="Email address confirmed").wait_for()

    _sign_in(page, "bob@example.com", FIRST)
    assert page.get_by_text("bob@example.com").first.is_visible()
    assert page.get_by_role("button", name="Resend confirmation").count() == 0
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/$"))
    assert page.get_by_role("link", name="Sign in").first.is_visible()

    page.goto("/login")
    page.get_by_role("link", name="Forgot password?").click()
    page.wait_for_url("**/forgot-password")
    picture = page.locator("img.captcha-image")
    assert picture.evaluate("img => img.complete && img.naturalWidth > 0")
    old_id = page.locator("input[name=captcha_id]").input_value()
    page.get_by_role("button", name="New picture").click()
    page.wait_for_function(
        "old => document.querySelector('input[name=captcha_id]').value !== old", arg=old_id
    )
    assert page.url.endswith("/forgot-password")  # the fragment is not pushed to history
    # Focus moves when the swap settles, a moment after the new picture's id is in place.
    page.wait_for_function("() => document.activeElement !== document.body")
    focused = page.evaluate(
        "[document.activeElement.textContent, document.activeElement.getAttribute("
        "'aria-describedby')]"
    )
    assert focused == ["New picture", "captcha-fresh"]  # ready to ask again, told it changed
    assert page.locator("#captcha-fresh").text_content() == "A new picture is shown."
    page.get_by_label("Email").fill("bob@example.com")
    page.get_by_label("Tax ID").fill("12345678242")
    page.get_by_label("Code from the picture").fill(TEST_ANSWER)
    # Enter sends the form (it "clicked" the first submit button, "New picture", before).
    page.get_by_label("Code from the picture").press("Enter")
    page.wait_for_url("**/forgot-password/sent")
    assert page.get_by_text("If the data match an account, a link was sent").is_visible()

    reset = _link(mailbox, "bob@example.com", "/reset-password/")
    page.goto(reset.replace("http://localhost", live_server.url))
    page.get_by_label("New password").fill(SECOND)
    page.get_by_label("Repeat password").fill(SECOND)
    page.get_by_role("button", name="Set new password").click()
    page.wait_for_url(re.compile(r".*/$"))
    assert page.get_by_text("Your password was changed").is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/$"))

    page.goto("/login")
    page.get_by_label("Email").fill("bob@example.com")
    page.get_by_label("Password", exact=True).fill(FIRST)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Wrong email or password.").wait_for()
    page.get_by_label("Password", exact=True).fill(SECOND)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/$"))
    assert page.get_by_role("link", name="Profile").is_visible()


@pytest.mark.parametrize("browser_context_options", [{"java_script_enabled": False}])
def test_recovery_works_without_javascript(page, make_user, mailbox):
    make_user(email="ann@example.com")
    page.goto("/forgot-password")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Tax ID").fill("7701234567")
    page.get_by_label("Code from the picture").fill("WRONG")
    page.get_by_label("Tax ID").press("Enter")  # sends the form, not a new picture
    page.get_by_text("did not match the picture").wait_for()
    assert page.get_by_label("Email").input_value() == "ann@example.com"
    old_id = page.locator("input[name=captcha_id]").input_value()
    page.get_by_role("button", name="New picture").click()  # a plain form post
    page.wait_for_load_state()
    assert page.locator("input[name=captcha_id]").input_value() != old_id
    assert page.get_by_label("Tax ID").input_value() == "7701234567"
    page.get_by_label("Code from the picture").fill(TEST_ANSWER)
    page.get_by_role("button", name="Send link").click()
    page.wait_for_url("**/forgot-password/sent")
    assert _link(mailbox, "ann@example.com", "/reset-password/")


def test_a_double_click_on_send_link_sends_the_form_once(page, make_user, mailbox):
    """htmx queued the second click's copy and sent it after the first answer; that copy
    found the picture used up, and "The code did not match" could take the page, though the
    link was on its way."""
    make_user(email="ann@example.com")
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.goto("/forgot-password")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Tax ID").fill("7701234567")
    page.get_by_label("Code from the picture").fill(TEST_ANSWER)
    page.get_by_role("button", name="Send link").dblclick()
    page.get_by_role("heading", name="Check your email").wait_for()
    page.wait_for_load_state("networkidle")
    assert posts == [f"{page.url.rsplit('/forgot-password', 1)[0]}/forgot-password"]
    assert _link(mailbox, "ann@example.com", "/reset-password/")
    assert len(mailbox.to("ann@example.com")) == 1


def _shift_session(app, **ages):
    """Move the (only) session's times into the past: created=..., last_seen=..."""

    with app.app_context():
        now = utcnow()
        db.session.execute(
            sa.update(UserSession).values({f"{name}_at": now - age for name, age in ages.items()})
        )
        db.session.commit()


def _session_record(app):
    """The (only) session's record, as the database has it now."""

    with app.app_context():
        record = db.session.scalars(sa.select(UserSession)).one()
        db.session.expunge(record)
        return record


def _end_session(app):
    """The session ends on the server, as when the customer ends it from another device."""

    with app.app_context():
        db.session.execute(sa.update(UserSession).values(revoked_at=utcnow()))
        db.session.commit()


def _focused(page) -> str:
    """The focused element: its id, else its tag."""
    return page.evaluate("() => document.activeElement.id || document.activeElement.tagName")


def test_a_warning_comes_two_minutes_before_an_idle_session_ends(app, page, make_user):
    """WCAG 2.2.1: the customer is told before the session ends and may extend it with one
    press; past the end, the bar says so and leads back to the page after signing in."""
    make_user()
    page.clock.install()
    _sign_in(page, "ann@example.com", TEST_PASSWORD)
    page.goto("/profile")
    page.get_by_label("Phone").focus()  # the customer was at a field when the bar came
    warning = page.locator("#session-warning")
    page.clock.run_for("27:50")
    assert warning.is_hidden()
    page.clock.run_for("00:20")  # 28:10 since the page came: 1:50 left
    idle = page.get_by_role("alert").get_by_text("your session ends in two minutes")
    assert idle.is_visible()
    assert axe_violations(page) == []
    # The server's clock has not moved with the page's: its record says so, as it would.
    _shift_session(app, last_seen=timedelta(minutes=28, seconds=10))
    page.get_by_role("button", name="Stay signed in").click()
    warning.wait_for(state="hidden")
    # The press reached the server and counted as activity there: the session's last activity
    # is now, its idle end 30 minutes away again.
    assert utcnow() - _session_record(app).last_seen_at < timedelta(minutes=1)
    # The button went with the bar: focus is back at the field, not on the page's body.
    assert _focused(page) == "phone"
    # The press counts for 29 minutes (the server counts activity to the minute): the bar
    # comes back 27 minutes after it.
    page.clock.run_for("26:50")
    assert warning.is_hidden()
    page.clock.run_for("00:20")
    assert idle.is_visible()

    page.clock.run_for("02:00")
    ended = page.get_by_role("alert").get_by_text("Your session has ended.")
    assert ended.is_visible() and not idle.is_visible()
    again = page.get_by_role("link", name="Sign in again")
    assert again.get_attribute("href") == "/login?next=%2Fprofile"
    assert axe_violations(page) == []


def test_a_page_in_another_tab_keeps_the_first_tabs_warning_away(page, make_user):
    make_user()
    page.clock.install()
    _sign_in(page, "ann@example.com", TEST_PASSWORD)
    page.goto("/profile")
    page.clock.run_for("20:00")
    other = page.context.new_page()
    other.goto("/profile/sessions")  # the customer works in another tab
    page.clock.run_for("10:00")  # 30 minutes after the first tab's page: it would have ended
    assert page.locator("#session-warning").is_hidden()
    page.clock.run_for("17:10")  # 27:10 after the other tab's page: 1:50 left
    assert page.get_by_text("your session ends in two minutes").is_visible()


def test_the_last_minutes_of_a_twelve_hour_session_cannot_be_extended(app, page, make_user):
    make_user()
    page.clock.install()
    _sign_in(page, "ann@example.com", TEST_PASSWORD)
    _shift_session(app, created=timedelta(hours=11, minutes=50))
    page.goto("/profile")
    page.clock.run_for("07:30")
    assert page.locator("#session-warning").is_hidden()
    page.clock.run_for("00:40")
    assert page.get_by_role("alert").get_by_text("a session has a time limit").is_visible()
    assert page.get_by_role("button", name="Stay signed in").is_hidden()


@pytest.mark.parametrize("browser_context_options", [{"java_script_enabled": False}])
def test_without_javascript_the_warning_stays_out_of_the_way(page, make_user):
    make_user()
    _sign_in(page, "ann@example.com", TEST_PASSWORD)
    page.goto("/profile")
    assert page.locator("#session-warning").count() == 1
    assert page.locator("#session-warning").is_hidden()
    assert page.get_by_role("heading", name="Profile").is_visible()


NUMBER = "EL-0000042"


@pytest.fixture
def ann_with_a_contract(make_user, ledger):
    ledger.contract(NUMBER, account_id=make_user())


def _back_from_a_tab(page, after):
    """From the contract's page to its Documents tab (an address htmx pushes) and, ``after``
    that long, back; the Back button has htmx bring the body back in place, not the browser
    reload the page."""
    page.evaluate("() => { window.noReload = true }")
    page.locator("#session-warning").evaluate("bar => { bar.keptFromBefore = true }")
    page.locator(".tabs").get_by_role("link", name="Documents").click()
    page.wait_for_url(f"**/electricity/{NUMBER}/documents")
    page.locator("#document-results").wait_for()
    page.clock.run_for(after)
    page.go_back()
    page.wait_for_url(f"**/electricity/{NUMBER}")
    page.get_by_role("heading", name="Meters").wait_for()
    assert page.evaluate("() => window.noReload") is True
    assert page.locator("#session-warning").evaluate("bar => !bar.keptFromBefore")  # a new bar


def test_the_warning_comes_on_a_page_the_back_button_brought_back(page, ann_with_a_contract):
    """htmx fetched the page again from the server (no history cache): its bar, a new one,
    is the one that warns, with the time the server has just given."""
    page.clock.install()
    _sign_in(page, "ann@example.com", TEST_PASSWORD)
    page.goto(f"/electricity/{NUMBER}")
    _back_from_a_tab(page, after="05:00")  # the tab's request counted: 29 minutes from it
    warning = page.locator("#session-warning")
    # The server's answer on the way back says 30 minutes (its clock has not moved with the
    # page's): the bar comes 28 minutes after it, not 22 (27 after the tab).
    page.clock.run_for("27:00")
    assert warning.is_hidden()
    page.clock.run_for("01:10")
    assert page.get_by_role("alert").get_by_text("your session ends in two minutes").is_visible()
    # The customer had nothing focused when the bar came, and presses the button with the
    # keyboard: focus lands on the content, not on the page's body.
    page.get_by_role("button", name="Stay signed in").focus()
    page.keyboard.press("Enter")
    warning.wait_for(state="hidden")
    assert _focused(page) == "main"


def test_a_page_from_the_history_cache_keeps_the_tabs_own_end(page, ann_with_a_contract):
    """Were the history cache on, the page brought back would carry the numbers of when it was
    first loaded: counted from the moment it comes back, they would put the end later than it
    is. The tab keeps the end it has counted itself."""
    page.clock.install()
    _sign_in(page, "ann@example.com", TEST_PASSWORD)
    page.goto(f"/electricity/{NUMBER}")
    page.evaluate("() => { htmx.config.historyCacheSize = 10 }")
    page.clock.run_for("20:00")
    # The tab, 20 minutes after the page: the end 49 minutes after the page. Back 5 minutes
    # later, the page's 30 minutes counted from then would end it 55 minutes after the page.
    _back_from_a_tab(page, after="05:00")
    page.clock.run_for("21:40")  # 46:40 after the page
    warning = page.locator("#session-warning")
    assert warning.is_hidden()
    page.clock.run_for("00:30")  # 47:10 after the page: 1:50 left
    assert page.get_by_role("alert").get_by_text("your session ends in two minutes").is_visible()
    page.clock.run_for("02:00")
    assert page.get_by_role("alert").get_by_text("Your session has ended.").is_visible()


def test_the_way_to_sign_in_of_an_ended_session_is_no_activity(app, page, make_user):
    """An htmx request after the session ended is answered with the way to sign-in
    (HX-Redirect): it must not tell the other tabs that the session is still in use. (The
    form, filled in, stays with a note instead: what it holds is not lost.)"""
    make_user()
    page.clock.install()
    _sign_in(page, "ann@example.com", TEST_PASSWORD)
    page.goto("/profile")
    other = page.context.new_page()
    other.goto("/profile")
    page.clock.run_for("10:00")
    _end_session(app)  # ended from another device
    page.get_by_role("button", name="Save").click()
    page.get_by_role("alert").get_by_text("Your session has ended, so this form").wait_for()
    other.clock.run_for("18:10")  # 28:10 after the other tab's page: 1:50 left, as before
    assert other.get_by_role("alert").get_by_text("your session ends in two minutes").is_visible()


def test_back_after_the_session_ended_leads_to_sign_in(app, page, ann_with_a_contract):
    """htmx fetches the page the Back button brings back; a session that has ended meanwhile
    answers with the way to sign-in, followed, not an empty page."""
    _sign_in(page, "ann@example.com", TEST_PASSWORD)
    page.goto(f"/electricity/{NUMBER}")
    page.locator(".tabs").get_by_role("link", name="Documents").click()
    page.wait_for_url(f"**/electricity/{NUMBER}/documents")
    page.locator("#document-results").wait_for()
    _end_session(app)  # ended from another device
    page.go_back()
    page.wait_for_url(f"**/login?next=/electricity/{NUMBER}")
    assert page.get_by_label("Email").is_visible()


def test_signing_out_in_one_tab_takes_the_other_tabs_to_sign_in(page, make_user):
    """One cookie, one session: the account's pages in other tabs do not stay on screen for
    whoever uses the computer next."""
    make_user()
    _sign_in(page, "ann@example.com", TEST_PASSWORD)
    page.goto("/profile")
    other = page.context.new_page()
    other.goto("/profile/sessions")
    other.get_by_role("button", name="Sign out", exact=True).click()
    other.get_by_text("You have signed out.").wait_for()
    page.wait_for_url("**/login?next=%2Fprofile")
    assert page.get_by_role("heading", name="Sign in").is_visible()

    # Signing in again in the other tab brings this one back to where it was, with "Remember
    # me" too (a remembered session's pages have no expiry warning to tell the tabs).
    other.goto("/login")
    other.get_by_label("Email").fill("ann@example.com")
    other.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    other.get_by_label("Remember me").check()
    other.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/profile")
    assert page.get_by_role("heading", name="Profile", exact=True).is_visible()


def test_turning_on_two_factor_sign_in_reads_as_without_javascript(page, make_user):
    """After "Turn on" the page's heading is the one of the page without JavaScript, and focus
    is on it: not "Set up two-factor sign-in" above "Two-factor sign-in is on"."""
    make_user()
    _sign_in(page, "ann@example.com", TEST_PASSWORD)
    page.goto("/profile/two-factor/setup")
    secret = page.locator("code.secret").inner_text().replace(" ", "")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_label("Current password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Turn on").click()
    page.get_by_text("Two-factor sign-in is on.").wait_for()
    headings = page.get_by_role("heading", level=1)
    assert headings.all_inner_texts() == ["Two-factor sign-in"]
    assert page.evaluate("document.activeElement.tagName") == "H1"
    assert page.title().startswith("Your recovery codes")
