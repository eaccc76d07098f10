"""The audit log in the back office: filters, pages, CSV export guarded against formulas."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import AuditEvent, Contract, Meter
from tests.conftest import swapped

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def log(app, make_user):
    """A customer, a contract and some events on known days (times in UTC; the deployment
    is in Europe/Budapest, UTC+1 in January)."""
    ann = make_user(email="ann@example.com")
    bob = make_user(email="bob@example.com")
    with app.app_context():
        contract = Contract(number="EL-9", holder_name="H", tax_id="1", address="A")
        db.session.add(contract)
        db.session.flush()

        def event(action, when, actor=None, obj=("", ""), **details):
            db.session.add(
                AuditEvent(
                    action=action,
                    actor_id=actor,
                    object_type=obj[0],
                    object_id=obj[1],
                    ip="198.51.100.1",
                    details=details,
                    created_at=when,
                )
            )

        event("auth.login", datetime(2025, 1, 10, 9, tzinfo=UTC), ann, ("User", str(ann)))
        event("auth.login_failed", datetime(2025, 1, 11, 9, tzinfo=UTC), None, ("User", str(ann)))
        event("auth.login", datetime(2025, 1, 12, 9, tzinfo=UTC), bob, ("User", str(bob)))
        # 23:30 UTC on the 12th is already the 13th in Budapest.
        event(
            "contract.attached",
            datetime(2025, 1, 12, 23, 30, tzinfo=UTC),
            ann,
            ("Contract", str(contract.id)),
            note='=HYPERLINK("http://evil.example")',
        )
        event("import.completed", datetime(2025, 1, 14, 9, tzinfo=UTC), None, rows="3")
        db.session.commit()
    return ann, bob


@pytest.fixture
def staff(make_user, auth):
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")


def shown_actions(html: str) -> list[str]:
    import re

    return re.findall(r"<td[^>]*><code>([a-z_.]+)</code></td>", html)


def test_filters_by_account_contract_kind_and_days(client, log, staff):
    everything = shown_actions(client.get("/staff/audit").text)
    assert everything[:5] == [
        "auth.login",  # the staff's own sign-in, today
        "import.completed",
        "contract.attached",
        "auth.login",
        "auth.login_failed",
    ]
    ann = shown_actions(client.get("/staff/audit?user=ANN@example.com").text)
    assert ann == ["contract.attached", "auth.login_failed", "auth.login"]
    assert shown_actions(client.get("/staff/audit?contract=EL-9").text) == ["contract.attached"]
    assert shown_actions(client.get("/staff/audit?kind=import").text) == ["import.completed"]
    days = client.get("/staff/audit?since=2025-01-11&until=2025-01-12").text
    assert shown_actions(days) == ["auth.login", "auth.login_failed"], "the 13th in Budapest"
    assert shown_actions(client.get("/staff/audit?since=2025-01-13&until=2025-01-13").text) == [
        "contract.attached"
    ]
    both = client.get("/staff/audit?user=ann@example.com&kind=auth&until=2025-01-10").text
    assert shown_actions(both) == ["auth.login"]


def test_a_contract_finds_the_readings_entered_for_its_meters(app, client, log, staff):
    """Readings are recorded on their meter: "who entered readings for EL-9?" found none."""
    with app.app_context():
        contract_id = db.session.scalar(sa.select(Contract.id).where(Contract.number == "EL-9"))
        other = Contract(number="EL-10", holder_name="H", tax_id="2", address="B")
        db.session.add(other)
        db.session.flush()
        meters = [
            Meter(contract_id=contract_id, serial="M-9", installed_on=date(2020, 1, 1)),
            Meter(contract_id=other.id, serial="M-10", installed_on=date(2020, 1, 1)),
        ]
        db.session.add_all(meters)
        db.session.flush()
        for meter in meters:
            db.session.add(
                AuditEvent(
                    action="reading.submitted",
                    object_type="Meter",
                    object_id=str(meter.id),
                    details={"contract": "EL-9" if meter.serial == "M-9" else "EL-10"},
                    created_at=datetime(2025, 1, 15, 9, tzinfo=UTC),
                )
            )
        db.session.commit()
    page = client.get("/staff/audit?contract=EL-9").text
    assert shown_actions(page) == ["reading.submitted", "contract.attached"]
    assert "EL-10" not in page


def test_each_kind_of_event_finds_all_of_its_actions(app, client, staff):
    """Questions are 'support.*' events, readings 'reading.*' and 'readings.*', notices
    'notice.*': the filter found no question at all, and no readings export."""
    actions = (
        "support.asked", "support.answered", "reading.submitted", "readings.exported",
        "notice.debt_appeared", "user.staff_created", "audit.exported",
    )  # fmt: skip
    with app.app_context():
        for action in actions:
            db.session.add(AuditEvent(action=action, object_type="", object_id="", details={}))
        db.session.commit()

    def kind(name):
        return set(shown_actions(client.get(f"/staff/audit?kind={name}").text))

    assert kind("question") == {"support.asked", "support.answered"}
    assert kind("reading") == {"reading.submitted", "readings.exported"}
    assert kind("notice") == {"notice.debt_appeared"}
    assert kind("user") == {"user.staff_created"}
    assert kind("audit") == {"audit.exported"}


def test_staff_accounts_show_a_colleague_disabled_and_enabled_but_no_customers_lock(
    app, client, staff, make_user
):
    """Disabling a staff account is recorded as 'auth.locked': "who disabled this colleague?"
    under "Staff accounts" found nothing."""
    colleague = make_user(email="colleague@example.org", role="staff")
    boss = make_user(email="boss@example.org", role="admin")
    customer = make_user(email="ann@example.com")
    with app.app_context():
        for action, user in (
            ("auth.locked", colleague),
            ("auth.unlocked", colleague),
            ("auth.locked", customer),
            ("auth.login", colleague),
        ):
            db.session.add(
                AuditEvent(action=action, actor_id=boss, object_type="User", object_id=str(user))
            )
        db.session.commit()
    page = client.get("/staff/audit?kind=user").text
    assert sorted(shown_actions(page)) == ["auth.locked", "auth.unlocked"]
    assert f"User {customer}" not in page and f"User {colleague}" in page
    # Still sign-in events too; the customer's lock is there.
    assert shown_actions(client.get("/staff/audit?kind=auth&user=ann@example.com").text) == [
        "auth.locked"
    ]


def test_an_account_is_found_as_it_signs_in(app, client, staff, make_user):
    """The filter compared SQLite's lower() (ASCII only) with Python's: an address with an
    "Ü" was "no account", even typed as registered; nor did its domain in capitals or in
    punycode find it."""
    make_user(email="Ülle@Példa.hu")
    for typed in ("Ülle@Példa.hu", "Ülle@PÉLDA.HU", "Ülle@xn--plda-bpa.hu"):
        page = client.get("/staff/audit", query_string={"user": typed}).text
        assert "No account has this email address." not in page, typed
    assert "No account has this email address." in client.get("/staff/audit?user=x@y.hu").text


def test_a_contract_number_typed_in_small_letters_is_found(client, log, staff):
    """ "el-9" was "No contract has this number." beside EL-9 (the customer's "Add contract"
    and the contract search read it either way)."""
    page = client.get("/staff/audit?contract=el-9").text
    assert "No contract has this number." not in page
    assert shown_actions(page) == ["contract.attached"]
    csv_text = client.get("/staff/audit.csv?contract=el-9").get_data(as_text=True)
    assert "contract.attached" in csv_text


def test_unknown_names_and_bad_dates_are_said_plainly(client, log, staff):
    page = client.get("/staff/audit?user=nobody@example.com")
    assert page.status_code == 200
    assert "No account has this email address." in page.text and "0 events." in page.text
    assert "No contract has this number." in client.get("/staff/audit?contract=EL-404").text
    bad = client.get("/staff/audit?since=2025-13-45&until=2025-01-01")
    assert bad.status_code == 422
    assert 'id="since-error"' in bad.text and "Not a valid date value." in bad.text
    backwards = client.get("/staff/audit?since=2025-02-01&until=2025-01-01")
    assert backwards.status_code == 422
    assert "The end date is before the start date." in backwards.text
    for far in ("until=9999-12-31", "since=0001-01-01"):  # were a 500: no day after, or before
        refused = client.get(f"/staff/audit?{far}")
        assert refused.status_code == 422
        assert "Enter a date from 1900 to 2099." in refused.text
        assert client.get(f"/staff/audit.csv?{far}").status_code == 200  # without that filter


def test_pages_and_htmx(app, client, log, staff):
    with app.app_context():
        db.session.add_all(
            AuditEvent(action="auth.logout", created_at=datetime(2024, 1, 1, tzinfo=UTC))
            for _ in range(60)
        )
        db.session.commit()
    first = client.get("/staff/audit?kind=auth").text
    assert "64 events." in first
    assert 'href="/staff/audit?page=2&amp;kind=auth"' in first
    second = client.htmx("GET", "/staff/audit?page=2&kind=auth")
    assert swapped(second.text).startswith('<div id="audit-results"')
    assert "<header" not in second.text and "HX-Request" in second.headers["Vary"]
    assert len(shown_actions(second.text)) == 14


def test_csv_export_follows_the_filters_and_guards_formulas(app, client, log, staff):
    response = client.get("/staff/audit.csv?contract=EL-9")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-')
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == [
        "created_at", "actor", "action", "object_type", "object_id", "ip", "details",
    ]  # fmt: skip
    [row] = rows[1:]
    assert row[1:4] == ["ann@example.com", "contract.attached", "Contract"]
    assert row[0] == "2025-01-12T23:30:00+00:00"
    # The details cell starts with "{": harmless; a cell that starts like a formula is guarded.
    assert "=HYPERLINK" in row[6] and not row[6].startswith("=")
    with app.app_context():
        [exported] = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "audit.exported")
        ).all()
        assert exported.details == {"contract": "EL-9"}


def test_csv_cells_that_start_like_formulas_get_a_quote(app, client, staff, make_user):
    make_user(email="=cmd@example.com")
    with app.app_context():
        db.session.add(AuditEvent(action="auth.login", ip="@SUM(A1)", details={}))
        db.session.commit()
    body = client.get("/staff/audit.csv?kind=auth").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    assert [row[5] for row in rows[1:] if "SUM" in row[5]] == ["'@SUM(A1)"]


def test_too_long_an_account_or_contract_is_said_in_the_operators_language(client, log, staff):
    """WTForms' own "Field cannot be longer than N characters." stayed English on a Hungarian
    page (its catalogue lacks that plural): the portal's own words are said instead."""
    client.post("/language", data={"locale": "hu", "next": "/"})
    response = client.get("/staff/audit", query_string={"user": "a" * 255, "contract": "E" * 31})
    assert response.status_code == 422
    assert "Az e-mail-cím legfeljebb 254 karakter hosszú lehet." in response.text
    assert "A szerződésszám legfeljebb 30 karakter hosszú lehet." in response.text
    assert "Field cannot be longer" not in response.text
