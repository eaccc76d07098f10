"""PDFs of documents and statements: text (Cyrillic and Hungarian, regular and bold), totals,
the payment QR code, A4 with page numbers and a repeated table header, the content-keyed cache,
the year's ZIP."""

from __future__ import annotations

import io
import os
import re
import shutil
import time
import zipfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
import zxingcpp
from babel.dates import format_date
from pypdf import PdfReader

from lkapp import create_app
from lkapp.documents import services as document_services
from lkapp.domain.payment_qr import document_purpose, epc_payload
from lkapp.extensions import db
from lkapp.models import Contract, Document
from lkapp.services import pdf as pdf_service
from tests.conftest import AuthActions

from .test_documents import HOLDER, NUMBER, add_contract, add_document, add_payment

D = Decimal
DOC_URL = f"/electricity/{NUMBER}/documents"


@pytest.fixture(autouse=True)
def private_cache(app, tmp_path):
    """Each test its own instance folder (the PDF cache lives there) and an empty LRU."""
    app.instance_path = str(tmp_path)
    pdf_service.clear_cache()
    yield
    pdf_service.clear_cache()


@pytest.fixture
def customer(make_user, auth):
    user_id = make_user()
    auth.login()
    return user_id


@pytest.fixture
def invoice(app, customer):
    with app.app_context():
        contract = add_contract(account_id=customer)
        add_document(
            contract,
            "INV-2026-0042",
            issued_on=date(2026, 2, 5),
            period=date(2026, 1, 1),
            due_on=date(2026, 2, 20),
            lines=(
                (D("750.00"), D("3000"), D("0.25")),
                (D("484.56"), D("1211.4"), D("0.40000")),
            ),
        )
        add_document(
            contract,
            "VAT-2026-0042",
            kind="vat_invoice",
            issued_on=date(2026, 2, 5),
            period=date(2026, 1, 1),
            lines=((D("1234.56"), D("4211.4"), D("0.29315")),),
        )
        db.session.commit()
        return contract.id


def fonts_of(reader: PdfReader) -> list[tuple[str, str]]:
    """(text, font name) of every run of text in the PDF."""
    runs = []
    for page in reader.pages:

        def visit(text, _cm, _tm, font, _size):
            if text.strip() and font:
                runs.append((text, str(font.get("/BaseFont", ""))))

        page.extract_text(visitor_text=visit)
    return runs


def text_of(reader: PdfReader) -> str:
    return "\n".join(page.extract_text() for page in reader.pages)


def test_invoice_pdf_holds_number_totals_and_letters_in_regular_and_bold(client, invoice):
    response = client.get(f"{DOC_URL}/invoice/INV-2026-0042/pdf")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert 'filename="invoice-INV-2026-0042.pdf"' in response.headers["Content-Disposition"]
    reader = PdfReader(io.BytesIO(response.data))
    text = text_of(reader)
    for expected in (
        "Invoice INV-2026-0042",
        "City Power Supply",
        NUMBER,
        "€1,234.56",  # net
        "VAT 27%",
        "€333.33",  # VAT
        "€1,567.89",  # total
        "Feb 20, 2026",
        "January 2026",
        "3,000",
        "1,211.4",  # kWh: the decimals it has, as on the Readings tab
        "0.40000",
        "Page 1 / 1",
    ):
        assert expected in text, expected
    assert "1,211.400" not in text
    runs = fonts_of(reader)
    bold = " ".join(t for t, font in runs if "Bold" in font)
    regular = " ".join(t for t, font in runs if "DejaVuSans" in font and "Bold" not in font)
    for word in ("Тепловой", "пункт", "Győr", "Fő"):
        assert word in bold, word  # the holder's name, in bold
        assert word in regular, word  # the line's description and the address
    assert all("DejaVu" in font for _t, font in runs), {font for _t, font in runs}
    # A4: 595 × 842 points
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)


