"""The Readings tab: meters, the window (edges, time zone), every check and its message,
corrections, receipt and email, history and chart, ownership (404)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import AuditEvent, Contract, Meter, MeterMove, Reading, User, utcnow
from lkapp.readings import clock
from lkapp.readings.services import MeterReadings, Row
from tests.conftest import check_fragment, swapped

NUMBER = "EL-0000042"
# Budapest is UTC+1 in November: 12:00 UTC on the 20th is inside the 15-25 window.
INSIDE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def set_now(monkeypatch, when: datetime) -> None:
    monkeypatch.setattr(clock, "utcnow", lambda: when)


def history_lines(html: str) -> list[tuple[bool, list[str]]]:
    """The lines of the first history table in ``html``: whether the line is live (not
    struck through as replaced) and its cells' texts: the month, each zone's reading and kWh
    ("" where the line has none of that zone), the source, the time received and the status."""
    table = html[html.index('class="readings-history') :]
    body = table[table.index("<tbody>") : table.index("</tbody>")]
    lines = []
    for attributes, row in re.findall(r"<tr([^>]*)>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        texts = [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]
        lines.append(("superseded" not in attributes, texts))
    return lines


@pytest.fixture
def now(monkeypatch):
    set_now(monkeypatch, INSIDE)
    return INSIDE


@pytest.fixture
def setup(app, make_user, now):
    """Ann's contract with a two-zone meter (a year of history, 100 and 50 kWh a month) and a
    single-zone meter behind a 40:1 current transformer (no readings yet); Bob's contract."""
    ann = make_user()
    bob = make_user(email="bob@example.com")
    with app.app_context():
        mine = Contract(
            number=NUMBER,
            holder_name="Tisza Bakery Kft.",
            tax_id="12345678-2-42",
            address="Budapest, Fő utca 1.",
            account_id=ann,
            attached_at=utcnow(),
        )
        theirs = Contract(
            number="EL-0000099", holder_name="Bob Kft.", tax_id="9", address="Pécs", account_id=bob
        )
        db.session.add_all([mine, theirs])
        db.session.flush()
        two = Meter(
            contract_id=mine.id,
            serial="SN-2Z",
            zones="T1,T2",
            digits=6,
            installed_on=date(2020, 1, 1),
        )
        ct = Meter(
            contract_id=mine.id,
            serial="SN-CT",
            zones="T1",
            digits=5,
            ct_ratio=40,
            installed_on=date(2020, 1, 1),
        )
        other = Meter(contract_id=theirs.id, serial="SN-BOB", installed_on=date(2020, 1, 1))
        db.session.add_all([two, ct, other])
        db.session.flush()
        for month in range(12):  # Nov 2025 .. Oct 2026
            period = date(2025 + (month + 10) // 12, (month + 10) % 12 + 1, 1)
            for zone, start, step in (("T1", 1000, 100), ("T2", 500, 50)):
                db.session.add(
                    Reading(
                        meter_id=two.id,
                        zone=zone,
                        period=period,
                        value=Decimal(start + step * month),
                        submitted_at=datetime(period.year, period.month, 18, 9, tzinfo=UTC),
                        source="import",
                    )
                )
        db.session.commit()
        return {"ann": ann, "bob": bob, "two": two.id, "ct": ct.id, "other": other.id}


@pytest.fixture
def ann(setup, auth):
    auth.login()
    return setup


def submit_url(meter_id: int, number: str = NUMBER) -> str:
    return f"/electricity/{number}/readings/meters/{meter_id}"


def send(client, meter_id, htmx=False, **values):
    data = {key: str(value) for key, value in values.items()}
    if htmx:
        return client.htmx("POST", submit_url(meter_id), data=data)
    return client.post(submit_url(meter_id), data=data)


def live(app, meter_id, period=date(2026, 11, 1)) -> dict[str, Decimal]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Reading.zone, Reading.value).where(
                Reading.meter_id == meter_id,
                Reading.period == period,
                Reading.status != "superseded",
            )
        ).all()
        return dict(rows)


def all_of(app, meter_id, period=date(2026, 11, 1)) -> list[tuple]:
    with app.app_context():
        return db.session.execute(
            sa.select(Reading.zone, Reading.value, Reading.status, Reading.source)
            .where(Reading.meter_id == meter_id, Reading.period == period)
            .order_by(Reading.id)
        ).all()


def error_beside(html: str, field_id: str) -> str:
    match = re.search(rf'<p class="error" id="{field_id}-error">(.*?)</p>', html, re.S)
    return match.group(1).strip() if match else ""


# --- the tab ----------------------------------------------------------------------------


def test_tab_shows_meters_last_readings_and_a_form_per_meter(client, ann):
    response = client.get(f"/electricity/{NUMBER}/readings")
    page = response.text
    assert response.status_code == 200
    assert 'aria-current="page">Readings</a>' in page
    assert "Meter SN-2Z" in page and "Meter SN-CT" in page
    assert "Readings for November 2026 are accepted until November 25, 2026." in page
    # Last accepted reading per zone with its month: T1 2100, T2 1050 (October).
    assert re.search(
        r"T1 day</th>\s*<td class=\"num\"[^>]*>2,100</td>\s*<td[^>]*>October 2026</td>", page
    )
    assert re.search(
        r"T2 night</th>\s*<td class=\"num\"[^>]*>1,050</td>\s*<td[^>]*>October 2026</td>", page
    )
    # CT ratio of the second meter.
    assert re.search(r"<dt>CT ratio</dt><dd>40</dd>", page)
    # Labels: named zones on the two-zone meter, plain "T1" on the single-zone one.
    assert f'<label for="m{ann["two"]}-T1">T1 day</label>' in page
    assert f'<label for="m{ann["two"]}-T2">T2 night</label>' in page
    assert f'<label for="m{ann["ct"]}-T1">T1</label>' in page
    assert page.count(">Submit readings</button>") == 2
    assert "I have checked the reading" not in page  # only when the 3x rule asks for it


def test_tab_is_a_page_and_a_fragment(client, ann):
    url = f"/electricity/{NUMBER}/readings"
    full, fragment = client.get(url), client.htmx("GET", url)
    assert full.status_code == fragment.status_code == 200
    assert "<header" in full.text and "<header" not in fragment.text
    assert swapped(fragment.text).startswith('<div id="contract-tab"')
    assert "HX-Request" in fragment.headers["Vary"] and "HX-Request" in full.headers["Vary"]
    # Each meter's history is named with its meter: "History", "History" told them apart
    # from nothing for a screen reader on a contract with several meters.
    meter = ann["two"]
    assert f'aria-labelledby="history-{meter}-title meter-{meter}-title"' in full.text


