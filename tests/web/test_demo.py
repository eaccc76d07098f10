"""The demo data generator, ``flask --app lkapp demo``: what an operator and a demo user see."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import pyotp
import pytest
import sqlalchemy as sa

from lkapp import create_app
from lkapp.domain.allocation import DocumentEntry, PaymentEntry, allocate, document_status
from lkapp.domain.money import vat_of
from lkapp.extensions import db
from lkapp.models import (
    AuditEvent,
    Contract,
    Document,
    DocumentLine,
    Meter,
    Payment,
    PaymentAllocation,
    Question,
    Reading,
    User,
)
from lkapp.security import verify_password
from lkapp.services import demo

SMALL = ["demo", "--contracts", "30", "--years", "2", "--seed", "5"]


def invoke(app, runner, args):
    return runner.invoke(args=args)


def row_counts() -> dict[str, int]:
    models = (User, Contract, Meter, Reading, Document, DocumentLine, Payment, PaymentAllocation)
    return {
        m.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(m))
        for m in models
    }


def test_demo_loads_once_and_prints_the_logins(app, runner):
    result = invoke(app, runner, SMALL)
    assert result.exit_code == 0, result.output
    assert "30 contracts" in result.stdout
    assert "demo@example.com" in result.stdout and "demo-portal-2026" in result.stdout
    assert "staff@example.com" in result.stdout and "staff-portal-2026" in result.stdout
    assert "chain@example.com" in result.stdout
    with app.app_context():
        loaded = row_counts()
        customer = db.session.scalar(sa.select(User).filter_by(email="demo@example.com"))
        staff = db.session.scalar(sa.select(User).filter_by(email="staff@example.com"))
        assert verify_password(customer.password_hash, "demo-portal-2026")
        chain = db.session.scalar(sa.select(User).filter_by(email="chain@example.com"))
        assert verify_password(chain.password_hash, "demo-portal-2026") and chain.is_confirmed
        assert verify_password(staff.password_hash, "staff-portal-2026")
        assert (customer.role, staff.role) == ("customer", "staff")
        assert customer.is_confirmed and staff.is_confirmed and customer.locale == "en"
        events = db.session.scalars(sa.select(AuditEvent.action)).all()
        assert events == ["demo.loaded"]
    assert loaded["contracts"] == 30 and loaded["users"] == 3

    again = invoke(app, runner, SMALL)
    assert again.exit_code == 1
    assert again.output.strip().splitlines() == [
        "Error: the database is not empty; demo data go only into an empty one"
    ]
    kept = invoke(app, runner, [*SMALL, "--if-empty"])
    assert kept.exit_code == 0 and "demo@example.com" in kept.output
    with app.app_context():
        assert row_counts() == loaded


def test_demo_refuses_a_production_database(app, runner):
    app.config["ENV"] = "production"
    result = invoke(app, runner, SMALL)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: demo data are not loaded with LKAPP_ENV=production: their passwords are published"
    ]
    with app.app_context():
        assert set(row_counts().values()) == {0}


def test_demo_data_are_consistent(app, runner):
    assert invoke(app, runner, SMALL).exit_code == 0
    today = date.today()
    with app.app_context():
        session = db.session
        if db.engine.dialect.name == "sqlite":
            # The load skips SQLite's CHECK and foreign key checks for speed; the rows pass them.
            assert session.execute(sa.text("PRAGMA integrity_check")).all() == [("ok",)]
            assert session.execute(sa.text("PRAGMA foreign_key_check")).all() == []
        contracts = session.scalars(sa.select(Contract)).all()
        documents = session.scalars(sa.select(Document)).all()
        lines = defaultdict(list)
        for line in session.scalars(sa.select(DocumentLine).order_by(DocumentLine.id)):
            lines[line.document_id].append(line)
        payments = session.scalars(sa.select(Payment)).all()
        allocations = session.scalars(sa.select(PaymentAllocation)).all()

        # Contracts: unique numbers; the demo customer holds the first two, the bakery chain
        # the next twelve (all active), and the rest are free.
        assert all(re.fullmatch(r"EL-\d{7}", c.number) for c in contracts)
        customer = session.scalar(sa.select(User).filter_by(email="demo@example.com"))
        chain = session.scalar(sa.select(User).filter_by(email="chain@example.com"))
        attached = sorted(
            (c for c in contracts if c.account_id is not None), key=lambda c: c.number
        )
        assert [c.account_id for c in attached] == [customer.id] * 2 + [chain.id] * 12
        assert [c.number for c in attached] == [f"EL-{n:07d}" for n in range(1, 15)]
        for contract in attached:
            owner = customer if contract.account_id == customer.id else chain
            assert contract.attached_at is not None and contract.holder_name == owner.name
        assert all(c.status == "active" for c in attached[2:])
        assert len({c.address for c in attached[2:]}) == 12
        assert len(contracts) - len(attached) == 16

        # Documents: net + VAT = total, lines add up to the net, each invoice has its VAT twin.
        by_key = {(d.contract_id, d.kind, d.period): d for d in documents}
        for document in documents:
            assert document.net + document.vat == document.total
            assert document.vat == vat_of(document.net, document.vat_rate)
            assert sum(line.amount for line in lines[document.id]) == document.net
            assert [line.position for line in lines[document.id]] == list(
                range(1, len(lines[document.id]) + 1)
            )
            twin = by_key[document.contract_id, "vat_invoice", document.period]
            assert (twin.net, twin.vat, twin.total) == (document.net, document.vat, document.total)
        invoices = [d for d in documents if d.kind == "invoice"]
        assert len(invoices) * 2 == len(documents)
        assert all(d.due_on > d.issued_on > d.period for d in invoices)
        assert all(d.due_on is None and d.paid == 0 for d in documents if d.kind != "invoice")

        # Payments: stored allocations are what the allocation rules give, from scratch.
        paid = defaultdict(Decimal)
        given = defaultdict(Decimal)
        for allocation in allocations:
            paid[allocation.document_id] += allocation.amount
            given[allocation.payment_id] += allocation.amount
        assert all(d.paid == paid[d.id] for d in documents)
        assert all(given[p.id] <= p.amount for p in payments)
        for contract in contracts:
            expected = allocate(
                [
                    DocumentEntry(d.id, d.number, d.due_on, d.total, d.kind)
                    for d in documents
                    if d.contract_id == contract.id
                ],
                [
                    PaymentEntry(p.id, p.paid_on, p.amount, p.reference)
                    for p in payments
                    if p.contract_id == contract.id
                ],
            )
            stored = [
                (a.payment_id, a.document_id, a.amount)
                for a in allocations
                if a.payment.contract_id == contract.id
            ]
            assert sorted(stored) == sorted(
                (a.payment_key, a.document_key, a.amount) for a in expected.allocations
            )

        # Debt: some contracts are overdue; the demo customer has one of each kind.
        def overdue(contract):
            return [
                d
                for d in invoices
                if d.contract_id == contract.id
                and document_status(d.total, d.paid, d.due_on, today) == "overdue"
            ]

        assert 2 <= sum(1 for c in contracts if overdue(c)) <= 15
        in_debt, settled = attached[:2]
        assert overdue(in_debt) and not overdue(settled)
        assert all(d.paid == d.total for d in invoices if d.contract_id == settled.id)
        assert any(d.total - d.paid > 0 for d in invoices if d.contract_id == in_debt.id)


@pytest.mark.parametrize("seed", [1, 8, 9])
def test_the_bakery_chain_holds_twelve_active_contracts_whatever_the_seed(seed):
    """Some random contracts end early (terminated); never the chain's, whose meters all
    wait for this month's readings. Seeds 1, 8 and 9 would end one of them otherwise."""
    batches = demo._generate_rows(
        16, seed, (date(2026, 11, 27), 2, ""), dict.fromkeys(demo.COLUMNS, 1), (1, 2)
    )
    chain = [row for _, rows in batches for row in rows["contracts"] if row[6] == 2]
    assert len(chain) == 12 and {row[5] for row in chain} == {"active"}


