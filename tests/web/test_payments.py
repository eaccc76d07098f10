"""The Payments tab: payments newest first with what each paid, the period filter, paging,
totals, the balance and debt block, a payment's page, ownership (404), statement counts."""

from __future__ import annotations

import random
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from lkapp.domain import balance
from lkapp.domain.allocation import document_status
from lkapp.electricity.services import local_today
from lkapp.extensions import db
from lkapp.models import Contract, Document, Payment
from lkapp.payments import services
from tests.conftest import statements_run, swapped, text_of

NUMBER = "EL-0000042"
URL = f"/electricity/{NUMBER}/payments"


@pytest.fixture
def today(app):
    with app.app_context():
        return local_today()


@pytest.fixture
def ann(make_user, auth):
    """Ann, signed in; her user id."""
    user_id = make_user()
    auth.login()
    return user_id


@pytest.fixture
def history(ann, ledger, today):
    """Three invoices (one paid, one overdue with 40.00 left, one due in 20 days), a VAT
    invoice, and three payments: one naming an invoice, two paying the oldest first."""
    contract = ledger.contract(NUMBER, account_id=ann)
    d = ledger.document
    p = ledger.payment
    ledger.add(
        d(contract, "INV-1", today - timedelta(70), today - timedelta(40), "100.00"),
        d(contract, "INV-2", today - timedelta(40), today - timedelta(10), "200.00"),
        d(contract, "INV-3", today - timedelta(5), today + timedelta(20), "300.00"),
        d(contract, "VAT-3", today - timedelta(5), None, "300.00", kind="vat_invoice"),
        p(contract, today - timedelta(45), "60.00", "PO 1"),
        p(contract, today - timedelta(20), "150.00", "PO 2 INV-2"),
        p(contract, today - timedelta(3), "50.00", "transfer"),
    )
    return contract


def payment_ids(app, contract_id):
    with app.app_context():
        return db.session.scalars(
            sa.select(Payment.id)
            .where(Payment.contract_id == contract_id)
            .order_by(Payment.paid_on.desc())
        ).all()