def test_history_and_chart_show_consumption_per_month_and_zone(client, ann):
    page = client.get(f"/electricity/{NUMBER}/readings").text
    history = history_lines(page)
    # A line per month, newest first, both zones side by side under their names: October
    # 2026 is T1 2100 (100 kWh) and T2 1050 (50 kWh), from the billing import.
    assert history[0] == (
        True,
        ["October 2026", "2,100", "100", "1,050", "50", "import", "Oct 18, 2026", "accepted"],
    )
    assert [cells[0] for _, cells in history][-2:] == ["January 2026", "December 2025"]
    assert len(history) == 11  # December 2025 to October 2026
    zones = page[page.index('class="readings-history') :]
    zones = zones[: zones.index("<tbody>")]
    assert re.findall(r'<th scope="colgroup" colspan="2"[^>]*>([^<]+)</th>', zones) == [
        "T1 day",
        "T2 night",
    ]
    # The chart: an inline SVG image with one bar per zone and month that has consumption
    # (11 months: the first reading of the history has nothing to count from).
    svg = re.search(r'<svg class="chart".*?</svg>', page, re.S).group(0)
    assert 'role="img"' in svg and "style=" not in svg and "<script" not in svg
    assert svg.count('class="bar zone-t1"') == 11 and svg.count('class="bar zone-t2"') == 11
    assert "<title>T2 night, October 2026: 50 kWh</title>" in svg
    # The same figures as a table (for screen readers and without the picture).
    assert "The chart&#39;s figures as a table" in page or "The chart's figures as a table" in page
    table = page[page.index('class="chart-data"') :]
    assert re.search(
        r"<th scope=\"row\">October 2026</th>\s*"
        r"<td class=\"num\"[^>]*>100</td><td class=\"num\"[^>]*>50</td>",
        table,
    ), table[:3000]
    # A meter without readings says so.
    assert "No consumption to show yet" in page and "No readings yet." in page


def test_tab_takes_the_same_number_of_queries_whatever_the_meters(app, client, ann):
    from sqlalchemy import event

    def count():
        statements = []
        with app.app_context():
            engine = db.engine
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.get(f"/electricity/{NUMBER}/readings").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(statements)

    before = count()
    with app.app_context():
        contract_id = db.session.scalar(sa.select(Contract.id).where(Contract.number == NUMBER))
        for i in range(5):
            meter = Meter(contract_id=contract_id, serial=f"SN-X{i}", installed_on=date(2020, 1, 1))
            db.session.add(meter)
            db.session.flush()
            db.session.add(Reading(meter_id=meter.id, zone="T1", period=date(2026, 10, 1), value=5))
        db.session.commit()
    assert count() == before


# --- the window -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "is_open"),
    [
        (datetime(2026, 11, 14, 22, 59, tzinfo=UTC), False),  # 23:59 on the 14th in Budapest
        (datetime(2026, 11, 14, 23, 0, tzinfo=UTC), True),  # already the 15th in Budapest
        (datetime(2026, 11, 25, 22, 59, tzinfo=UTC), True),  # 23:59 on the 25th: last minute
        (datetime(2026, 11, 25, 23, 0, tzinfo=UTC), False),  # the 26th in Budapest
    ],
)
def test_window_edges_are_days_in_the_deployments_time_zone(
    app, client, ann, monkeypatch, when, is_open
):
    set_now(monkeypatch, when)
    page = client.get(f"/electricity/{NUMBER}/readings").text
    response = send(client, ann["ct"], T1="100")
    if is_open:
        assert ">Submit readings</button>" in page
        assert response.status_code == 302
        assert live(app, ann["ct"]) == {"T1": Decimal("100")}
    else:
        assert ">Submit readings</button>" not in page
        assert response.status_code == 422
        assert "The next window opens on" in response.text
        assert live(app, ann["ct"]) == {} and live(app, ann["ct"], date(2026, 12, 1)) == {}


def test_before_the_window_the_form_says_when_it_opens(client, ann, monkeypatch):
    set_now(monkeypatch, datetime(2026, 11, 3, 9, tzinfo=UTC))
    page = client.get(f"/electricity/{NUMBER}/readings").text
    assert "The next window opens on November 15, 2026." in page
    assert "The form opens on November 15, 2026 and stays open until November 25, 2026." in page


def test_after_the_window_the_next_one_is_next_month(client, ann, monkeypatch):
    set_now(monkeypatch, datetime(2026, 12, 28, 9, tzinfo=UTC))
    page = client.get(f"/electricity/{NUMBER}/readings").text
    assert "The next window opens on January 15, 2027." in page
    assert "Readings for January 2027" in page


def alerts(html: str) -> list[str]:
    """The texts of what the page announces with ``role="alert"`` (not the session's warning,
    hidden until the session nears its end)."""
    found = re.findall(r'<(\w+)([^>]*role="alert"[^>]*)>(.*?)</\1>', html, re.S)
    return [
        " ".join(re.sub(r"<[^>]+>", " ", text).split())
        for _tag, attributes, text in found
        if not re.search(r"\shidden\b", attributes)
    ]


@pytest.mark.parametrize("htmx", [False, True], ids=["whole page", "htmx"])
def test_a_post_after_the_window_closed_is_announced(app, client, ann, monkeypatch, htmx):
    """The form was opened inside the window and sent after it: with JavaScript off the whole
    tab comes back without the form, and the refusal is announced there all the same."""
    set_now(monkeypatch, datetime(2026, 11, 26, 9, tzinfo=UTC))
    response = send(client, ann["ct"], htmx=htmx, T1="100")
    assert response.status_code == 422
    assert alerts(response.text) == [
        "Readings are accepted from day 15 to day 25 of the month. The next window opens on "
        "December 15, 2026."
    ]
    assert "Submit readings" not in response.text  # no form to send again, htmx or not
    assert live(app, ann["ct"]) == {}


# --- a form sent for a month that has passed ---------------------------------------------


@pytest.fixture
def month_end_window(app_config):
    """Readings taken from day 1 to day 28: February's window (28 days) is followed at once by
    March's. Ask for it before ``app``."""
    app_config["READINGS_WINDOW"] = "1-28"


# Budapest is UTC+1 in winter: 23:58 on 28 February 2027, then 00:01 on 1 March.
FEBRUARY_LAST_MINUTES = datetime(2027, 2, 28, 22, 58, tzinfo=UTC)
MARCH_FIRST_MINUTE = datetime(2027, 2, 28, 23, 1, tzinfo=UTC)


def period_field(html: str) -> str:
    """The month the page's readings forms say they were shown for (their hidden field)."""
    [period] = set(re.findall(r'<input type="hidden" name="period" value="([^"]*)">', html))
    return period