def test_invoice_pdf_carries_the_payment_qr_code(app, client, invoice):
    response = client.get(f"{DOC_URL}/invoice/INV-2026-0042/pdf")
    reader = PdfReader(io.BytesIO(response.data))
    images = reader.pages[0].images
    assert len(images) == 1
    with app.app_context():
        payload = epc_payload(
            "City Power Supply",
            app.config["UTILITY_BANK_ACCOUNT"],
            "OTPVHUHB",
            D("1567.89"),
            "EUR",
            document_purpose(NUMBER, "INV-2026-0042"),
        )
    lines = payload.split("\n")
    assert lines[5] == "City Power Supply" and lines[6] == "HU42117730161111101800000000"
    assert lines[7] == "EUR1567.89" and lines[10] == f"{NUMBER} / INV-2026-0042"
    # What a bank app reads from the printed code: the payload's UTF-8 bytes, level M, no ECI.
    scanned = zxingcpp.read_barcode(images[0].image)
    assert scanned is not None, "the QR code in the PDF does not scan"
    assert scanned.bytes == payload.encode("utf-8")
    assert scanned.ec_level == "M" and scanned.symbology_identifier == "]Q1"


def _set_paid(app, number, paid):
    with app.app_context():
        db.session.execute(
            sa.update(Document).where(Document.number == number).values(paid=D(paid))
        )
        db.session.commit()


def test_a_partly_paid_invoice_asks_for_what_is_left_and_a_paid_one_for_nothing(
    app, client, invoice
):
    """Scanned from a printout, a code with the full total would pay again what was paid."""
    url = f"{DOC_URL}/invoice/INV-2026-0042/pdf"
    _set_paid(app, "INV-2026-0042", "567.89")
    reader = PdfReader(io.BytesIO(client.get(url).data))
    text = text_of(reader)
    assert re.search(r"Paid\s+€567.89\s+Left to pay\s+€1,000.00", text), text
    assert "€1,567.89" in text  # the invoice's total stays what it is
    scanned = zxingcpp.read_barcode(reader.pages[0].images[0].image)
    assert scanned.bytes.decode().split("\n")[7] == "EUR1000.00"

    _set_paid(app, "INV-2026-0042", "1567.89")
    reader = PdfReader(io.BytesIO(client.get(url).data))
    text = text_of(reader)
    assert not reader.pages[0].images
    assert "This invoice is paid in full." in text
    assert "Pay with your bank app" not in text and "Left to pay" not in text


def test_the_payment_purpose_is_the_same_numbers_in_every_language(client, invoice):
    """A Hungarian or Russian PDF prints the purpose under its own label, with no English
    words in it, and the code carries the very same text."""
    for locale, label in (("hu", "Közlemény"), ("ru", "Назначение платежа")):
        client.post("/language", data={"locale": locale, "next": "/"})
        reader = PdfReader(io.BytesIO(client.get(f"{DOC_URL}/invoice/INV-2026-0042/pdf").data))
        text = text_of(reader)
        assert re.search(rf"{label}\s+{NUMBER} / INV-2026-0042", text), text
        assert "Contract" not in text and "invoice" not in text
        scanned = zxingcpp.read_barcode(reader.pages[0].images[0].image)
        assert scanned.bytes.decode().split("\n")[10] == f"{NUMBER} / INV-2026-0042"


def test_vat_invoice_pdf_has_no_qr_and_points_to_the_invoice(client, invoice):
    response = client.get(f"{DOC_URL}/vat_invoice/VAT-2026-0042/pdf")
    reader = PdfReader(io.BytesIO(response.data))
    assert not reader.pages[0].images
    text = text_of(reader)
    assert "VAT invoice VAT-2026-0042" in text and "€1,567.89" in text
    assert "pay the invoice" in text


def test_an_invoice_no_qr_code_can_carry_gives_the_payment_details_alone(app, client, customer):
    """Above 999,999,999.99, or in a currency other than the euro (a SEPA transfer is in
    euro), there is no payment QR code: the invoice still prints (it answered 500) with the
    recipient, account, amount and purpose to type in."""
    with app.app_context():
        contract = add_contract(account_id=customer)
        add_document(contract, "INV-BIG", lines=((D("900000000.00"), D("1"), D("1")),))
        add_document(contract, "INV-SMALL")
        db.session.commit()

    def details(number):
        response = client.get(f"{DOC_URL}/invoice/{number}/pdf")
        assert response.status_code == 200
        reader = PdfReader(io.BytesIO(response.data))
        text = text_of(reader)
        assert re.search(rf"Purpose\s+{NUMBER} / {number}", text), text
        assert "HU42 1177 3016 1111 1018 0000 0000" in text
        return text, len(reader.pages[0].images)

    text, images = details("INV-BIG")
    assert images == 0 and "Payment details" in text and "Pay with your bank app" not in text
    assert "€1,143,000,000.00" in text
    zipped = client.get(f"{DOC_URL}/year/2026.zip")
    assert zipped.status_code == 200
    assert "2026-02-05-invoice-INV-BIG.pdf" in zipfile.ZipFile(io.BytesIO(zipped.data)).namelist()

    assert details("INV-SMALL")[1] == 1
    app.config["CURRENCY"] = "HUF"
    text, images = details("INV-SMALL")
    assert images == 0 and "Payment details" in text and "HUF" in text


