"""The Documents tab: the table (filters, paging, totals, statuses, htmx), a document's page,
the reconciliation statement, ownership (404) and the number of SQL statements."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from lkapp.documents import services as doc_services
from lkapp.documents.figures import status_of
from lkapp.domain.statement import reconciliation
from lkapp.electricity.services import local_today
from lkapp.extensions import db
from lkapp.models import Contract, Document, DocumentLine, Payment, PaymentAllocation, utcnow
from lkapp.payments import services as payment_services
from tests.conftest import swapped, text_of

NUMBER = "EL-0000077"
HOLDER = "Тепловой пункт Fő utca Győr Kft."
ONE_LINE = ((Decimal("100.00"), Decimal("400"), Decimal("0.25000")),)
RATE = Decimal("27")
NOTHING = Decimal("0.00")
D = Decimal


# --- building data with the ORM (the demo generator is not ready) ------------------------


def add_contract(number=NUMBER, account_id=None, holder=HOLDER):
    contract = Contract(
        number=number,
        holder_name=holder,
        tax_id="12345678-2-42",
        address="Győr, Fő utca 12.",
        account_id=account_id,
        attached_at=utcnow() if account_id else None,
    )
    db.session.add(contract)
    db.session.flush()
    return contract


def add_document(
    contract,
    number,
    kind="invoice",
    issued_on=date(2026, 2, 5),
    period=date(2026, 1, 1),
    due_on=...,
    lines=ONE_LINE,
    vat_rate=RATE,
    paid=NOTHING,
    net=None,
    vat=None,
    total=None,
    description="Тепловой пункт — Fő utca Győr, T1",
):
    """A document whose figures add up unless ``net``/``vat``/``total`` say otherwise."""
    amounts = [amount for amount, _kwh, _tariff in lines]
    net = sum(amounts, D("0.00")) if net is None else net
    vat = (net * vat_rate / 100).quantize(D("0.01")) if vat is None else vat
    total = net + vat if total is None else total
    document = Document(
        contract_id=contract.id,
        kind=kind,
        number=number,
        issued_on=issued_on,
        period=period,
        due_on=(issued_on + timedelta(15) if kind == "invoice" else None)
        if due_on is ...
        else due_on,
        net=net,
        vat_rate=vat_rate,
        vat=vat,
        total=total,
        paid=paid,
    )
    document.lines = [
        DocumentLine(position=i, description=description, kwh=kwh, tariff=tariff, amount=amount)
        for i, (amount, kwh, tariff) in enumerate(lines, 1)
    ]
    db.session.add(document)
    db.session.flush()
    return document


def add_payment(contract, paid_on, amount, reference="", allocate_to=()):
    payment = Payment(contract_id=contract.id, paid_on=paid_on, amount=amount, reference=reference)
    payment.allocations = [PaymentAllocation(document_id=d.id, amount=a) for d, a in allocate_to]
    db.session.add(payment)
    db.session.flush()
    return payment


def monthly_documents(contract, years=10, first=date(2016, 1, 1)):
    """An invoice and a VAT invoice for every month; invoices paid except the last three."""
    months = years * 12
    for i in range(months):
        period = date(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1)
        issued = period + timedelta(days=35)
        total_paid = i < months - 3
        amount = D("100.00") + i
        invoice = add_document(
            contract,
            f"INV-{period:%Y-%m}",
            issued_on=issued,
            period=period,
            lines=((amount, D("400"), D("0.25")),),
            paid=(amount * D("1.27")).quantize(D("0.01")) if total_paid else D("0.00"),
        )
        add_document(
            contract,
            f"VAT-{period:%Y-%m}",
            kind="vat_invoice",
            issued_on=issued,
            period=period,
            lines=((amount, D("400"), D("0.25")),),
        )
        if total_paid:
            add_payment(
                contract,
                issued + timedelta(days=10),
                invoice.total,
                f"PO {i}",
                [(invoice, invoice.total)],
            )


@pytest.fixture(autouse=True)
def private_pdf_cache(app, tmp_path):
    """PDFs made here are cached in the test's own instance folder, not the project's."""
    from lkapp.services import pdf

    app.instance_path = str(tmp_path)
    pdf.clear_cache()


@pytest.fixture
def customer(make_user, auth):
    user_id = make_user()
    auth.login()
    return user_id


@pytest.fixture
def docs(app, customer):
    """Ann's contract: a paid, a partly paid, an overdue and an unpaid invoice, each with its
    VAT invoice; an act; and a document whose figures do not add up."""
    today = date.today()
    with app.app_context():
        contract = add_contract(account_id=customer)
        paid = add_document(
            contract,
            "INV-1",
            issued_on=date(2025, 11, 5),
            period=date(2025, 10, 1),
            lines=((D("60.00"), D("240"), D("0.25")), (D("40.00"), D("100"), D("0.4"))),
            paid=D("127.00"),
        )
        add_document(
            contract,
            "VAT-1",
            kind="vat_invoice",
            issued_on=date(2025, 11, 5),
            period=date(2025, 10, 1),
            lines=((D("60.00"), D("240"), D("0.25")), (D("40.00"), D("100"), D("0.4"))),
        )
        partly = add_document(
            contract,
            "INV-2",
            issued_on=today - timedelta(days=3),
            period=date(2025, 11, 1),
            due_on=today + timedelta(days=12),
            lines=((D("200.00"), D("800"), D("0.25")),),
            paid=D("54.00"),
        )
        add_document(
            contract,
            "VAT-2",
            kind="vat_invoice",
            issued_on=today - timedelta(days=3),
            period=date(2025, 11, 1),
            lines=((D("200.00"), D("800"), D("0.25")),),
        )
        add_document(
            contract,
            "INV-3",
            issued_on=today - timedelta(days=40),
            period=date(2025, 9, 1),
            due_on=today - timedelta(days=10),
            lines=((D("10.00"), D("40"), D("0.25")),),
        )
        add_document(
            contract,
            "ACT-3",
            kind="act",
            issued_on=today - timedelta(days=40),
            period=date(2025, 9, 1),
            lines=((D("10.00"), D("40"), D("0.25")),),
        )
        add_document(
            contract,
            "INV-4",
            issued_on=today - timedelta(days=2),
            period=date(2025, 12, 1),
            due_on=today + timedelta(days=20),
            lines=((D("20.00"), D("80"), D("0.25")),),
        )
        add_document(  # lines 20.00 but net 25.00: never shown as valid
            contract,
            "INV-BAD",
            issued_on=today - timedelta(days=1),
            period=date(2025, 8, 1),
            due_on=today + timedelta(days=20),
            lines=((D("20.00"), D("80"), D("0.25")),),
            net=D("25.00"),
            vat=D("6.75"),
        )
        add_payment(contract, date(2025, 11, 20), D("127.00"), "PO-1 INV-1", [(paid, D("127.00"))])
        add_payment(contract, today - timedelta(days=1), D("54.00"), "PO-2", [(partly, D("54.00"))])
        db.session.commit()
        return contract.id


def table_numbers(html: str) -> list[str]:
    body = html.split('<table class="documents', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a></th>', body)


def row_of(html: str, number: str) -> str:
    match = re.search(
        rf"<tr[^>]*>(?:(?!</tr>).)*>{re.escape(number)}</a>(?:(?!</tr>).)*</tr>", html, re.S
    )
    assert match, number
    return match.group(0)


# --- the tab ----------------------------------------------------------------------------


def test_tab_lists_documents_newest_first_with_status_and_totals(client, docs):
    response = client.get(f"/electricity/{NUMBER}/documents")
    page = response.text
    assert response.status_code == 200
    assert 'aria-current="page">Documents</a>' in page
    assert table_numbers(page) == [
        "INV-BAD",
        "INV-4",
        "INV-2",
        "VAT-2",
        "INV-3",
        "ACT-3",
        "INV-1",
        "VAT-1",
    ]
    assert "Paid" in row_of(page, "INV-1") and "Paid" in row_of(page, "VAT-1")
    assert "Partly paid" in row_of(page, "INV-2") and "Partly paid" in row_of(page, "VAT-2")
    assert "Overdue" in row_of(page, "INV-3") and "Overdue" in row_of(page, "ACT-3")
    assert "Unpaid" in row_of(page, "INV-4")
    assert "Figures do not add up" in row_of(page, "INV-BAD")
    inv1 = row_of(page, "INV-1")
    assert "€100.00" in inv1 and "27%" in inv1 and "€27.00" in inv1 and "€127.00" in inv1
    assert "October 2025" in inv1
    assert "8 documents in all." in page
    # totals per kind over every filtered row: 5 invoices, 2 VAT invoices, 1 act
    totals = page.split('<table class="totals', 1)[1]
    assert "Totals of all 8 documents, every page" in totals
    assert re.search(r"Invoice</th>\s*<td class=\"num\"[^>]*>5</td>", totals)
    assert "€355.00" in totals  # 100 + 200 + 10 + 20 + 25 net of the invoices
    assert 'href="/electricity/EL-0000077/documents/year/2025.zip"' in page


def test_filters_by_kind_period_and_status(client, docs):
    url = f"/electricity/{NUMBER}/documents"
    assert table_numbers(client.get(url + "?kind=vat_invoice").text) == ["VAT-2", "VAT-1"]
    page = client.get(url + "?period_from=2025-10&period_to=2025-11").text
    assert table_numbers(page) == ["INV-2", "VAT-2", "INV-1", "VAT-1"]
    assert 'value="2025-10"' in page and 'value="2025-11"' in page
    assert table_numbers(client.get(url + "?status=overdue").text) == ["INV-3", "ACT-3"]
    assert table_numbers(client.get(url + "?status=partly_paid").text) == ["INV-2", "VAT-2"]
    page = client.get(url + "?kind=invoice&status=paid").text
    assert table_numbers(page) == ["INV-1"]
    assert "1 document matches these filters." in page and "Clear filters" in page
    totals = page.split('<table class="totals', 1)[1]
    assert "Totals of the 1 matching document</caption>" in totals
    assert "€127.00" in totals and "€355.00" not in totals
    empty = client.get(url + "?period_from=2030-01").text
    assert "No document matches these filters." in empty


def test_a_month_may_be_typed_as_people_write_it(client, docs):
    """An iPhone's keypad has no "-"; Hungarians write 2025. 10., Russians 10.2025."""
    url = f"/electricity/{NUMBER}/documents"
    for since, until in (("202510", "202511"), ("2025. 10.", "2025.11"), ("10.2025", "11/2025")):
        page = client.get(url, query_string={"period_from": since, "period_to": until}).text
        assert table_numbers(page) == ["INV-2", "VAT-2", "INV-1", "VAT-1"], (since, until)
        assert 'value="2025-10"' in page and 'value="2025-11"' in page


