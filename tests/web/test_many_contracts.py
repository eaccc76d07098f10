"""A business customer with many contracts (a chain of shops, a property manager): the
dashboard, the Electricity list and its CSV, the readings of all meters, the month's ZIP and
the daily notices, with hundreds of contracts built in bulk. Each page runs as many statements
for three hundred contracts as for twelve, every total is right to the cent, and nothing is
cut off without saying so."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from lkapp.documents import services as document_services
from lkapp.documents import views as document_views
from lkapp.extensions import db
from lkapp.models import Contract, Document, Meter, OutboxMail, Payment, Reading, utcnow
from lkapp.readings import clock
from tests.conftest import statements_run, text_of
from tests.web import test_dashboard as dashboard_tests

# Ann, signed in (pytest finds fixtures by these module-level names).
ann = dashboard_tests.ann

# Inside November's readings window; the invoices fall due around it.
NOW = datetime(2026, 11, 18, 9, tzinfo=UTC)
TODAY = date(2026, 11, 18)
MONTH = date(2026, 10, 1)  # the month the invoices bill


@pytest.fixture
def now(monkeypatch):
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)
    for module in ("electricity.services", "electricity.views", "payments.services",
                   "payments.dashboard", "documents.views"):  # fmt: skip
        monkeypatch.setattr(f"lkapp.{module}.local_today", lambda: TODAY)
    return TODAY


def invoice_total(n: int) -> Decimal:
    """Cents that a float would get wrong when summed: 0.10 + 0.20 + ..."""
    return Decimal("100.10") + Decimal(n % 7) * Decimal("0.10") + Decimal(n) / 100


class Chain:
    """Contracts EL-0001... of one account, added in bulk. Contract n has an invoice for
    October of ``invoice_total(n)`` and its VAT invoice; every fourth (n % 4 == 0) is overdue,
    n % 4 == 1 is due next week, n % 4 == 2 is paid, n % 4 == 3 paid 10.01 more than billed
    (in advance). Each has a one-zone meter; every third a two-zone one besides."""

    def __init__(self, app, ledger, account_id):
        self.app, self.ledger, self.account_id = app, ledger, account_id
        self.count = 0
        self.expected = {"balance": Decimal(0), "overdue": Decimal(0), "to_pay": Decimal(0)}
        self.expected.update(advance=Decimal(0))

    def grow(self, to: int) -> None:
        numbers = range(self.count + 1, to + 1)
        now = utcnow()
        with self.app.app_context():
            db.session.execute(
                sa.insert(Contract),
                [
                    {
                        "number": f"EL-{n:04}",
                        "holder_name": f"Napfény Pékség {n}",
                        "tax_id": "12345678-2-42",
                        "address": f"{'Szeged' if n % 2 else 'Győr'}, Fő utca {n}.",
                        "status": "active",
                        "account_id": self.account_id,
                        "attached_at": now,
                        "created_at": now,
                    }
                    for n in numbers
                ],
            )
            ids = dict(
                db.session.execute(
                    sa.select(Contract.number, Contract.id).where(
                        Contract.number.in_([f"EL-{n:04}" for n in numbers])
                    )
                ).all()
            )
            documents, payments, meters = [], [], []
            for n in numbers:
                contract_id, total = ids[f"EL-{n:04}"], invoice_total(n)
                due = TODAY + (timedelta(7) if n % 4 == 1 else timedelta(-20))
                for kind, prefix in (("invoice", "INV"), ("vat_invoice", "VAT")):
                    documents.append(
                        {
                            "contract_id": contract_id,
                            "kind": kind,
                            "number": f"{prefix}-{n:04}",
                            "issued_on": MONTH + timedelta(35),
                            "period": MONTH,
                            "due_on": due if kind == "invoice" else None,
                            "net": total,
                            "vat_rate": Decimal(0),
                            "vat": Decimal(0),
                            "total": total,
                            "paid": Decimal(0),
                            "created_at": now,
                        }
                    )
                paid = {2: total, 3: total + Decimal("10.01")}.get(n % 4)
                if paid:
                    payments.append(
                        {"contract_id": contract_id, "paid_on": TODAY - timedelta(3),
                         "amount": paid, "reference": f"P-{n}", "created_at": now}
                    )  # fmt: skip
                meters.append(self._meter(contract_id, f"SN-{n:04}-A", "T1"))
                if n % 3 == 0:
                    meters.append(self._meter(contract_id, f"SN-{n:04}-B", "T1,T2"))
                balance = total - (paid or 0)
                self.expected["balance"] += balance
                self.expected["overdue"] += total if n % 4 == 0 else 0
                self.expected["to_pay"] += max(balance, 0)
                self.expected["advance"] += max(-balance, 0)
            db.session.execute(sa.insert(Document), documents)
            if payments:
                db.session.execute(sa.insert(Payment), payments)
            db.session.execute(sa.insert(Meter), meters)
            db.session.commit()
        self.ledger.allocate(ids.values())
        self.count = to

    @staticmethod
    def _meter(contract_id: int, serial: str, zones: str) -> dict:
        return {"contract_id": contract_id, "serial": serial, "zones": zones, "digits": 6,
                "ct_ratio": 1, "installed_on": date(2020, 1, 1)}  # fmt: skip


@pytest.fixture
def chain(app, ann, ledger, now) -> Chain:
    chain = Chain(app, ledger, ann)
    chain.grow(12)
    return chain


def money(amount: Decimal) -> str:
    return f"€{amount:,.2f}"


def numbers(html: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r">(EL-\d{4})<", html)))


PAGES = (
    "/",
    "/electricity",
    "/electricity?page=2",
    "/electricity?q=szeged+3",
    "/electricity?show=no_readings",
    "/electricity/contracts.csv",
    "/readings",
    "/readings?page=2",
)


def statements_of(app, client, url: str) -> int:
    with statements_run(app) as statements:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(statements)


def test_pages_run_as_many_statements_for_three_hundred_contracts_as_for_twelve(app, client, chain):
    twelve = {url: statements_of(app, client, url) for url in PAGES}
    # Four pages of contracts and of meters, and a month of more documents than one ZIP
    # holds (one statement more on the list, to cut it into parts), to compare with.
    chain.grow(160)
    few = {url: statements_of(app, client, url) for url in PAGES}
    listed = {url for url in PAGES if url.startswith("/electricity") and "csv" not in url}
    assert {url: few[url] - twelve[url] for url in PAGES} == {
        url: int(url in listed) for url in PAGES
    }
    chain.grow(300)
    assert {url: statements_of(app, client, url) for url in PAGES} == few


def test_the_figures_agree_to_the_cent_on_every_page_and_in_the_csv(client, chain):
    chain.grow(150)
    expected = chain.expected
    dashboard = text_of(client.get("/").text)
    assert f"Overdue debt: {money(expected['overdue'])}." in dashboard
    listing = text_of(client.get("/electricity?page=3").text)
    assert "150 contracts in your account." in listing
    assert (
        f"Total of 150 contracts (every page) {money(expected['balance'])} "
        f"Overdue: {money(expected['overdue'])} To pay: {money(expected['to_pay'])} "
        f"{money(expected['advance'])} paid in advance"
    ) in listing
    rows = list(csv.DictReader(io.StringIO(client.get("/electricity/contracts.csv").text[1:]),
                               delimiter=";"))  # fmt: skip
    assert len(rows) == 150
    assert sum(Decimal(row["Balance"]) for row in rows) == expected["balance"]
    assert sum(Decimal(row["Overdue debt"]) for row in rows) == expected["overdue"]
    # The filter's total is the filtered contracts' only, on every page.
    overdue = text_of(client.get("/electricity?show=overdue").text)
    assert f"Total of 37 contracts {money(expected['overdue'])}" in overdue


def test_a_long_list_is_paged_and_finds_one_contract(client, chain):
    chain.grow(300)
    first = client.get("/electricity")
    assert numbers(first.text) == [f"EL-{n:04}" for n in range(1, 51)]
    assert "Page 1 of 6" in text_of(first.text) and len(first.data) < 100_000
    last = client.get("/electricity?page=6")
    assert numbers(last.text) == [f"EL-{n:04}" for n in range(251, 301)]
    assert numbers(client.get("/electricity?page=99").text) == numbers(last.text)
    found = client.get("/electricity", query_string={"q": "el-0271"})
    assert numbers(found.text) == ["EL-0271"]
    assert "1 of 300 contracts matches." in text_of(found.text)
    assert numbers(client.get("/electricity?q=Pékség+271").text) == ["EL-0271"]
    # The CSV holds every contract, not one page.
    assert client.get("/electricity/contracts.csv").text.count("\r\n") == 301


def test_the_dashboard_of_many_contracts_counts_all_and_links_to_the_rest(client, chain):
    chain.grow(300)
    html = client.get("/").text
    page = text_of(html)
    contracts = page.split("Your contracts", 1)[1].split("Latest documents", 1)[0]
    assert "The 10 of your 300 contracts that need attention first" in contracts
    assert len(re.findall(r"EL-\d{4}", contracts)) == 10
    assert '<a href="/electricity">All 300 contracts</a>' in html
    assert "Meters with all of this month's readings: 0 of 400." in page
    assert len(html) < 60_000


# --- readings of all meters ----------------------------------------------------------------


def fields_of(html: str) -> tuple[list[int], list[str]]:
    shown = [int(i) for i in re.findall(r'name="meter" value="(\d+)"', html)]
    return shown, re.findall(r'name="(m\d+-T\d)"', html)


def live_readings(app) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count()).select_from(Reading).where(Reading.status != "superseded")
        )


def test_one_bad_value_among_many_keeps_every_value_and_stores_none(app, client, chain):
    chain.grow(120)
    form = client.get("/readings?page=2").text
    shown, fields = fields_of(form)
    assert 40 <= len(shown) <= 60 and "Page 2 of" in text_of(form)
    data = {"meter": shown, **{name: "1234" for name in fields}}
    bad = fields[len(fields) // 2]
    data[bad] = "12,34.5"
    refused = client.post("/readings?page=2", data=data)
    assert refused.status_code == 422
    assert live_readings(app) == 0
    kept = dict(re.findall(r'name="(m\d+-T\d)"[^>]*value="([^"]*)"', refused.text))
    assert kept == {**{name: "1234" for name in fields}, bad: "12,34.5"}
    summary = text_of(refused.text).split("Nothing was saved.", 1)[1]
    assert summary.startswith(" Check the readings of this meter: Meter SN-")
    data[bad] = "1234"
    done = client.post("/readings?page=2", data=data)
    assert done.status_code == 302 and done.headers["Location"] == "/readings?page=2"
    assert live_readings(app) == len(fields)
    with app.app_context():
        [mail] = db.session.scalars(sa.select(OutboxMail)).all()
    assert f"Readings received: {len(shown)} meters" == mail.subject


def test_pages_of_meters_cover_every_meter_once(client, chain):
    chain.grow(120)
    first = client.get("/readings").text
    pages = int(re.search(r"Page 1 of (\d+)", text_of(first)).group(1))
    seen = []
    for page in range(1, pages + 1):
        seen += fields_of(client.get(f"/readings?page={page}").text)[0]
    assert len(seen) == len(set(seen)) == 120 + 40


# --- notices -------------------------------------------------------------------------------


def test_one_debt_notice_and_one_reminder_for_the_whole_chain(app, chain):
    from lkapp.services.notify import run_daily

    chain.grow(120)
    with app.app_context():
        summary = run_daily(TODAY)
        mails = db.session.scalars(sa.select(OutboxMail).order_by(OutboxMail.id)).all()
    assert summary.debt_appeared == 30 and summary.mails == 1 and summary.reminders == 1
    debt, reminder = mails
    assert debt.subject == "Overdue debt on 30 contracts"
    assert all(f"Contract EL-{n:04} " in debt.body_text for n in range(4, 121, 4))
    assert reminder.subject == "Time to send your meter readings"
    # Twenty numbers, then a count: the mail's link lists them all on one page.
    assert all(f"EL-{n:04}" in reminder.body_text for n in range(1, 21))
    assert "EL-0020 and 100 more contracts." in reminder.body_text
    assert "EL-0021" not in reminder.body_text


# --- the month's documents of all contracts ------------------------------------------------


def test_a_month_too_big_for_one_zip_comes_in_parts_that_hold_every_document(
    client, chain, monkeypatch
):
    """Twelve contracts of two documents each, ten documents a download: three parts of
    whole contracts, each linked from the list; before, the list offered the first part alone
    and the note inside it sent the customer to each of the other contracts' tabs."""
    monkeypatch.setattr(document_services, "MONTH_ZIP_DOCUMENTS", 10)
    monkeypatch.setattr(document_views, "_document_pdf_bytes", lambda contract, doc: b"%PDF")
    listing = client.get("/electricity").text
    links = re.findall(
        r'href="(/electricity/documents/2026-10\.zip[^"]*)" download>([^<]*)<', listing
    )
    assert links == [
        ("/electricity/documents/2026-10.zip", "October 2026, part 1 of 3"),
        ("/electricity/documents/2026-10.zip?part=2", "October 2026, part 2 of 3"),
        ("/electricity/documents/2026-10.zip?part=3", "October 2026, part 3 of 3"),
    ]
    seen = []
    for part, contracts in ((1, range(1, 6)), (2, range(6, 11)), (3, range(11, 13))):
        response = client.get(f"/electricity/documents/2026-10.zip?part={part}")
        assert (
            f'filename="documents-2026-10-part{part}.zip"'
            in response.headers["Content-Disposition"]
        )
        archive = zipfile.ZipFile(io.BytesIO(response.data))
        pdfs = [name for name in archive.namelist() if name.endswith(".pdf")]
        assert sorted({name.split("/")[0] for name in pdfs}) == [f"EL-{n:04}" for n in contracts]
        note = archive.read("NOT-INCLUDED.txt").decode()
        assert f"This is part {part} of 3" in note
        assert note.count("\nEL-") == 12 - len(contracts)
        seen += pdfs
    assert len(seen) == len(set(seen)) == 24
    assert client.get("/electricity/documents/2026-10.zip?part=4").status_code == 404


def test_a_dashboard_with_nothing_to_pay_does_not_say_contracts_need_attention(app, client, chain):
    """The ten shown were called "the 10 that need attention first" when none did."""
    with app.app_context():
        db.session.execute(sa.delete(Document))
        db.session.commit()
    contracts = text_of(client.get("/").text).split("Your contracts", 1)[1]
    assert "need attention" not in contracts
    assert "The first 10 of your 12 contracts, by number." in contracts