def test_long_document_repeats_the_table_header_and_numbers_pages(app, client, customer):
    with app.app_context():
        contract = add_contract(account_id=customer)
        add_document(
            contract,
            "INV-LONG",
            lines=[(D("1.00"), D("4"), D("0.25"))] * 90,
        )
        db.session.commit()
    reader = PdfReader(io.BytesIO(client.get(f"{DOC_URL}/invoice/INV-LONG/pdf").data))
    assert len(reader.pages) >= 2
    for number, page in enumerate(reader.pages, 1):
        text = page.extract_text()
        assert f"Page {number} / {len(reader.pages)}" in text
        if number < len(reader.pages) or "Тепловой" in text:
            assert "Description" in text and "Amount" in text, f"page {number} lost the header"


@pytest.fixture
def renders(monkeypatch) -> list[str]:
    """The HTML of every PDF actually rendered (not served from a cache)."""
    renders = []
    real = pdf_service.render_pdf

    def counting(html, **kwargs):
        renders.append(html)
        return real(html, **kwargs)

    monkeypatch.setattr(pdf_service, "render_pdf", counting)
    return renders


def test_the_same_pdf_twice_is_served_from_the_cache(app, client, invoice, renders):
    url = f"{DOC_URL}/invoice/INV-2026-0042/pdf"
    first = client.get(url).data
    assert client.get(url).data == first
    assert len(renders) == 1
    # another worker (empty LRU) finds it in instance/pdf-cache
    pdf_service.clear_cache()
    assert client.get(url).data == first and len(renders) == 1
    files = list((Path(app.instance_path) / "pdf-cache").glob("*"))
    assert len(files) == 1 and files[0].read_bytes() == first
    # changed content, a new PDF
    with app.app_context():
        doc = db.session.query(Document).filter_by(number="INV-2026-0042").one()
        doc.lines[0].description = "Tarifa T2 Győr"
        db.session.commit()
    changed = client.get(url).data
    assert len(renders) == 2 and changed != first
    assert "Tarifa T2 Győr" in text_of(PdfReader(io.BytesIO(changed)))
    # another language, another PDF
    client.post("/language", data={"locale": "hu", "next": "/"})
    client.get(url)
    assert len(renders) == 3


def test_a_changed_translation_renders_the_pdf_again(
    app, client, invoice, renders, monkeypatch, tmp_path
):
    """A fixed word in a catalogue (or a template, or a format) must reach PDFs already
    cached: what they were rendered with is part of their key."""
    url = f"{DOC_URL}/invoice/INV-2026-0042/pdf"
    first = client.get(url).data
    catalogues = tmp_path / "translations"
    shutil.copytree(app.config["BABEL_TRANSLATION_DIRECTORIES"], catalogues)
    monkeypatch.setitem(app.config, "BABEL_TRANSLATION_DIRECTORIES", str(catalogues))
    assert client.get(url).data == first and len(renders) == 1, "the same files elsewhere"
    hungarian = catalogues / "hu" / "LC_MESSAGES" / "messages.mo"
    hungarian.write_bytes(hungarian.read_bytes() + b"\0")
    client.get(url)
    assert len(renders) == 2


def test_a_damaged_cache_file_is_rendered_again(app, client, invoice):
    url = f"{DOC_URL}/invoice/INV-2026-0042/pdf"
    first = client.get(url).data
    (cached,) = (Path(app.instance_path) / "pdf-cache").glob("*.pdf")
    cached.write_bytes(b"garbage")
    pdf_service.clear_cache()
    again = client.get(url).data
    assert again.startswith(b"%PDF-") and text_of(PdfReader(io.BytesIO(again))) == text_of(
        PdfReader(io.BytesIO(first))
    )
    assert cached.read_bytes() == again