def test_bad_filter_values_say_so_and_keep_the_others(client, docs):
    url = f"/electricity/{NUMBER}/documents"
    response = client.get(url + "?kind=vat_invoice&period_from=2025-13&status=nonsense")
    assert response.status_code == 422
    page = response.text
    assert "Enter a month as YYYY-MM, for example 2025-03." in page
    assert 'role="alert" data-focus>Please correct the marked fields.' in page  # announced
    assert 'value="2025-13"' in page  # what was typed stays in the field
    assert "Not a valid choice" in page
    assert table_numbers(page) == ["VAT-2", "VAT-1"]  # the valid filter still applies
    response = client.get(url + "?period_from=2025-11&period_to=2025-10")
    assert response.status_code == 422
    assert "The end of the period must not be before its start." in response.text
    for junk in ("?page=abc", "?page=-4", "?page=99999"):
        assert client.get(url + junk).status_code == 200


def test_the_filters_fold_until_one_is_set(client, docs):
    """On a phone the folded filters leave the first document on the first screen; a filter
    set, or one typed wrong, keeps them unfolded (with htmx too: the results swap whole)."""
    url = f"/electricity/{NUMBER}/documents"

    def filters(response):
        return re.search(r"<details[^>]*>\s*<summary>([^<]*)</summary>", response.text)

    for query in ("", "?page=1", "?kind="):
        folded = filters(client.get(url + query))
        assert folded[0].startswith('<details class="document-filters">'), query
        assert folded[1] == "Filter documents"
    for query in ("?status=paid", "?period_from=2025-13"):
        assert " open>" in filters(client.get(url + query))[0], query
        swapped = client.htmx("GET", url + query, headers={"HX-Target": "document-results"})
        assert " open>" in filters(swapped)[0], query


