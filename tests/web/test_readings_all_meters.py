"""Readings of all meters on one page (/readings): every meter in use on the account's
contracts, one form, all or nothing, one receipt mail."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import AuditEvent, Contract, Meter, utcnow
from lkapp.payments import dashboard
from lkapp.readings import services
from tests.conftest import check_fragment, swapped, text_of
from tests.web import test_readings as readings
from tests.web.test_readings import (
    NUMBER,
    alerts,
    all_of,
    error_beside,
    live,
    move_meter,
    period_field,
    set_now,
)

# The Readings tab's data and clock (pytest finds fixtures by these module-level names).
now, setup, ann = readings.now, readings.setup, readings.ann

URL = "/readings"
SECOND = "EL-0000043"


@pytest.fixture
def shop(app, ann):
    """A second contract of Ann's with a one-zone meter last read at 500 in October, and a
    meter removed from it in the summer."""
    with app.app_context():
        contract = Contract(
            number=SECOND,
            holder_name="Tisza Bakery Kft.",
            tax_id="12345678-2-42",
            address="Szeged, Kárász utca 5.",
            account_id=ann["ann"],
            attached_at=utcnow(),
        )
        db.session.add(contract)
        db.session.flush()
        meter = Meter(contract_id=contract.id, serial="SN-SHOP", installed_on=date(2021, 1, 1))
        gone = Meter(
            contract_id=contract.id,
            serial="SN-GONE",
            installed_on=date(2021, 1, 1),
            removed_on=date(2026, 7, 31),
        )
        db.session.add_all([meter, gone])
        db.session.flush()
        db.session.add(
            readings.Reading(
                meter_id=meter.id,
                zone="T1",
                period=date(2026, 10, 1),
                value=500,
                submitted_at=datetime(2026, 10, 18, 9, tzinfo=UTC),
                source="import",
            )
        )
        db.session.commit()
        return meter.id


def field(meter_id: int, zone: str) -> str:
    return f"m{meter_id}-{zone}"


def post(client, htmx=False, **values):
    data = {key.replace("_", "-"): str(value) for key, value in values.items()}
    if htmx:
        return client.htmx("POST", URL, data=data)
    return client.post(URL, data=data)


def audit_count(app) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count()).where(AuditEvent.action == "reading.submitted")
        )


def test_every_meter_in_use_has_its_fields_under_its_contract(client, ann, shop):
    response = client.get(URL)
    page = text_of(response.text)
    assert response.status_code == 200
    assert "Readings of all meters" in page
    assert "Readings for November 2026 are accepted until November 25, 2026." in page
    first, second = page.index(f"Contract {NUMBER}"), page.index(f"Contract {SECOND}")
    assert first < page.index("Meter SN-2Z") < page.index("Meter SN-CT") < second
    assert second < page.index("Meter SN-SHOP")
    assert "SN-GONE" not in page and "SN-BOB" not in page  # removed; someone else's
    for meter_id, zone in ((ann["two"], "T1"), (ann["two"], "T2"), (ann["ct"], "T1"), (shop, "T1")):
        assert f'name="{field(meter_id, zone)}"' in response.text
    assert "Last accepted: 2,100 (October 2026)" in page and "Last accepted: 500" in page
    assert "No earlier reading." in page  # SN-CT
    assert 'name="csrf_token"' in response.text and page.count("Submit readings") == 1
    # A few meters are one page: no pager, and the form is sent to the page's own address.
    assert 'class="pager"' not in response.text
    assert 'action="/readings"' in response.text


def test_meters_of_two_contracts_are_stored_together_with_one_mail(app, client, ann, shop, mailbox):
    response = post(client, **{field(ann["two"], "T1"): "2180.5", field(ann["two"], "T2"): "1090",
                               field(shop, "T1"): "530"})  # fmt: skip
    assert response.status_code == 302 and response.headers["Location"] == URL
    assert live(app, ann["two"]) == {"T1": Decimal("2180.5"), "T2": Decimal("1090")}
    assert live(app, shop) == {"T1": Decimal("530")}
    assert live(app, ann["ct"]) == {}  # left empty: skipped
    assert {row.source for row in all_of(app, shop)} == {"portal"}
    assert audit_count(app) == 2

    page = text_of(client.get(URL).text)
    assert "Readings of 2 meters received. A confirmation is on its way to your email." in page
    assert "Received for November 2026: T1 day: 2,180.5, T2 night: 1,090." in page
    assert "Received for November 2026: T1: 530." in page

    [mail] = mailbox.to("ann@example.com")
    text = mailbox.text(mail)
    assert mail["Subject"] == "Readings received: 2 meters"
    assert (
        f"Meter SN-2Z (contract {NUMBER}):" in text
        and f"Meter SN-SHOP (contract {SECOND}):" in text
    )
    assert "T1 day: 2,180.5 · 80.5 kWh" in text and "T1: 530 · 30 kWh" in text
    assert "http://localhost/readings" in text


def test_a_meter_with_only_spaces_typed_is_skipped(app, client, ann, shop):
    response = post(client, **{field(ann["ct"], "T1"): "  ", field(shop, "T1"): "530"})
    assert response.status_code == 302
    assert live(app, shop) == {"T1": Decimal("530")} and live(app, ann["ct"]) == {}


def test_a_terminated_contracts_meters_are_not_listed(app, client, ann, shop):
    """As the dashboard and the reminders count them: only active contracts wait for readings."""
    with app.app_context():
        db.session.execute(
            sa.update(Contract).where(Contract.number == SECOND).values(status="terminated")
        )
        db.session.commit()
    page = client.get(URL).text
    assert "SN-SHOP" not in page and "Meter SN-2Z" in text_of(page)
    assert post(client, **{field(shop, "T1"): "530"}).status_code == 422  # nothing typed
    assert live(app, shop) == {}


def test_another_accounts_meter_cannot_be_written_through_the_page(app, client, ann, shop):
    """Bob's meter is not on the page; a field named after it is ignored, not stored."""
    assert f'name="{field(ann["other"], "T1")}"' not in client.get(URL).text
    response = post(client, **{field(ann["other"], "T1"): "99", field(shop, "T1"): "530"})
    assert response.status_code == 302
    assert live(app, ann["other"]) == {} and live(app, shop) == {"T1": Decimal("530")}
    alone = post(client, **{field(ann["other"], "T1"): "99"})
    assert alone.status_code == 422 and live(app, ann["other"]) == {}