@pytest.mark.parametrize("htmx", [False, True], ids=["whole page", "htmx"])
def test_a_form_sent_once_its_month_has_passed_is_not_stored_for_the_next(
    month_end_window, app, client, ann, monkeypatch, mailbox, htmx
):
    """Opened on the window's last minute, sent a minute into the next: it was stored for March
    without a word, and February stayed missing. It comes back for March, values kept."""
    set_now(monkeypatch, FEBRUARY_LAST_MINUTES)
    page = client.get(f"/electricity/{NUMBER}/readings").text
    assert "Readings for February 2027" in page and period_field(page) == "2027-02"
    data = {"period": period_field(page), "T1": "2500", "T2": "1250"}
    set_now(monkeypatch, MARCH_FIRST_MINUTE)
    url = submit_url(ann["two"])
    response = client.htmx("POST", url, data=data) if htmx else client.post(url, data=data)
    assert response.status_code == 422
    assert ("<header" in response.text) is not htmx
    form = response.text[response.text.index(f'<form id="reading-form-{ann["two"]}"') :]
    form = form[: form.index("</form>")]
    if htmx:  # the whole tab: its notice and the other meter's form were February's too
        assert response.headers["HX-Retarget"] == "#contract-tab"
        assert swapped(response.text).startswith('<div id="contract-tab"')
    assert "Readings for February" not in response.text
    assert period_field(response.text) == "2027-03"  # every form of the tab
    assert alerts(form) == [
        "This form was for February 2027; readings are now taken for March 2027. Check the "
        "values and send them again."
    ]
    assert "Readings for March 2027" in form and period_field(form) == "2027-03"
    assert 'value="2500"' in form and 'value="1250"' in form
    for month in (date(2027, 2, 1), date(2027, 3, 1)):
        assert live(app, ann["two"], month) == {}
    assert mailbox.messages == []

    data["period"] = period_field(form)  # sent again from the form as it came back
    assert client.post(url, data=data).status_code == 302
    assert live(app, ann["two"], date(2027, 3, 1)) == {"T1": Decimal(2500), "T2": Decimal(1250)}


def test_a_form_without_its_month_is_taken_for_the_current_one(
    month_end_window, app, client, ann, monkeypatch
):
    """A page drawn before the form said its month, or a script: as before."""
    set_now(monkeypatch, MARCH_FIRST_MINUTE)
    assert send(client, ann["two"], T1="2500", T2="1250").status_code == 302
    assert live(app, ann["two"], date(2027, 3, 1)) == {"T1": Decimal(2500), "T2": Decimal(1250)}


def test_a_jump_confirmed_for_a_month_that_has_passed_is_asked_about_again(
    app, client, ann, monkeypatch
):
    """The tab left open from November's window to December's: the tick was for the jump
    from October to November, not for December's."""
    page = client.get(f"/electricity/{NUMBER}/readings").text
    data = {"period": period_field(page), "T1": "3100", "T2": "1090"}
    asked = client.post(submit_url(ann["two"]), data=data)
    assert "over 3 times the average" in error_beside(asked.text, f"m{ann['two']}-T1")
    set_now(monkeypatch, datetime(2026, 12, 16, 9, tzinfo=UTC))
    response = client.post(submit_url(ann["two"]), data=data | {"confirm": "y"})
    assert response.status_code == 422
    assert alerts(response.text) == [
        "This form was for November 2026; readings are now taken for December 2026. Check "
        "the values and send them again."
    ]
    assert f'id="m{ann["two"]}-confirm"' not in response.text
    data["period"] = period_field(response.text)
    again = client.post(submit_url(ann["two"]), data=data)
    assert again.status_code == 422 and f'id="m{ann["two"]}-confirm"' in again.text
    assert live(app, ann["two"], date(2026, 12, 1)) == {}
    assert live(app, ann["two"]) == {}


def test_window_days_come_from_the_setting(app_config, monkeypatch, make_user, auth):
    from lkapp import create_app
    from tests.conftest import Client

    app_config["READINGS_WINDOW"] = "1-5"
    set_now(monkeypatch, datetime(2026, 11, 20, 12, tzinfo=UTC))
    app = create_app(app_config)
    app.test_client_class = Client
    with app.app_context():
        window = clock.window()
    assert not window.is_open and window.opens_on == date(2026, 12, 1)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# --- submitting -------------------------------------------------------------------------


def test_submit_stores_shows_a_receipt_and_emails_it(app, client, ann, mailbox):
    response = send(client, ann["two"], T1="2180.5", T2="1090")
    assert response.status_code == 302
    receipt_url = f"/electricity/{NUMBER}/readings/meters/{ann['two']}/2026-11"
    assert response.headers["Location"] == receipt_url
    assert live(app, ann["two"]) == {"T1": Decimal("2180.5"), "T2": Decimal("1090")}
    assert {row.source for row in all_of(app, ann["two"])} == {"portal"}

    page = client.get(receipt_url).text
    assert "Readings received. A confirmation is on its way to your email." in page
    assert "Receipt: meter SN-2Z, November 2026" in page
    assert re.search(
        r"T1 day</th>\s*<td class=\"num\"[^>]*>2,180.5</td>\s*<td class=\"num\"[^>]*>80.5</td>",
        page,
    )
    assert re.search(
        r"T2 night</th>\s*<td class=\"num\"[^>]*>1,090</td>\s*<td class=\"num\"[^>]*>40</td>", page
    )
    assert "Nov 20, 2026, 1:00\u202fPM" in page  # the time, in Budapest, to the minute

    [mail] = mailbox.to("ann@example.com")
    text = mailbox.text(mail)
    assert mail["Subject"] == "Readings received: meter SN-2Z"
    assert "T1 day: 2,180.5 · 80.5 kWh" in text and "T2 night: 1,090 · 40 kWh" in text
    assert receipt_url in text
    with app.app_context():
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "reading.submitted")
        )
        assert event.actor_id == ann["ann"] and event.details["values"] == "T1 2180.5, T2 1090.0"


def test_consumption_uses_the_ct_ratio(app, client, ann):
    assert send(client, ann["ct"], T1="100").status_code == 302  # the first reading
    with app.app_context():
        db.session.execute(
            sa.update(Reading).where(Reading.meter_id == ann["ct"]).values(period=date(2026, 10, 1))
        )
        db.session.commit()
    assert send(client, ann["ct"], T1="112.5").status_code == 302
    page = client.get(f"/electricity/{NUMBER}/readings/meters/{ann['ct']}/2026-11").text
    assert re.search(
        r"T1</th>\s*<td class=\"num\"[^>]*>112.5</td>\s*<td class=\"num\"[^>]*>500</td>", page
    )


