"""The schema keeps its promises on both backends."""

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from lkapp.extensions import db
from lkapp.models import (
    AuditEvent,
    Contract,
    Document,
    Message,
    Meter,
    MeterMove,
    Question,
    Reading,
    User,
    utcnow,
)
from tests.conftest import TEST_PASSWORD


def _user(email):
    return User(email=email, password_hash="x", name="N")


def test_email_is_unique_whatever_its_case(app):
    with app.app_context():
        db.session.add(_user("Ann@Example.com"))
        db.session.commit()
        db.session.add(_user("ann@example.COM"))
        with pytest.raises(IntegrityError):
            db.session.commit()


def test_contract_number_is_unique_and_account_optional(app):
    with app.app_context():
        db.session.add(Contract(number="EL-1", holder_name="A", tax_id="1", address="x"))
        db.session.commit()
        assert db.session.scalar(sa.select(Contract.account_id)) is None
        db.session.add(Contract(number="EL-1", holder_name="B", tax_id="2", address="y"))
        with pytest.raises(IntegrityError):
            db.session.commit()


def test_foreign_keys_are_enforced(app):
    with app.app_context():
        db.session.add(Meter(contract_id=999, serial="M1", installed_on=date(2024, 1, 1)))
        with pytest.raises(IntegrityError):
            db.session.commit()


def test_money_comes_back_exact(app):
    with app.app_context():
        contract = Contract(number="EL-2", holder_name="A", tax_id="1", address="x")
        db.session.add(contract)
        db.session.flush()
        for cents in (1, 10, 99, 123456789012):
            amount = Decimal(cents) / 100
            db.session.add(
                Document(
                    contract_id=contract.id,
                    kind="invoice",
                    number=f"N{cents}",
                    issued_on=date(2026, 1, 3),
                    period=date(2025, 12, 1),
                    due_on=date(2026, 1, 20),
                    net=amount,
                    vat_rate=Decimal("0"),
                    vat=Decimal("0.00"),
                    total=amount,
                )
            )
        db.session.commit()
        totals = db.session.scalars(sa.select(Document.total).order_by(Document.total)).all()
        assert totals == [
            Decimal("0.01"),
            Decimal("0.10"),
            Decimal("0.99"),
            Decimal("1234567890.12"),
        ]
        assert all(isinstance(t, Decimal) for t in totals)


def test_one_live_reading_per_meter_zone_and_month(app):
    with app.app_context():
        contract = Contract(number="EL-3", holder_name="A", tax_id="1", address="x")
        meter = Meter(contract=contract, serial="M3", zones="T1", installed_on=date(2024, 1, 1))
        db.session.add_all([contract, meter])
        db.session.flush()
        first = Reading(meter_id=meter.id, zone="T1", period=date(2026, 11, 1), value=Decimal("10"))
        db.session.add(first)
        db.session.flush()
        first.status = "superseded"
        db.session.add(
            Reading(meter_id=meter.id, zone="T1", period=date(2026, 11, 1), value=Decimal("11"))
        )
        db.session.commit()
        db.session.add(
            Reading(meter_id=meter.id, zone="T1", period=date(2026, 11, 1), value=Decimal("12"))
        )
        with pytest.raises(IntegrityError):
            db.session.commit()


def test_times_come_back_in_utc(app):
    with app.app_context():
        now = utcnow()
        db.session.add(User(email="t@example.com", password_hash="x", name="T", created_at=now))
        db.session.commit()
        db.session.expire_all()
        stored = db.session.scalar(sa.select(User.created_at))
        assert stored == now and stored.utcoffset().total_seconds() == 0


@pytest.mark.sqlite_only
def test_sqlite_runs_with_foreign_keys_wal_and_busy_timeout(app):
    with app.app_context():
        pragma = lambda name: db.session.execute(sa.text(f"PRAGMA {name}")).scalar()  # noqa: E731
        assert pragma("foreign_keys") == 1
        assert pragma("journal_mode") == "wal"
        assert pragma("busy_timeout") == 5000


def _upgrade_from(app, revision):
    from flask_migrate import downgrade, upgrade

    with app.app_context():
        downgrade(revision=revision)
        upgrade()


