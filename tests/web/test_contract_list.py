"""A business customer's long list of contracts: the Electricity list's search, filters,
totals and pages, and a dashboard that shows what needs attention first."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import Contract, Meter, Reading
from tests.conftest import check_fragment, swapped, text_of
from tests.web import test_dashboard as dashboard_tests

# Ann, signed in, and today's date (pytest finds fixtures by these module-level names).
today, ann = dashboard_tests.today, dashboard_tests.ann

SEARCH_LABEL = "Number, holder or address"
# Searching, paging and the page's shape are Python's work: those tests run on SQLite only;
# the figures, the filters and ownership come from SQL and are tested on both databases.


@pytest.fixture
def chain(app, ann, ledger, today):
    """Twelve shops of a bakery chain: EL-01..EL-12, the odd ones in Szeged, the even ones in
    Győr. EL-03 is 40 days overdue (120.00), EL-07 5 days overdue (30.00), EL-08 has 50.00 to
    pay next week, EL-10 paid 20.00 in advance; EL-05 has a meter read this month, EL-06 one
    still missing a zone. Someone else's EL-99 is in Szeged too."""
    ids = {}
    for n in range(1, 13):
        city = "Szeged, Kárász utca" if n % 2 else "GYŐR, Baross Gábor út"
        ids[n] = ledger.contract(
            f"EL-{n:02}", account_id=ann, holder_name=f"Napfény Pékség {n}", address=f"{city} {n}."
        )
    ledger.contract("EL-99", address="Szeged, Kárász utca 99.")
    d, p = ledger.document, ledger.payment
    ledger.add(
        d(ids[3], "INV-3", today - timedelta(60), today - timedelta(40), "120.00"),
        d(ids[7], "INV-7", today - timedelta(20), today - timedelta(5), "30.00"),
        d(ids[8], "INV-8", today - timedelta(3), today + timedelta(7), "50.00"),
        p(ids[10], today - timedelta(2), "20.00"),
    )
    period = today.replace(day=1)
    with app.app_context():
        read = Meter(contract_id=ids[5], serial="M-READ", zones="T1", installed_on=period)
        half = Meter(contract_id=ids[6], serial="M-HALF", zones="T1,T2", installed_on=period)
        db.session.add_all([read, half])
        db.session.flush()
        db.session.add(Reading(meter_id=read.id, zone="T1", period=period, value=100))
        db.session.add(Reading(meter_id=half.id, zone="T1", period=period, value=200))
        db.session.commit()
    return ids


def numbers(html: str) -> list[str]:
    """The contract numbers the page lists, in order, once each."""
    return list(dict.fromkeys(re.findall(r">(EL-\d\d)<", html)))


@pytest.mark.sqlite_only
def test_a_short_list_has_no_search(client, ann, ledger):
    ledger.contract("EL-01", account_id=ann)
    ledger.contract("EL-02", account_id=ann)
    page = client.get("/electricity").text
    assert SEARCH_LABEL not in page and "2 contracts in your account." not in page
    assert numbers(page) == ["EL-01", "EL-02"]


def test_a_long_list_says_how_many_and_sums_them(client, chain):
    response = client.get("/electricity")
    page = text_of(response.text)
    assert response.status_code == 200
    assert f'<label for="q">{SEARCH_LABEL}</label>' in response.text
    assert "12 contracts in your account." in page
    assert numbers(response.text) == [f"EL-{n:02}" for n in range(1, 13)]
    # 120 + 30 + 50 − 20 owed in all; 150 of it overdue; EL-10's advance pays no other
    # contract's invoice: 200.00 is to pay (as the dashboard says), 20.00 is ahead.
    assert (
        "Total of 12 contracts €180.00 Overdue: €150.00 To pay: €200.00 €20.00 paid in advance"
    ) in page


@pytest.mark.sqlite_only
def test_the_debt_note_keeps_the_invoice_number_on_one_line(client, chain):
    """Russian makes the note long ("по счёту INV-3, дней просрочки: 40"): it wraps, but not
    at the number's hyphen."""
    client.post("/language", data={"locale": "ru"})
    page = client.get("/electricity").text
    assert 'по счёту <span class="nobreak">INV-3</span>, дней просрочки: 40' in page
    assert 'по счёту <span class="nobreak">INV-7</span>, дней просрочки: 5' in page


@pytest.mark.sqlite_only
def test_search_finds_every_word_in_number_holder_or_address(client, chain):
    for query, expected in (
        ("szeged", [f"EL-{n:02}" for n in range(1, 13, 2)]),
        ("győr baross 4", ["EL-04"]),  # case folded: GYŐR
        ("  Pékség   12 ", ["EL-12"]),
        ("EL-1", ["EL-10", "EL-11", "EL-12"]),
    ):
        response = client.get("/electricity", query_string={"q": query})
        assert response.status_code == 200
        assert numbers(response.text) == expected, query
        assert f"{len(expected)} of 12 contract" in text_of(response.text)
        assert "EL-99" not in response.text
        assert 'value="' + query.strip() + '"' in response.text  # the form keeps the query