def test_nothing_typed_is_refused(app, client, ann, shop, mailbox):
    response = post(client)
    assert response.status_code == 422
    assert "Type the readings of at least one meter." in text_of(response.text)
    assert live(app, shop) == {} and mailbox.messages == []


def test_one_refused_meter_keeps_every_meter_from_being_stored(app, client, ann, shop, mailbox):
    """All or nothing: the good meter is not stored either, and every typed value comes back."""
    response = post(client, **{field(ann["two"], "T1"): "2000", field(ann["two"], "T2"): "1090",
                               field(shop, "T1"): "530"})  # fmt: skip
    assert response.status_code == 422
    html = response.text
    assert error_beside(html, field(ann["two"], "T1")).startswith(
        "This is below the last accepted reading, 2,100 for October 2026."
    )
    assert error_beside(html, field(shop, "T1")) == ""
    assert "Nothing was saved. Check the readings of this meter:" in text_of(html)
    assert f'<a href="#{field(ann["two"], "T1")}">Meter SN-2Z (contract {NUMBER})</a>' in html
    for typed in ("2000", "1090", "530"):
        assert f'value="{typed}"' in html
    assert live(app, ann["two"]) == {} and live(app, shop) == {}
    assert audit_count(app) == 0 and mailbox.messages == []


def test_a_meter_with_a_zone_left_empty_is_named(app, client, ann, shop):
    response = post(client, **{field(ann["two"], "T1"): "2180"})
    assert response.status_code == 422
    assert error_beside(response.text, field(ann["two"], "T2")) == (
        "Enter the value the meter shows for this zone."
    )
    assert f'<a href="#{field(ann["two"], "T2")}">' in response.text
    assert live(app, ann["two"]) == {}