def test_paging_keeps_filters_and_totals_cover_every_page(app, client, customer):
    with app.app_context():
        contract = add_contract(account_id=customer)
        monthly_documents(contract, years=3)
        db.session.commit()
    url = f"/electricity/{NUMBER}/documents?kind=invoice"
    first = client.get(url).text
    assert len(table_numbers(first)) == 24 and table_numbers(first)[0] == "INV-2018-12"
    assert "Page 1 of 2" in first
    assert f'href="/electricity/{NUMBER}/documents?kind=invoice&amp;page=2"' in first
    second = client.get(url + "&page=2").text
    assert table_numbers(second) == [f"INV-2016-{m:02d}" for m in range(12, 0, -1)]
    # net of the 36 invoices: 100 + 101 + ... + 135, on both pages
    assert "€4,230.00" in first and "€4,230.00" in second


def test_htmx_swaps_only_the_results_and_tabs_swap_the_tab(client, docs):
    url = f"/electricity/{NUMBER}/documents?kind=act"
    full = client.get(url)
    results = client.htmx("GET", url, headers={"HX-Target": "document-results"})
    tab = client.htmx("GET", url, headers={"HX-Target": "contract-tab"})
    assert "<header" in full.text and 'id="document-results"' in full.text
    assert swapped(results.text).startswith('<div id="document-results"')
    assert "<header" not in results.text and 'class="tabs"' not in results.text
    assert table_numbers(results.text) == ["ACT-3"]
    assert swapped(tab.text).startswith('<div id="contract-tab"')
    for response in (full, results, tab):
        # The same address gives the results or the whole tab by the target: a cache keys both.
        assert {"HX-Request", "HX-Target"} <= set(response.headers["Vary"].split(", "))
    # the filter form and the pager keep the address in step
    assert 'data-hx-target="#document-results" data-hx-push-url="true"' in results.text


