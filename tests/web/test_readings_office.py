"""The office's side of readings: the export for billing (command and page: content, formula
guard, idempotence), a reading entered for a customer, and the window reminder."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import AuditEvent, Contract, Meter, OutboxMail, Reading, User
from lkapp.readings.reminders import queue_window_reminders
from tests.conftest import text_of
from tests.web import test_readings as readings
from tests.web.test_readings import (
    NUMBER,
    alerts,
    all_of,
    drop_readings,
    error_beside,
    history_lines,
    live,
    move_meter,
    send,
    set_now,
)

# The Readings tab's data and clock (pytest finds fixtures by these module-level names).
now, setup, ann = readings.now, readings.setup, readings.ann
month_end_window = readings.month_end_window

HEADER = "contract_number;meter_serial;zone;period;value;submitted_at;source"
NOVEMBER = date(2026, 11, 1)


@pytest.fixture
def formula(app, setup):
    """A contract and meter whose number and serial would be spreadsheet formulas, with an
    imported November reading."""
    with app.app_context():
        contract = Contract(number="=HYPERLINK(1)", holder_name="X", tax_id="1", address="Y")
        db.session.add(contract)
        db.session.flush()
        meter = Meter(contract_id=contract.id, serial="@SUM(A1)", installed_on=date(2020, 1, 1))
        db.session.add(meter)
        db.session.flush()
        db.session.add(
            Reading(
                meter_id=meter.id,
                zone="T1",
                period=NOVEMBER,
                value=Decimal("-0"),
                submitted_at=datetime(2026, 11, 16, 8, tzinfo=UTC),
                source="import",
            )
        )
        db.session.commit()
        return meter.id


SN_2Z_T1 = f"{NUMBER};SN-2Z;T1;2026-11;2150.000"


def export(runner, tmp_path, *extra, name="out.csv"):
    out = tmp_path / name
    result = runner.invoke(
        args=["export", "readings", "--period", "2026-11", "--out", str(out), *extra]
    )
    return result, (out.read_bytes().decode("utf-8") if out.exists() else None)


def statuses(app) -> dict[str, int]:
    with app.app_context():
        return dict(
            db.session.execute(
                sa.select(Reading.status, sa.func.count())
                .where(Reading.period == NOVEMBER)
                .group_by(Reading.status)
            ).all()
        )


# --- export -----------------------------------------------------------------------------


def test_export_command_writes_the_design_format_with_the_formula_guard(
    app, client, ann, formula, runner, tmp_path
):
    assert send(client, ann["two"], T1="2150.25", T2="1060").status_code == 302
    result, text = export(runner, tmp_path)
    assert result.exit_code == 0, result.output
    assert "Exported 3 reading(s) of 2026-11" in result.output
    lines = text.split("\r\n")
    assert lines[0] == "\ufeff" + HEADER
    assert lines[1:] == [
        "'=HYPERLINK(1);'@SUM(A1);T1;2026-11;0.000;2026-11-16T08:00:00+00:00;import",
        f"{NUMBER};SN-2Z;T1;2026-11;2150.250;2026-11-20T12:00:00+00:00;portal",
        f"{NUMBER};SN-2Z;T2;2026-11;1060.000;2026-11-20T12:00:00+00:00;portal",
        "",
    ]
    assert statuses(app) == {"exported": 3}
    with app.app_context():
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "readings.exported")
        )
        assert event.details == {
            "period": "2026-11", "rows": "3", "all": "False", "decimal_comma": "False"
        }  # fmt: skip
    result, _ = export(runner, tmp_path, "--all", "--decimal-comma", name="comma.csv")
    assert result.exit_code == 0, result.output
    assert export_events(app)[-1] == {
        "period": "2026-11", "rows": "3", "all": "True", "decimal_comma": "True"
    }  # fmt: skip


def export_events(app) -> list[dict]:
    """The details of the ``readings.exported`` events, oldest first."""
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(AuditEvent.details)
                .where(AuditEvent.action == "readings.exported")
                .order_by(AuditEvent.id)
            )
        )


def test_a_second_export_has_only_new_or_corrected_readings_unless_all(
    app, client, ann, formula, runner, tmp_path
):
    assert send(client, ann["two"], T1="2150", T2="1060").status_code == 302
    assert export(runner, tmp_path, name="first.csv")[0].exit_code == 0

    result, text = export(runner, tmp_path, name="second.csv")
    assert "Exported 0 reading(s)" in result.output
    assert text == "\ufeff" + HEADER + "\r\n"

    # The first file again: it would lose the readings billing has not collected from it.
    first = (tmp_path / "first.csv").read_bytes()
    result, _ = export(runner, tmp_path, name="first.csv")
    assert result.exit_code == 1
    assert "first.csv exists (an earlier export billing may not have collected yet)" in (
        result.output
    )
    assert (tmp_path / "first.csv").read_bytes() == first and SN_2Z_T1 in first.decode()

    # Ann corrects T1 and sends her CT meter: only those go next time.
    assert send(client, ann["two"], T1="2155", T2="1060").status_code == 302
    assert send(client, ann["ct"], T1="77").status_code == 302
    result, text = export(runner, tmp_path, name="third.csv")
    rows = text.split("\r\n")[1:-1]
    assert [row.split(";")[1:3] + [row.split(";")[4]] for row in rows] == [
        ["SN-2Z", "T1", "2155.000"],
        ["SN-2Z", "T2", "1060.000"],
        ["SN-CT", "T1", "77.000"],
    ]

    # --all: every live reading of the month once, never a superseded one.
    result, text = export(runner, tmp_path, "--all", name="all.csv")
    rows = text.split("\r\n")[1:-1]
    assert len(rows) == 4 and not any("2150.000" in row for row in rows)
    assert statuses(app) == {"exported": 4, "superseded": 2}


def test_export_command_refuses_a_bad_period_and_marks_nothing(app, client, ann, runner, tmp_path):
    assert send(client, ann["two"], T1="2150", T2="1060").status_code == 302
    result = runner.invoke(args=["export", "readings", "--period", "2026-13"])
    assert result.exit_code == 2 and "is not a month of the calendar" in result.output
    result = runner.invoke(
        args=[
            "export",
            "readings",
            "--period",
            "2026-11",
            "--out",
            str(tmp_path / "no/such/dir.csv"),
        ]
    )
    assert result.exit_code == 1 and "cannot write" in result.output
    assert statuses(app) == {"accepted": 2}  # an unwritten file marks nothing


@pytest.fixture
def operator(make_user, setup, auth, client):
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    return client


def test_export_page_downloads_the_csv_and_marks_the_readings(app, operator, formula):
    page = operator.get("/staff/readings/")
    assert page.status_code == 200
    assert 'aria-current="page">Readings</a>' in page.text
    assert 'value="2026-11"' in page.text  # this month's window is open
    assert "November 2026: 1 new or corrected, 0 exported before." in page.text

    response = operator.post("/staff/readings/export", data={"period": "2026-11"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="readings-2026-11.csv"'
    assert response.text.startswith("\ufeff" + HEADER + "\r\n'=HYPERLINK(1);'@SUM(A1);T1;")
    assert statuses(app) == {"exported": 1}

    # Nothing new: the page says so and since when, no empty file (after a double click the
    # browser kept the second answer, an empty CSV, and the readings were marked exported).
    again = operator.post("/staff/readings/export", data={"period": "2026-11"})
    assert again.status_code == 200 and again.mimetype == "text/html"
    assert re.search(
        r"Nothing new to download: the readings of November 2026 went in the export of "
        r"\w{3} \d+, 2026, \d+:\d\d\s[AP]M by Ann's Bakery Ltd\. Tick “all” to download every "
        r"reading of the month again\.",
        html.unescape(text_of(again.text)),
    )
    assert statuses(app) == {"exported": 1}
    assert [event["rows"] for event in export_events(app)] == ["1"]
    everything = operator.post(
        "/staff/readings/export", data={"period": "2026-11", "everything": "y"}
    )
    assert everything.text.count("\r\n") == 2
    assert "readings-2026-11-all.csv" in everything.headers["Content-Disposition"]


def test_export_page_after_an_export_from_the_command_line_names_no_operator(
    app, operator, formula, runner, tmp_path
):
    assert export(runner, tmp_path)[0].exit_code == 0  # by the timer or by hand: no operator
    response = operator.post("/staff/readings/export", data={"period": "2026-11"})
    page = html.unescape(text_of(response.text))
    assert re.search(r"went in the export of \w{3} \d+, 2026, \d+:\d\d\s[AP]M\. Tick", page)
    assert " by " not in page[page.index("Nothing new") : page.index("Tick")]


def test_export_page_of_a_month_without_readings_says_so(app, operator):
    response = operator.post("/staff/readings/export", data={"period": "2027-01"})
    assert response.mimetype == "text/html"
    assert "No reading of January 2027 has come in yet: there is nothing to download." in (
        text_of(response.text)
    )
    assert export_events(app) == []


def test_export_page_keeps_a_bad_month_with_a_message(app, operator, formula):
    response = operator.post("/staff/readings/export", data={"period": "11/2026"})
    assert response.status_code == 422
    assert error_beside(response.text, "period") == "Enter a month as YYYY-MM, for example 2026-11."
    assert 'value="11/2026"' in response.text
    assert statuses(app) == {"accepted": 1}


def test_export_page_writes_a_decimal_comma_when_ticked(app, client, ann, make_user, auth):
    """The command had --decimal-comma; the page always wrote a point."""
    assert send(client, ann["two"], T1="2150.25", T2="1060").status_code == 302
    auth.logout()
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    assert "Values with a decimal comma (12,5)" in client.get("/staff/readings/").text
    comma = client.post("/staff/readings/export", data={"period": "2026-11", "decimal_comma": "y"})
    assert [row.split(";")[4] for row in comma.text.split("\r\n")[1:-1]] == [
        "2150,250",
        "1060,000",
    ]
    point = client.post("/staff/readings/export", data={"period": "2026-11", "everything": "y"})
    assert [row.split(";")[4] for row in point.text.split("\r\n")[1:-1]] == [
        "2150.250",
        "1060.000",
    ]
    # The audit log says which file had which: billing reading "2150,250" as a point value
    # is traced to the export that wrote it.
    assert [(e["all"], e["decimal_comma"]) for e in export_events(app)] == [
        ("False", "True"),
        ("True", "False"),
    ]


def test_export_page_keeps_the_decimal_comma_on_a_bad_month(app, operator, formula):
    response = operator.post(
        "/staff/readings/export", data={"period": "2026-13", "decimal_comma": "y"}
    )
    assert response.status_code == 422
    assert re.search(r'<input [^>]*checked id="decimal_comma"', response.text)
    plain = operator.post("/staff/readings/export", data={"period": "2026-13"})
    assert plain.status_code == 422 and 'id="decimal_comma"' in plain.text
    assert not re.search(r'<input [^>]*checked id="decimal_comma"', plain.text)


def test_the_month_can_be_typed_on_a_phone(operator, formula):
    """The month's box asked for a numeric keypad, which on an iPhone has no "-": the
    operator could not type 2026-11 there."""
    page = operator.get("/staff/readings/").text
    period = re.search(r'<input [^>]*id="period"[^>]*>', page).group(0)
    assert 'value="2026-11"' in period and "inputmode" not in period


def test_readings_office_pages_are_for_staff_only(client, ann):
    assert client.get("/staff/readings/").status_code == 403
    assert client.post("/staff/readings/export", data={"period": "2026-11"}).status_code == 403
    assert client.get(f"/staff/readings/meters/{ann['two']}").status_code == 403


def test_a_meter_moved_away_is_found_by_the_contract_it_left_too(app, operator, setup):
    move_meter(app, setup["two"], "EL-0000099")
    for query in (NUMBER, "EL-0000099"):
        found = operator.get(f"/staff/readings/?q={query}").text
        row = found[found.index(f'href="/staff/readings/meters/{setup["two"]}"') :]
        assert ">EL-0000099" in row[: row.index("</tr>")], query
    found = operator.get(f"/staff/readings/?q={NUMBER}").text
    assert f'EL-0000099 <span class="badge">moved away from {NUMBER}</span>' in found


# --- entering a reading for a customer --------------------------------------------------


def test_operator_finds_the_meter_and_enters_readings_with_the_same_checks(
    app, operator, setup, mailbox
):
    found = operator.get(f"/staff/readings/?q={NUMBER.lower()}").text
    assert f'href="/staff/readings/meters/{setup["two"]}">SN-2Z</a>' in found
    assert f'href="/staff/readings/meters/{setup["ct"]}">SN-CT</a>' in found
    assert "SN-BOB" not in found
    assert "No meter has the serial" in operator.get("/staff/readings/?q=nothing").text

    url = f"/staff/readings/meters/{setup['two']}"
    page = operator.get(url).text
    assert "Meter SN-2Z" in page and "ann@example.com" in page and "Submit readings" in page
    assert "Terminated" not in page and "This contract is terminated" not in page

    below = operator.post(url, data={"T1": "2000", "T2": "1060"})
    assert below.status_code == 422
    assert "This is below the last accepted reading, 2,100 for October 2026." in below.text
    jump = operator.post(url, data={"T1": "2500", "T2": "1060"})
    assert jump.status_code == 422 and "I have checked the reading" in jump.text
    assert live(app, setup["two"]) == {}

    done = operator.post(url, data={"T1": "2150", "T2": "1060"})
    assert done.status_code == 302 and done.headers["Location"] == url
    assert [row[2:] for row in all_of(app, setup["two"])] == [("accepted", "operator")] * 2
    page = operator.get(url).text
    assert "Readings of meter SN-2Z entered for the customer." in page
    # The history's newest line: both zones, entered by the operator, for Ann's contract.
    live_line, cells = history_lines(page)[0]
    assert live_line and cells[:5] + cells[-4:-3] + cells[-1:] == [
        "November 2026", "2,150", "50", "1,060", "10", "operator", "EL-0000042"
    ]  # fmt: skip
    [mail] = mailbox.to("ann@example.com")
    assert "The office entered these readings on your behalf." in mailbox.text(mail)
    with app.app_context():
        staff_id = db.session.scalar(sa.select(User.id).where(User.email == "op@example.org"))
        assert set(
            db.session.scalars(sa.select(Reading.user_id).where(Reading.source == "operator"))
        ) == {staff_id}


def test_the_office_s_jump_check_counts_the_months_without_readings(app, operator, setup):
    """No readings from July to October: 500 kWh since June are five normal months for
    the office too, and 1,501 kWh are over 3 times them; the meter page's chart shares the
    five months' kWh among them."""
    drop_readings(app, setup["two"], date(2026, 7, 1), date(2026, 10, 1))
    url = f"/staff/readings/meters/{setup['two']}"
    jump = operator.post(url, data={"T1": "3201", "T2": "1100"})
    assert jump.status_code == 422
    assert error_beside(jump.text, f"m{setup['two']}-T1") == (
        "That is 1,501 kWh over 5 months, over 3 times the average of 100 kWh a month. Check "
        "the reading, tick “I have checked the reading” and submit again."
    )
    assert operator.post(url, data={"T1": "2200", "T2": "1100"}).status_code == 302
    assert live(app, setup["two"]) == {"T1": Decimal("2200"), "T2": Decimal("1100")}
    assert "<title>T1 day, August 2026: ≈100 kWh</title>" in operator.get(url).text