def test_pruning_deletes_the_pdfs_nobody_downloaded_for_a_while(
    app, client, runner, invoice, monkeypatch
):
    url = f"{DOC_URL}/invoice/INV-2026-0042/pdf"
    first = client.get(url).data
    cache = Path(app.instance_path) / "pdf-cache"
    (downloaded,) = cache.glob("*.pdf")
    forgotten = cache / f"{'0' * 64}.pdf"
    forgotten.write_bytes(first)
    long_ago = time.time() - 91 * 86400
    for path in (downloaded, forgotten):
        os.utime(path, (long_ago, long_ago))
    pdf_service.clear_cache()  # another worker: served from the file, which marks it used
    assert client.get(url).data == first

    result = runner.invoke(args=["pdf-cache", "prune", "--days", "90"])
    assert result.exit_code == 0, result.output
    assert re.search(
        r"Deleted 1 PDF\(s\) not downloaded for 90 days \(\d+\.\d MB\)\.", result.output
    )
    assert downloaded.exists() and not forgotten.exists()
    refused = runner.invoke(args=["pdf-cache", "prune", "--days", "0"])
    assert refused.exit_code == 2 and "Invalid value for '--days'" in refused.output
    assert downloaded.exists()

    # A cache the command may not change: it said "Deleted 0" every day, and the cache grew.
    def denied(path, missing_ok=False):
        raise PermissionError(13, "Permission denied", str(path))

    os.utime(downloaded, (long_ago, long_ago))
    monkeypatch.setattr(Path, "unlink", denied)
    failed = runner.invoke(args=["pdf-cache", "prune", "--days", "1"])
    assert failed.exit_code == 1
    assert failed.output.startswith(f"Error: cannot prune {downloaded}: Permission denied")


def test_year_zip_holds_the_years_pdfs_and_names_the_ones_left_out(app, client, customer):
    with app.app_context():
        contract = add_contract(account_id=customer)
        add_document(contract, "INV-A", issued_on=date(2025, 1, 5))
        add_document(contract, "VAT-A", kind="vat_invoice", issued_on=date(2025, 1, 5))
        add_document(contract, "INV-B", issued_on=date(2025, 12, 31))
        add_document(contract, "INV-BAD", issued_on=date(2025, 6, 1), total=D("1.00"))
        add_document(contract, "INV-NEXT", issued_on=date(2026, 1, 1))
        db.session.commit()
    response = client.get(f"{DOC_URL}/year/2025.zip")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/zip"
    assert f'filename="documents-{NUMBER}-2025.zip"' in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = archive.namelist()
    assert names == [
        "2025-01-05-invoice-INV-A.pdf",
        "2025-01-05-vat_invoice-VAT-A.pdf",
        "2025-12-31-invoice-INV-B.pdf",
        "NOT-INCLUDED.txt",
    ]
    assert "INV-BAD" in archive.read("NOT-INCLUDED.txt").decode()
    first = PdfReader(io.BytesIO(archive.read(names[0])))
    assert "INV-A" in text_of(first)
    assert client.get(f"{DOC_URL}/year/2019.zip").status_code == 404


@pytest.mark.sqlite_only
def test_numbers_a_file_name_cannot_tell_apart_give_files_of_their_own(app, client, customer):
    """ "INV 1" and "INV/1" were both "INV_1.pdf", "EL 1" and "EL.1" both the folder "EL_1":
    unzipping kept one of the two documents."""
    with app.app_context():
        first = add_contract(number="EL 1", account_id=customer)
        second = add_contract(number="EL.1", account_id=customer)
        for number in ("INV 1", "INV/1"):
            add_document(first, number, issued_on=date(2025, 3, 5), period=date(2025, 2, 1))
        add_document(second, "INV 1", issued_on=date(2025, 3, 5), period=date(2025, 2, 1))
        db.session.commit()
    year = client.get("/electricity/EL 1/documents/year/2025.zip")
    assert zipfile.ZipFile(io.BytesIO(year.data)).namelist() == [
        "2025-03-05-invoice-INV_1.pdf",
        "2025-03-05-invoice-INV_1-2.pdf",
    ]
    month = client.get("/electricity/documents/2025-02.zip")
    assert sorted(zipfile.ZipFile(io.BytesIO(month.data)).namelist()) == [
        "EL_1-2/2025-03-05-invoice-INV_1.pdf",
        "EL_1/2025-03-05-invoice-INV_1-2.pdf",
        "EL_1/2025-03-05-invoice-INV_1.pdf",
    ]