def test_empty_tab_says_so(app, client, customer):
    with app.app_context():
        add_contract(account_id=customer)
        db.session.commit()
    page = client.get(f"/electricity/{NUMBER}/documents").text
    assert "No documents have been issued for this contract yet." in page
    assert "year/" not in page


def test_table_takes_a_fixed_number_of_statements_for_ten_years(app, client, customer):
    from sqlalchemy import event

    with app.app_context():
        contract = add_contract(account_id=customer)
        add_document(contract, "INV-ONE", period=date(2015, 1, 1))
        db.session.commit()
        contract_id = contract.id
        engine = db.engine

    def statements(url):
        seen = []

        def listener(_conn, _cursor, statement, *_args):
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.get(url).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return seen

    url = f"/electricity/{NUMBER}/documents"
    one = statements(url)
    with app.app_context():
        contract = db.session.get(Contract, contract_id)
        monthly_documents(contract, years=10)  # 240 documents, 117 payments
        db.session.commit()
    many = statements(url)
    assert len(many) == len(one), many
    filtered = statements(url + "?status=paid&period_from=2018-01&page=2")
    assert len(filtered) == len(one)
    assert len(one) <= 7, one  # session + user, contract, totals, page, years


def test_sql_status_filter_agrees_with_the_domain_rule(app, customer):
    """The SQL CASE used to filter by status gives what ``document_status`` says."""
    today = date(2026, 3, 15)
    cases = [
        # total, paid, due_on
        (D("100.00"), D("100.00"), date(2026, 3, 1)),
        (D("100.00"), D("120.00"), None),
        (D("100.00"), D("40.00"), date(2026, 3, 15)),
        (D("100.00"), D("40.00"), date(2026, 3, 14)),
        (D("100.00"), D("0.00"), date(2026, 4, 1)),
        (D("100.00"), D("0.00"), None),
        (D("100.00"), D("0.00"), date(2026, 3, 14)),
        (D("0.00"), D("0.00"), date(2026, 1, 1)),
    ]
    with app.app_context():
        contract = add_contract(account_id=customer)
        for i, (total, paid, due_on) in enumerate(cases):
            period = date(2020, i + 1, 1)
            add_document(
                contract,
                f"I{i}",
                period=period,
                net=total,
                vat=D("0.00"),
                total=total,
                paid=paid,
                due_on=due_on,
                lines=(),
            )
            add_document(contract, f"V{i}", kind="vat_invoice", period=period, lines=())
        add_document(contract, "V-ALONE", kind="vat_invoice", period=date(2021, 1, 1), lines=())
        db.session.commit()
        page = doc_services.document_page(contract, doc_services.Filters(), 1, 100, today)
        by_number = {row.number: row for row in page.rows}
        for i, (total, paid, due_on) in enumerate(cases):
            expected = status_of("invoice", total, paid, due_on, today)
            assert by_number[f"I{i}"].status == by_number[f"V{i}"].status == expected
            filtered = doc_services.document_page(
                contract, doc_services.Filters(status=expected), 1, 100, today
            )
            assert {f"I{i}", f"V{i}"} <= {row.number for row in filtered.rows}
        assert by_number["V-ALONE"].status is None