def test_htmx_submit_redirects_to_the_receipt(app, client, ann):
    response = send(client, ann["two"], htmx=True, T1="2150", T2="1060")
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].endswith(f"/meters/{ann['two']}/2026-11")


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter the value the meter shows for this zone."),
        (
            "12a",
            "Enter the number on the meter, such as 12345 or 12345.5, without letters.",
        ),
        (
            "-5",
            "Enter the number on the meter, such as 12345 or 12345.5, without letters.",
        ),
        ("2150.1234", "At most 3 decimals."),
        ("1234567", "This meter shows at most 6 digits before the decimal point."),
        (
            "2000",
            "This is below the last accepted reading, 2,100 for October 2026. Check the value; "
            "if the meter was replaced, ask the office.",
        ),
    ],
)
def test_each_bad_value_gets_its_message_and_nothing_is_stored(app, client, ann, typed, message):
    response = send(client, ann["two"], T1=typed, T2="1060")
    assert response.status_code == 422
    html = response.text
    assert error_beside(html, f"m{ann['two']}-T1") == message.replace("'", "&#39;")
    assert error_beside(html, f"m{ann['two']}-T2") == ""
    assert f'value="{typed}"' in html or typed == ""  # the form comes back filled in
    assert 'value="1060"' in html
    assert "<header" in html  # the whole tab, without JavaScript
    assert live(app, ann["two"]) == {}  # all zones or nothing


@pytest.mark.parametrize(
    ("locale", "typed", "value"),
    [
        ("hu", "2\u00a0150,5", Decimal("2150.5")),  # the page groups with a no-break space
        ("ru", "2\u00a0150,5", Decimal("2150.5")),
        ("en", "2,150", Decimal("2150")),  # the page writes "2,100" for the last reading
        ("en", "2,150.5", Decimal("2150.5")),
    ],
)
def test_a_value_written_as_the_page_writes_numbers_is_read_as_meant(
    app, client, ann, locale, typed, value
):
    client.post("/language", data={"locale": locale, "next": "/"})
    assert send(client, ann["two"], T1=typed, T2="1060").status_code == 302
    assert live(app, ann["two"]) == {"T1": value, "T2": Decimal("1060")}


def test_a_comma_with_three_digits_after_it_is_a_thousands_separator_in_english(app, client, ann):
    """Twelve thousand on a meter without readings: not 12.345 kWh."""
    assert send(client, ann["ct"], T1="12,345").status_code == 302
    assert live(app, ann["ct"]) == {"T1": Decimal("12345")}


def test_htmx_errors_swap_the_meters_form_only(app, client, ann, mailbox):
    response = send(client, ann["two"], htmx=True, T1="x", T2="")
    assert response.status_code == 422
    assert swapped(response.text).startswith(f'<form id="reading-form-{ann["two"]}"')
    assert "<header" not in response.text
    assert error_beside(response.text, f"m{ann['two']}-T2") == (
        "Enter the value the meter shows for this zone."
    )
    assert live(app, ann["two"]) == {} and mailbox.messages == []


def test_a_rollover_is_accepted_with_a_note(app, client, ann):
    with app.app_context():
        db.session.execute(
            sa.update(Reading)
            .where(Reading.meter_id == ann["two"], Reading.period == date(2026, 10, 1))
            .values(value=Decimal("999950"))
        )
        db.session.commit()
    assert send(client, ann["two"], T1="30", T2="999990").status_code == 302
    page = client.get(f"/electricity/{NUMBER}/readings/meters/{ann['two']}/2026-11").text
    assert re.search(
        r"T1 day</th>\s*<td class=\"num\"[^>]*>30</td>\s*<td class=\"num\"[^>]*>80</td>", page
    )
    assert "meter rolled over" in page
    assert "started again from zero" in page


def test_a_big_jump_asks_for_confirmation_first(app, client, ann):
    # T1 used 100 kWh a month; 301 is over three times that.
    first = send(client, ann["two"], T1="2401", T2="1060")
    assert first.status_code == 422
    assert error_beside(first.text, f"m{ann['two']}-T1") == (
        "That is 301 kWh, over 3 times the average of 100 kWh a month. Check the reading, "
        "tick “I have checked the reading” and submit again."
    )
    assert f'<label for="m{ann["two"]}-confirm">I have checked the reading</label>' in first.text
    assert live(app, ann["two"]) == {}

    confirmed = send(client, ann["two"], T1="2401", T2="1060", confirm="y")
    assert confirmed.status_code == 302
    assert live(app, ann["two"]) == {"T1": Decimal("2401"), "T2": Decimal("1060")}


def test_three_times_the_average_exactly_needs_no_confirmation(app, client, ann):
    assert send(client, ann["two"], T1="2400", T2="1060").status_code == 302


def drop_readings(app, meter_id, first: date, last: date) -> None:
    """No readings of the months ``first`` to ``last``: the customer gave none."""
    with app.app_context():
        db.session.execute(
            sa.delete(Reading).where(
                Reading.meter_id == meter_id, Reading.period.between(first, last)
            )
        )
        db.session.commit()


def test_after_months_without_readings_a_normal_reading_needs_no_confirmation(app, client, ann):
    """No readings from July to October: November's 500 kWh since June's 1,700 are five
    months of the usual 100 kWh, not five times a month's."""
    drop_readings(app, ann["two"], date(2026, 7, 1), date(2026, 10, 1))
    sent = send(client, ann["two"], T1="2200", T2="1100")
    assert sent.status_code == 302
    assert live(app, ann["two"]) == {"T1": Decimal("2200"), "T2": Decimal("1100")}
    # The monthly chart shares the 500 kWh among the five months, as about 100 each, rather
    # than showing a November of five months' use beside four empty months.
    page = client.get(f"/electricity/{NUMBER}/readings").text
    svg = re.search(r'<svg class="chart".*?</svg>', page, re.S).group(0)
    for name in ("July", "October", "November"):
        assert f"<title>T1 day, {name} 2026: ≈100 kWh</title>" in svg
        assert f"<title>T2 night, {name} 2026: ≈50 kWh</title>" in svg
    assert "<title>T1 day, June 2026: 100 kWh</title>" in svg and "500 kWh" not in svg
    # The shared months' bars are drawn lighter; June's, a month of its own, is not.
    assert re.search(r'class="bar zone-t1 shared"[^>]*><title>T1 day, July 2026', svg)
    assert re.search(r'class="bar zone-t1"[^>]*><title>T1 day, June 2026', svg)
    table = page[page.index('class="chart-data"') :]
    assert re.search(
        r'<th scope="row">November 2026</th>\s*<td class="num"[^>]*>≈100</td>'
        r'<td class="num"[^>]*>≈50</td>',
        table,
    )


SHARED_NOTE = "≈ The kWh of a reading that covered several months, shared evenly among them."