def test_an_unusual_value_is_stored_once_it_is_confirmed(app, client, ann, shop):
    """100 kWh a month until October: 1,000 is over three times that."""
    values = {field(ann["two"], "T1"): "3100", field(ann["two"], "T2"): "1090"}
    first = post(client, **values)
    assert first.status_code == 422
    assert "over 3 times the average" in error_beside(first.text, field(ann["two"], "T1"))
    assert f'id="{field(ann["two"], "confirm")}"' in first.text
    assert live(app, ann["two"]) == {}
    confirmed = post(client, **values, **{field(ann["two"], "confirm"): "y"})
    assert confirmed.status_code == 302
    assert live(app, ann["two"]) == {"T1": Decimal("3100"), "T2": Decimal("1090")}


def test_sending_again_corrects_and_keeps_both_in_history(app, client, ann, shop):
    assert post(client, **{field(shop, "T1"): "530"}).status_code == 302
    assert post(client, **{field(shop, "T1"): "531"}).status_code == 302
    assert [(r.value, r.status) for r in all_of(app, shop)] == [
        (Decimal("530"), "superseded"),
        (Decimal("531"), "accepted"),
    ]
    assert "Received for November 2026: T1: 531." in text_of(client.get(URL).text)


def test_outside_the_window_the_page_has_no_fields_and_refuses_a_post(
    app, client, ann, shop, monkeypatch
):
    set_now(monkeypatch, datetime(2026, 11, 26, 12, tzinfo=UTC))
    page = client.get(URL)
    assert "The next window opens on December 15, 2026." in text_of(page.text)
    assert f'name="{field(shop, "T1")}"' not in page.text and "Submit readings" not in page.text
    assert "Meter SN-SHOP" in text_of(page.text)
    response = post(client, **{field(shop, "T1"): "530"})
    assert response.status_code == 422
    assert "The next window opens on December 15, 2026." in text_of(response.text)
    assert live(app, shop) == {}


def test_a_meter_whose_month_the_previous_holder_gave_has_no_fields(app, client, setup, auth):
    """Billing moved Ann's meter to Bob in November, after Ann had sent November's readings:
    Bob's first month is December."""
    auth.login()
    assert post(client, **{field(setup["two"], "T1"): "2180", field(setup["two"], "T2"): "1090"}
                ).status_code == 302  # fmt: skip
    move_meter(app, setup["two"], "EL-0000099")
    client.post("/logout")
    auth.login(email="bob@example.com")
    page = client.get(URL).text
    assert "Meter SN-2Z" in text_of(page)
    assert "The first readings for this contract are for December 2026." in text_of(page)
    assert f'name="{field(setup["two"], "T1")}"' not in page


def test_htmx_swaps_the_form_and_follows_the_answer(app, client, ann, shop):
    bad = post(client, htmx=True, **{field(shop, "T1"): "x"})
    assert bad.status_code == 422
    assert swapped(bad.text).startswith('<form id="all-meters-form"')
    assert "<header" not in bad.text
    good = post(client, htmx=True, **{field(shop, "T1"): "530"})
    assert good.status_code == 204 and good.headers["HX-Redirect"] == URL
    assert live(app, shop) == {"T1": Decimal("530")}


@pytest.mark.sqlite_only
def test_the_page_is_a_page_and_a_fragment(client, ann, shop):
    full = client.get(URL)
    fragment = client.htmx("GET", URL)
    assert "<header" in full.text and "<header" not in fragment.text
    assert swapped(fragment.text).startswith('<form id="all-meters-form"')
    assert fragment.text.startswith("<title>Readings of all meters · City Power Supply</title>")
    assert "HX-Request" in full.headers["Vary"] and "HX-Request" in fragment.headers["Vary"]


