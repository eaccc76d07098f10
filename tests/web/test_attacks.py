"""The portal as an attacker meets it: what the answers' headers let a shared browser, a proxy
or a server in front do with them, and where htmx is sent after a form."""

from __future__ import annotations

from datetime import date

import pytest

from lkapp.extensions import db
from lkapp.services import pdf as pdf_service
from tests.conftest import TEST_PASSWORD
from tests.web.test_documents import add_contract, add_document

pytestmark = pytest.mark.sqlite_only

CYRILLIC = "ЭЛ-0000077"


@pytest.fixture
def customer(app, make_user, tmp_path):
    """A customer with a contract numbered in Cyrillic and one invoice; the PDF cache of the
    test's own."""
    app.instance_path = str(tmp_path)
    pdf_service.clear_cache()
    user_id = make_user()
    with app.app_context():
        contract = add_contract(number=CYRILLIC, account_id=user_id)
        add_document(contract, "INV-2026-0001", issued_on=date(2026, 2, 5))
        db.session.commit()
    yield user_id
    pdf_service.clear_cache()


def test_htmx_is_sent_on_to_an_address_in_cyrillic_in_a_header_a_server_can_send(client, customer):
    """Signing in with htmx from a contract's page (``next`` names its Cyrillic number): the
    HX-Redirect header held the raw letters, which gunicorn refuses to send (a 500 after the
    sign-in). It goes percent-encoded, as a plain form's Location does, and leads there."""
    fields = {"email": "ann@example.com", "password": TEST_PASSWORD}
    response = client.htmx("POST", f"/login?next=/electricity/{CYRILLIC}", data=fields)
    assert response.status_code == 204
    target = response.headers["HX-Redirect"]
    assert target.isascii()
    assert target == "/electricity/%D0%AD%D0%9B-0000077"
    page = client.get(target)
    assert page.status_code == 200 and CYRILLIC in page.get_data(as_text=True)

    client.post("/logout")
    plain = client.post(f"/login?next=/electricity/{CYRILLIC}", data=fields)
    assert plain.headers["Location"] == target


def test_no_page_or_file_of_an_account_is_kept_by_a_cache_and_sign_out_closes_them(
    client, auth, customer
):
    """A shared browser or a proxy keeps none of the account's answers (pages, errors, PDFs,
    ZIPs, CSV): after sign-out, Back and a second visitor get the way to sign in instead."""
    auth.login()
    base = f"/electricity/{CYRILLIC}"
    downloads = {
        "/": "text/html",
        f"{base}/documents": "text/html",
        f"{base}/documents/invoice/INV-2026-0001/pdf": "application/pdf",
        f"{base}/documents/year/2026.zip": "application/zip",
        f"{base}/statement.pdf?start=2026-01-01&end=2026-12-31": "application/pdf",
        "/electricity/documents/2026-01.zip": "application/zip",
        "/electricity/contracts.csv": "text/csv",
        f"{base}/documents/invoice/NO-SUCH": "text/html",  # a 404 page of the account
    }
    for url, kind in downloads.items():
        response = client.get(url)
        assert response.status_code in (200, 404), url
        assert response.mimetype == kind, url
        assert response.headers["Cache-Control"] == "no-store", url
        if kind != "text/html":
            assert response.headers["Content-Disposition"].startswith("attachment;"), url
    auth.logout()
    for url in downloads:
        response = client.get(url)
        if url == "/":
            assert "Ann&#39;s Bakery" not in response.get_data(as_text=True)
        else:
            assert response.status_code == 302, url
            assert response.headers["Location"].startswith("/login?next="), url


def test_what_a_stale_form_shows_back_is_not_kept_for_the_next_user_of_the_browser(
    client, auth, customer
):
    """Signed out in another tab, a plain form comes back with what was typed: its session
    gone, nothing marked that page no-store, and Back on a shared computer could show the
    tax ID and phone to whoever came next. Fields nobody typed (the month and meters a
    readings form carries) are not shown back as typed."""
    auth.login()
    stale = client._csrf_token()
    auth.logout()
    same_origin = {"Sec-Fetch-Site": "same-origin"}
    registration = {"email": "bob@example.com", "tax_id": "9988776655", "phone": "+36 1 555 0142"}
    response = client.post(
        "/register", data={**registration, "csrf_token": stale}, headers=same_origin
    )
    assert response.status_code == 400 and "9988776655" in response.text
    assert response.headers["Cache-Control"] == "no-store"
    readings = {"T1": "12345.6", "period": "2026-03", "meter": "17", "csrf_token": stale}
    response = client.post(
        "/electricity/EL-1/readings/meters/1", data=readings, headers=same_origin
    )
    assert response.status_code == 400 and "12345.6" in response.text
    assert "2026-03" not in response.text and ">17<" not in response.text