def test_the_chart_says_what_its_shared_months_are(app, client, ann):
    """The table's and the tooltips' "≈100" said nothing of why the figure is about: a note
    under the chart says it, on a chart that has such months only."""
    page = client.get(f"/electricity/{NUMBER}/readings").text
    assert "≈" not in page
    drop_readings(app, ann["two"], date(2026, 7, 1), date(2026, 10, 1))
    assert send(client, ann["two"], T1="2200", T2="1100").status_code == 302
    page = client.get(f"/electricity/{NUMBER}/readings").text
    figure = page[page.index('<figure class="chart-figure"') :]
    figure = figure[: figure.index("</figure>")]
    assert f'<p class="muted">{SHARED_NOTE}</p>' in figure
    assert page.count(SHARED_NOTE) == 1  # the meter without readings has no such note


def test_after_months_without_readings_the_jump_check_counts_them_all(app, client, ann):
    drop_readings(app, ann["two"], date(2026, 7, 1), date(2026, 10, 1))
    # T1 used 100 kWh a month; 1,501 in the five months since June is over 3 times that.
    first = send(client, ann["two"], T1="3201", T2="1100")
    assert first.status_code == 422
    assert error_beside(first.text, f"m{ann['two']}-T1") == (
        "That is 1,501 kWh over 5 months, over 3 times the average of 100 kWh a month. Check "
        "the reading, tick “I have checked the reading” and submit again."
    )
    assert error_beside(first.text, f"m{ann['two']}-T2") == ""
    assert live(app, ann["two"]) == {}
    assert send(client, ann["two"], T1="3200", T2="1100").status_code == 302


def test_a_reading_after_a_gap_counts_as_its_months_in_the_average(app, client, ann):
    """No readings from January to April: May's 500 kWh are five months' use, so the average
    stays 100 kWh a month (not 1,100 kWh over 7 readings, 157) and 301 is over 3 times it."""
    drop_readings(app, ann["two"], date(2026, 1, 1), date(2026, 4, 1))
    first = send(client, ann["two"], T1="2401", T2="1060")
    assert first.status_code == 422
    assert error_beside(first.text, f"m{ann['two']}-T1") == (
        "That is 301 kWh, over 3 times the average of 100 kWh a month. Check the reading, "
        "tick “I have checked the reading” and submit again."
    )
    assert live(app, ann["two"]) == {}


def test_a_correction_supersedes_and_both_stay_in_history(app, client, ann):
    assert send(client, ann["two"], T1="2150", T2="1060").status_code == 302
    page = client.get(f"/electricity/{NUMBER}/readings").text
    assert "Readings for this month have been received already." in page
    assert send(client, ann["two"], T1="2160", T2="1060").status_code == 302
    assert all_of(app, ann["two"]) == [
        ("T1", Decimal("2150"), "superseded", "portal"),
        ("T2", Decimal("1060"), "superseded", "portal"),
        ("T1", Decimal("2160"), "accepted", "portal"),
        ("T2", Decimal("1060"), "accepted", "portal"),
    ]
    history = history_lines(client.get(f"/electricity/{NUMBER}/readings").text)
    # November: the correction, then the submission it replaced, struck through.
    assert [(live, cells[:5], cells[-1]) for live, cells in history[:3]] == [
        (True, ["November 2026", "2,160", "60", "1,060", "10"], "accepted"),
        (False, ["November 2026", "2,150", "50", "1,060", "10"], "replaced"),
        (True, ["October 2026", "2,100", "100", "1,050", "50"], "accepted"),
    ]
    # The 3x rule and "not below" compare with October, not with the reading it corrects.
    assert send(client, ann["two"], T1="2140", T2="1060").status_code == 302


def test_a_billing_correction_of_one_zone_gets_a_line_of_its_own(client, ann, runner, tmp_path):
    """The billing system corrects T1 of the customer's November readings: the history shows
    the import's T1, the customer's T2 (still live) and the customer's T1, replaced."""
    assert send(client, ann["two"], T1="2150", T2="1060").status_code == 302
    path = tmp_path / "readings.csv"
    path.write_text(
        f"contract_number;meter_serial;zone;period;value\n{NUMBER};SN-2Z;T1;2026-11;2140\n"
    )
    result = runner.invoke(args=["import", "readings", str(path)])
    assert result.exit_code == 0, result.output
    history = history_lines(client.get(f"/electricity/{NUMBER}/readings").text)
    assert [(live, cells[:6], cells[-1]) for live, cells in history[:4]] == [
        (True, ["November 2026", "2,140", "40", "", "", "import"], "accepted"),
        (True, ["November 2026", "", "", "1,060", "10", "portal"], "accepted"),
        (False, ["November 2026", "2,150", "50", "", "", "portal"], "replaced"),
        (True, ["October 2026", "2,100", "100", "1,050", "50", "import"], "accepted"),
    ]


def test_one_zone_twice_at_one_instant_is_two_history_lines():
    """Should one zone of a month arrive twice at the same instant with the same source and
    status (rows written by hand), the history shows both readings, not the last alone."""
    at = datetime(2026, 10, 18, 9, tzinfo=UTC)
    october = date(2026, 10, 1)
    rows = [
        Row(1, "T1", october, Decimal("100"), at, "import", "superseded"),
        Row(2, "T1", october, Decimal("110"), at, "import", "superseded"),
        Row(3, "T1", october, Decimal("120"), at, "import", "accepted"),
    ]
    meter = Meter(serial="SN-1", zones="T1")
    history = MeterReadings(meter, rows, date(2026, 11, 1), True).history()
    assert [[row.value for row in arrival.zones.values()] for arrival in history] == [
        [Decimal("120")],
        [Decimal("110")],
        [Decimal("100")],
    ]


def test_a_removed_meter_takes_no_readings(app, client, ann):
    with app.app_context():
        db.session.get(Meter, ann["ct"]).removed_on = date(2026, 10, 31)
        db.session.commit()
    page = client.get(f"/electricity/{NUMBER}/readings").text
    assert "removed Oct 31, 2026" in page
    assert page.count(">Submit readings</button>") == 1
    response = send(client, ann["ct"], T1="100")
    assert response.status_code == 422
    assert "This meter is not installed for this month" in response.text
    assert live(app, ann["ct"]) == {}