def rows_of(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [text_of(row) for row in body.split("</tr>")[:-1]]


# --- the tab ----------------------------------------------------------------------------


def test_payments_newest_first_with_what_each_paid(client, history, today):
    response = client.get(URL)
    assert response.status_code == 200
    rows = rows_of(response.text)
    assert len(rows) == 3
    newest, middle, oldest = rows
    assert "€50.00" in newest and "transfer" in newest
    # FIFO: the rest of the oldest invoice first, then the next one
    assert "Invoice INV-1: €40.00 Paid" in newest
    assert "Invoice INV-2: €10.00 Overdue" in newest
    assert "PO 2 INV-2" in middle and "Invoice INV-2: €150.00 Overdue" in middle
    assert "PO 1" in oldest and "Invoice INV-1: €60.00 Paid" in oldest
    assert "3 payments, €260.00 in all." in text_of(response.text)
    assert 'aria-current="page">Payments</a>' in response.text


def test_balance_and_debt_block(client, history, today):
    page = text_of(client.get(URL).text)
    assert "Balance €340.00" in page  # 600.00 invoiced − 260.00 paid; the VAT invoice never counts
    assert "Overdue debt €40.00" in page
    assert "Overdue: €40.00" in page  # the badge
    oldest_due = (today - timedelta(10)).strftime("%b %-d, %Y")
    assert f"Oldest overdue invoice INV-2, due {oldest_due} · 10 days overdue" in page
    assert '<span class="nobreak">INV-2</span>, due' in client.get(URL).text
    next_due = (today + timedelta(20)).strftime("%b %-d, %Y")
    assert f"Next amount due €300.00 by {next_due}" in page
    assert "Paid in advance" not in page.split("Payments", 1)[0]


def test_an_overpayment_shows_as_an_advance(client, ann, ledger, today):
    contract = ledger.contract(NUMBER, account_id=ann)
    ledger.add(
        ledger.document(contract, "INV-1", today - timedelta(30), today - timedelta(5), "80.00"),
        ledger.payment(contract, today - timedelta(2), "100.00", "INV-1"),
    )
    page = text_of(client.get(URL).text)
    assert "Balance -€20.00" in page
    assert "Overdue debt €0.00" in page
    assert "Paid in advance €20.00" in page
    assert "Invoice INV-1: €80.00 Paid" in page
    assert "€20.00 in advance, for the next invoices" in page
    assert "Next amount due Nothing due" in page


def test_an_overdue_debt_with_nothing_more_to_fall_due_is_due_now(client, ann, ledger, today):
    """ "Nothing due" beside an overdue debt read as "you owe nothing"."""
    contract = ledger.contract(NUMBER, account_id=ann)
    ledger.add(
        ledger.document(contract, "INV-1", today - timedelta(40), today - timedelta(10), "80.00"),
    )
    page = text_of(client.get(URL).text)
    assert "Next amount due €80.00 now (overdue)" in page and "Nothing due" not in page
    overview = text_of(client.get(f"/electricity/{NUMBER}").text)
    assert "Next due date Now (overdue)" in overview and "Nothing due" not in overview


def test_the_tab_and_the_list_are_fragments_too(client, history):
    tab = client.htmx("GET", URL, headers={"HX-Target": "contract-tab"})
    assert tab.status_code == 200
    assert swapped(tab.text).startswith('<div id="contract-tab"')
    assert "Balance and debt" in tab.text and "<header" not in tab.text

    listing = client.htmx("GET", URL + "?since=&until=", headers={"HX-Target": "payments"})
    assert listing.status_code == 200
    assert swapped(listing.text).startswith('<div id="payments"')
    assert "Balance and debt" not in listing.text and "<header" not in listing.text
    for response in (tab, listing):
        assert "HX-Request" in response.headers["Vary"]
        assert "HX-Target" in response.headers["Vary"]
        # htmx puts the leading title in the browser's tab and history: the tab is named
        assert response.text.lstrip().startswith(
            f"<title>Payments · Contract {NUMBER} · City Power Supply</title>"
        )


def test_filter_by_period_with_totals_and_the_address_in_step(client, ann, ledger):
    contract = ledger.contract(NUMBER, account_id=ann)
    ledger.add(
        ledger.payment(contract, date(2024, 1, 31), "10.00", "January"),
        ledger.payment(contract, date(2024, 2, 1), "20.00", "February first"),
        ledger.payment(contract, date(2024, 2, 29), "30.05", "February last"),
        ledger.payment(contract, date(2024, 3, 1), "40.00", "March"),
    )
    response = client.get(URL + "?since=2024-02&until=2024-02")
    page = text_of(response.text)
    assert response.status_code == 200
    assert "February first" in page and "February last" in page
    assert "January" not in page and "March" not in page
    assert "2 payments in this period, €50.05 in all." in page
    # the filter keeps its values, and the form swaps the list with the address in step
    assert 'value="2024-02"' in response.text
    assert 'data-hx-target="#payments" data-hx-push-url="true"' in response.text

    open_ended = text_of(client.get(URL + "?since=2024-02").text)
    assert "3 payments in this period, €90.05 in all." in open_ended

    empty = text_of(client.get(URL + "?since=2020-01&until=2020-12").text)
    assert "No payments were received in this period." in empty
    assert "0 payments in this period, €0.00 in all." in empty


@pytest.mark.parametrize(
    "query, field, message",
    [
        ("since=2024-13", "since", "Enter a month as YYYY-MM, for example 2025-03."),
        ("until=March", "until", "Enter a month as YYYY-MM, for example 2025-03."),
        # December 9999 has no next month to count payments up to: it was a 500.
        ("until=9999-12", "until", "Enter a month as YYYY-MM, for example 2025-03."),
        (
            "since=2024-05&until=2024-02",
            "until",
            "The end month must not be before the start month.",
        ),
    ],
)
def test_a_bad_period_is_explained_beside_the_field(client, history, query, field, message):
    for response in (
        client.get(f"{URL}?{query}"),
        client.htmx("GET", f"{URL}?{query}", headers={"HX-Target": "payments"}),
    ):
        assert response.status_code == 422
        html = response.text
        assert f'<p class="error" id="{field}-error">{message}</p>' in html
        assert f'id="{field}"' in html and 'aria-invalid="true"' in html
        # The alert a screen reader says, and where focus goes after an htmx answer.
        alert = '<p class="form-error" role="alert" data-focus>Please correct the marked fields.'
        assert alert in html
        value = dict(part.split("=") for part in query.split("&"))[field]
        assert f'value="{value}"' in html  # what was typed stays
        assert "3 payments, €260.00 in all." in text_of(html)  # the list, unfiltered


def test_paging_keeps_the_filter(client, ann, ledger):
    contract = ledger.contract(NUMBER, account_id=ann)
    first = date(2023, 1, 1)
    ledger.add(
        *(
            ledger.payment(contract, first + timedelta(days=i), f"{i + 1}.00", f"R{i:02d}")
            for i in range(45)
        )
    )
    page_one = client.get(URL + "?since=2023-01&until=2023-02")  # 31 + 14 = 45 days
    html = page_one.text
    assert len(rows_of(html)) == 20
    assert "Page 1 of 3" in html
    assert "R44" in html and "R24" not in html  # newest first
    assert 'href="/electricity/EL-0000042/payments?page=2&amp;since=2023-01&amp;until=2023-02"' in (
        html
    )
    assert "45 payments in this period, €1,035.00 in all." in text_of(html)

    last = client.htmx(
        "GET", URL + "?page=3&since=2023-01&until=2023-02", headers={"HX-Target": "payments"}
    )
    assert swapped(last.text).startswith('<div id="payments"')
    assert len(rows_of(last.text)) == 5 and "R00" in last.text
    assert "Page 3 of 3" in last.text and 'rel="prev"' in last.text

    beyond = client.get(URL + "?page=99")
    assert "Page 3 of 3" in beyond.text
    assert client.get(URL + "?page=abc").status_code == 200


def test_no_payments_yet(client, ann, ledger):
    ledger.contract(NUMBER, account_id=ann)
    page = text_of(client.get(URL).text)
    assert "No payments have reached the portal for this contract yet." in page
    assert "Balance €0.00" in page and "No debt" in page


# --- a payment's page -------------------------------------------------------------------


def test_payment_page_shows_what_it_paid(app, client, history, today):
    newest = payment_ids(app, history)[0]
    response = client.get(f"{URL}/{newest}")
    assert response.status_code == 200
    page = text_of(response.text)
    assert "Payment of" in page and "€50.00" in page and "transfer" in page
    assert "Invoice INV-1 " in page and "€40.00 Paid" in page
    assert "Invoice INV-2 " in page and "€10.00 Overdue" in page
    fragment = client.htmx("GET", f"{URL}/{newest}")
    assert swapped(fragment.text).startswith('<div id="contract-tab"')
    # "All payments" replaces the tab, as every link to a tab does (htmx's default swap put
    # a second #contract-tab inside the first).
    back = re.search(r'<a href="[^"]*" data-hx-get[^>]*>All payments</a>', fragment.text)
    assert back and 'data-hx-target="#contract-tab" data-hx-swap="outerHTML"' in back.group()
    # the list links to it
    assert f'href="{URL}/{newest}"' in client.get(URL).text
    # Each document named as its own page names it, in the reader's language.
    client.post("/language", data={"locale": "ru", "next": "/"})
    assert "Счёт № INV-1" in text_of(client.get(f"{URL}/{newest}").text)
    assert "Счёт № INV-1:" in text_of(client.get(URL).text)


def test_every_payment_url_is_404_unless_it_is_yours(app, client, history, ledger, make_user):
    mine = payment_ids(app, history)[0]
    bob = make_user(email="bob@example.com")
    bobs = ledger.contract("EL-BOB", account_id=bob)
    free = ledger.contract("EL-FREE")
    [bobs_payment, free_payment] = ledger.add(
        ledger.payment(bobs, date(2025, 1, 1), "5.00"),
        ledger.payment(free, date(2025, 1, 1), "6.00"),
    )
    for url in (
        "/electricity/EL-BOB/payments",
        "/electricity/EL-FREE/payments",
        "/electricity/EL-NOPE/payments",
        f"/electricity/EL-BOB/payments/{bobs_payment}",
        f"/electricity/EL-FREE/payments/{free_payment}",
        f"/electricity/EL-BOB/payments/{mine}",  # my payment under someone else's contract
        f"{URL}/{bobs_payment}",  # someone else's payment under my contract
        f"{URL}/{free_payment}",
        f"{URL}/999999",
    ):
        assert client.get(url).status_code == 404, url
        assert client.htmx("GET", url).status_code == 404, url
    assert client.get(f"{URL}/{mine}").status_code == 200


def test_payments_need_sign_in(client, app, ledger):
    ledger.contract(NUMBER)
    for url in (URL, f"{URL}/1"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")


# --- exact money ------------------------------------------------------------------------


def test_balance_is_documents_minus_payments_to_the_cent_at_every_date(app, ann, ledger):
    """Odd cents, overpayments, named and unnamed payments; the figures of the SQL agree with
    the domain rules on every day of the history."""
    rng = random.Random(42)
    contract = ledger.contract(NUMBER, account_id=ann)
    start = date(2024, 1, 1)
    rows = []
    for month in range(14):
        issued = start + timedelta(days=30 * month)
        total = Decimal(rng.randint(1, 99_999)).scaleb(-2)
        rows.append(
            ledger.document(contract, f"INV-{month:03d}", issued, issued + timedelta(15), total)
        )
        for k in range(rng.randint(0, 2)):
            amount = Decimal(rng.randint(1, 80_000)).scaleb(-2)
            reference = rng.choice(
                ["", f"INV-{month:03d}", f"po {k}", f"INV-{rng.randint(0, 13):03d}"]
            )
            rows.append(
                ledger.payment(contract, issued + timedelta(rng.randint(0, 40)), amount, reference)
            )
    ledger.add(*rows)

    with app.app_context():
        row = db.session.get(Contract, contract)
        docs = db.session.scalars(sa.select(Document).where(Document.contract_id == contract)).all()
        paid_in = sum((p.amount for p in db.session.scalars(sa.select(Payment))), Decimal("0.00"))
        invoiced = sum((d.total for d in docs), Decimal("0.00"))
        for day in (start + timedelta(days=n) for n in range(0, 460, 7)):
            figures = services.contract_debt(row, day)
            expected = balance.summarize(
                [balance.Invoice(d.total, d.paid, d.due_on, d.number) for d in docs], paid_in, day
            )
            assert figures == expected, day
            assert figures.balance == invoiced - paid_in
            overdue = sum(
                (
                    d.total - d.paid
                    for d in docs
                    if document_status(d.total, d.paid, d.due_on, day) == "overdue"
                ),
                Decimal("0.00"),
            )
            assert figures.overdue == overdue
            assert all(isinstance(v, Decimal) for v in (figures.balance, figures.overdue))


# --- a fixed number of statements -------------------------------------------------------


def count_statements(app, client, url, headers=None) -> int:
    with statements_run(app) as statements:
        assert client.get(url, headers=headers or {}).status_code == 200
    return len(statements)


def ten_years(ledger, contract_id, today, prefix="") -> list:
    """Monthly invoices with VAT invoices and a payment a month, for ten years."""
    rows = []
    for month in range(120):
        issued = today - timedelta(days=30 * (120 - month))
        number = f"{prefix}INV-{month:04d}"
        rows.append(ledger.document(contract_id, number, issued, issued + timedelta(15), "123.45"))
        rows.append(
            ledger.document(
                contract_id, f"{prefix}VAT-{month:04d}", issued, None, "123.45", "vat_invoice"
            )
        )
        rows.append(ledger.payment(contract_id, issued + timedelta(10), "120.00", number))
    return rows


@pytest.mark.sqlite_only
def test_the_tab_takes_a_fixed_number_of_statements(app, client, ann, ledger, today):
    small = ledger.contract(NUMBER, account_id=ann)
    ledger.add(
        ledger.document(small, "INV-1", today - timedelta(40), today - timedelta(10), "10.00"),
        ledger.payment(small, today - timedelta(5), "4.00"),
    )
    few = {
        "tab": count_statements(app, client, URL),
        "list": count_statements(
            app, client, URL + "?page=2", {"HX-Request": "true", "HX-Target": "payments"}
        ),
    }
    rows = []
    for n in range(5):
        contract = ledger.contract(f"EL-BIG-{n}", account_id=ann) if n else small
        rows += ten_years(ledger, contract, today, prefix=f"C{n}-")
    ledger.add(*rows)
    big = "/electricity/EL-BIG-3/payments"
    assert count_statements(app, client, big) == few["tab"]
    assert count_statements(app, client, big + "?page=4&since=2000-01") == few["tab"]
    htmx = {"HX-Request": "true", "HX-Target": "payments"}
    assert count_statements(app, client, big + "?page=2", htmx) == few["list"]
    assert few["tab"] <= 8