def test_the_upgrade_lower_cases_the_domain_of_older_addresses(app):
    with app.app_context():  # written as the older code stored them
        db.session.add_all([_user("Info@Пример.РФ"), _user("Ann@Example.COM"), _user("x@y.hu")])
        db.session.commit()
    _upgrade_from(app, "1d10eba34b84")
    with app.app_context():
        emails = db.session.scalars(sa.select(User.email).order_by(User.id)).all()
    assert emails == ["Info@пример.рф", "Ann@example.com", "x@y.hu"]


@pytest.mark.sqlite_only  # PostgreSQL's lower() has never let the two exist side by side
def test_the_upgrade_stops_on_addresses_that_would_clash_and_names_them(app, capsys):
    with app.app_context():
        db.session.add_all([_user("c@Дом.рф"), _user("c@ДОМ.рф"), _user("Ann@Example.COM")])
        db.session.commit()
    with pytest.raises(SystemExit):  # flask db upgrade: "Error: ..." and exit status 1
        _upgrade_from(app, "1d10eba34b84")
    error = capsys.readouterr().err  # Alembic's logging configuration writes to stderr
    assert re.search(r"Error: .*'c@ДОМ.рф' and 'c@Дом.рф'\. Change the address", error), error
    with app.app_context():  # nothing changed, not even the address that had no clash
        emails = db.session.scalars(sa.select(User.email).order_by(User.id)).all()
    assert emails == ["c@Дом.рф", "c@ДОМ.рф", "Ann@Example.COM"]


def test_the_upgrade_spells_the_domain_of_older_addresses_one_way(
    app, client, make_user, auth, mailbox
):
    """Stored before the domain had one spelling, an account in punycode took the same address
    in letters for a new one and was mailed that the address was in use: by itself."""
    for email in ("info@xn--e1afmkfd.xn--p1ai", "Bob@ｂａｋｅｒｙ。ｈｕ", "cy@дом.рф", "x@y.hu"):
        make_user(email=email)
    closed_id = make_user(email="gone@example.com", locked_reason="closed", locked_at=utcnow())
    with app.app_context():
        closed = db.session.get(User, closed_id)
        closed.email = f"closed-{closed_id}@closed.invalid"
        db.session.commit()
    _upgrade_from(app, "b8e4d2f6a1c3")
    with app.app_context():
        emails = db.session.scalars(sa.select(User.email).order_by(User.id)).all()
    assert emails == [
        "info@пример.рф",
        "Bob@bakery.hu",
        "cy@дом.рф",
        "x@y.hu",
        f"closed-{closed_id}@closed.invalid",
    ]

    for typed, letters in (
        ("info@xn--e1afmkfd.xn--p1ai", "info@пример.рф"),
        ("bob@ｂａｋｅｒｙ。ｈｕ", "bob@bakery.hu"),
        ("cy@дом.рф", "cy@дом.рф"),
    ):
        auth.login(email=typed)
        mailbox.clear()
        same = client.post(
            "/profile/email", data={"email": letters, "current_password": TEST_PASSWORD}
        )
        assert "This is your current email address." in same.get_data(as_text=True), typed
        assert mailbox.messages == [], typed
        auth.logout()


def test_the_upgrade_stops_on_addresses_one_in_two_spellings_and_names_them(app, capsys):
    with app.app_context():  # each pair one address to the unique index once spelled alike
        db.session.add_all(
            [
                _user("A@xn--e1afmkfd.xn--p1ai"),
                _user("a@пример.рф"),
                _user("shop@ｂａｋｅｒｙ。ｈｕ"),
                _user("Shop@bakery。hu"),
                _user("info@xn--d1acufc.xn--p1ai"),
            ]
        )
        db.session.commit()
    with pytest.raises(SystemExit):  # flask db upgrade: "Error: ..." and exit status 1
        _upgrade_from(app, "b8e4d2f6a1c3")
    error = capsys.readouterr().err
    assert (
        "Error: these accounts' addresses are one address once their domains are spelled "
        "alike: 'A@xn--e1afmkfd.xn--p1ai' and 'a@пример.рф'; "
        "'Shop@bakery。hu' and 'shop@ｂａｋｅｒｙ。ｈｕ'. "
        "Change the address of one account of each pair, then upgrade again."
    ) in error, error
    with app.app_context():  # nothing changed, not even the address that had no clash
        emails = db.session.scalars(sa.select(User.email).order_by(User.id)).all()
    assert emails == [
        "A@xn--e1afmkfd.xn--p1ai",
        "a@пример.рф",
        "shop@ｂａｋｅｒｙ。ｈｕ",
        "Shop@bakery。hu",
        "info@xn--d1acufc.xn--p1ai",
    ]