def test_year_links_are_for_years_with_documents(app, client, customer):
    with app.app_context():
        contract = add_contract(account_id=customer)
        add_document(contract, "INV-A", issued_on=date(2021, 3, 5), period=date(2021, 2, 1))
        add_document(contract, "INV-B", issued_on=date(2025, 3, 5), period=date(2025, 2, 1))
        db.session.commit()
    page = client.get(DOC_URL).text
    assert set(re.findall(r"/year/(\d{4})\.zip", page)) == {"2021", "2025"}  # not 2022-2024


def test_month_zip_holds_every_contracts_documents_of_the_month(app, client, customer, make_user):
    """An accountant's month: a folder per contract, the month's documents only, none of
    another account's; the Electricity list links each month that has documents."""
    bob = make_user(email="bob@example.com")
    with app.app_context():
        first = add_contract(account_id=customer)
        second = add_contract("EL-0000078", account_id=customer)
        theirs = add_contract("EL-0000099", account_id=bob)
        october, september = date(2026, 10, 1), date(2026, 9, 1)
        add_document(first, "INV-1-10", issued_on=date(2026, 11, 5), period=october)
        add_document(first, "VAT-1-10", kind="vat_invoice", issued_on=date(2026, 11, 5),
                     period=october)  # fmt: skip
        add_document(second, "INV-2-10", issued_on=date(2026, 11, 6), period=october)
        add_document(second, "INV-2-BAD", issued_on=date(2026, 11, 6), period=october,
                     total=D("1.00"))  # fmt: skip
        add_document(first, "INV-1-09", issued_on=date(2026, 10, 5), period=september)
        add_document(theirs, "INV-BOB-10", issued_on=date(2026, 11, 5), period=october)
        db.session.commit()
    listing = client.get("/electricity").text
    assert "Documents of all contracts by month (ZIP):" in listing
    assert re.search(
        r'href="/electricity/documents/2026-10.zip" download>October 2026</a>,\s*'
        r'<a href="/electricity/documents/2026-09.zip" download>September 2026</a>',
        listing,
    )
    response = client.get("/electricity/documents/2026-10.zip")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/zip"
    assert 'filename="documents-2026-10.zip"' in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.namelist() == [
        f"{NUMBER}/2026-11-05-invoice-INV-1-10.pdf",
        f"{NUMBER}/2026-11-05-vat_invoice-VAT-1-10.pdf",
        "EL-0000078/2026-11-06-invoice-INV-2-10.pdf",
        "NOT-INCLUDED.txt",
    ]
    assert "EL-0000078: INV-2-BAD" in archive.read("NOT-INCLUDED.txt").decode()
    second_pdf = PdfReader(io.BytesIO(archive.read("EL-0000078/2026-11-06-invoice-INV-2-10.pdf")))
    assert "INV-2-10" in text_of(second_pdf)
    for missing in ("2026-08", "2026-13", "october"):  # no documents; not a month
        assert client.get(f"/electricity/documents/{missing}.zip").status_code == 404


def test_a_month_zip_too_big_for_one_download_names_the_contracts_left_out(
    app, client, customer, monkeypatch
):
    monkeypatch.setattr(document_services, "MONTH_ZIP_DOCUMENTS", 3)  # a render-time budget
    october = date(2026, 10, 1)
    with app.app_context():
        for n, kinds in ((1, ("invoice", "vat_invoice")), (2, ("invoice", "vat_invoice")),
                         (3, ("invoice",))):  # fmt: skip
            contract = add_contract(f"EL-000000{n}", account_id=customer)
            for kind in kinds:
                add_document(contract, f"{kind}-{n}", kind=kind, issued_on=date(2026, 11, 5),
                             period=october)  # fmt: skip
        db.session.commit()
    archive = zipfile.ZipFile(io.BytesIO(client.get("/electricity/documents/2026-10.zip").data))
    # whole contracts only: EL-0000002 would not fit whole, so it waits with EL-0000003
    assert archive.namelist() == [
        "EL-0000001/2026-11-05-invoice-invoice-1.pdf",
        "EL-0000001/2026-11-05-vat_invoice-vat_invoice-1.pdf",
        "NOT-INCLUDED.txt",
    ]
    note = archive.read("NOT-INCLUDED.txt").decode()
    assert "Too many documents for one download." in note
    assert note.rstrip().endswith("EL-0000002\nEL-0000003")


