"""Attachments over what one question may carry, in Chromium: the form stays as typed, the
message stands beside the files, nothing is sent (before, the 413 page replaced the form)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import Question
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.sqlite_only

TOO_LARGE = "These files are too large to send together. Choose fewer or smaller files."
MB = 1024 * 1024


@pytest.fixture
def app(app, tmp_path):
    app.instance_path = str(tmp_path / "instance")
    return app


@pytest.fixture
def answered_statuses():
    """The server's 413 to too large an upload is an answer here."""
    return (413, 422)


@pytest.fixture
def page(page):
    page.set_default_timeout(20_000)  # large uploads take their time
    return page


@pytest.fixture
def big_scans(tmp_path):
    """Four PDFs of 5 MB: each one allowed, together more than a question takes (16 MB)."""
    paths = []
    for n in range(4):
        path = tmp_path / f"scan-{n}.pdf"
        path.write_bytes(b"%PDF-1.4\n" + b"0" * (5 * MB - 20) + b"\n%%EOF\n")
        paths.append(str(path))
    return paths


def _ask(page, files):
    page.goto("/support/ask")
    page.get_by_label("Subject").select_option(label="Documents")
    page.get_by_label("Question").fill("Here are the scans of our meters.")
    page.get_by_label("Attachments").set_input_files(files)


def test_too_many_megabytes_keep_the_question_and_say_so(app, page, make_user, big_scans):
    make_user(email="ann@example.com")
    page.goto("/login")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)

    _ask(page, big_scans)
    posts = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
    page.get_by_role("button", name="Send").click()

    error = page.locator("#files-error")
    error.wait_for()
    assert error.inner_text() == TOO_LARGE
    assert page.get_by_label("Question").input_value() == "Here are the scans of our meters."
    assert page.get_by_label("Attachments").get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "files"
    assert posts == []  # refused before sending: 20 MB not uploaded for nothing
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Question)) == 0

    # Where the page says no limit (or nginx's is smaller), the server's 413 answer leaves the
    # form as typed, with the message beside the files, instead of replacing it.
    page.evaluate("document.getElementById('files').removeAttribute('data-max-total')")
    with page.expect_response(lambda response: response.status == 413):
        page.get_by_role("button", name="Send").click()
    assert error.inner_text() == TOO_LARGE
    assert page.get_by_label("Question").input_value() == "Here are the scans of our meters."
    assert page.evaluate("document.activeElement.id") == "files"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Question)) == 0

    # Fewer files: the message goes, and the question is sent.
    page.get_by_label("Attachments").set_input_files(big_scans[:1])
    page.get_by_role("button", name="Send").click()
    page.wait_for_url("**/support/questions/**")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Question)) == 1