@pytest.mark.sqlite_only
def test_a_refusal_takes_a_fixed_number_of_statements(app, client, ann, shop):
    from tests.web.test_payments import count_statements

    def refused() -> int:
        statements = []
        with app.app_context():
            engine = db.engine

        def listener(*args):
            statements.append(args[2])

        sa.event.listen(engine, "before_cursor_execute", listener)
        try:
            assert post(client, **{field(ann["two"], "T1"): "1"}).status_code == 422
        finally:
            sa.event.remove(engine, "before_cursor_execute", listener)
        return len(statements)

    before, page = refused(), count_statements(app, client, URL)
    with app.app_context():
        for n in range(12):
            contract = Contract(
                number=f"EL-77{n:02}", holder_name="x", tax_id="1", address="a",
                account_id=ann["ann"],
            )  # fmt: skip
            db.session.add(contract)
            db.session.flush()
            db.session.add(
                Meter(contract_id=contract.id, serial=f"SN-{n}", installed_on=date(2021, 1, 1))
            )
        db.session.commit()
    assert refused() == before and count_statements(app, client, URL) == page


@pytest.mark.sqlite_only
def test_the_post_needs_the_csrf_token(app, client, ann, shop):
    response = client.post(URL, data={field(shop, "T1"): "530"}, csrf=False)
    assert response.status_code == 400
    assert live(app, shop) == {}


@pytest.mark.sqlite_only
def test_pages_are_valid_html(app, client, ann, shop, html_checker):
    html_checker(client.get(URL).text, "readings of all meters")
    refused = post(client, **{field(ann["two"], "T1"): "1", field(shop, "T1"): "3000"})
    html_checker(refused.text, "readings of all meters, refused")
    fragment = post(client, htmx=True, **{field(shop, "T1"): "x"})
    check_fragment(html_checker, fragment.text, "readings of all meters, fragment")
    data = typed_page(client, ann, shop)
    change_shop(app, shop, "terminated")
    html_checker(client.post(URL, data=data).text, "readings of all meters, a contract ended")


@pytest.mark.sqlite_only
def test_the_dashboard_offers_the_page_to_an_account_with_several_meters(client, ann, monkeypatch):
    monkeypatch.setattr(dashboard, "local_today", lambda: date(2026, 11, 20))  # window open
    html = client.get("/").text
    assert '<a class="button" href="/readings">Send the readings of all meters</a>' in html
    monkeypatch.setattr(dashboard, "local_today", lambda: date(2026, 11, 26))  # closed
    assert "Send the readings of all meters" not in client.get("/").text


# --- many meters: pages -----------------------------------------------------------------


@pytest.fixture
def paged(monkeypatch, shop):
    """Two meters a page: Ann's first contract (SN-2Z, SN-CT) on page 1, the shop on page 2."""
    monkeypatch.setattr(services, "METERS_PER_PAGE", 2)
    return shop


def test_many_meters_come_in_pages_of_whole_contracts(client, ann, paged):
    first = client.get(URL)
    page = text_of(first.text)
    assert first.status_code == 200
    assert "Meter SN-2Z" in page and "Meter SN-CT" in page and "SN-SHOP" not in page
    assert "Page 1 of 2" in page and 'href="/readings?page=2"' in first.text
    assert "submit this page's readings before you go to another page" in page
    for meter_id in (ann["two"], ann["ct"]):
        assert f'<input type="hidden" name="meter" value="{meter_id}">' in first.text
    second = client.get(f"{URL}?page=2")
    page = text_of(second.text)
    assert f"Contract {SECOND}" in page and "Meter SN-SHOP" in page and "SN-2Z" not in page
    assert "Page 2 of 2" in page and 'action="/readings?page=2"' in second.text
    # Past the last page: the last one.
    assert "Meter SN-SHOP" in text_of(client.get(f"{URL}?page=9").text)
    fragment = client.htmx("GET", f"{URL}?page=2")
    assert swapped(fragment.text).startswith('<form id="all-meters-form"')
    assert 'data-hx-target="#all-meters-form"' in fragment.text