def test_demo_readings_grow_within_the_meter(app, runner):
    assert invoke(app, runner, SMALL).exit_code == 0
    with app.app_context():
        meters = {m.id: m for m in db.session.scalars(sa.select(Meter))}
        readings = db.session.scalars(
            sa.select(Reading).order_by(Reading.meter_id, Reading.zone, Reading.period)
        ).all()
    series = defaultdict(list)
    for reading in readings:
        series[reading.meter_id, reading.zone].append(reading)
        meter = meters[reading.meter_id]
        assert reading.zone in meter.zone_list
        assert 0 <= reading.value < 10**meter.digits
        assert reading.period.day == 1
        assert reading.source == "import" and reading.status in ("accepted", "exported")
        submitted = reading.submitted_at
        assert submitted.tzinfo is not None
        assert (submitted.year, submitted.month) == (reading.period.year, reading.period.month)
    assert {key[0] for key in series} == set(meters)
    for values in series.values():
        assert all(a.value <= b.value for a, b in zip(values, values[1:], strict=False))
    assert {m.ct_ratio for m in meters.values()} - {1}, "some meters have current transformers"


def digest() -> str:
    """A fingerprint of the demo data by natural keys (not ids, not database order)."""
    queries = [
        sa.select(Contract.number, Contract.holder_name, Contract.tax_id, Contract.address,
                  Contract.status, Contract.created_at),
        sa.select(Meter.serial, Meter.zones, Meter.digits, Meter.ct_ratio, Meter.installed_on,
                  Meter.removed_on),
        sa.select(Meter.serial, Reading.zone, Reading.period, Reading.value,
                  Reading.submitted_at, Reading.status).join(Reading.meter),
        sa.select(Document.kind, Document.number, Document.issued_on, Document.period,
                  Document.due_on, Document.net, Document.vat_rate, Document.vat,
                  Document.total, Document.paid),
        sa.select(Document.kind, Document.number, DocumentLine.position,
                  DocumentLine.description, DocumentLine.kwh, DocumentLine.tariff,
                  DocumentLine.amount).join(DocumentLine.document),
        sa.select(Payment.paid_on, Payment.amount, Payment.reference, Payment.created_at),
        sa.select(Payment.reference, Document.number, PaymentAllocation.amount)
        .join(PaymentAllocation.payment).join(PaymentAllocation.document),
    ]  # fmt: skip

    def plain(value):
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat()
        return str(value)

    sha = hashlib.sha256()
    for query in queries:
        for row in sorted(tuple(map(plain, row)) for row in db.session.execute(query)):
            sha.update(repr(row).encode())
    return sha.hexdigest()