def test_a_value_below_the_last_one_is_explained_to_the_office_as_the_office(app, operator, setup):
    """The customer is told to ask the office about a replaced meter; the operator, who is
    the office, was told the same."""
    url = f"/staff/readings/meters/{setup['two']}"
    for htmx in (False, True):
        data = {"T1": "2000", "T2": "1060"}
        below = operator.htmx("POST", url, data=data) if htmx else operator.post(url, data=data)
        assert below.status_code == 422
        assert error_beside(below.text, f"m{setup['two']}-T1") == (
            "This is below the last accepted reading, 2,100 for October 2026. Check the value; "
            "if the meter was replaced, the new meter&#39;s readings can be entered once "
            "billing has registered it."
        )
        assert "ask the office" not in below.text
    assert live(app, setup["two"]) == {}


def test_readings_the_office_enters_for_a_locked_account_are_not_mailed_to_it(
    app, operator, setup, mailbox
):
    """The office locks an account whose mailbox is in dispute: the receipt of readings it
    enters for that account's contract went to that mailbox all the same."""
    from lkapp.auth.services import STAFF_LOCK
    from lkapp.models import utcnow

    with app.app_context():
        user = db.session.get(User, setup["ann"])
        user.locked_at, user.locked_reason = utcnow(), STAFF_LOCK
        db.session.commit()
    url = f"/staff/readings/meters/{setup['two']}"
    assert operator.post(url, data={"T1": "2150", "T2": "1060"}).status_code == 302
    assert live(app, setup["two"]) == {"T1": Decimal("2150"), "T2": Decimal("1060")}
    assert mailbox.to("ann@example.com") == []
    assert [recipient for recipient, _ in outbox(app)] == []