def test_one_contract_alone_over_the_limit_gives_its_first_documents_and_says_so(
    app, client, customer, monkeypatch
):
    monkeypatch.setattr(document_services, "MONTH_ZIP_DOCUMENTS", 3)
    with app.app_context():
        big = add_contract("EL-0000001", account_id=customer)
        small = add_contract("EL-0000002", account_id=customer)
        for n in range(5):
            add_document(big, f"INV-{n}", issued_on=date(2026, 11, 5), period=date(2026, 10, 1))
        add_document(small, "INV-S", issued_on=date(2026, 11, 5), period=date(2026, 10, 1))
        db.session.commit()
    archive = zipfile.ZipFile(io.BytesIO(client.get("/electricity/documents/2026-10.zip").data))
    assert [name for name in archive.namelist() if name.endswith(".pdf")] == [
        f"EL-0000001/2026-11-05-invoice-INV-{n}.pdf" for n in range(3)
    ]
    note = archive.read("NOT-INCLUDED.txt").decode()
    assert "Contract EL-0000001: only 3 of its 5 documents are included." in note
    assert note.rstrip().endswith("Documents tab:\nEL-0000002")


def test_month_zips_are_rate_limited(app, app_config, customer):
    """Each one may render hundreds of PDFs: ten a minute."""
    with app.app_context():
        contract = add_contract(account_id=customer)
        add_document(contract, "INV-1", issued_on=date(2026, 11, 5), period=date(2026, 10, 1))
        db.session.commit()
    limited = create_app({**app_config, "RATELIMIT_ENABLED": True})
    limited.test_client_class = type(app.test_client())
    client = limited.test_client()
    AuthActions(client).login()
    answers = [client.get("/electricity/documents/2026-10.zip").status_code for _ in range(11)]
    assert answers == [200] * 10 + [429]
    with limited.app_context():
        db.engine.dispose()


def test_year_zips_are_rate_limited(app, app_config, customer):
    """A year's first ZIP renders each of its PDFs: ten a minute per account, as a month's
    (it had no limit: a loop over the years kept workers busy)."""
    with app.app_context():
        contract = add_contract(account_id=customer)
        add_document(contract, "INV-1", issued_on=date(2026, 11, 5), period=date(2026, 10, 1))
        db.session.commit()
    limited = create_app({**app_config, "RATELIMIT_ENABLED": True})
    limited.test_client_class = type(app.test_client())
    client = limited.test_client()
    AuthActions(client).login()
    answers = [client.get(f"{DOC_URL}/year/2026.zip").status_code for _ in range(11)]
    assert answers == [200] * 10 + [429]
    again = limited.test_client()  # per account, not per session
    AuthActions(again).login()
    assert again.get(f"{DOC_URL}/year/2026.zip").status_code == 429
    with limited.app_context():
        db.engine.dispose()


def test_statement_pdfs_are_rate_limited(app, app_config, customer):
    """Each period is a render of its own (and a file in the cache): twenty a minute."""
    with app.app_context():
        add_contract(account_id=customer)
        db.session.commit()
    limited = create_app({**app_config, "RATELIMIT_ENABLED": True})
    limited.test_client_class = type(app.test_client())
    client = limited.test_client()
    AuthActions(client).login()
    url = f"/electricity/{NUMBER}/statement.pdf?start=2026-01-01&end=2026-02-{{:02d}}"
    answers = [client.get(url.format(day)).status_code for day in range(1, 22)]
    assert answers == [200] * 20 + [429]
    # Per account, not per session: signing in again does not start the count afresh.
    again = limited.test_client()
    AuthActions(again).login()
    assert again.get(url.format(22)).status_code == 429
    with limited.app_context():
        db.engine.dispose()


def test_one_contract_gets_no_month_zip_links(app, client, invoice):
    assert "Documents of all contracts" not in client.get("/electricity").text