def test_a_page_is_sent_on_its_own_all_or_nothing(app, client, ann, paged):
    def send(page, **values):
        data = {"meter": [ann["two"], ann["ct"]] if page == 1 else [paged]}
        data.update({key.replace("_", "-"): value for key, value in values.items()})
        return client.post(URL if page == 1 else f"{URL}?page=2", data=data)

    refused = send(1, **{field(ann["two"], "T1"): "2000", field(ann["two"], "T2"): "1090",
                         field(ann["ct"], "T1"): "10"})  # fmt: skip
    assert refused.status_code == 422 and "Page 1 of 2" in text_of(refused.text)
    assert live(app, ann["two"]) == {} and live(app, ann["ct"]) == {}
    done = send(2, **{field(paged, "T1"): "530"})
    assert done.status_code == 302 and done.headers["Location"] == f"{URL}?page=2"
    assert live(app, paged) == {"T1": Decimal("530")}
    page = text_of(client.get(done.headers["Location"]).text)
    assert (
        "Readings of 1 meter received." in page and "Received for November 2026: T1: 530." in page
    )


def test_a_page_sent_after_its_bounds_moved_stores_what_it_showed(app, client, ann, paged):
    """A contract added meanwhile, numbered before the others, pushes the shop to page 3: the
    form of page 2 still stores the shop's readings, the meters it showed."""
    with app.app_context():
        contract = Contract(
            number="EL-0000001", holder_name="x", tax_id="1", address="a", account_id=ann["ann"]
        )
        db.session.add(contract)
        db.session.flush()
        db.session.add(
            Meter(contract_id=contract.id, serial="SN-NEW", installed_on=date(2021, 1, 1))
        )
        db.session.commit()
    assert "Meter SN-SHOP" not in text_of(client.get(f"{URL}?page=2").text)
    response = client.post(f"{URL}?page=2", data={"meter": [paged], field(paged, "T1"): "530"})
    assert response.status_code == 302
    assert live(app, paged) == {"T1": Decimal("530")}


def test_a_one_page_form_sent_after_the_account_grew_to_pages_stores_what_it_showed(
    app, client, ann, shop, monkeypatch
):
    """The form was one page (every meter); a contract added meanwhile makes two, and pushes
    the shop to page 2: its reading, typed on the form, was dropped without a word (the
    readings of the meters still on page 1 were stored and reported as all received)."""
    monkeypatch.setattr(services, "METERS_PER_PAGE", 3)
    form = client.get(URL).text
    assert "Meter SN-SHOP" in text_of(form) and 'class="pager"' not in form
    with app.app_context():
        contract = Contract(
            number="EL-0000001", holder_name="x", tax_id="1", address="a", account_id=ann["ann"]
        )
        db.session.add(contract)
        db.session.flush()
        db.session.add(
            Meter(contract_id=contract.id, serial="SN-NEW", installed_on=date(2021, 1, 1))
        )
        db.session.commit()
    shown = [int(i) for i in re.findall(r'name="meter" value="(\d+)"', form)]
    data = {"meter": shown, field(ann["ct"], "T1"): "10", field(shop, "T1"): "530"}
    response = client.post(URL, data=data)
    assert response.status_code == 302
    assert live(app, ann["ct"]) == {"T1": Decimal("10")}
    assert live(app, shop) == {"T1": Decimal("530")}
    assert "Readings of 2 meters received." in text_of(client.get(URL).text)


def test_a_page_naming_another_accounts_meter_does_not_write_it(app, client, ann, paged):
    data = {"meter": [ann["other"], paged], field(ann["other"], "T1"): "99"}
    response = client.post(f"{URL}?page=2", data=data)
    assert response.status_code == 422
    assert alerts(response.text) == [
        "Nothing was saved. A meter you typed readings for is no longer on your account: its "
        "readings cannot be sent here."
    ]
    assert "SN-BOB" not in response.text and "EL-0000099" not in response.text
    assert live(app, ann["other"]) == {}
    # An id past what the database holds is no meter of the account either, not an error.
    huge = 10**20
    response = client.post(f"{URL}?page=2", data={"meter": [huge, paged], f"m{huge}-T1": "1"})
    assert response.status_code == 422 and "no longer on your account" in response.text
    # Named but left empty: nothing lost, nothing said of it.
    empty = client.post(f"{URL}?page=2", data={"meter": [ann["other"], paged]})
    assert "Type the readings of at least one meter." in text_of(empty.text)


# --- a meter that leaves the page between loading it and sending it ----------------------