def test_the_office_enters_the_final_readings_of_a_terminated_contract(app, operator, setup):
    with app.app_context():
        db.session.get(
            Contract, db.session.get(Meter, setup["two"]).contract_id
        ).status = "terminated"
        db.session.commit()
    url = f"/staff/readings/meters/{setup['two']}"
    page = operator.get(url).text
    assert "Submit readings" in page
    # The operator sees that the contract has ended (its holder's tab takes no readings).
    assert '>EL-0000042</a> <span class="badge">Terminated</span>' in page
    assert "This contract is terminated: its holder can no longer send readings." in page
    found = operator.get(f"/staff/readings/?q={NUMBER}").text
    assert 'EL-0000042 <span class="badge">Terminated</span>' in found
    assert "T1 day, T2 night" in found  # the zones named as on the meter's page
    assert operator.post(url, data={"T1": "2150", "T2": "1060"}).status_code == 302
    assert live(app, setup["two"]) == {"T1": Decimal("2150"), "T2": Decimal("1060")}


def test_an_entry_after_the_window_closed_is_announced(app, operator, setup, monkeypatch):
    set_now(monkeypatch, datetime(2026, 11, 26, 9, tzinfo=UTC))
    response = operator.post(f"/staff/readings/meters/{setup['two']}", data={"T1": "2150"})
    assert response.status_code == 422
    assert alerts(response.text) == [
        "Readings are accepted from day 15 to day 25 of the month. The next window opens on "
        "December 15, 2026."
    ]
    assert live(app, setup["two"]) == {}


