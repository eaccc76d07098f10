"""Two tabs submit the same meter's readings at the same instant: one ends accepted, the other
superseded, both in history; never an overwrite, never a lost value, never a 500.

Each thread has its own request context, session and connection, like a request in its own
worker, and goes through the views' ``commit_with_retry``. A barrier releases the threads
together at the point where the race is decided:

- SQLite serialises writers (WAL, busy_timeout): each submission takes the write lock after
  its checks, before it reads the month's live readings again (``services.hold_writes``), and
  the barrier sits before that (a thread held after it would keep the other waiting on the
  lock, never at the barrier); the second waits for the first to commit, reads its rows and
  supersedes them.
- PostgreSQL lets both write at once: for a first submission of the month the barrier sits
  before the INSERT, so both INSERTs hit ``uq_readings_live`` together; the loser waits for
  the winner's commit, gets an IntegrityError, rolls back and tries once more (superseding).
  For a correction the barrier sits before the UPDATE: the loser's UPDATE waits on the row
  lock, finds the row superseded, and its INSERT meets the winner's new row.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import Contract, Meter, OutboxMail, Reading, User, utcnow
from lkapp.readings import clock, services
from lkapp.readings.mails import queue_receipt
from lkapp.readings.views import commit_with_retry

NOVEMBER = date(2026, 11, 1)


@pytest.fixture
def meter(app, make_user, monkeypatch):
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 11, 20, 12, tzinfo=UTC))
    user_id = make_user()
    with app.app_context():
        contract = Contract(
            number="EL-RACE",
            holder_name="Race Kft.",
            tax_id="1",
            address="Pécs",
            account_id=user_id,
            attached_at=utcnow(),
        )
        db.session.add(contract)
        db.session.flush()
        meter = Meter(
            contract_id=contract.id, serial="SN-RACE", zones="T1,T2", installed_on=date(2020, 1, 1)
        )
        db.session.add(meter)
        db.session.flush()
        for zone in ("T1", "T2"):
            db.session.add(
                Reading(meter_id=meter.id, zone=zone, period=date(2026, 10, 1), value=1000)
            )
        db.session.commit()
        return user_id, meter.id


def submit_at_once(app, monkeypatch, meter, submissions, hold_before):
    """Submit each dict of ``submissions`` in its own thread, all held at a barrier on their
    first call of ``services.<hold_before>``; returns (outcomes, calls of that function)."""
    user_id, meter_id = meter
    barrier = threading.Barrier(len(submissions), timeout=30)
    local = threading.local()
    calls = []
    real = getattr(services, hold_before)

    def held(*args, **kwargs):
        calls.append(threading.get_ident())
        if not getattr(local, "passed", False):
            local.passed = True
            barrier.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(services, hold_before, held)
    outcomes: list = [None] * len(submissions)

    def worker(index, values):
        with app.test_request_context():
            try:
                user = db.session.get(User, user_id)
                meter = db.session.get(Meter, meter_id)

                def work():
                    result = services.submit(
                        meter, values, confirmed=False, user=user, source="portal"
                    )
                    queue_receipt(meter.contract, result, entered_by_office=False)
                    return result

                outcomes[index] = commit_with_retry(work)
            except Exception as error:  # noqa: BLE001 - reported by the assertions
                db.session.rollback()
                outcomes[index] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=item) for item in enumerate(submissions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes, calls


def november(app, meter_id):
    with app.app_context():
        return db.session.execute(
            sa.select(Reading.zone, Reading.value, Reading.status)
            .where(Reading.meter_id == meter_id, Reading.period == NOVEMBER)
            .order_by(Reading.id)
        ).all()


def assert_one_live_per_zone_and_nothing_lost(app, meter_id, submissions, outcomes):
    assert all(getattr(o, "ok", False) for o in outcomes), outcomes
    rows = november(app, meter_id)
    for values in submissions:  # every submitted value is in history
        for zone, value in values.items():
            assert (zone, Decimal(value)) in [(z, v) for z, v, _ in rows], (values, rows)
    live = [(zone, value) for zone, value, status in rows if status != "superseded"]
    assert sorted(zone for zone, _ in live) == ["T1", "T2"]  # exactly one per zone
    # The live pair is one submission's, whole: never T1 of one tab and T2 of the other.
    assert dict(live) in [
        {zone: Decimal(v) for zone, v in values.items()} for values in submissions
    ]
    with app.app_context():  # one receipt per accepted submission
        assert db.session.scalar(sa.select(sa.func.count(OutboxMail.id))) == len(submissions)


def test_two_tabs_send_the_first_readings_of_the_month_at_once(app, backend, meter, monkeypatch):
    submissions = [{"T1": "1100", "T2": "1050"}, {"T1": "1111", "T2": "1055"}]
    hold = "insert_readings" if backend == "postgresql" else "hold_writes"
    outcomes, calls = submit_at_once(app, monkeypatch, meter, submissions, hold)
    assert_one_live_per_zone_and_nothing_lost(app, meter[1], submissions, outcomes)
    if backend == "postgresql":
        # Both INSERTs met at the unique index: the loser rolled back and tried once more.
        assert len(calls) == 3
    statuses = sorted(status for _, _, status in november(app, meter[1]))
    assert statuses == ["accepted", "accepted", "superseded", "superseded"]


def test_two_tabs_correct_the_same_month_at_once(app, backend, meter, monkeypatch):
    with app.app_context():
        for zone in ("T1", "T2"):
            db.session.add(Reading(meter_id=meter[1], zone=zone, period=NOVEMBER, value=1090))
        db.session.commit()
    submissions = [{"T1": "1100", "T2": "1050"}, {"T1": "1111", "T2": "1055"}]
    hold = "supersede_live" if backend == "postgresql" else "hold_writes"
    outcomes, _ = submit_at_once(app, monkeypatch, meter, submissions, hold)
    assert_one_live_per_zone_and_nothing_lost(app, meter[1], submissions, outcomes)
    rows = november(app, meter[1])
    assert len(rows) == 6 and [status for _, _, status in rows[:2]] == ["superseded"] * 2


@pytest.mark.parametrize("correction", [False, True], ids=["first", "correction"])
def test_a_double_click_stores_the_readings_once_and_mails_them_once(
    app, backend, meter, monkeypatch, correction
):
    """The same form sent twice at the same instant: both answered as received, the values
    stored once (nothing superseded by its own copy) and one receipt mailed."""
    if correction:
        with app.app_context():
            for zone in ("T1", "T2"):
                db.session.add(Reading(meter_id=meter[1], zone=zone, period=NOVEMBER, value=1090))
            db.session.commit()
    values = {"T1": "1100", "T2": "1050"}
    if backend == "postgresql":
        hold = "supersede_live" if correction else "insert_readings"
    else:
        hold = "hold_writes"
    outcomes, _ = submit_at_once(app, monkeypatch, meter, [values, values], hold)
    assert all(getattr(o, "ok", False) for o in outcomes), outcomes
    assert sorted(bool(o.stored) for o in outcomes) == [False, True]
    assert [o.unchanged for o in outcomes if not o.stored] == [True]
    rows = november(app, meter[1])
    earlier = [("T1", Decimal(1090), "superseded"), ("T2", Decimal(1090), "superseded")]
    assert rows == (earlier if correction else []) + [
        ("T1", Decimal(1100), "accepted"),
        ("T2", Decimal(1050), "accepted"),
    ]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(OutboxMail.id))) == 1