def test_the_upgrade_gives_the_readings_of_meters_moved_before_to_their_contracts(app):
    """Readings stored before they kept their contract: those of a meter that billing moved
    go to the contract the meter had when they were sent, from the moves' audit events."""

    def moved(meter, when, left):
        return AuditEvent(
            action="import.updated",
            object_type="Meter",
            object_id=str(meter.id),
            details={"kind": "meters", "key": meter.serial, "before": left, "after": {}},
            created_at=when,
        )

    def reading(meter, month, when, source="portal", status="accepted"):
        return Reading(
            meter_id=meter.id, zone="T1", period=date(2025, month, 1), value=Decimal(month),
            submitted_at=when, source=source, status=status,
        )  # fmt: skip

    first, second = datetime(2025, 3, 10, 8, tzinfo=UTC), datetime(2025, 6, 10, 8, tzinfo=UTC)
    with app.app_context():
        contracts = [
            Contract(number=f"EL-{n}", holder_name="H", tax_id="1", address="A") for n in (1, 2, 3)
        ]
        db.session.add_all(contracts)
        db.session.flush()
        c1, c2, c3 = (c.id for c in contracts)
        twice, removed = (
            Meter(contract_id=c3, serial=serial, installed_on=date(2020, 1, 1))
            for serial in ("M-TWICE", "M-REMOVED")
        )
        db.session.add_all([twice, removed])
        db.session.flush()
        db.session.add_all(
            [
                reading(twice, 2, datetime(2025, 2, 20, 8, tzinfo=UTC)),  # on EL-1 then
                reading(twice, 3, datetime(2025, 3, 10, 7, tzinfo=UTC), status="superseded"),
                # billing's corrections after the move: of EL-1's March (an hour before the
                # move), and January's, late
                reading(twice, 3, datetime(2025, 3, 12, 7, tzinfo=UTC), "import", "superseded"),
                reading(twice, 3, datetime(2025, 3, 13, 7, tzinfo=UTC), "import"),
                reading(twice, 1, datetime(2025, 4, 1, 7, tzinfo=UTC), "import"),
                reading(twice, 4, datetime(2025, 4, 20, 8, tzinfo=UTC)),  # on EL-2
                reading(twice, 7, datetime(2025, 7, 20, 8, tzinfo=UTC)),  # on EL-3, as now
                reading(removed, 2, datetime(2025, 2, 20, 8, tzinfo=UTC)),
                moved(twice, first, {"contract_id": str(c1)}),
                moved(twice, second, {"contract_id": str(c2)}),
                moved(removed, first, {"removed_on": None}),  # not a move
            ]
        )
        db.session.commit()
        ids = {c1: "EL-1", c2: "EL-2", c3: "EL-3", None: None}
    _upgrade_from(app, "7e3b9c4d2a10")
    with app.app_context():
        meters = dict(db.session.execute(sa.select(Meter.serial, Meter.moved_at)).all())
        moves = db.session.execute(
            sa.select(MeterMove.from_contract_id, MeterMove.moved_at).order_by(MeterMove.moved_at)
        ).all()
        readings = db.session.execute(
            sa.select(Meter.serial, Reading.period, Reading.source, Reading.contract_id)
            .join(Meter, Meter.id == Reading.meter_id)
            .order_by(Meter.serial, Reading.period, Reading.id)
        ).all()
    assert meters == {"M-TWICE": second, "M-REMOVED": None}
    assert [(ids[contract_id], when) for contract_id, when in moves] == [
        ("EL-1", first),
        ("EL-2", second),
    ]
    assert [(serial, p.month, source, ids[id_]) for serial, p, source, id_ in readings] == [
        ("M-REMOVED", 2, "portal", None),
        ("M-TWICE", 1, "import", "EL-1"),
        ("M-TWICE", 2, "portal", "EL-1"),
        ("M-TWICE", 3, "portal", "EL-1"),
        ("M-TWICE", 3, "import", "EL-1"),
        ("M-TWICE", 3, "import", "EL-1"),
        ("M-TWICE", 4, "portal", "EL-2"),
        ("M-TWICE", 7, "portal", None),
    ]