def test_an_entry_opened_in_a_month_that_has_passed_is_not_stored_for_the_next(
    month_end_window, app, operator, setup, monkeypatch
):
    """The office's form carries its month as the customer's does: sent after the window
    moved on, it comes back for the new month with the values kept, nothing stored."""
    url = f"/staff/readings/meters/{setup['two']}"
    set_now(monkeypatch, readings.FEBRUARY_LAST_MINUTES)
    shown = readings.period_field(operator.get(url).text)
    assert shown == "2027-02"
    set_now(monkeypatch, readings.MARCH_FIRST_MINUTE)
    data = {"period": shown, "T1": "2500", "T2": "1250", "confirm": "y"}
    response = operator.post(url, data=data)
    assert response.status_code == 422
    assert alerts(response.text) == [
        "This form was for February 2027; readings are now taken for March 2027. Check the "
        "values and send them again."
    ]
    assert readings.period_field(response.text) == "2027-03"
    assert 'value="2500"' in response.text and "checked" not in response.text
    assert live(app, setup["two"], date(2027, 2, 1)) == live(app, setup["two"], date(2027, 3, 1))
    assert live(app, setup["two"], date(2027, 3, 1)) == {}


@pytest.mark.sqlite_only
def test_operator_sees_404_for_a_missing_meter(operator):
    assert operator.get("/staff/readings/meters/99999").status_code == 404
    assert operator.post("/staff/readings/meters/99999", data={"T1": "1"}).status_code == 404
    # An id past what the database can hold is missing too, not an error.
    huge = "/staff/readings/meters/99999999999999999999"
    assert operator.get(huge).status_code == 404
    assert operator.post(huge, data={"T1": "1"}).status_code == 404