def test_a_terminated_contract_takes_no_readings_from_its_holder(app, client, ann, mailbox):
    """Its final readings are the office's to take: the tab says so instead of a form, and a
    post sent from a page opened before the contract ended is refused, nothing stored."""
    with app.app_context():
        db.session.execute(
            sa.update(Contract).where(Contract.number == NUMBER).values(status="terminated")
        )
        db.session.commit()
    page = client.get(f"/electricity/{NUMBER}/readings").text
    assert ">Submit readings</button>" not in page
    assert page.count("This contract has ended: readings are no longer accepted for it.") == 2
    assert "are accepted until" not in page, "no window announced above it"
    assert "2,100" in page  # the history stays
    for htmx in (False, True):
        response = send(client, ann["two"], htmx=htmx, T1="2150", T2="1060")
        assert response.status_code == 422
        [alert] = alerts(response.text)  # announced, with JavaScript off too
        assert alert.endswith("To report a final reading, ask our office a question.")
    assert live(app, ann["two"]) == {} and mailbox.messages == []


def test_without_csrf_token_nothing_is_stored(app, client, ann):
    response = client.post(submit_url(ann["two"]), data={"T1": "2150", "T2": "1060"}, csrf=False)
    assert response.status_code in (400, 422)
    assert live(app, ann["two"]) == {}


# --- ownership --------------------------------------------------------------------------