def test_statement_pdf(app, client, invoice):
    with app.app_context():
        contract = db.session.get(Contract, invoice)
        add_payment(contract, date(2026, 2, 18), D("1000.00"), "PO-77 Győr")
        db.session.commit()
    response = client.get(f"/electricity/{NUMBER}/statement.pdf?start=2026-02-10&end=2026-03-31")
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    text = text_of(PdfReader(io.BytesIO(response.data)))
    for expected in (
        "Reconciliation statement",
        HOLDER,
        "Invoiced, €",  # the currency over the figures
        "Paid, €",
        "Balance, €",
        "Opening balance",
        "1,567.89",  # opening: the invoice of 5 February
        "Payment PO-77 Győr",
        "1,000.00",
        "Closing balance",
        "567.89",
        "Page 1 / 1",
    ):
        assert expected in text, expected
    page = client.get(f"/electricity/{NUMBER}/statement?start=2026-02-10&end=2026-03-31").text
    assert f'href="/electricity/{NUMBER}/statement.pdf?start=2026-02-10&amp;end=2026-03-31"' in page


def test_a_pdf_names_the_document_as_its_page_does(client, invoice):
    """A Russian document is "Счёт № ..." on its page; its PDF said "Счёт INV-..." (the
    kind and the number put side by side in the template, untranslated)."""
    client.post("/language", data={"locale": "ru", "next": "/"})
    page = client.get(f"{DOC_URL}/invoice/INV-2026-0042").text
    assert "Счёт №\xa0INV-2026-0042" in page
    reader = PdfReader(io.BytesIO(client.get(f"{DOC_URL}/invoice/INV-2026-0042/pdf").data))
    text = text_of(reader).replace("\xa0", " ")
    assert text.count("Счёт № INV-2026-0042") == 2, text  # the heading and the footer


@pytest.mark.parametrize("locale", ["ru", "hu"])
def test_statement_pdf_keeps_each_date_on_one_line(app, client, invoice, locale):
    """The statement's date column was too narrow for "28 февр. 2026 г." and "2026. szept.
    30.": the year's "г." or the day went to a line of its own."""
    with app.app_context():
        add_payment(db.session.get(Contract, invoice), date(2026, 2, 28), D("1000.00"), "PO-77")
        db.session.commit()
    client.post("/language", data={"locale": locale, "next": "/"})
    url = f"/electricity/{NUMBER}/statement.pdf?start=2026-02-10&end=2026-09-30"
    lines = text_of(PdfReader(io.BytesIO(client.get(url).data))).split("\n")
    lines = [" ".join(line.replace("\u202f", " ").replace("\xa0", " ").split()) for line in lines]
    for day in (date(2026, 2, 10), date(2026, 2, 28), date(2026, 9, 30)):  # the last in bold
        written = " ".join(format_date(day, "medium", locale=locale).replace("\u202f", " ").split())
        assert written in lines, (written, lines)


def test_pdf_of_a_document_due_later_and_paid_is_unchanged_by_payments(app, client, invoice):
    """The PDF shows the document as billing issued it: a payment does not make a new one."""
    url = f"{DOC_URL}/invoice/INV-2026-0042/pdf"
    first = client.get(url).data
    with app.app_context():
        contract = db.session.get(Contract, invoice)
        add_payment(contract, date.today() - timedelta(days=1), D("5.00"))
        db.session.commit()
    pdf_service.clear_cache()
    assert client.get(url).data == first