def typed_page(client, ann, shop) -> dict:
    """The form as loaded (every meter named), with a good reading for SN-2Z and the shop."""
    form = client.get(URL).text
    shown = [int(i) for i in re.findall(r'name="meter" value="(\d+)"', form)]
    assert shop in shown
    return {
        "meter": shown,
        field(ann["two"], "T1"): "2180.5",
        field(ann["two"], "T2"): "1090",
        field(shop, "T1"): "530",
    }


def change_shop(app, shop, change: str) -> None:
    with app.app_context():
        contract = db.session.get(Meter, shop).contract
        if change == "terminated":
            contract.status = "terminated"
        elif change == "removed":
            db.session.get(Meter, shop).removed_on = date(2026, 10, 31)
        else:  # detached, then attached to Bob's account
            contract.account_id = db.session.scalar(
                sa.select(Contract.account_id).where(Contract.number == "EL-0000099")
            )
        db.session.commit()


@pytest.mark.parametrize("htmx", [False, True], ids=["whole page", "htmx"])
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            "terminated",
            "This contract has ended: readings are no longer accepted for it. To report a final "
            "reading, ask our office a question.",
        ),
        ("removed", "This meter is not installed for this month; no readings can be sent for it."),
    ],
)
def test_a_meter_whose_contract_ended_meanwhile_refuses_the_page_where_it_was(
    app, client, ann, shop, mailbox, change, message, htmx
):
    """Its reading was dropped without a word and the others' were stored, the flash counting
    them as all that was sent."""
    data = typed_page(client, ann, shop)
    change_shop(app, shop, change)
    response = client.htmx("POST", URL, data=data) if htmx else client.post(URL, data=data)
    assert response.status_code == 422
    assert ("<header" in response.text) is not htmx
    assert alerts(response.text) == [
        f"Nothing was saved. Check the readings of this meter: Meter SN-SHOP (contract {SECOND}) : "
        + message
    ]
    html = response.text
    shop_fields = html[html.index(f'id="meter-{shop}"') :]
    shop_fields = shop_fields[: shop_fields.index("</fieldset>")]
    assert f'<p class="form-error">{message}</p>' in shop_fields
    assert f'name="{field(shop, "T1")}"' not in html
    assert 'value="2180.5"' in html and 'value="1090"' in html  # what was typed comes back
    assert live(app, ann["two"]) == {} and live(app, shop) == {}
    assert audit_count(app) == 0 and mailbox.messages == []


@pytest.mark.parametrize("htmx", [False, True], ids=["whole page", "htmx"])
def test_a_meter_whose_contract_left_the_account_meanwhile_refuses_the_page_unnamed(
    app, client, ann, shop, mailbox, htmx
):
    """Detached and attached to another account: nothing of it is shown, the page is refused
    and the readings typed for the others come back."""
    data = typed_page(client, ann, shop)
    change_shop(app, shop, "detached")
    response = client.htmx("POST", URL, data=data) if htmx else client.post(URL, data=data)
    assert response.status_code == 422
    assert alerts(response.text) == [
        "Nothing was saved. A meter you typed readings for is no longer on your account: its "
        "readings cannot be sent here."
    ]
    assert "SN-SHOP" not in response.text and SECOND not in response.text
    assert 'value="2180.5"' in response.text and 'value="1090"' in response.text
    assert live(app, ann["two"]) == {} and live(app, shop) == {}
    assert audit_count(app) == 0 and mailbox.messages == []
    # Sent again without it, the others are stored.
    del data[field(shop, "T1")]
    again = client.post(URL, data=data)
    assert again.status_code == 302
    assert live(app, ann["two"]) == {"T1": Decimal("2180.5"), "T2": Decimal("1090")}


def test_a_refused_meter_and_one_gone_from_the_account_are_both_named(app, client, ann, shop):
    data = typed_page(client, ann, shop) | {field(ann["two"], "T1"): "2000"}
    change_shop(app, shop, "detached")
    response = client.post(URL, data=data)
    assert response.status_code == 422
    assert alerts(response.text) == [
        f"Nothing was saved. Check the readings of this meter: Meter SN-2Z (contract {NUMBER}) "
        "A meter you typed readings for is no longer on your account: its readings cannot be "
        "sent here."
    ]
    assert error_beside(response.text, field(ann["two"], "T1")).startswith(
        "This is below the last accepted reading"
    )


