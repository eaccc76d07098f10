"""The customer's dashboard at ``/``: contracts with balance and debt, the latest documents
with their status, this month's readings, open questions; the same figures as the Electricity
list; a fixed number of statements."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from lkapp.electricity.services import local_today
from lkapp.extensions import db
from lkapp.models import Meter, Question, Reading, utcnow
from tests.conftest import check_fragment, text_of


@pytest.fixture
def today(app):
    with app.app_context():
        return local_today()


@pytest.fixture
def ann(make_user, auth):
    user_id = make_user()
    auth.login()
    return user_id


@pytest.fixture
def two_contracts(app, ann, ledger, today):
    """EL-1 with an overdue invoice (debt 75.00 since 12 days) and EL-2 paid in advance;
    meters on EL-1 (two zones, one read this month) and an open and a closed question."""
    in_debt = ledger.contract("EL-1", account_id=ann, address="Szeged, Kossuth tér 2.")
    ahead = ledger.contract("EL-2", account_id=ann)
    d, p = ledger.document, ledger.payment
    ledger.add(
        d(in_debt, "INV-1-OLD", today - timedelta(60), today - timedelta(45), "50.00"),
        d(in_debt, "INV-1-LATE", today - timedelta(30), today - timedelta(12), "100.00"),
        d(in_debt, "VAT-1-LATE", today - timedelta(30), None, "100.00", kind="vat_invoice"),
        p(in_debt, today - timedelta(40), "75.00"),  # 50 + 25: INV-1-LATE has 75.00 left
        d(ahead, "INV-2-A", today - timedelta(20), today - timedelta(5), "40.00"),
        p(ahead, today - timedelta(6), "100.00", "INV-2-A"),
    )
    with app.app_context():
        period = today.replace(day=1)
        two = Meter(
            contract_id=in_debt,
            serial="MTR-TWO",
            zones="T1,T2",
            installed_on=period.replace(year=period.year - 2),
        )
        gone = Meter(
            contract_id=in_debt,
            serial="MTR-GONE",
            zones="T1",
            installed_on=period.replace(year=period.year - 3),
            removed_on=period - timedelta(days=40),
        )
        db.session.add_all([two, gone])
        db.session.flush()
        db.session.add(Reading(meter_id=two.id, zone="T1", period=period, value=1234))
        db.session.add(
            Reading(meter_id=two.id, zone="T2", period=period - timedelta(days=20), value=99)
        )
        for reference, status in (("Q-OPEN-1", "answered"), ("Q-SHUT-1", "closed")):
            db.session.add(
                Question(
                    reference=reference,
                    user_id=ann,
                    contact_email="ann@example.com",
                    contact_name="Ann",
                    subject="payments",
                    status=status,
                    updated_at=utcnow(),
                )
            )
        db.session.commit()
    return in_debt, ahead


def test_anonymous_visitors_keep_the_landing_page(client):
    page = client.get("/").text
    assert "My Account for business customers" in page
    assert "Your contracts" not in page


def test_staff_keep_the_landing_page(client, make_user, auth):
    make_user(email="op@example.com", role="staff")
    auth.login(email="op@example.com")
    assert "My Account for business customers" in client.get("/").text


def test_a_customer_without_contracts_is_told_how_to_add_one(client, ann):
    response = client.get("/")
    assert response.status_code == 200
    page = text_of(response.text)
    assert "There are no contracts in your account yet." in page
    assert 'href="/electricity/add"' in response.text
    assert "You have no open questions." in page


def test_dashboard_shows_debt_documents_readings_and_questions(client, two_contracts, today):
    response = client.get("/")
    assert response.status_code == 200
    html = response.text
    page = text_of(html)
    assert "Overdue debt: €75.00. Please pay it as soon as you can." in page
    # contracts: balance, debt badge, oldest overdue invoice and days, the advance
    el1 = page.split("EL-1", 1)[1].split("EL-2", 1)[0]
    assert "€75.00" in el1 and "Overdue: €75.00" in el1
    assert "INV-1-LATE 12 days overdue" in el1
    assert 'class="nobreak">INV-1-LATE</a>' in html  # not broken at its hyphens
    assert 'due <span class="nobreak">' in html  # the latest documents' due dates stay whole
    el2 = page.split("EL-2", 1)[1]
    assert "-€60.00" in el2 and "Paid in advance" in el2 and "€60.00 paid in advance" in el2
    # the latest documents, newest first, each with its status (a VAT invoice: its invoice's)
    documents = page.split("Latest documents", 1)[1].split("Readings for", 1)[0]
    assert documents.index("INV-2-A") < documents.index("INV-1-LATE")
    assert "Invoice INV-2-A Paid" in documents
    assert "Invoice INV-1-LATE Overdue" in documents
    assert "VAT invoice VAT-1-LATE Overdue" in documents
    # readings for this month: the meter in use, per zone; not the removed one
    readings = page.split("Readings for", 1)[1].split("Open questions", 1)[0]
    assert "Meter MTR-TWO" in readings and "T1 received T2 missing" in readings
    assert "MTR-GONE" not in readings
    # open questions: answered or new, never closed
    questions = page.split("Open questions", 1)[1]
    assert "Q-OPEN-1 Answered" in questions and "Q-SHUT-1" not in questions
    assert 'href="/support/questions/Q-OPEN-1"' in html
    # each document and meter links to itself, not to its tab's start
    assert 'href="/electricity/EL-1/documents/invoice/INV-1-LATE"' in html
    assert re.search(r'href="/electricity/EL-1/readings#meter-\d+-title">Meter MTR-TWO<', html)


def test_dashboard_and_electricity_list_show_the_same_figures(client, two_contracts, today):
    dashboard = text_of(client.get("/").text)
    listing = text_of(client.get("/electricity").text)
    for figure in ("Overdue: €75.00", "€75.00", "-€60.00", "€60.00 paid in advance"):
        assert figure in dashboard and figure in listing, figure
    assert "since INV-1-LATE, 12 days" in listing


def test_statuses_agree_between_dashboard_and_payments_tab(client, two_contracts):
    dashboard = text_of(client.get("/").text)
    tab = text_of(client.get("/electricity/EL-1/payments").text)
    assert "Invoice INV-1-LATE Overdue" in dashboard
    assert "Invoice INV-1-LATE: €25.00 Overdue" in tab
    assert "Invoice INV-1-OLD: €50.00 Paid" in tab


def test_dashboard_html_is_valid(client, two_contracts, html_checker):
    html_checker(client.get("/").text, "dashboard")
    html_checker(client.get("/electricity/EL-1/payments").text, "payments tab")
    html_checker(client.get("/electricity/EL-1/payments?since=1").text, "payments tab, bad filter")
    listing = client.htmx("GET", "/electricity/EL-1/payments", headers={"HX-Target": "payments"})
    check_fragment(html_checker, listing.text, "payments list fragment")


@pytest.mark.sqlite_only
def test_the_dashboard_takes_a_fixed_number_of_statements(app, client, ann, ledger, today):
    from tests.web.test_payments import count_statements, ten_years

    first = ledger.contract("EL-BIG-0", account_id=ann)
    ledger.add(
        ledger.document(first, "INV-1", today - timedelta(40), today - timedelta(10), "9.99")
    )
    few = count_statements(app, client, "/")
    rows = ten_years(ledger, first, today, prefix="C0-")
    for n in range(1, 5):
        contract = ledger.contract(f"EL-BIG-{n}", account_id=ann)
        rows += ten_years(ledger, contract, today, prefix=f"C{n}-")
        with app.app_context():
            db.session.add(
                Meter(
                    contract_id=contract,
                    serial=f"M-{n}",
                    zones="T1,T2,T3",
                    installed_on=today - timedelta(days=4000),
                )
            )
            db.session.commit()
    ledger.add(*rows)
    assert count_statements(app, client, "/") == few
    assert few <= 7


def test_contracts_are_listed_by_number_whatever_order_they_came_in(client, ann, ledger):
    for number in ("EL-0000009", "EL-0000003", "EL-0000005"):
        ledger.contract(number, account_id=ann)
    ledger.contract("EL-0000004")  # someone else's: never shown
    for url in ("/", "/electricity"):
        page = text_of(client.get(url).text)
        found = re.findall(r"EL-\d{7}", page)
        assert list(dict.fromkeys(found)) == ["EL-0000003", "EL-0000005", "EL-0000009"], url


def test_the_latest_documents_are_the_six_newest_of_all_contracts(client, ann, ledger, today):
    """Newest issue date first, the later entry first on the same day; never another
    account's; a VAT invoice whose invoice is older than the six shows that invoice's status."""
    a, b, c = (ledger.contract(f"EL-{n}", account_id=ann) for n in "ABC")
    other = ledger.contract("EL-X")
    d = ledger.document

    def day(n):
        return today - timedelta(n)

    ledger.add(
        d(a, "INV-A1", day(50), day(35), "10.00"),
        d(b, "INV-B1", day(40), day(25), "10.00"),
        d(c, "INV-C1", day(30), day(15), "10.00"),
        d(a, "VAT-A1", day(10), None, "10.00", kind="vat_invoice", period=day(50).replace(day=1)),
        d(b, "INV-B2", day(10), day(5) + timedelta(30), "10.00"),
        d(c, "INV-C2", day(10), day(5) + timedelta(30), "10.00"),
        d(a, "INV-A2", day(3), day(3) + timedelta(30), "10.00"),
        d(b, "INV-B3", day(2), day(2) + timedelta(30), "10.00"),
        d(c, "INV-C3", day(1), day(1) + timedelta(30), "10.00"),
        d(other, "INV-X", today, today + timedelta(30), "10.00"),
    )
    page = text_of(client.get("/").text)
    documents = page.split("Latest documents", 1)[1].split("Readings for", 1)[0]
    shown = re.findall(r"(?:INV|VAT)-[A-Z]\d", documents)
    assert shown == ["INV-C3", "INV-B3", "INV-A2", "INV-C2", "INV-B2", "VAT-A1"]
    assert "VAT invoice VAT-A1 Overdue" in documents
    client.post("/language", data={"locale": "ru", "next": "/"})
    assert "Счёт № INV-C3" in text_of(client.get("/").text)  # as the document's page names it


@pytest.mark.parametrize("locale", ["en", "ru", "hu"])
def test_after_the_readings_window_the_card_says_when_readings_are_accepted_again(
    client, ann, ledger, monkeypatch, locale
):
    """Past this month's last reading day the card says, without the jargon "window", that
    this month's readings are no longer accepted and from when next month's are; a Russian
    or Hungarian date ends in a full stop of its own, and none is doubled."""
    monkeypatch.setattr("lkapp.payments.dashboard.local_today", lambda: date(2026, 11, 28))
    ledger.contract("EL-1", account_id=ann)
    client.post("/language", data={"locale": locale, "next": "/"})
    page = text_of(client.get("/").text)
    assert "window" not in page.lower()
    assert not re.findall(r".{40}(?<!\.)\.\.(?!\.)", page)
    if locale == "en":
        assert (
            "This month's readings are no longer accepted. "
            "From Dec 15, 2026, you can send next month's readings." in page
        )
