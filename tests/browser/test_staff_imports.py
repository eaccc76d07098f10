"""In Chromium: an operator uploads billing files and follows the job; the back-office pages of
issue 9 pass the Nu HTML checker and axe-core."""

from __future__ import annotations

import pytest

from lkapp.extensions import db
from lkapp.models import Contract, ImportJob, utcnow
from lkapp.staff import imports as staff_imports
from tests.conftest import TEST_PASSWORD, TEST_TOTP_SECRET, axe_violations, check_fragment

pytestmark = pytest.mark.sqlite_only

CONTRACTS = """\
number;holder_name;tax_id;address;status
EL-1;Tisza Bakery Kft.;12345678-2-42;Budapest, Fő utca 1.;active
EL-2;Volga LLC;7701234567;Moscow, Tverskaya 1;
"""
BAD = """\
number;holder_name;tax_id;address;status
EL-1;Tisza Bakery Kft.;12345678-2-42;Budapest, Fő utca 1.;sleeping
"""


@pytest.fixture
def app_config(app_config, tmp_path):
    app_config["IMPORT_UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    return app_config


@pytest.fixture(autouse=True)
def _imports_finish():
    yield
    assert staff_imports.wait_for_imports(30)


def sign_in_staff(page, email="op@example.org"):
    import pyotp

    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/login/two-factor**")
    page.get_by_label("Authentication code").fill(pyotp.TOTP(TEST_TOTP_SECRET).now())
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/staff/")


def upload_through_the_page(page, tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    nav = page.get_by_role("navigation", name="Back office")
    nav.get_by_role("link", name="Imports", exact=True).click()
    page.locator("main").get_by_role("link", name="Contracts", exact=True).click()
    page.get_by_label("CSV file").set_input_files(str(path))
    page.get_by_role("button", name="Upload and import").click()
    page.wait_for_url("**/staff/imports/*")


@pytest.mark.parametrize(
    "browser_context_options", [{}, {"java_script_enabled": False}], ids=["js", "no-js"]
)
def test_operator_uploads_a_file_and_sees_the_outcome(page, make_user, app, tmp_path):
    make_user(email="op@example.org", role="staff")
    sign_in_staff(page)

    upload_through_the_page(page, tmp_path, "bad.csv", BAD)
    staff_imports.wait_for_imports(30)
    page.reload()
    page.get_by_text("Nothing was imported").wait_for()
    row = page.locator("#import-errors tbody tr").first
    assert row.locator("td").nth(0).inner_text() == "2"
    assert row.locator("td").nth(1).inner_text() == "status"
    assert row.locator("td").nth(2).inner_text() == "sleeping"

    upload_through_the_page(page, tmp_path, "contracts.csv", CONTRACTS)
    staff_imports.wait_for_imports(30)
    page.reload()
    page.get_by_text("2 created, 0 updated, 0 unchanged").wait_for()
    with app.app_context():
        assert db.session.query(Contract).count() == 2


def test_a_running_job_updates_itself_until_done(page, make_user, app):
    """The job block polls every second while the job runs, and stops once it is done."""
    make_user(email="op@example.org", role="staff")
    with app.app_context():
        job = ImportJob(
            kind="payments",
            filename="p.csv",
            file_sha256="a" * 64,
            status="running",
            rows_total=10,
            rows_done=4,
            started_at=utcnow(),
        )
        db.session.add(job)
        db.session.commit()
        job_id = job.id
    sign_in_staff(page)
    page.goto(f"/staff/imports/{job_id}")
    page.get_by_text("The rows are being checked.").wait_for()
    with app.app_context():
        stored = db.session.get(ImportJob, job_id)
        stored.status, stored.created, stored.finished_at = "done", 7, utcnow()
        db.session.commit()
    page.get_by_text("7 created, 0 updated, 0 unchanged").wait_for(timeout=5000)
    assert page.locator("#import-job[data-hx-trigger]").count() == 0


def test_back_office_pages_of_issue_9_are_valid_and_accessible(
    app, client, auth, make_user, html_checker, page, tmp_path
):
    customer = make_user(email="ann@example.com", confirmed=False)
    make_user(email="boss@example.org", role="admin")
    # A second admin for the browser: a TOTP code is accepted once, and the test client has
    # just used this window's code for boss@.
    make_user(email="chief@example.org", role="admin")
    with app.app_context():
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
                            "value": "<b>x</b>",
                            "message": "must be one of: active | terminated",
                        }
                    ],
                ),
                ImportJob(
                    kind="payments",
                    filename="p.csv",
                    file_sha256="d" * 64,
                    status="running",
                    rows_total=10,
                    started_at=utcnow(),
                ),
            ]
        )
        db.session.commit()
    auth.login(email="boss@example.org")
    urls = [
        "/staff/",
        "/staff/imports",
        "/staff/imports/new/documents",
        "/staff/imports/1",
        "/staff/imports/2",
        "/staff/customers",
        "/staff/customers?q=ann",
        f"/staff/customers/{customer}",
        "/staff/audit",
        "/staff/audit?since=nonsense",
        "/staff/team",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 422), url
        html_checker(response.text, url)
    for url in ("/staff/imports", "/staff/imports/2", "/staff/customers?q=a", "/staff/audit"):
        check_fragment(html_checker, client.htmx("GET", url).text, url + " (fragment)")
    refused = client.htmx("POST", "/staff/imports/new/contracts", data={})
    check_fragment(html_checker, refused.text, "upload form with errors")
    team = client.post("/staff/team", data={"email": "x", "name": "", "role": "staff"})
    html_checker(team.text, "team form with errors")
    lock = client.htmx("POST", f"/staff/customers/{customer}/lock", data={"reason": ""})
    check_fragment(html_checker, lock.text, "lock form with errors")

    sign_in_staff(page, "chief@example.org")
    for url in ("/staff/", "/staff/imports/1", "/staff/imports/new/documents", "/staff/audit",
                f"/staff/customers/{customer}", "/staff/team"):  # fmt: skip
        page.goto(url)
        assert axe_violations(page) == [], url