# --- a document's page ------------------------------------------------------------------


def test_document_page_shows_header_lines_totals_and_payments(client, docs):
    response = client.get(f"/electricity/{NUMBER}/documents/invoice/INV-1")
    page = response.text
    assert response.status_code == 200
    assert '<h1 id="document-title">Invoice INV-1</h1>' in page
    for text in (
        HOLDER,
        "Győr, Fő utca 12.",
        "12345678-2-42",
        "October 2025",
        "Nov 5, 2025",
        "Тепловой пункт — Fő utca Győr, T1",
        "240",
        "0.25000",
        "€60.00",
        "€40.00",
        "€100.00",
        "VAT 27%",
        "€27.00",
        "€127.00",
        "PO-1 INV-1",
    ):
        assert text in page, text
    assert 'class="badge badge-ok">Paid<' in page
    assert f'href="/electricity/{NUMBER}/documents/invoice/INV-1/pdf"' in page
    assert "data-print" in page and "js/print.js" in page
    assert "not valid" not in page
    assert "Payment details" not in page and "Left to pay" not in page  # paid in full


def test_a_partly_paid_invoice_says_what_is_left_and_where_to_pay_it(client, docs):
    """200.00 + 27 % VAT, 54.00 paid: 200.00 left, with the payment details the PDF prints
    beside its QR code (which asks for the whole total, as issued)."""
    page = text_of(client.get(f"/electricity/{NUMBER}/documents/invoice/INV-2").text)
    assert "Paid €54.00 Left to pay €200.00" in page
    assert (
        "Payment details Recipient City Power Supply "
        "Bank account HU42 1177 3016 1111 1018 0000 0000 (BIC OTPVHUHB) "
        f"Amount €200.00 Purpose {NUMBER} / INV-2"
    ) in page
    vat_invoice = text_of(client.get(f"/electricity/{NUMBER}/documents/vat_invoice/VAT-2").text)
    assert "Payment details" not in vat_invoice  # the invoice is what is paid


def test_vat_invoice_shows_its_invoice_status_and_payments(client, docs):
    page = client.get(f"/electricity/{NUMBER}/documents/vat_invoice/VAT-2").text
    assert "VAT invoice VAT-2" in page
    assert 'class="badge badge-warn">Partly paid<' in page
    assert f'href="/electricity/{NUMBER}/documents/invoice/INV-2">Invoice INV-2</a>' in page
    assert "PO-2" in page and "€54.00" in page
    # Named as the invoice's own page names it: "Счёт № INV-2" in Russian, not "Счёт INV-2".
    client.post("/language", data={"locale": "ru", "next": "/"})
    page = client.get(f"/electricity/{NUMBER}/documents/vat_invoice/VAT-2").text
    assert f'href="/electricity/{NUMBER}/documents/invoice/INV-2">Счёт №\xa0INV-2</a>' in page


def test_document_whose_figures_do_not_add_up_is_flagged_not_offered(client, docs):
    url = f"/electricity/{NUMBER}/documents/invoice/INV-BAD"
    page = client.get(url).text
    assert "This document is not valid as shown: its figures do not add up." in page
    assert "The lines add up to €20.00, but the net amount is €25.00." in page
    assert "/pdf" not in page and "Download PDF" not in page
    response = client.get(url + "/pdf")
    assert response.status_code == 409
    assert response.headers["Content-Type"].startswith("text/html")
    assert "This document cannot be downloaded" in response.text