def test_filters_by_debt_and_by_missing_readings(client, chain):
    for show, expected, total in (
        ("overdue", ["EL-03", "EL-07"], "Total of 2 contracts €150.00 Overdue: €150.00"),
        ("to_pay", ["EL-03", "EL-07", "EL-08"], "Total of 3 contracts €200.00 Overdue: €150.00"),
        ("no_readings", ["EL-06"], None),
    ):
        response = client.get("/electricity", query_string={"show": show})
        page = text_of(response.text)
        assert numbers(response.text) == expected, show
        assert total is None or total in page
        assert f'<option selected value="{show}">' in response.text
    both = client.get("/electricity", query_string={"show": "overdue", "q": "szeged 7"})
    assert numbers(both.text) == ["EL-07"]
    assert "1 of 12 contracts matches." in text_of(both.text)


@pytest.mark.sqlite_only
def test_a_terminated_contract_is_marked_in_the_list(app, client, chain):
    """It takes no readings from its holder and the "missing readings" filter leaves it out:
    the list says why."""
    with app.app_context():
        db.session.execute(
            sa.update(Contract).where(Contract.number == "EL-06").values(status="terminated")
        )
        db.session.commit()
    page = client.get("/electricity").text
    assert re.search(r'>EL-06</a> <span class="badge">Terminated</span></th>', page)
    assert page.count(">Terminated</span>") == 1
    assert numbers(client.get("/electricity?show=no_readings").text) == []


@pytest.mark.sqlite_only
def test_nothing_found_says_so_and_offers_to_clear(client, chain):
    page = client.get("/electricity", query_string={"q": "Debrecen"}).text
    assert "No contract matches. Try other words or show all contracts." in text_of(page)
    assert "0 of 12 contracts match." in text_of(page)
    assert '<a href="/electricity" data-hx-get="/electricity"' in page  # Clear filters
    assert "There are no contracts in your account yet." not in page


@pytest.mark.sqlite_only
def test_bad_filters_are_named_and_the_list_shown_whole(client, chain):
    for args, message in (
        ({"q": "x" * 101}, "Search with at most 100 characters."),
        ({"show": "everything"}, "Not a valid choice."),
    ):
        response = client.get("/electricity", query_string=args)
        assert response.status_code == 422
        assert message in text_of(response.text)
        assert len(numbers(response.text)) == 12
    kept = client.get("/electricity", query_string={"q": "x" * 101}).text
    assert 'value="' + "x" * 101 + '"' in kept


@pytest.mark.sqlite_only
def test_the_filtered_list_is_a_page_and_a_fragment(client, chain, html_checker):
    url = "/electricity?q=szeged&show=overdue"
    full = client.get(url)
    fragment = client.htmx("GET", url)
    assert "<h1>Electricity</h1>" in full.text and "<header" not in fragment.text
    assert swapped(fragment.text).startswith('<section id="contracts"')
    assert numbers(full.text) == numbers(fragment.text) == ["EL-03", "EL-07"]
    assert "HX-Request" in fragment.headers["Vary"]
    html_checker(full.text, "contracts, filtered")
    html_checker(client.get("/electricity?show=bad").text, "contracts, bad filter")
    check_fragment(html_checker, fragment.text, "contracts fragment")


@pytest.mark.sqlite_only
def test_pages_of_fifty_keep_the_filters(app, client, ann, ledger):
    for n in range(1, 56):
        ledger.contract(f"EL-{n:03}", account_id=ann, address="Pécs, Király utca 1.")
    first = client.get("/electricity", query_string={"q": "pécs"})
    assert len(re.findall(r">EL-\d{3}<", first.text)) == 50
    assert "Page 1 of 2" in first.text
    assert 'href="/electricity?q=p%C3%A9cs&amp;page=2"' in first.text
    second = client.get("/electricity?q=p%C3%A9cs&page=2")
    assert re.findall(r">(EL-\d{3})<", second.text) == [f"EL-{n:03}" for n in range(51, 56)]
    assert "Total of 55 contracts (every page)" in text_of(second.text)
    beyond = client.get("/electricity?page=9")  # the last page, not an empty one
    assert beyond.status_code == 200 and ">EL-055<" in beyond.text


@pytest.mark.sqlite_only
def test_a_contract_added_in_place_is_shown_on_its_page(app, client, ann, ledger, runner):
    for n in range(1, 56):
        ledger.contract(f"EL-{n:03}", account_id=ann)
    ledger.contract("EL-999")
    code = runner.invoke(args=["contracts", "issue-code", "EL-999"]).output.split()[-1]
    response = client.htmx(
        "POST",
        "/electricity/add",
        data={"number": "EL-999", "code": code},
        headers={"HX-Current-URL": "http://localhost/electricity"},
    )
    assert response.status_code == 200
    assert re.search(
        r'<tr class="is-new">\s*<th scope="row"><a href="/electricity/EL-999" data-focus>',
        response.text,
    )
    assert "Page 2 of 2" in response.text


