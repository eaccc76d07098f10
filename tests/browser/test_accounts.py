"""A customer's whole way in, in Chromium: register, confirm, recover, sign in again."""

import re
from datetime import timedelta

import pytest

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
    page.wait_for_function("document.activeElement !== document.body")
    focused = page.evaluate(
        "[document.activeElement.textContent, document.activeElement.getAttribute("
        "'aria-describedby')]"
    )
    assert focused == ["New picture", "captcha-fresh"]  # ready to ask again, told it changed
    assert page.locator("#captcha-fresh").text_content() == "A new picture is shown."
    page.get_by_label("Email").fill("bob@example.com")
    page.get_by_label("Tax ID").fill("12345678242")
    page.get_by_label("Code from the picture").fill(TEST_ANSWER)
    page.get_by_role("button", name="Send link").click()
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
    page.get_by_role("button", name="Send link").click()
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


def _shift_session(app, **ages):
    """Move the (only) session's times into the past: created=..., last_seen=..."""
    import sqlalchemy as sa

    from lkapp.extensions import db
    from lkapp.models import UserSession, utcnow

    with app.app_context():
        now = utcnow()
        db.session.execute(
            sa.update(UserSession).values({f"{name}_at": now - age for name, age in ages.items()})
        )
        db.session.commit()


def test_a_warning_comes_two_minutes_before_an_idle_session_ends(page, make_user):
    """WCAG 2.2.1: the customer is told before the session ends and may extend it with one
    press; past the end, the bar says so and leads back to the page after signing in."""
    make_user()
    page.clock.install()
    _sign_in(page, "ann@example.com", TEST_PASSWORD)
    page.goto("/profile")
    warning = page.locator("#session-warning")
    page.clock.run_for("27:50")
    assert warning.is_hidden()
    page.clock.run_for("00:20")  # 28:10 since the page came: 1:50 left
    idle = page.get_by_role("alert").get_by_text("your session ends in two minutes")
    assert idle.is_visible()
    assert axe_violations(page) == []
    page.get_by_role("button", name="Stay signed in").click()
    warning.wait_for(state="hidden")
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
