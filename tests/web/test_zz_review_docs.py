from __future__ import annotations

import io
import zipfile
from datetime import date
from decimal import Decimal
from urllib.parse import quote

import pytest

from lkapp.extensions import db
from lkapp.services import pdf as pdf_service

from .test_documents import NUMBER, add_contract, add_document, customer, docs  # noqa: F401

URL = f"/electricity/{NUMBER}/documents"


@pytest.fixture(autouse=True)
def private_cache(app, tmp_path):
    app.instance_path = str(tmp_path)
    pdf_service.clear_cache()
    yield
    pdf_service.clear_cache()


def test_year_zip_duplicate_names(app, client, customer):
    with app.app_context():
        c = add_contract(account_id=customer)
        add_document(c, "INV 1", issued_on=date(2025, 3, 5), period=date(2025, 2, 1))
        add_document(c, "INV/1", issued_on=date(2025, 3, 5), period=date(2025, 2, 1))
        db.session.commit()
    r = client.get(f"{URL}/year/2025.zip")
    names = zipfile.ZipFile(io.BytesIO(r.data)).namelist()
    assert len(names) == len(set(names)), names


def test_month_zip_duplicate_names(app, client, customer):
    with app.app_context():
        for number in ("EL 1", "EL.1"):
            c = add_contract(number=number, account_id=customer)
            add_document(c, "INV-1", issued_on=date(2025, 3, 5), period=date(2025, 2, 1))
        db.session.commit()
    r = client.get("/electricity/documents/2025-02.zip")
    names = zipfile.ZipFile(io.BytesIO(r.data)).namelist()
    assert len(names) == len(set(names)), names


def test_non_latin1_download_names(app, client, customer):
    with app.app_context():
        c = add_contract(number="ЭЛ-1", account_id=customer)
        add_document(c, "СФ-15", issued_on=date(2025, 3, 5), period=date(2025, 2, 1))
        db.session.commit()
    base = f"/electricity/{quote('ЭЛ-1')}"
    for url in (f"{base}/documents/invoice/{quote('СФ-15')}/pdf", f"{base}/documents/year/2025.zip",
                f"{base}/statement.pdf"):
        r = client.get(url)
        assert r.status_code == 200
        r.headers["Content-Disposition"].encode("latin-1")  # what every WSGI server does


def test_cyrillic_number_pdf_over_http(app, client, customer, live_server):
    import http.client

    with app.app_context():
        c = add_contract(account_id=customer)
        add_document(c, "СФ-15", issued_on=date(2025, 3, 5), period=date(2025, 2, 1))
        db.session.commit()
    path = f"{URL}/invoice/{quote('СФ-15')}/pdf"
    assert client.get(path).status_code == 200  # the test client does not encode headers
    cookie = "; ".join(f"{c.key}={c.value}" for c in client._cookies.values())
    conn = http.client.HTTPConnection(live_server.url.split("//")[1], timeout=10)
    conn.request("GET", path, headers={"Cookie": cookie})
    assert conn.getresponse().status == 200  # RemoteDisconnected: the server failed writing headers


def test_year_links_only_for_years_with_documents(app, client, customer):
    with app.app_context():
        c = add_contract(account_id=customer)
        add_document(c, "INV-A", issued_on=date(2021, 3, 5), period=date(2021, 2, 1))
        add_document(c, "INV-B", issued_on=date(2025, 3, 5), period=date(2025, 2, 1))
        db.session.commit()
    page = client.get(URL).text
    for year in (2022, 2023, 2024):
        if f"/year/{year}.zip" in page:  # offered on the tab ...
            assert client.get(f"{URL}/year/{year}.zip").status_code == 200, year  # ... 404


def test_payments_until_far_month_is_not_a_500(client, docs):
    r = client.get(f"/electricity/{NUMBER}/payments?until=9999-12")
    assert r.status_code in (200, 422), r.status_code


def test_vat_rate_decimals(app):
    from lkapp.documents.table import vat_rate
    with app.test_request_context():
        assert vat_rate(Decimal("5.50")) == "5.5 %"