def test_same_seed_gives_the_same_data_on_every_backend(
    app, app_config, sqlite_template, tmp_path, monkeypatch
):
    """The data depend on the seed and the day only: two databases, even of two kinds, agree,
    whether the rows come from a worker process (as for big loads) or from this one."""
    anchor = date(2026, 3, 17)

    def load(config, seed):
        other = create_app(config)
        with other.app_context():
            demo.generate(contracts=12, years=1, seed=seed, today=anchor)
            fingerprint = digest()
            db.engine.dispose()
        return fingerprint

    copies = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.sqlite3"
        path.write_bytes(sqlite_template.read_bytes())
        copies.append(dict(app_config, SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}"))

    with app.app_context():
        demo.generate(contracts=12, years=1, seed=3, today=anchor)
        here = digest()
    monkeypatch.setattr(demo, "WORKER_FROM", 0)
    assert load(copies[0], seed=3) == here
    assert load(copies[1], seed=4) != here


@pytest.mark.sqlite_only
def test_history_ends_with_the_last_full_month(app):
    with app.app_context():
        demo.generate(contracts=3, years=1, seed=1, today=date(2026, 1, 2))
        periods = db.session.scalars(sa.select(Document.period).distinct()).all()
        issued = db.session.scalar(sa.select(sa.func.max(Document.issued_on)))
        last_paid = db.session.scalar(sa.select(sa.func.max(Payment.paid_on)))
    assert min(periods) == date(2025, 1, 1) and max(periods) == date(2025, 12, 1)
    assert len(periods) == 12
    # Nothing dated today or later: the December invoice is issued yesterday at the latest.
    assert issued == date(2026, 1, 1)
    assert last_paid < date(2026, 1, 2)


def test_demo_rows_give_every_column_that_has_a_python_default():
    """The loader bypasses the ORM, so a column's Python default would silently not apply."""
    for table, columns in demo.COLUMNS.items():
        for column in db.metadata.tables[table].columns:
            if column.default is not None:
                assert column.name in columns, f"{table}.{column.name}"


def test_the_logins_say_how_staff_get_a_two_factor_code(app, runner):
    """The staff account must enrol an authenticator app; the printed line gives a code for
    the key the enrolment page shows, spaces and all, to a newcomer without an app."""
    result = invoke(app, runner, SMALL)
    assert "authenticator app" in result.stdout
    command = re.search(r'\.venv/bin/python -c "(.+)"', result.stdout).group(1)
    code = subprocess.run(
        [sys.executable, "-c", command],
        input="CBWY J3UP YZFO GDW2 25Y5 TCLM FTQ3 PHWD\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    assert pyotp.TOTP("CBWYJ3UPYZFOGDW225Y5TCLMFTQ3PHWD").verify(code, valid_window=1)


def test_demo_has_an_answered_question_and_one_waiting(app, runner):
    assert invoke(app, runner, SMALL).exit_code == 0
    with app.app_context():
        questions = db.session.scalars(sa.select(Question).order_by(Question.created_at)).all()
        answered, waiting = questions
        customer = db.session.scalar(sa.select(User).filter_by(email="demo@example.com"))
        chain = db.session.scalar(sa.select(User).filter_by(email="chain@example.com"))
        staff = db.session.scalar(sa.select(User).filter_by(email="staff@example.com"))
        assert (answered.user_id, answered.status, answered.contract_number) == (
            customer.id,
            "answered",
            "EL-0000001",
        )
        asked, reply = answered.messages
        assert (asked.author_id, asked.from_staff) == (customer.id, False)
        assert (reply.author_id, reply.from_staff) == (staff.id, True)
        assert answered.answered_at == reply.created_at > asked.created_at
        # The invoice the customer asks about is the one it paid in part.
        number = re.search(r"INV-\d{4}-\d{7}", asked.body).group()
        invoice = db.session.scalar(sa.select(Document).filter_by(number=number))
        assert invoice.contract.number == "EL-0000001" and 0 < invoice.paid < invoice.total
        assert (waiting.user_id, waiting.status, len(waiting.messages)) == (chain.id, "new", 1)
        assert waiting.contract_id == db.session.scalar(
            sa.select(Contract.id).filter_by(number="EL-0000003")
        )
        now = datetime.now(UTC)
        assert all(m.created_at < now for q in questions for m in q.messages)


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("today", "this_month"), [(date(2026, 11, 27), True), (date(2026, 11, 20), False)]
)
def test_after_the_readings_window_this_months_readings_are_in(app, today, this_month):
    """Past the 25th the month's readings came in (not yet billed); before, they are awaited."""
    with app.app_context():
        demo.generate(contracts=16, years=1, seed=1, today=today)
        meters = db.session.scalars(sa.select(Meter)).all()
        live = {m.id for m in meters if m.removed_on is None}
        rows = db.session.execute(
            sa.select(Reading.meter_id, Reading.period, Reading.status, Reading.submitted_at)
        ).all()
        last_billed = db.session.scalar(sa.select(sa.func.max(Document.period)))
    november = {r.meter_id for r in rows if r.period == date(2026, 11, 1)}
    assert last_billed == date(2026, 10, 1)
    assert november == (live if this_month else set())
    assert all(r.submitted_at.date() < today for r in rows)
    accepted = {r.period for r in rows if r.status == "accepted"}
    assert accepted == {date(2026, 11 if this_month else 10, 1)}