@pytest.mark.sqlite_only
def test_a_paged_page_is_valid_html(client, ann, paged, html_checker):
    html_checker(client.get(f"{URL}?page=2").text, "readings of all meters, page 2")


# --- a page sent for a month that has passed ---------------------------------------------

DECEMBER = date(2026, 12, 1)
IN_DECEMBERS_WINDOW = datetime(2026, 12, 16, 9, tzinfo=UTC)
MONTH_PASSED = (
    "This form was for November 2026; readings are now taken for December 2026. Check the "
    "values and send them again."
)


@pytest.mark.parametrize("htmx", [False, True], ids=["whole page", "htmx"])
def test_a_page_sent_once_its_month_has_passed_is_not_stored_for_the_next(
    app, client, ann, shop, monkeypatch, mailbox, htmx
):
    """The tab left open from November's window to December's: November's readings were
    stored for December without a word. The page comes back for December, values kept."""
    form = client.get(URL).text
    data = typed_page(client, ann, shop) | {"period": period_field(form)}
    assert data["period"] == "2026-11"
    set_now(monkeypatch, IN_DECEMBERS_WINDOW)
    response = client.htmx("POST", URL, data=data) if htmx else client.post(URL, data=data)
    assert response.status_code == 422
    assert ("<header" in response.text) is not htmx
    assert alerts(response.text) == [MONTH_PASSED]
    page = text_of(response.text)
    assert "Readings for December 2026 are accepted until December 25, 2026." in page
    assert period_field(response.text) == "2026-12"
    for value in ("2180.5", "1090", "530"):
        assert f'value="{value}"' in response.text
    for meter_id in (ann["two"], shop):
        assert live(app, meter_id) == {} and live(app, meter_id, DECEMBER) == {}
    assert audit_count(app) == 0 and mailbox.messages == []

    data["period"] = period_field(response.text)  # sent again from the page as it came back
    assert client.post(URL, data=data).status_code == 302
    assert live(app, shop, DECEMBER) == {"T1": Decimal("530")}


def test_a_page_without_its_month_is_taken_for_the_current_one(app, client, ann, shop, monkeypatch):
    """A page drawn before the form said its month, or a script: as before."""
    data = typed_page(client, ann, shop)
    set_now(monkeypatch, IN_DECEMBERS_WINDOW)
    assert client.post(URL, data=data).status_code == 302
    assert live(app, shop, DECEMBER) == {"T1": Decimal("530")}


def test_a_meter_removed_as_the_month_passed_is_named_on_the_page_sent_for_it(
    app, client, ann, shop, monkeypatch
):
    """Removed at November's end, it takes no December readings: it stays where it was with
    its message rather than leaving the page without a word."""
    data = typed_page(client, ann, shop) | {"period": "2026-11"}
    with app.app_context():
        db.session.get(Meter, shop).removed_on = date(2026, 11, 30)
        db.session.commit()
    set_now(monkeypatch, IN_DECEMBERS_WINDOW)
    response = client.post(URL, data=data)
    assert response.status_code == 422 and alerts(response.text) == [MONTH_PASSED]
    shop_fields = response.text[response.text.index(f'id="meter-{shop}"') :]
    shop_fields = shop_fields[: shop_fields.index("</fieldset>")]
    assert (
        '<p class="form-error">This meter is not installed for this month; no readings can be '
        "sent for it.</p>"
    ) in shop_fields
    assert f'name="{field(shop, "T1")}"' not in response.text
    assert 'value="2180.5"' in response.text


@pytest.mark.sqlite_only
def test_a_page_sent_once_its_month_has_passed_is_valid_html(
    app, client, ann, shop, monkeypatch, html_checker
):
    data = typed_page(client, ann, shop) | {"period": "2026-11"}
    set_now(monkeypatch, IN_DECEMBERS_WINDOW)
    html_checker(client.post(URL, data=data).text, "readings of all meters, month passed")