def test_the_upgrade_widens_payment_references_and_keeps_their_allocations(app):
    """A reference holds a transfer's purpose of 140 characters. On SQLite the column is
    widened by copying the table, whose old copy's deletion must not take the payments'
    allocations with it (ON DELETE CASCADE)."""
    from lkapp.models import Payment, PaymentAllocation

    with app.app_context():
        contract = Contract(number="EL-1", holder_name="H", tax_id="1", address="A")
        db.session.add(contract)
        db.session.flush()
        invoice = Document(
            contract_id=contract.id, kind="invoice", number="INV-1", issued_on=date(2025, 1, 5),
            period=date(2024, 12, 1), due_on=date(2025, 1, 20), net=Decimal("100.00"),
            vat_rate=Decimal("0"), vat=Decimal("0.00"), total=Decimal("100.00"),
            paid=Decimal("60.00"),
        )  # fmt: skip
        payment = Payment(
            contract_id=contract.id, paid_on=date(2025, 1, 10), amount=Decimal("60.00"),
            reference="EL-1 / INV-1",
        )  # fmt: skip
        db.session.add_all([invoice, payment])
        db.session.flush()
        db.session.add(
            PaymentAllocation(payment_id=payment.id, document_id=invoice.id, amount=Decimal(60))
        )
        db.session.commit()
    _upgrade_from(app, "a3d7f1c9e2b5")
    with app.app_context():
        allocations = db.session.execute(
            sa.select(Payment.reference, Document.number, PaymentAllocation.amount)
            .join(Payment, Payment.id == PaymentAllocation.payment_id)
            .join(Document, Document.id == PaymentAllocation.document_id)
        ).all()
        assert allocations == [("EL-1 / INV-1", "INV-1", Decimal("60.00"))]
        db.session.add(
            Payment(
                contract_id=db.session.scalar(sa.select(Contract.id)),
                paid_on=date(2025, 1, 11),
                amount=Decimal("1.00"),
                reference="P" * 140,
            )  # fmt: skip
        )
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.max(sa.func.length(Payment.reference)))) == 140


def test_the_upgrade_gives_closed_threads_their_last_messages_time_again(app):
    """Closing set ``updated_at``, which the lists show as "Last message": a thread written to
    in May and closed in November looked like November's."""
    may, june, november = (datetime(2026, m, 10, 9, 0, tzinfo=UTC) for m in (5, 6, 11))
    who = {"contact_email": "ann@example.com", "contact_name": "Ann"}
    with app.app_context():
        closed = Question(
            reference="Q-1", subject="other", status="closed", closed_at=november, **who
        )
        closed.updated_at = november  # as the older code closed it
        waiting = Question(reference="Q-2", subject="other", status="new", updated_at=june, **who)
        db.session.add_all([closed, waiting])
        db.session.flush()
        db.session.add_all(
            [
                Message(question_id=closed.id, body="asked", created_at=may - timedelta(days=1)),
                Message(question_id=closed.id, body="answered", created_at=may, from_staff=True),
                Message(question_id=waiting.id, body="asked", created_at=june),
            ]
        )
        db.session.commit()
    _upgrade_from(app, "c53eeba7733d")
    with app.app_context():
        times = db.session.execute(
            sa.select(Question.reference, Question.updated_at, Question.closed_at).order_by(
                Question.reference
            )
        ).all()
    assert times == [("Q-1", may, november), ("Q-2", june, None)]