def test_the_list_downloads_as_csv_as_filtered(client, chain, today):
    page = client.get("/electricity?q=szeged&show=overdue").text
    assert '<a href="/electricity/contracts.csv?q=szeged&amp;show=overdue" download>' in page
    response = client.get("/electricity/contracts.csv?q=szeged&show=overdue")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert re.search(
        r'filename="contracts-\d{4}-\d\d-\d\d.csv"', response.headers["Content-Disposition"]
    )
    lines = response.text.lstrip("\ufeff").splitlines()
    assert lines[0] == (
        "Contract number;Holder;Supply address;Status;Balance;Overdue debt;"
        "Oldest overdue invoice;Days overdue;Next due date;Next amount due"
    )
    assert (
        lines[1] == "EL-03;Napfény Pékség 3;Szeged, Kárász utca 3.;Active;120.00;120.00;INV-3;40;;"
    )
    assert [line.split(";")[0] for line in lines[1:]] == ["EL-03", "EL-07"]
    everything = client.get("/electricity/contracts.csv").text.splitlines()
    assert len(everything) == 13 and "EL-99" not in "".join(everything)
    due = next(line for line in everything if line.startswith("EL-08;"))
    assert due.endswith(";0.00;;;" + (today + timedelta(7)).isoformat() + ";50.00")


@pytest.mark.sqlite_only
def test_the_csv_speaks_the_readers_language_and_decimal_separator_and_is_formula_safe(
    client, chain, app
):
    with app.app_context():
        contract = db.session.scalar(sa.select(Contract).where(Contract.number == "EL-03"))
        contract.holder_name = "=HYPERLINK(1)"
        db.session.commit()
    client.post("/language", data={"locale": "hu"})
    line = next(
        line for line in client.get("/electricity/contracts.csv").text.splitlines()
        if line.startswith("EL-03;")
    )  # fmt: skip
    assert line.startswith("EL-03;'=HYPERLINK(1);") and ";Aktív;120,00;120,00;" in line
    header = client.get("/electricity/contracts.csv").text.lstrip("\ufeff").splitlines()[0]
    assert header == (
        "Szerződésszám;Szerződő fél;Felhasználási hely címe;Állapot;Egyenleg;Lejárt tartozás;"
        "Legrégebbi lejárt számla;Lejárt napok;Következő fizetési határidő;"
        "Következő esedékes összeg"
    )


@pytest.mark.sqlite_only
def test_a_bad_filter_for_the_csv_is_named_on_the_list(client, chain):
    response = client.get("/electricity/contracts.csv?show=everything")
    assert response.status_code == 422 and "Not a valid choice." in text_of(response.text)


@pytest.mark.sqlite_only
def test_filters_take_a_fixed_number_of_statements(app, client, ann, chain, ledger):
    from tests.web.test_payments import count_statements

    before = count_statements(app, client, "/electricity?show=no_readings&q=e")
    for n in range(13, 30):
        ledger.contract(f"EL-{n:02}", account_id=ann)
    assert count_statements(app, client, "/electricity?show=no_readings&q=e") == before


# --- the dashboard of a long list -------------------------------------------------------


def test_the_dashboard_shows_ten_contracts_needing_attention_first(client, chain):
    html = client.get("/").text
    page = text_of(html)
    contracts = page.split("Your contracts", 1)[1].split("Latest documents", 1)[0]
    assert "The 10 of your 12 contracts that need attention first" in contracts
    # the longest overdue first, then what is to pay next, then the rest by number
    shown = re.findall(r"EL-\d\d", contracts)
    assert shown[:3] == ["EL-03", "EL-07", "EL-08"]
    assert shown[3:] == ["EL-01", "EL-02", "EL-04", "EL-05", "EL-06", "EL-09", "EL-10"]
    assert '<a href="/electricity">All 12 contracts</a>' in html
    assert "Overdue debt: €150.00." in page  # of all twelve, not the ten shown


@pytest.mark.sqlite_only
def test_a_short_dashboard_lists_every_contract_by_number(client, ann, ledger, today):
    late = ledger.contract("EL-02", account_id=ann)
    ledger.contract("EL-01", account_id=ann)
    ledger.add(ledger.document(late, "INV-2", today - timedelta(30), today - timedelta(9), "9.00"))
    html = client.get("/").text
    assert re.findall(r">(EL-\d\d)<", html) == ["EL-01", "EL-02"]
    assert "need attention first" not in html and ">All contracts</a>" in html


def test_the_dashboard_lists_only_meters_missing_readings_of_a_long_list(app, client, chain, today):
    period = today.replace(day=1)
    with app.app_context():
        for n in range(1, 11):  # twelve meters in all: M-READ, M-HALF and these
            db.session.add(
                Meter(contract_id=chain[n], serial=f"M-{n:02}", zones="T1", installed_on=period)
            )
        db.session.commit()
    html = client.get("/").text
    readings = text_of(html).split("Readings for", 1)[1].split("Open questions", 1)[0]
    assert "Meters with all of this month's readings: 1 of 12." in readings
    assert "M-READ" not in readings and "Meter M-HALF" in readings
    listed = re.findall(r"Meter (M-[\w-]+)", readings)
    assert len(listed) == 10
    assert '<a href="/electricity?show=no_readings">Contracts with missing readings</a>' in html
