"""One account per contract, even when several accounts submit a valid code at the same instant.

Every thread has its own app context, session and database connection, like a request in its
own worker. A barrier holds them all after the code check (so every one of them has read
"unattached, code valid"), then releases them at once into the conditional UPDATEs: those,
and nothing earlier, must decide. Runs on SQLite (WAL, busy_timeout: writers queue) and on
PostgreSQL (row locks: losers wait, then match no row).
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from lkapp.domain.attach import Outcome
from lkapp.electricity import services
from lkapp.extensions import db
from lkapp.models import AuditEvent, ConfirmationCode, Contract, User

ATTEMPTS = 6
NUMBER = "EL-RACE-01"


@pytest.fixture
def race(app, make_user):
    users = [make_user(email=f"racer{i}@example.com") for i in range(ATTEMPTS)]
    with app.app_context():
        contract = Contract(
            number=NUMBER, holder_name="Race Kft.", tax_id="11111111-1-11", address="Pécs"
        )
        db.session.add(contract)
        db.session.flush()
        code = services.issue_code(contract, issued_by_label="test")
        db.session.commit()
    return users, code


def _run_at_once(app, monkeypatch, users, attempt):
    """Run ``attempt(user)`` in one thread per entry of ``users``, all released together after
    the code check; returns (user id, outcome or exception) per thread."""
    barrier = threading.Barrier(len(users), timeout=30)
    real_verify = services.verify_password

    def verify_then_wait(password_hash, password):
        matches = real_verify(password_hash, password)
        barrier.wait()
        return matches

    monkeypatch.setattr(services, "verify_password", verify_then_wait)
    outcomes: list = [None] * len(users)

    def worker(index, user_id):
        with app.app_context():
            try:
                user = db.session.get(User, user_id)
                outcomes[index] = (user_id, attempt(user))
                db.session.commit()
            except Exception as error:  # noqa: BLE001 - reported by the assertion below
                db.session.rollback()
                outcomes[index] = (user_id, error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=item) for item in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


@pytest.mark.sqlite_only
def test_sqlite_runs_in_wal_with_a_busy_timeout(app):
    """What keeps the SQLite run honest: readers beside a writer, writers wait their turn."""
    with app.app_context():
        assert db.session.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(sa.text("PRAGMA busy_timeout")).scalar() >= 1000


def test_exactly_one_of_simultaneous_valid_attempts_wins(app, race, monkeypatch):
    users, code = race
    outcomes = _run_at_once(
        app, monkeypatch, users, lambda user: services.attach_contract(user, NUMBER, code).outcome
    )

    errors = [o for _, o in outcomes if isinstance(o, Exception)]
    assert errors == [], errors
    winners = [uid for uid, outcome in outcomes if outcome is Outcome.ATTACHED]
    assert len(winners) == 1, outcomes
    assert {outcome for uid, outcome in outcomes if uid not in winners} == {Outcome.TAKEN}
    [winner] = winners
    with app.app_context():
        contract = db.session.scalar(sa.select(Contract).where(Contract.number == NUMBER))
        assert contract.account_id == winner
        record = db.session.scalar(sa.select(ConfirmationCode))
        assert record.used_by_id == winner and record.used_at is not None
        actions = db.session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.action.startswith("contract.attach"))
        ).all()
        assert sorted(actions) == ["contract.attach_failed"] * (ATTEMPTS - 1) + [
            "contract.attached"
        ]


def test_one_account_double_submitting_attaches_once(app, race, monkeypatch):
    users, code = race
    ann = users[0]
    outcomes = _run_at_once(
        app,
        monkeypatch,
        [ann, ann],
        lambda user: services.attach_contract(user, NUMBER, code).outcome,
    )
    # One attached; the other found the contract in the account already.
    assert sorted(outcome for _, outcome in outcomes) == [
        Outcome.ALREADY_YOURS,
        Outcome.ATTACHED,
    ]
    with app.app_context():
        attached = sa.select(sa.func.count()).where(AuditEvent.action == "contract.attached")
        assert db.session.scalar(attached) == 1