# --- the window reminder ----------------------------------------------------------------


def outbox(app) -> list[tuple[str, str]]:
    with app.app_context():
        return db.session.execute(sa.select(OutboxMail.recipient, OutboxMail.body_text)).all()


def remind(app, today: date) -> int:
    with app.app_context():
        count = queue_window_reminders(today)
        db.session.commit()
        return count


def test_reminder_goes_once_per_window_to_those_who_want_it_and_have_not_sent(app, setup):
    with app.app_context():
        db.session.get(User, setup["bob"]).notify_readings = False
        db.session.commit()
    assert remind(app, date(2026, 11, 14)) == 0  # the window is not open yet
    assert remind(app, date(2026, 11, 15)) == 1
    [(recipient, body)] = outbox(app)
    assert recipient == "ann@example.com"
    assert "The meter readings for November 2026 are accepted until November 25, 2026." in body
    assert f"Waiting for readings: contract {NUMBER}." in body
    assert remind(app, date(2026, 11, 16)) == 0  # once per window
    with app.app_context():
        assert db.session.get(User, setup["ann"]).readings_reminded_for == NOVEMBER
    assert remind(app, date(2026, 12, 15)) == 1  # the next window


def test_a_reminder_names_every_contract_waiting_in_the_customers_language(app, setup):
    """Bob reads Russian and both his contracts wait: the noun agrees with the number."""
    with app.app_context():
        bob = db.session.get(User, setup["bob"])
        bob.locale = "ru"
        second = Contract(
            number="EL-0000100",
            holder_name="Bob Kft.",
            tax_id="9",
            address="Pécs",
            account_id=bob.id,
        )
        db.session.add(second)
        db.session.flush()
        db.session.add(
            Meter(contract_id=second.id, serial="SN-BOB2", installed_on=date(2020, 1, 1))
        )
        db.session.commit()
    remind(app, date(2026, 11, 15))
    bodies = dict(outbox(app))
    assert "Ожидаются показания по договорам EL-0000099, EL-0000100." in bodies["bob@example.com"]
    # several contracts: all of them on one page ("Readings of all meters")
    assert "на одной странице Личного кабинета" in bodies["bob@example.com"]
    assert f"Waiting for readings: contract {NUMBER}." in bodies["ann@example.com"]
    assert "then the Readings tab" in bodies["ann@example.com"]


def test_no_reminder_once_every_meter_has_its_reading(app, client, ann):
    assert send(client, ann["two"], T1="2150", T2="1060").status_code == 302
    assert send(client, ann["ct"], T1="10").status_code == 302
    with app.app_context():
        db.session.execute(sa.delete(OutboxMail))
        db.session.commit()
    assert remind(app, date(2026, 11, 20)) == 1  # Bob alone
    assert [recipient for recipient, _ in outbox(app)] == ["bob@example.com"]


def test_too_long_a_meter_search_is_said_in_the_operators_language(operator):
    """WTForms' own "Field cannot be longer than 100 characters." stayed English on a
    Hungarian page."""
    operator.post("/language", data={"locale": "hu", "next": "/"})
    page = operator.get("/staff/readings/", query_string={"q": "x" * 101}).text
    assert "Legfeljebb 100 karakterrel keressen." in page
    assert "Field cannot be longer" not in page