def test_document_page_fragment(client, docs):
    url = f"/electricity/{NUMBER}/documents/act/ACT-3"
    fragment = client.htmx("GET", url)
    assert swapped(fragment.text).startswith('<article id="document"')
    assert "HX-Request" in fragment.headers["Vary"]
    assert 'class="badge badge-bad">Overdue<' in fragment.text


def test_numbers_with_slashes_work(app, client, customer):
    with app.app_context():
        contract = add_contract(account_id=customer)
        add_document(contract, "2026/17")
        db.session.commit()
    page = client.get(f"/electricity/{NUMBER}/documents").text
    assert f'href="/electricity/{NUMBER}/documents/invoice/2026/17"' in page
    assert "Invoice 2026/17" in client.get(f"/electricity/{NUMBER}/documents/invoice/2026/17").text
    pdf = client.get(f"/electricity/{NUMBER}/documents/invoice/2026/17/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")


# --- ownership --------------------------------------------------------------------------


def test_another_customers_documents_are_404(app, client, make_user, auth):
    ann = make_user()
    with app.app_context():
        contract = add_contract(account_id=ann)
        add_document(contract, "INV-1")
        mine = add_contract("EL-BOB", account_id=None)
        db.session.commit()
        mine_id = mine.id
    bob = make_user(email="bob@example.com")
    with app.app_context():
        db.session.get(Contract, mine_id).account_id = bob
        db.session.commit()
    auth.login(email="bob@example.com")
    base = f"/electricity/{NUMBER}"
    for url in (
        f"{base}/documents",
        f"{base}/documents/invoice/INV-1",
        f"{base}/documents/invoice/INV-1/pdf",
        f"{base}/documents/year/2026.zip",
        f"{base}/statement",
        f"{base}/statement.pdf?start=2026-01-01&end=2026-12-31",
        # Bob's own contract does not open Ann's document either
        "/electricity/EL-BOB/documents/invoice/INV-1",
        "/electricity/EL-BOB/documents/invoice/INV-1/pdf",
        "/electricity/EL-BOB/documents/nonsense/INV-1",
        "/electricity/EL-BOB/documents/year/2026.zip",
    ):
        assert client.get(url).status_code == 404, url
        assert client.htmx("GET", url).status_code == 404, url


