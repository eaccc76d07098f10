"""The back office at a larger utility's size: its pages take as many statements with many rows
as with few, find their rows through indexes, and show the same rows whichever way they read
them (checked without timing)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import AuditEvent, Contract, Meter, OutboxMail, Reading, utcnow
from lkapp.staff import audit
from tests.conftest import statements_run


@pytest.fixture
def staff(make_user, auth):
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")


def _statements(app, client, url):
    with statements_run(app) as seen:
        assert client.get(url).status_code == 200
    return seen


def _whole_tables_read(app, statements, tables) -> list[str]:
    """SQLite's plan steps that read all of one of ``tables`` (``SCAN readings``), from the
    statements a page ran; empty on PostgreSQL, whose plans depend on its statistics."""
    found = []
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            return found
        with db.engine.connect() as connection:
            cursor = connection.connection.cursor()
            for statement, parameters in statements:
                if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                    continue
                cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                for row in cursor.fetchall():
                    step = row[3]
                    if any(step.startswith(f"SCAN {table}") for table in tables):
                        found.append(step)
    return found


def _add_readings(months: int) -> None:
    contract = Contract(number=f"EL-{months}", holder_name="H", tax_id="1", address="A")
    db.session.add(contract)
    db.session.flush()
    meter = Meter(contract_id=contract.id, serial=f"M-{months}", installed_on=date(2015, 1, 1))
    db.session.add(meter)
    db.session.flush()
    first = date(2020, 1, 1)
    for month in range(months):
        period = date(first.year + (first.month - 1 + month) // 12, (month % 12) + 1, 1)
        db.session.add(
            Reading(
                meter_id=meter.id,
                zone="T1",
                period=period,
                value=Decimal(100 + month),
                source="import",
                status="exported",
            )
        )


def test_start_and_readings_pages_read_no_whole_table(app, client, staff):
    """The start page's counts (readings of the month, mail waiting and given up, codes of
    the day) and the readings page's export counts find their rows by index, in as many
    statements with five years of readings and mail as with none."""
    urls = ["/staff/", "/staff/readings/"]
    few = {url: len(_statements(app, client, url)) for url in urls}
    with app.app_context():
        _add_readings(60)
        now = utcnow()
        for number in range(30):
            db.session.add(
                OutboxMail(
                    recipient=f"c{number}@example.com",
                    subject="S",
                    body_text="B",
                    sent_at=now if number % 3 else None,
                    given_up_at=now - timedelta(days=1) if number % 5 == 0 else None,
                )
            )
        db.session.commit()
    tables = ("readings", "outbox_mail", "confirmation_codes", "audit_events")
    for url in urls:
        statements = _statements(app, client, url)
        assert len(statements) == few[url], statements
        assert _whole_tables_read(app, statements, tables) == [], url


@pytest.fixture
def events(app, make_user):
    """Many sign-ins, a few contract events and one staff account's lock."""
    ann = make_user(email="ann@example.com")
    colleague = make_user(email="col@example.org", role="staff")
    with app.app_context():
        start = datetime(2025, 1, 1, 9, tzinfo=UTC)
        rows = [
            {
                "action": "auth.login",
                "actor_id": ann,
                "object_type": "User",
                "object_id": str(ann),
                "created_at": start + timedelta(hours=hour),
            }
            for hour in range(120)
        ]
        for hour in (5, 50, 95):
            rows.append(
                {
                    "action": "contract.attached",
                    "actor_id": ann,
                    "object_type": "Contract",
                    "object_id": "1",
                    "created_at": start + timedelta(hours=hour, minutes=30),
                }
            )
        rows.append(
            {
                "action": "auth.locked",
                "actor_id": None,
                "object_type": "User",
                "object_id": str(colleague),
                "created_at": start + timedelta(hours=70, minutes=10),
            }
        )
        db.session.execute(sa.insert(AuditEvent), [{"ip": "", "details": {}, **r} for r in rows])
        db.session.commit()


def _shown(client, url) -> tuple[list[str], str]:
    page = client.get(url)
    assert page.status_code == 200
    return re.findall(r"<td[^>]*><code>([a-z_.]+)</code></td>", page.text), page.text


@pytest.mark.parametrize("kind", ["auth", "contract", "user", "question"])
def test_a_kind_shows_the_same_events_sorted_from_the_index_or_found_in_the_log(
    client, events, staff, monkeypatch, kind
):
    """A kind alone is read through the action's index when it has few events, and found
    walking the log when it has many: the same events, pages and CSV either way."""
    seen = {}
    for sorted_at_most in (0, 1_000_000):
        monkeypatch.setattr(audit, "SORTED_AT_MOST", sorted_at_most)
        numbers = (1, 2, 3) if kind == "auth" else (1,)  # 122 events, or a page's worth
        pages = [_shown(client, f"/staff/audit?kind={kind}&page={n}") for n in numbers]
        csv = client.get(f"/staff/audit.csv?kind={kind}").text.splitlines()[1:]
        # The actions of each page, not the page: its CSRF token carries the second it was signed.
        actions = [actions for actions, _text in pages]
        seen[sorted_at_most] = (actions, [line.split(";")[2] for line in csv])
    assert seen[0] == seen[1_000_000]
    pages, csv = seen[0]
    shown = [action for actions in pages for action in actions]
    expected = {
        "auth": ["auth.login"] * 70 + ["auth.locked"] + ["auth.login"] * 50 + ["auth.login"],
        "contract": ["contract.attached"] * 3,
        "user": ["auth.locked"],
        "question": [],
    }[kind]
    assert sorted(shown) == sorted(expected)
    assert csv == shown[::-1]  # oldest first


def test_a_rare_kind_reads_no_whole_log(app, client, events, staff):
    """Staff accounts' events are few among the sign-ins: the action's index finds them, in
    one more statement than the log without a filter (the log's actions)."""
    unfiltered = _statements(app, client, "/staff/audit")
    for kind in ("user", "contract", "question"):
        statements = _statements(app, client, f"/staff/audit?kind={kind}")
        assert len(statements) == len(unfiltered) + 1
        assert _whole_tables_read(app, statements, ["audit_events"]) == [], kind


@pytest.mark.parametrize(
    ("url", "table"), [("/staff/contracts", "contracts"), ("/staff/customers", "users")]
)
def test_a_search_reads_its_table_once_for_the_page_and_the_count(
    app, client, staff, make_user, url, table
):
    """A search goes through every contract (or account): its page and its count come from
    that one pass, whether it finds nothing, one or pages of them (a count, then the page,
    went through them twice)."""
    with app.app_context():
        for n in range(45):
            db.session.add(
                Contract(number=f"EL-{n:07d}", holder_name=f"Holder {n}", tax_id="1", address="A")
            )
        db.session.commit()
    for n in range(45):
        make_user(email=f"holder{n:02d}@example.com", name=f"Holder {n}")
    counts = set()
    for query in ("nothing-like-it", "holder 7", "holder"):
        statements = _statements(app, client, f"{url}?q={query.replace(' ', '+')}")
        reading = [s for s, _ in statements if re.search(rf"\bFROM {table}\b", s)]
        assert len(reading) == 1, reading
        counts.add(len(statements))
    assert len(counts) == 1