def overlapping_runs(reader: PdfReader) -> list[tuple[str, str]]:
    """Pairs of texts drawn on the same line of a page over each other (an amount wider than
    its column runs into the next cell), by the widths of their glyphs."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    pairs = []
    for page in reader.pages:
        runs = []

        def visit(text, cm, tm, font, size, runs=runs):
            if text.strip() and font:
                face = str(font["/BaseFont"]).split("+")[-1]
                x = cm[4] + tm[4]
                width = stringWidth(text.strip(), face, size)
                runs.append((round(cm[5] + tm[5]), x, x + width, text.strip()))

        page.extract_text(visitor_text=visit)
        runs.sort()
        for (y, _x0, x1, text), (y2, x2, _x3, text2) in zip(runs, runs[1:], strict=False):
            if y == y2 and x2 < x1 - 0.5:
                pairs.append((text, text2))
    return pairs


@pytest.mark.parametrize("locale", ["en", "ru", "hu"])
def test_large_amounts_fit_their_columns(app, client, customer, locale):
    """A business customer's amounts of a million and more: in Hungarian "1 234 567,89 EUR"
    was wider than the columns, and ran over the tariff, the payment or the balance beside it.
    The numeric headings stand over their right-aligned figures."""
    with app.app_context():
        contract = add_contract(account_id=customer)
        add_document(
            contract,
            "INV-BIG",
            lines=((D("12345678.90"), D("12345678.901"), D("1.00000")),) * 2,
        )
        add_payment(contract, date(2026, 2, 10), D("1000000.00"), "PO-1")
        add_payment(contract, date(2026, 2, 11), D("1234567.89"), "PO-2")
        db.session.commit()
    client.post("/language", data={"locale": locale, "next": "/"})
    for url in (
        f"{DOC_URL}/invoice/INV-BIG/pdf",
        f"/electricity/{NUMBER}/statement.pdf?start=2026-01-01&end=2026-03-31",
    ):
        reader = PdfReader(io.BytesIO(client.get(url).data))
        assert overlapping_runs(reader) == [], url
    runs = {}

    def visit(text, cm, tm, font, size):
        runs.setdefault(text.strip(), cm[4] + tm[4])

    reader = PdfReader(io.BytesIO(client.get(f"{DOC_URL}/invoice/INV-BIG/pdf").data))
    reader.pages[0].extract_text(visitor_text=visit)
    heading = {"en": "Amount", "ru": "Сумма", "hu": "Összeg"}[locale]
    from reportlab.pdfbase.pdfmetrics import stringWidth

    heading_end = runs[heading] + stringWidth(heading, "DejaVuSans-Bold", 9.5)
    (amount,) = [text for text in runs if "678" in text and text.endswith(("90", "€", "EUR"))]
    amount_end = runs[amount] + stringWidth(amount, "DejaVuSans", 9.5)
    assert abs(heading_end - amount_end) < 1, (heading, amount)


@pytest.mark.parametrize("locale", ["en", "ru", "hu"])
def test_a_statement_of_billions_keeps_its_figures_whole_and_apart(app, client, customer, locale):
    """Years of a big customer add up to billions (of forints, of roubles): such a turnover
    in bold ran over the next column in Hungarian and broke in two lines in Russian. The
    statement names the currency once, over its columns, and each figure stays whole."""
    with app.app_context():
        contract = add_contract(account_id=customer)
        add_payment(contract, date(2026, 1, 10), D("9111111111.11"), "PO-1")
        for number, day in (("INV-B1", 5), ("INV-B2", 6)):
            add_document(
                contract,
                number,
                issued_on=date(2026, 2, day),
                lines=((D("3937007874.01"), D("1"), D("1.00000")),),
            )
        db.session.commit()
    client.post("/language", data={"locale": locale, "next": "/"})
    url = f"/electricity/{NUMBER}/statement.pdf?start=2026-01-01&end=2026-03-31"
    reader = PdfReader(io.BytesIO(client.get(url).data))
    assert overlapping_runs(reader) == []
    lines = [" ".join(line.split()) for line in reader.pages[0].extract_text().splitlines()]
    separator, decimal = (",", ".") if locale == "en" else (" ", ",")
    for figure in (
        "-9111111111.11",  # the balance after the payment
        "4999999999.99",  # an invoice
        "9999999999.98",  # the turnover invoiced
        "9111111111.11",  # the turnover paid
        "888888888.87",  # the closing balance, larger in bold
    ):
        whole, cents = figure.split(".")
        grouped = f"{int(whole):,}".replace(",", separator) + decimal + cents
        assert grouped in lines, (grouped, lines)
    heading = {"en": "Invoiced, €", "ru": "Начислено, €", "hu": "Számlázva, EUR"}[locale]
    assert heading in lines


def test_a_zero_invoice_shows_its_zero_on_the_statement(app, client, customer):
    """An invoice of nothing (a month without use) is an invoice: its Invoiced cell reads
    0.00, not blank like a payment's."""
    with app.app_context():
        contract = add_contract(account_id=customer)
        add_document(contract, "INV-1", issued_on=date(2026, 2, 5))
        add_document(
            contract, "INV-0", issued_on=date(2026, 3, 5), lines=((D("0.00"), D("0"), D("0.25")),)
        )
        db.session.commit()
    url = f"/electricity/{NUMBER}/statement.pdf?start=2026-01-01&end=2026-03-31"
    lines = [
        line.strip() for line in text_of(PdfReader(io.BytesIO(client.get(url).data))).split("\n")
    ]
    row = lines.index("Invoice INV-0")
    assert lines[row - 1 : row + 3] == ["Mar 5, 2026", "Invoice INV-0", "0.00", "127.00"], lines