def test_documents_need_sign_in(client):
    for url in (f"/electricity/{NUMBER}/documents", f"/electricity/{NUMBER}/statement"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- reconciliation statement -----------------------------------------------------------


def test_statement_lists_range_and_closing_equals_overview_balance(app, client, docs):
    today = date.today()
    url = f"/electricity/{NUMBER}/statement?start=2025-11-10&end={today.isoformat()}"
    response = client.get(url)
    page = response.text
    assert response.status_code == 200
    assert "Reconciliation statement" in page and 'aria-current="page">Documents</a>' in page
    with app.app_context():
        contract = db.session.get(Contract, docs)
        balance = payment_services.contract_debt(contract, today).balance
        entries = doc_services.statement_entries(contract)
        statement = reconciliation(entries, date(2025, 11, 10), today)
    # invoices 127 + 254 + 12.70 + 25.40 + 31.75, payments 127 + 54
    assert balance == D("269.85") == statement.closing
    assert statement.opening == D("127.00")  # INV-1, issued on 5 November, not yet paid
    assert statement.opening + statement.debit_total - statement.credit_total == balance
    opening = page.split("Opening balance", 1)[1].split("</tr>", 1)[0]
    assert "€127.00" in opening
    closing = page.split("Closing balance", 1)[1]
    assert "€269.85" in closing
    overview = client.get(f"/electricity/{NUMBER}").text
    assert "€269.85" in overview
    assert "Invoice INV-1<" not in page  # before the range: in the opening balance
    assert "VAT-2" not in page
    # Numbers and codes stay on one line in a narrow column; the reference's words may wrap.
    assert 'Invoice <span class="nobreak">INV-2</span><' in page
    assert 'Payment <span class="nobreak">PO-1</span> <span class="nobreak">INV-1</span><' in page


def test_statement_defaults_to_this_year_and_refuses_bad_dates(client, docs):
    page = client.get(f"/electricity/{NUMBER}/statement").text
    assert f'value="{date.today().year}-01-01"' in page
    assert "Opening balance" in page and "Closing balance" in page
    bad = client.get(f"/electricity/{NUMBER}/statement?start=2026-02-30&end=2026-01-01")
    assert bad.status_code == 422
    assert "February 2026 has 28 days." in bad.text  # the format is right; the day is not
    assert 'value="2026-02-30"' in bad.text
    leap = client.get(f"/electricity/{NUMBER}/statement?start=2028-02-30&end=2028-03-01")
    assert "February 2028 has 29 days." in leap.text
    garbled = client.get(f"/electricity/{NUMBER}/statement?start=31.01.2026&end=2026-13-01")
    assert garbled.status_code == 422
    assert garbled.text.count("Enter a date as YYYY-MM-DD, for example 2025-03-31.") == 2
    backwards = client.get(f"/electricity/{NUMBER}/statement?start=2026-02-01&end=2026-01-01")
    assert backwards.status_code == 422
    assert "The last day must not be before the first day." in backwards.text
    assert 'role="alert" data-focus>Please correct the marked fields.' in backwards.text
    empty = client.get(f"/electricity/{NUMBER}/statement?start=&end=")
    assert empty.status_code == 422 and "Enter the first day." in empty.text
    pdf = client.get(f"/electricity/{NUMBER}/statement.pdf?start=2026-02-01&end=2026-01-01")
    assert pdf.status_code == 422 and pdf.headers["Content-Type"].startswith("text/html")


def test_the_default_statement_takes_in_a_payment_dated_tomorrow(app, client, docs):
    """Billing dates a payment in its own time zone, which may already be tomorrow here: the
    balance counts it, so the statement that opens by default must too, or the two differ."""
    with app.app_context():
        tomorrow = local_today() + timedelta(days=1)
        contract = db.session.get(Contract, docs)
        add_payment(contract, tomorrow, D("69.85"), "PO-EARLY")
        db.session.commit()
        balance = payment_services.contract_debt(contract).balance
    assert balance == D("200.00")
    page = client.get(f"/electricity/{NUMBER}/statement").text
    assert f'value="{tomorrow.isoformat()}"' in page
    assert "Payment PO-EARLY" in text_of(page)
    assert "€200.00" in page.split("Closing balance", 1)[1]


def test_statement_keeps_numbers_whole_and_escaped_in_russian(app, client, docs):
    """A reference comes from billing's import file: its words stay on one line each and its
    text stays text."""
    with app.app_context():
        contract = db.session.get(Contract, docs)
        add_payment(contract, date(2026, 1, 9), D("1.00"), "ПП-7 <b>INV-2</b>")
        db.session.commit()
    client.post("/language", data={"locale": "ru", "next": "/"})
    url = f"/electricity/{NUMBER}/statement?start=2025-11-10&end={date.today().isoformat()}"
    page = client.get(url).text
    assert 'Счёт №\xa0<span class="nobreak">INV-2</span><' in page
    assert 'Платёж (<span class="nobreak">PO-1</span> <span class="nobreak">INV-1</span>)' in page
    assert (
        'Платёж (<span class="nobreak">ПП-7</span> '
        '<span class="nobreak">&lt;b&gt;INV-2&lt;/b&gt;</span>)'
    ) in page


def test_a_zero_invoice_reads_zero_on_the_statement(app, client, docs):
    """An invoice of nothing (a month without use) showed a blank Invoiced cell, as if the
    figure were missing."""
    with app.app_context():
        contract = db.session.get(Contract, docs)
        add_document(
            contract,
            "INV-ZERO",
            issued_on=date(2026, 1, 20),
            lines=((D("0.00"), D("0"), D("0.25000")),),
        )
        db.session.commit()
    url = f"/electricity/{NUMBER}/statement?start=2025-11-10&end={date.today().isoformat()}"
    row = client.get(url).text.split("INV-ZERO", 1)[1].split("</tr>", 1)[0]
    assert re.search(r'data-label="Invoiced">€0\.00</td>', row), row
    assert 'data-label="Paid"></td>' in row


def test_statement_is_a_tab_fragment_for_htmx(client, docs):
    response = client.htmx(
        "GET", f"/electricity/{NUMBER}/statement?start=2025-01-01&end=2025-12-31"
    )
    assert swapped(response.text).startswith('<div id="contract-tab"')
    assert "Closing balance" in response.text and "HX-Request" in response.headers["Vary"]