def test_another_customers_contract_and_meter_are_404(app, client, ann):
    urls = [
        "/electricity/EL-0000099/readings",
        f"/electricity/EL-0000099/readings/meters/{ann['other']}/2026-10",
        f"/electricity/{NUMBER}/readings/meters/{ann['other']}/2026-10",
        "/electricity/EL-NOPE/readings",
        f"/electricity/{NUMBER}/readings/meters/{ann['two']}/2031-01",  # nothing that month
        f"/electricity/{NUMBER}/readings/meters/{ann['two']}/nonsense",
        f"/electricity/{NUMBER}/readings/meters/99999999999999999999/2026-10",  # no such id
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
        assert client.htmx("GET", url).status_code == 404, url
    assert send_to(client, f"/electricity/EL-0000099/readings/meters/{ann['other']}") == 404
    assert send_to(client, submit_url(ann["other"])) == 404  # Bob's meter under Ann's contract
    assert live(app, ann["other"]) == {}


def send_to(client, url) -> int:
    return client.post(url, data={"T1": "5"}).status_code


def test_readings_need_sign_in(client, setup):
    response = client.get(f"/electricity/{NUMBER}/readings")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_bob_does_not_see_anns_readings(app, client, setup, auth):
    auth.login(email="bob@example.com")
    page = client.get("/electricity/EL-0000099/readings").text
    assert "SN-BOB" in page and "SN-2Z" not in page
    with app.app_context():
        assert db.session.get(User, setup["bob"]).email == "bob@example.com"


def test_history_shows_the_last_twelve_months_unless_asked_for_all(app, client, ann):
    """The chart compares two years; the history lists the last one (December 2025 to
    November 2026: the fixture's readings from November 2025 on), and the rest is one link
    away."""
    with app.app_context():
        db.session.add(
            Reading(
                meter_id=ann["two"],
                zone="T1",
                period=date(2023, 1, 1),
                value=Decimal("10"),
                submitted_at=datetime(2023, 1, 18, 9, tzinfo=UTC),
                source="import",
            )
        )
        db.session.commit()
    page = client.get(f"/electricity/{NUMBER}/readings").text
    months = [cells[0] for _, cells in history_lines(page)]
    assert months[0] == "October 2026" and months[-1] == "December 2025"
    assert "November 2025" not in months and "January 2023" not in page
    link = f"/electricity/{NUMBER}/readings?history=all#history-{ann['two']}-title"
    assert f'href="{link}"' in page and "Show the whole history" in page
    whole = client.get(f"/electricity/{NUMBER}/readings?history=all").text
    assert "January 2023" in whole and "November 2025" in whole
    assert "Show the whole history" not in whole


def test_the_first_month_shown_counts_from_a_reading_before_it_and_old_meters_keep_theirs(
    app, client, ann
):
    """The tab loads only the chart's months (since December 2024) and, per zone, the last
    live reading before them: December 2024's consumption counts from November's (in the
    chart's figures, and in the whole history), and a meter read only years ago still shows
    its last reading."""

    def reading(meter_id, period, value, status="accepted"):
        return Reading(
            meter_id=meter_id,
            zone="T1",
            period=period,
            value=Decimal(value),
            submitted_at=datetime(period.year, period.month, 18, 9, tzinfo=UTC),
            source="import",
            status=status,
        )

    with app.app_context():
        contract = db.session.scalar(sa.select(Contract).where(Contract.number == NUMBER))
        old = Meter(contract_id=contract.id, serial="SN-OLD", installed_on=date(2020, 1, 1))
        db.session.add(old)
        db.session.flush()
        db.session.add_all(
            [
                reading(ann["ct"], date(2023, 3, 1), "100"),
                reading(ann["ct"], date(2024, 11, 1), "140", status="superseded"),
                reading(ann["ct"], date(2024, 11, 1), "150"),
                reading(ann["ct"], date(2024, 12, 1), "160"),
                reading(old.id, date(2023, 3, 1), "4321"),
            ]
        )
        db.session.commit()
        old_id = old.id

    page = client.get(f"/electricity/{NUMBER}/readings").text
    ct = page[
        page.index(f'id="meter-{ann["ct"]}-title"') : page.index(f'id="meter-{old_id}-title"')
    ]
    # (160 - 150) x CT ratio 40 = 400 kWh, counted from the live November reading.
    figures = ct[ct.index('class="chart-data"') :]
    assert re.search(r'<th scope="row">December 2024</th>\s*<td class="num"[^>]*>400</td>', figures)
    assert "November 2024" not in figures
    # None of its readings is from the last twelve months, and the history says so.
    assert "No readings in the last 12 months." in ct and "Show the whole history" in ct
    assert "readings-history" not in ct
    meter_old = page[page.index(f'id="meter-{old_id}-title"') :]
    last = meter_old[: meter_old.index("</table>")]
    assert re.search(r'<td class="num"[^>]*>4,321</td>\s*<td[^>]*>March 2023</td>', last), last
    assert "No readings in the last 12 months." in meter_old
    assert "Show the whole history" in meter_old

    whole = client.get(f"/electricity/{NUMBER}/readings?history=all").text
    whole = whole[whole.index(f'id="meter-{ann["ct"]}-title"') :]
    assert [(live, cells[:3]) for live, cells in history_lines(whole)] == [
        (True, ["December 2024", "160", "400"]),
        (True, ["November 2024", "150", "2,000"]),
        (False, ["November 2024", "140", "1,600"]),
        (True, ["March 2023", "100", "—"]),
    ]


def test_the_form_speaks_the_language_of_each_view(client, ann):
    """A meter's form class is made once per process; its labels are translated per view."""
    url = f"/electricity/{NUMBER}/readings"
    assert f'<label for="m{ann["two"]}-T2">T2 night</label>' in client.get(url).text
    client.post("/language", data={"locale": "hu", "next": "/"})
    page = client.get(url).text
    assert f'<label for="m{ann["two"]}-T2">T2 éjszakai</label>' in page
    assert f'<label for="m{ann["ct"]}-T1">T1</label>' in page
    client.post("/language", data={"locale": "en", "next": "/"})
    assert f'<label for="m{ann["two"]}-T1">T1 day</label>' in client.get(url).text


@pytest.mark.parametrize("locale", ["ru", "hu"])
@pytest.mark.parametrize(
    "when",
    [datetime(2026, 11, 3, 9, tzinfo=UTC), datetime(2026, 11, 20, 9, tzinfo=UTC)],
    ids=["before the window", "inside it"],
)
def test_a_sentence_ending_in_a_date_ends_in_one_full_stop(client, ann, monkeypatch, locale, when):
    """Russian and Hungarian dates and Russian months end in a full stop of their own
    ("28 ноября 2026 г.", "2026. november 28.", "октябрь 2026 г."): the sentences that end
    with one add no second."""
    set_now(monkeypatch, when)
    client.post("/language", data={"locale": locale, "next": "/"})
    pages = {
        "tab": client.get(f"/electricity/{NUMBER}/readings").text,
        "dashboard": client.get("/").text,
        # before the window: it is closed; inside: below the last accepted reading of October
        "refused": send(client, ann["two"], T1="1", T2="1").text,
    }
    for name, page in pages.items():
        text = re.sub(r"<[^>]+>", " ", page)
        doubled = re.findall(r".{40}(?<!\.)\.\.(?!\.)", text)
        assert doubled == [], (name, doubled)
    assert "2026" in pages["tab"] and '<html lang="' + locale in pages["tab"]


MOVED_AT = datetime(2026, 11, 10, 8, tzinfo=UTC)  # 9:00 in Budapest
MOVED_TEXT = "Nov 10, 2026, 9:00\u202fAM"


def move_meter(app, meter_id: int, number: str, at: datetime = MOVED_AT) -> None:
    """What the meters import does when billing moves a meter to contract ``number``."""
    with app.app_context():
        meter = db.session.get(Meter, meter_id)
        db.session.execute(
            sa.update(Reading)
            .where(Reading.meter_id == meter_id, Reading.contract_id.is_(None))
            .values(contract_id=meter.contract_id)
        )
        db.session.add(
            MeterMove(meter_id=meter_id, from_contract_id=meter.contract_id, moved_at=at)
        )
        meter.contract_id = db.session.scalar(
            sa.select(Contract.id).where(Contract.number == number)
        )
        meter.moved_at = at
        db.session.commit()


def test_a_meter_moved_to_a_new_holder_shows_none_of_the_previous_holders_readings(
    app, client, setup, auth, make_user
):
    """Billing moved Ann's two-zone meter to Bob's contract from November 2026 (a new tenant
    at the premises): Bob sees no month of Ann's, in the history, the chart or a receipt,
    yet a new reading still may not fall below the register's last one, and counts its
    consumption from it. Ann still sees hers, and none of Bob's. The office sees all."""
    move_meter(app, setup["two"], "EL-0000099")
    auth.login(email="bob@example.com")
    tab = "/electricity/EL-0000099/readings"
    for page in (client.get(tab).text, client.get(f"{tab}?history=all").text):
        meter = page[page.index("Meter SN-2Z") :]
        history = meter[meter.index('id="history-') : meter.index("</section>")]
        assert "No readings yet." in history and "2026" not in history
        assert "Show the whole history" not in page
        assert 'class="bar zone-t1"' not in meter and "No consumption to show yet" in meter
        # What the register showed when Bob took it over: where his readings count from.
        assert "Last accepted: 2,100 (October 2026)" in meter
        assert f"On this contract since {MOVED_TEXT}: the readings given for other" in meter
    receipt = f"/electricity/EL-0000099/readings/meters/{setup['two']}/2026-10"
    assert client.get(receipt).status_code == 404

    url = submit_url(setup["two"], "EL-0000099")
    below = client.post(url, data={"T1": "2050", "T2": "1060"})
    assert below.status_code == 422
    assert "This is below the last accepted reading, 2,100 for October 2026." in below.text
    assert live(app, setup["two"]) == {}
    sent = client.post(url, data={"T1": "2230", "T2": "1110"})
    assert sent.status_code == 302
    history = history_lines(client.get(tab).text)
    assert [cells[:5] for _, cells in history] == [["November 2026", "2,230", "130", "1,110", "60"]]
    assert client.get(receipt.replace("2026-10", "2026-11")).status_code == 200

    # Ann keeps her readings of the meter, without Bob's, and sends none for it any more.
    auth.logout()
    auth.login()
    mine = client.get(f"/electricity/{NUMBER}/readings?history=all").text
    moved = mine[mine.index("Meter SN-2Z") :]
    moved = moved[: moved.index("</section>")]
    assert "moved to another contract" in moved and "The readings given for this contract" in moved
    lines = [cells[:2] for _, cells in history_lines(moved)]
    assert lines[0] == ["October 2026", "2,100"] and len(lines) == 12
    assert "2,230" not in moved and f'action="{submit_url(setup["two"])}"' not in moved
    assert 'class="bar zone-t1"' in moved  # her consumption, month by month
    recent = client.get(f"/electricity/{NUMBER}/readings").text
    assert "Show the whole history" in recent[recent.index("Meter SN-2Z") :]
    assert f'action="{submit_url(setup["ct"])}"' in mine  # her other meter takes readings
    ann_receipt = f"/electricity/{NUMBER}/readings/meters/{setup['two']}/2026-10"
    assert client.get(ann_receipt).status_code == 200
    assert client.get(ann_receipt.replace("2026-10", "2026-11")).status_code == 404
    refused = client.post(submit_url(setup["two"]), data={"T1": "2240", "T2": "1115"})
    assert refused.status_code == 404
    assert live(app, setup["two"]) == {"T1": Decimal("2230.000"), "T2": Decimal("1110.000")}

    make_user(email="op@example.org", role="staff")
    auth.logout()
    auth.login(email="op@example.org")
    office = client.get(f"/staff/readings/meters/{setup['two']}").text
    assert "October 2026" in office and "2,100" in office
    assert f"since {MOVED_TEXT}; the holder sees only the readings given for this" in office
    # Each line names the contract its readings were given for.
    given_for = [(cells[0], cells[-1]) for _, cells in history_lines(office)]
    assert given_for[:2] == [("November 2026", "EL-0000099"), ("October 2026", "EL-0000042")]


def test_the_new_holders_jump_check_compares_with_their_own_months_only(app, client, setup, auth):
    """Ann's 100 kWh a month do not make Bob's 1,000 look suspicious: a new holder has no
    average of their own yet."""
    move_meter(app, setup["two"], "EL-0000099")
    auth.login(email="bob@example.com")
    url = submit_url(setup["two"], "EL-0000099")
    sent = client.post(url, data={"T1": "3100", "T2": "1550"})
    assert sent.status_code == 302
    assert live(app, setup["two"]) == {"T1": Decimal("3100.000"), "T2": Decimal("1550.000")}


def test_readings_the_previous_holder_gave_in_the_month_of_the_move_stay_theirs(
    app, client, setup, auth, monkeypatch
):
    """Ann sent November's readings at 9:00 on the 16th, while billing's meters import that
    moves the meter to Bob ran (it started at 8:00, its time). Bob sees none of them, has no
    form to replace them and no reminder to wait for: his first readings are December's.
    Ann's stay the month's readings, untouched."""
    set_now(monkeypatch, datetime(2026, 11, 16, 9, tzinfo=UTC))
    auth.login()
    assert send(client, setup["two"], T1="2190", T2="1145").status_code == 302
    auth.logout()
    move_meter(app, setup["two"], "EL-0000099", datetime(2026, 11, 16, 8, tzinfo=UTC))
    set_now(monkeypatch, INSIDE)
    auth.login(email="bob@example.com")
    tab = client.get("/electricity/EL-0000099/readings").text
    meter = tab[tab.index("Meter SN-2Z") :]
    meter = meter[: meter.index("</section>")]
    history = meter[meter.index('id="history-') :]
    assert "No readings yet." in history and "2,190" not in history
    # Where the register stood when he took it over, as with a meter moved between months.
    assert re.search(r'<td class="num">2,190</td>\s*<td>November 2026</td>', meter)
    assert (
        "This meter’s readings for November 2026 were given by its previous holder, before it "
        "moved to this contract. The first readings for this contract are for December 2026."
    ) in meter.replace("&#39;", "’").replace("'", "’")
    assert f'action="{submit_url(setup["two"], "EL-0000099")}"' not in meter
    assert 'action="' + submit_url(setup["other"], "EL-0000099") + '"' in tab

    refused = client.post(submit_url(setup["two"], "EL-0000099"), data={"T1": "2230", "T2": "1160"})
    assert refused.status_code == 422
    assert "were given by its previous holder" in refused.text
    assert live(app, setup["two"]) == {"T1": Decimal("2190.000"), "T2": Decimal("1145.000")}
    receipt = f"/electricity/EL-0000099/readings/meters/{setup['two']}/2026-11"
    assert client.get(receipt).status_code == 404

    dashboard = client.get("/").text
    assert "Meter SN-BOB" in dashboard and "Meter SN-2Z" not in dashboard


@pytest.mark.sqlite_only
def test_the_pages_of_a_moved_meter_are_valid_html(
    app, client, setup, auth, make_user, html_checker
):
    move_meter(app, setup["two"], "EL-0000099")
    auth.login()
    html_checker(client.get(f"/electricity/{NUMBER}/readings").text, "the tab it moved from")
    auth.logout()
    auth.login(email="bob@example.com")
    html_checker(client.get("/electricity/EL-0000099/readings").text, "the tab it moved to")
    make_user(email="op@example.org", role="staff")
    auth.logout()
    auth.login(email="op@example.org")
    office = client.get(f"/staff/readings/meters/{setup['two']}").text
    html_checker(office, "the office's meter page")


def refused_for_good(app, client, setup, auth, monkeypatch, refusal) -> tuple[str, int, str]:
    """A form sent from a page opened before it could no longer be sent: the address, the
    meter and the message."""
    if refusal == "given_before_move":
        set_now(monkeypatch, datetime(2026, 11, 16, 9, tzinfo=UTC))
        auth.login()
        assert send(client, setup["two"], T1="2190", T2="1145").status_code == 302
        auth.logout()
        move_meter(app, setup["two"], "EL-0000099", datetime(2026, 11, 16, 8, tzinfo=UTC))
        set_now(monkeypatch, INSIDE)
        auth.login(email="bob@example.com")
        return (
            submit_url(setup["two"], "EL-0000099"),
            setup["two"],
            "This meter&#39;s readings for November 2026 were given by its previous holder, before "
            "it moved to this contract. The first readings for this contract are for December "
            "2026.",
        )
    auth.login()
    with app.app_context():
        if refusal == "contract_ended":
            db.session.get(Meter, setup["two"]).contract.status = "terminated"
        else:
            db.session.get(Meter, setup["two"]).removed_on = date(2026, 10, 31)
        db.session.commit()
    return (
        submit_url(setup["two"]),
        setup["two"],
        {
            "contract_ended": "This contract has ended: readings are no longer accepted for "
            "it. To report a final reading, ask our office a question.",
            "meter_removed": "This meter is not installed for this month; no readings can be "
            "sent for it.",
        }[refusal],
    )


@pytest.mark.parametrize("refusal", ["contract_ended", "meter_removed", "given_before_move"])
def test_a_refusal_for_good_swaps_in_the_message_without_the_form(
    app, client, setup, auth, monkeypatch, refusal
):
    """Nothing can be sent for the meter any more: htmx swapped the form back with its fields
    and button under the message. It swaps in what the whole page (no JavaScript) shows."""
    url, meter_id, message = refused_for_good(app, client, setup, auth, monkeypatch, refusal)
    data = {"T1": "2230", "T2": "1160"}
    fragment = client.htmx("POST", url, data=data)
    assert fragment.status_code == 422
    swap = swapped(fragment.text)
    assert swap.startswith(f'<div id="reading-form-{meter_id}" class="reading-form">')
    assert alerts(swap) == [message]
    assert "<input" not in swap and "<button" not in swap and "Submit readings" not in swap

    page = client.post(url, data=data)
    assert page.status_code == 422
    start = page.text.index(f'<div id="reading-form-{meter_id}"')
    card = page.text[start : page.text.index("</div>", start) + len("</div>")]
    assert " ".join(card.split()) == " ".join(swap[: swap.index("</div>") + 6].split())
    assert live(app, meter_id) == (
        {"T1": Decimal("2190"), "T2": Decimal("1145")} if refusal == "given_before_move" else {}
    )


@pytest.mark.sqlite_only
def test_a_refusal_for_good_is_valid_html(app, client, setup, auth, monkeypatch, html_checker):
    url, _meter_id, _message = refused_for_good(
        app, client, setup, auth, monkeypatch, "contract_ended"
    )
    data = {"T1": "2230", "T2": "1160"}
    html_checker(client.post(url, data=data).text, "readings tab, contract ended")
    check_fragment(
        html_checker, client.htmx("POST", url, data=data).text, "readings form, contract ended"
    )
