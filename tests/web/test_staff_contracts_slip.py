"""The code slip as a PDF: the right text, in a font that has Hungarian and Cyrillic letters."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from lkapp.extensions import db
from lkapp.models import Contract
from lkapp.services.pdf import PdfError, render_pdf

NUMBER = "EL-0000042"
pytestmark = pytest.mark.sqlite_only  # rendering does not depend on the database


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_slip_pdf_names_contract_code_expiry_and_how_to_use_it(app, client, make_user, auth):
    with app.app_context():
        db.session.add(
            Contract(
                number=NUMBER,
                holder_name="Őrség Ёлка Kft.",
                tax_id="12345678-2-42",
                address="Győr, Fő utca 1.",
            )
        )
        db.session.commit()
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    issued = client.post(
        f"/staff/contracts/{NUMBER}/codes",
        data={
            "received_by": "representative",
            "representative_name": "Kovács Ünige",
            "power_of_attorney": "PoA-77/2026",
        },
    )
    [code] = set(re.findall(r"<code>([A-Z0-9-]{14})</code>", issued.text))
    # The page offers the PDF as a form posting the code back (never a link with the code).
    assert f'action="/staff/contracts/{NUMBER}/slip.pdf"' in issued.text
    assert f'name="code" type="hidden" value="{code}"' in issued.text
    assert "slip.pdf?code" not in issued.text

    response = client.post(f"/staff/contracts/{NUMBER}/slip.pdf", data={"code": code.lower()})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="code-slip-{NUMBER}.pdf"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    text = pdf_text(response.data)
    for expected in (
        code,
        f"Confirmation code for contract {NUMBER}",
        "Őrség Ёлка Kft.",
        "Győr, Fő utca 1.",
        "Kovács Ünige, representative (power of attorney PoA-77/2026)",
        "Valid until",
        "How to use it",
        "http://localhost/electricity/add",
    ):
        assert expected in text, expected

    forged = client.post(f"/staff/contracts/{NUMBER}/slip.pdf", data={"code": "AAAA-AAAA-AAAA"})
    assert forged.status_code == 409 and forged.headers["Content-Type"].startswith("text/html")


def test_a_long_unbroken_power_of_attorney_number_stays_on_the_page(app, client, make_user, auth):
    """A power of attorney's number of up to 60 characters (what the form takes) without a
    space, or a long one-word name, ran off the right edge of the slip, cut off in print."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    with app.app_context():
        db.session.add(
            Contract(number=NUMBER, holder_name="Ő" * 70, tax_id="1", address="Győr, Fő utca 1.")
        )
        db.session.commit()
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    poa = "MEGHATALMAZAS/" + "0123456789" * 4 + "/PECS"  # 58 characters
    issued = client.post(
        f"/staff/contracts/{NUMBER}/codes",
        data={
            "received_by": "representative",
            "representative_name": "Kovács Ünige",
            "power_of_attorney": poa,
        },
    )
    [code] = set(re.findall(r"<code>([A-Z0-9-]{14})</code>", issued.text))
    pdf = client.post(f"/staff/contracts/{NUMBER}/slip.pdf", data={"code": code}).data
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    right_edge = float(page.mediabox.width) - 2 / 2.54 * 72  # the 2 cm margin
    overflowing = []

    def visit(text, cm, tm, font, size):
        if text.strip() and font:
            face = str(font["/BaseFont"]).split("+")[-1]
            if cm[4] + tm[4] + stringWidth(text.strip(), face, size) > right_edge + 1:
                overflowing.append(text.strip())

    page.extract_text(visitor_text=visit)
    assert overflowing == []
    assert poa in "".join(pdf_text(pdf).split()), "all of it, broken over lines"


def test_a_contract_number_in_cyrillic_downloads_under_its_own_name(app, client, make_user, auth):
    """The number went raw into the header, which gunicorn refuses outside Latin-1 (a 500
    after the code was stored): a plain ASCII name, and the whole one in ``filename*``."""
    with app.app_context():
        db.session.add(Contract(number="ЭС-0001", holder_name="Ёлка", tax_id="1", address="A"))
        db.session.commit()
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    issued = client.post("/staff/contracts/ЭС-0001/codes", data={"received_by": "holder"})
    [code] = set(re.findall(r"<code>([A-Z0-9-]{14})</code>", issued.text))
    response = client.post("/staff/contracts/ЭС-0001/slip.pdf", data={"code": code})
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    disposition.encode("latin-1")  # what a WSGI server can send
    assert disposition == (
        'attachment; filename="code-slip--0001.pdf"; '
        "filename*=UTF-8''code-slip-%D0%AD%D0%A1-0001.pdf"
    )


def test_pdf_helper_keeps_cyrillic_and_hungarian_letters():
    data = render_pdf(
        "<html><body><h1>Счёт № 5 — Fő utca ő ű</h1>"
        "<p>Plain <b>Bold ŐŰ</b> <i>Dőlt ű</i> <code>KQ7M-3XTA</code></p></body></html>"
    )
    text = pdf_text(data)
    assert "Счёт № 5 — Fő utca ő ű" in text
    assert "Bold ŐŰ" in text and "Dőlt ű" in text and "KQ7M-3XTA" in text


def test_a_missing_font_is_an_error_not_blank_text(tmp_path):
    with pytest.raises(PdfError, match="fonts-dejavu-core"):
        render_pdf("<html><body><p>Fő</p></body></html>", font_dir=tmp_path)


def test_cache_returns_the_same_bytes_for_the_same_html():
    html = "<html><body><p>Cached Ő</p></body></html>"
    assert render_pdf(html, cache=True) is render_pdf(html, cache=True)


def test_xhtml2pdf_stays_out_of_the_request_path_until_needed():
    import subprocess
    import sys

    probe = (
        "import sys; from lkapp import create_app; "
        "create_app({'TESTING': True, 'SECRET_KEY': 'x', "
        "'SQLALCHEMY_DATABASE_URI': 'sqlite://'}); "
        "print('xhtml2pdf' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"
