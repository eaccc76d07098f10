"""Billing imports through the CLI and the service: formats, checks, idempotency, audit,
all-or-nothing writes, document lines and payment allocation (SQLite and PostgreSQL)."""

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import (
    AuditEvent,
    Contract,
    Document,
    DocumentLine,
    ImportJob,
    Meter,
    MeterMove,
    Payment,
    PaymentAllocation,
    Reading,
    utcnow,
)
from lkapp.services.billing import ImportAborted, register_after_write, run_import
from lkapp.services.billing.base import local_today
from lkapp.services.billing.bulk import Bulk
from lkapp.services.billing.documents import DocumentImporter

CONTRACTS = """\
number;holder_name;tax_id;address;status
EL-1;Tisza Bakery Kft.;12345678-2-42;Budapest, Fő utca 1.;active
EL-2;Volga LLC;7701234567;Moscow, Tverskaya 1;
"""

METERS = """\
contract_number,serial,zones,digits,ct_ratio,installed_on,removed_on
EL-1,M-100,T1,6,1,2020-01-15,
EL-1,M-101,"T1,T2",6,1,15.01.2020,
EL-2,M-200,"T1,T2,T3",5,40,2021-03-01,
"""

DOCUMENTS = """\
contract_number,kind,number,issued_on,period,due_on,net,vat_rate,vat,total
EL-1,invoice,INV-1,2024-02-01,2024-01,2024-02-20,100.00,20,20.00,120.00
EL-1,vat_invoice,VI-1,2024-02-01,2024-01,,100.00,20,20.00,120.00
EL-2,invoice,INV-2,2024-02-01,2024-01,2024-02-20,50.00,27,13.50,63.50
EL-1,invoice,INV-3,2024-03-01,2024-02,2024-03-20,200.00,20,40.00,240.00
"""

LINES = """\
document_kind;document_number;description;kwh;tariff;amount
invoice;INV-1;Energy T1;500;0,15;75
invoice;INV-1;Network fee;;;25
vat_invoice;VI-1;Energy and network;;;100
invoice;INV-2;Energy;250,5;0.19960;50
invoice;INV-3;Energy T1;1000;0.2;200
"""

PAYMENTS = """\
contract_number;paid_on;amount;reference
EL-1;2024-02-10;150;payment for INV-3
EL-2;10.02.2024;70;PO 77
"""


def write(tmp_path, name: str, text: str, *, bom: bool = False):
    path = tmp_path / name
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return path


def do_import(runner, kind, path, *more):
    return runner.invoke(args=["import", kind, str(path), *more])


def count(app, model, *where) -> int:
    with app.app_context():
        query = sa.select(sa.func.count()).select_from(model)
        for condition in where:
            query = query.where(condition)
        return db.session.scalar(query)


def snapshot(app) -> dict:
    """Row counts of every table an import writes (the job log aside, and the audit event
    that a failed import records: see ``failures``)."""
    tables = (Contract, Meter, Reading, Document, DocumentLine, Payment, PaymentAllocation)
    with app.app_context():
        counts = {model.__tablename__: count(app, model) for model in tables}
        counts["audit_events"] = count(app, AuditEvent, AuditEvent.action != "import.failed")
        counts["paid"] = db.session.scalar(sa.select(sa.func.sum(Document.paid))) or 0
        return counts


def failures(app) -> list[dict]:
    """The details of the ``import.failed`` events, oldest first."""
    with app.app_context():
        return db.session.scalars(
            sa.select(AuditEvent.details)
            .where(AuditEvent.action == "import.failed")
            .order_by(AuditEvent.id)
        ).all()


def ok(result, summary: str):
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1].startswith(summary), result.stdout


def failed(result) -> list[str]:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: ") and "nothing imported" in lines[-1]
    return lines[:-1]


@pytest.fixture
def contracts(runner, tmp_path):
    ok(do_import(runner, "contracts", write(tmp_path, "c.csv", CONTRACTS)), "contracts: 2 created")


@pytest.fixture
def meters(runner, tmp_path, contracts):
    ok(do_import(runner, "meters", write(tmp_path, "m.csv", METERS)), "meters: 3 created")


@pytest.fixture
def documents(runner, tmp_path, contracts):
    ok(do_import(runner, "documents", write(tmp_path, "d.csv", DOCUMENTS)), "documents: 4 created")


# --- a good file of each kind, twice, then changed ----------------------------------------


def test_contracts_import_is_idempotent_and_audits_changes(app, runner, tmp_path):
    path = write(tmp_path, "contracts.csv", CONTRACTS)
    first = do_import(runner, "contracts", path)
    ok(first, "contracts: 2 created, 0 updated, 0 unchanged (2 row(s) of contracts.csv")
    with app.app_context():
        volga = db.session.scalar(sa.select(Contract).where(Contract.number == "EL-2"))
        assert volga.status == "active", "an empty status is the default"
        assert volga.address == "Moscow, Tverskaya 1" and volga.account_id is None
    events = count(app, AuditEvent)
    assert events == 1, "one import.completed event"

    ok(do_import(runner, "contracts", path), "contracts: 0 created, 0 updated, 2 unchanged")
    assert count(app, AuditEvent) == events, "an import that changes nothing records nothing"

    changed = CONTRACTS.replace("Volga LLC;", "Volga Trading LLC;").replace(
        "Tverskaya 1;", "Tverskaya 1;terminated"
    )
    ok(
        do_import(runner, "contracts", write(tmp_path, "contracts2.csv", changed)),
        "contracts: 0 created, 1 updated, 1 unchanged",
    )
    with app.app_context():
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "import.updated")
        )
        assert event.object_type == "Contract" and event.object_id == str(volga.id)
        assert event.details["key"] == "EL-2"
        assert event.details["before"] == {"holder_name": "Volga LLC", "status": "active"}
        assert event.details["after"] == {
            "holder_name": "Volga Trading LLC",
            "status": "terminated",
        }
        assert db.session.get(Contract, volga.id).status == "terminated"


def test_meters_import_and_a_meter_moving_contract(app, runner, tmp_path, contracts):
    path = write(tmp_path, "meters.csv", METERS)
    ok(do_import(runner, "meters", path), "meters: 3 created, 0 updated, 0 unchanged")
    ok(do_import(runner, "meters", path), "meters: 0 created, 0 updated, 3 unchanged")
    with app.app_context():
        meter = db.session.scalar(sa.select(Meter).where(Meter.serial == "M-200"))
        assert (meter.zones, meter.digits, meter.ct_ratio) == ("T1,T2,T3", 5, 40)
        assert meter.installed_on == date(2021, 3, 1) and meter.removed_on is None
    moved = METERS.replace(
        "EL-1,M-100,T1,6,1,2020-01-15,", "EL-2,M-100,T1,6,1,2020-01-15,2024-05-31"
    )
    ok(
        do_import(runner, "meters", write(tmp_path, "m2.csv", moved)),
        "meters: 0 created, 1 updated",
    )
    with app.app_context():
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "import.updated")
        )
        assert event.details["before"]["contract_number"] == "EL-1"
        assert event.details["after"]["contract_number"] == "EL-2"
        assert event.details["after"]["removed_on"] == "2024-05-31"
        assert event.details["before"]["removed_on"] is None
        moved_at = dict(db.session.execute(sa.select(Meter.serial, Meter.moved_at)).all())
        assert moved_at == {"M-100": event.created_at, "M-101": None, "M-200": None}
        # EL-1 keeps the meter's readings given for it.
        move = db.session.scalars(sa.select(MeterMove)).one()
        assert (move.meter_id, move.moved_at) == (int(event.object_id), event.created_at)
        assert str(move.from_contract_id) == event.details["before"]["contract_id"]


def test_a_moved_meters_readings_stay_with_the_contract_they_were_given_for(
    app, runner, tmp_path, meters
):
    """Billing moves M-100 from EL-1 to EL-2: its readings stay EL-1's, on EL-1's pages and
    in the export, and so do a correction and a late reading of EL-1's months imported after
    the move; a reading of the month of the move or later is EL-2's."""
    with app.app_context():
        m100 = db.session.scalar(sa.select(Meter).where(Meter.serial == "M-100"))
        # Stored before readings kept their contract (lkapp's upgrade leaves them empty).
        db.session.add(
            Reading(meter_id=m100.id, zone="T1", period=date(2023, 12, 1), value=Decimal("900"))
        )
        db.session.commit()
        m100_id = m100.id
        ids = dict(db.session.execute(sa.select(Contract.number, Contract.id)).all())
    given = "contract_number;meter_serial;zone;period;value\nEL-1;M-100;T1;2024-01;1000\n"
    ok(do_import(runner, "readings", write(tmp_path, "r1.csv", given)), "readings: 1 created")
    moved = METERS.replace("EL-1,M-100,", "EL-2,M-100,")
    ok(
        do_import(runner, "meters", write(tmp_path, "m2.csv", moved)),
        "meters: 0 created, 1 updated",
    )

    def contracts_of_readings():
        with app.app_context():
            rows = db.session.execute(
                sa.select(Reading.period, Reading.value, Reading.contract_id)
                .where(Reading.meter_id == m100_id, Reading.status != "superseded")
                .order_by(Reading.period)
            ).all()
        numbers = {id_: number for number, id_ in ids.items()}
        return [(f"{period:%Y-%m}", int(value), numbers[id_]) for period, value, id_ in rows]

    assert contracts_of_readings() == [("2023-12", 900, "EL-1"), ("2024-01", 1000, "EL-1")]
    # Billing's files name the meter's contract of now: a correction of January and a late
    # February stay EL-1's, whose months they are; this month's reading is EL-2's.
    with app.app_context():
        now = f"{local_today(utcnow()):%Y-%m}"
    after = (
        "contract_number;meter_serial;zone;period;value\n"
        f"EL-2;M-100;T1;2024-01;1010\nEL-2;M-100;T1;2024-02;1050\nEL-2;M-100;T1;{now};1100\n"
    )
    ok(
        do_import(runner, "readings", write(tmp_path, "r2.csv", after)),
        "readings: 2 created, 1 updated",
    )
    assert contracts_of_readings() == [
        ("2023-12", 900, "EL-1"), ("2024-01", 1010, "EL-1"), ("2024-02", 1050, "EL-1"),
        (now, 1100, "EL-2"),
    ]  # fmt: skip
    for period, expected in (
        ("2024-01", "EL-1;M-100;T1;2024-01;1010"),
        (now, f"EL-2;M-100;T1;{now};1100"),
    ):
        out = tmp_path / f"export-{period}.csv"
        result = runner.invoke(args=["export", "readings", "--period", period, "--out", str(out)])
        assert result.exit_code == 0, result.output
        lines = out.read_text(encoding="utf-8-sig").splitlines()
        assert [line.rsplit(";", 2)[0].replace(".000", "") for line in lines[1:]] == [expected]
    # Billing may answer as the export named it.
    back = "contract_number;meter_serial;zone;period;value\nEL-1;M-100;T1;2023-12;905\n"
    ok(
        do_import(runner, "readings", write(tmp_path, "r3.csv", back)),
        "readings: 0 created, 1 updated",
    )
    assert contracts_of_readings()[0] == ("2023-12", 905, "EL-1")
    # EL-1 had the meter before this month, never M-200: neither is theirs to name.
    for name, row in (
        ("r4.csv", f"EL-1;M-100;T1;{now};1110"),
        ("r5.csv", "EL-1;M-200;T1;2024-03;5"),
    ):
        text = f"contract_number;meter_serial;zone;period;value\n{row}\n"
        refused = failed(do_import(runner, "readings", write(tmp_path, name, text)))
        assert "belongs to contract EL-2, not to this one" in "\n".join(refused)
    assert contracts_of_readings()[-1] == (now, 1100, "EL-2")


def test_the_month_of_a_move_corrected_as_the_export_named_it(app, runner, tmp_path, meters):
    """EL-1 gave this month's reading of M-101, then billing moved the meter to EL-2: the
    export names EL-1 for it, and a correction that names EL-1 too is taken, and stays EL-1's."""
    with app.app_context():
        now = f"{local_today(utcnow()):%Y-%m}"
    given = f"contract_number;meter_serial;zone;period;value\nEL-1;M-101;T1;{now};50\n"
    ok(do_import(runner, "readings", write(tmp_path, "r1.csv", given)), "readings: 1 created")
    moved = METERS.replace("EL-1,M-101,", "EL-2,M-101,")
    ok(
        do_import(runner, "meters", write(tmp_path, "m2.csv", moved)),
        "meters: 0 created, 1 updated",
    )
    out = tmp_path / "export.csv"
    result = runner.invoke(args=["export", "readings", "--period", now, "--out", str(out)])
    assert result.exit_code == 0, result.output
    exported = out.read_text(encoding="utf-8-sig").splitlines()[1]
    assert exported.startswith(f"EL-1;M-101;T1;{now};50")
    again = f"contract_number;meter_serial;zone;period;value\nEL-1;M-101;T1;{now};55\n"
    ok(
        do_import(runner, "readings", write(tmp_path, "r2.csv", again)),
        "readings: 0 created, 1 updated",
    )
    with app.app_context():
        number = db.session.scalar(
            sa.select(Contract.number)
            .join(Reading, Reading.contract_id == Contract.id)
            .join(Meter, Meter.id == Reading.meter_id)
            .where(Meter.serial == "M-101", Reading.status == "accepted")
        )
    assert number == "EL-1"


def test_documents_import_twice_then_a_changed_row(app, runner, tmp_path, contracts):
    path = write(tmp_path, "documents.csv", DOCUMENTS)
    ok(do_import(runner, "documents", path), "documents: 4 created, 0 updated, 0 unchanged")
    before = snapshot(app)
    ok(do_import(runner, "documents", path), "documents: 0 created, 0 updated, 4 unchanged")
    assert snapshot(app) == before, "nothing written the second time, no audit event either"
    with app.app_context():
        invoice = db.session.scalar(sa.select(Document).where(Document.number == "INV-2"))
        assert (invoice.net, invoice.vat_rate, invoice.vat, invoice.total) == (
            Decimal("50.00"), Decimal("27.00"), Decimal("13.50"), Decimal("63.50"),
        )  # fmt: skip
        assert invoice.period == date(2024, 1, 1) and invoice.due_on == date(2024, 2, 20)
        assert invoice.paid == Decimal("0.00")
        vat_invoice = db.session.scalar(sa.select(Document).where(Document.number == "VI-1"))
        assert vat_invoice.due_on is None

    changed = DOCUMENTS.replace(
        "EL-2,invoice,INV-2,2024-02-01,2024-01,2024-02-20,50.00,27,13.50,63.50",
        "EL-2,invoice,INV-2,2024-02-01,2024-01,2024-02-25,60.00,27,16.20,76.20",
    )
    ok(
        do_import(runner, "documents", write(tmp_path, "documents2.csv", changed)),
        "documents: 0 created, 1 updated, 3 unchanged",
    )
    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "import.updated")
        ).all()
        assert len(events) == 1
        event = events[0]
        assert (event.object_type, event.object_id) == ("Document", str(invoice.id))
        assert event.details["key"] == "EL-2 invoice INV-2"
        assert event.details["before"] == {
            "due_on": "2024-02-20", "net": "50.00", "vat": "13.50", "total": "63.50",
        }  # fmt: skip
        assert event.details["after"] == {
            "due_on": "2024-02-25", "net": "60.00", "vat": "16.20", "total": "76.20",
        }  # fmt: skip
        assert event.details["file"] == "documents2.csv" and len(event.details["sha256"]) == 64
        assert db.session.get(Document, invoice.id).total == Decimal("76.20")


def test_bom_semicolons_decimal_comma_and_dotted_dates(app, runner, tmp_path, contracts):
    text = (
        "contract_number;kind;number;issued_on;period;due_on;net;vat_rate;vat;total\r\n"
        "EL-1;Invoice;INV-9;01.03.2024;2024-02;20.03.2024;1234,56;27;333,33;1567,89\r\n"
    )
    ok(
        do_import(runner, "documents", write(tmp_path, "excel.csv", text, bom=True)),
        "documents: 1 created",
    )
    with app.app_context():
        document = db.session.scalar(sa.select(Document))
        assert document.kind == "invoice" and document.number == "INV-9"
        assert document.issued_on == date(2024, 3, 1) and document.due_on == date(2024, 3, 20)
        assert document.period == date(2024, 2, 1)
        assert (document.net, document.vat, document.total) == (
            Decimal("1234.56"), Decimal("333.33"), Decimal("1567.89"),
        )  # fmt: skip


def test_column_order_and_header_spelling_do_not_matter(app, runner, tmp_path, contracts):
    text = (
        "Total,VAT,VAT Rate,Net,Due On,Period,Issued On,Number,Kind,Contract Number\n"
        "120.00,20.00,20,100.00,2024-02-20,2024-01,2024-02-01,INV-1,invoice,EL-1\n"
    )
    ok(
        do_import(runner, "documents", write(tmp_path, "shuffled.csv", text)),
        "documents: 1 created",
    )
    ok(
        do_import(runner, "documents", write(tmp_path, "plain.csv", DOCUMENTS)),
        "documents: 3 created, 0 updated, 1 unchanged",
    )


def test_readings_import_supersedes_a_different_portal_reading(app, runner, tmp_path, meters):
    with app.app_context():
        m100 = db.session.scalar(sa.select(Meter).where(Meter.serial == "M-100"))
        portal = Reading(
            meter_id=m100.id, zone="T1", period=date(2024, 2, 1), value=Decimal("1500"),
            source="portal",
        )  # fmt: skip
        same = Reading(
            meter_id=m100.id, zone="T1", period=date(2023, 12, 1), value=Decimal("900"),
            source="portal", status="exported",
        )  # fmt: skip
        db.session.add_all([portal, same])
        db.session.commit()
        portal_id, same_id, m100_id = portal.id, same.id, m100.id
    text = (
        "contract_number;meter_serial;zone;period;value\n"
        "EL-1;M-100;T1;2023-12;900\n"
        "EL-1;M-100;T1;2024-01;1000\n"
        "EL-1;M-100;T1;2024-02;1600,5\n"
        "EL-1;M-101;t1;2024-01;10\n"
        "EL-1;M-101;T2;2024-01;5\n"
        "EL-2;M-200;T3;2024-01;99500\n"
        "EL-2;M-200;T3;2024-02;00100\n"  # the 5-digit register rolled over: no decrease
    )
    path = write(tmp_path, "readings.csv", text)
    result = do_import(runner, "readings", path)
    ok(result, "readings: 5 created, 1 updated, 1 unchanged")
    assert 'Warning: readings.csv:4: value "1600.500": supersedes the portal reading' in (
        result.stderr
    )
    with app.app_context():
        old = db.session.get(Reading, portal_id)
        assert old.status == "superseded" and old.value == Decimal("1500")
        assert db.session.get(Reading, same_id).status == "exported", "same value: untouched"
        new = db.session.scalar(
            sa.select(Reading).where(
                Reading.meter_id == m100_id, Reading.period == date(2024, 2, 1),
                Reading.status == "accepted",
            )
        )  # fmt: skip
        assert (new.value, new.source, new.user_id) == (Decimal("1600.500"), "import", None)
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "import.updated")
        )
        assert event.object_type == "Reading" and event.object_id == str(new.id)
        assert event.details["before"] == {
            "id": portal_id, "value": "1500.000", "source": "portal", "status": "accepted",
        }  # fmt: skip
        assert event.details["after"]["value"] == "1600.500"
    before = snapshot(app)
    ok(do_import(runner, "readings", path), "readings: 0 created, 0 updated, 7 unchanged")
    assert snapshot(app) == before


def test_payments_import_allocates_to_invoices(app, runner, tmp_path, documents):
    path = write(tmp_path, "payments.csv", PAYMENTS)
    ok(do_import(runner, "payments", path), "payments: 2 created, 0 updated, 0 unchanged")
    with app.app_context():
        paid = dict(db.session.execute(sa.select(Document.number, Document.paid)).all())
        # "payment for INV-3" pays INV-3 first (the reference names it); EL-2's 70 pays INV-2
        # and leaves 6.50 as an advance; a VAT invoice is never paid.
        assert paid == {
            "INV-1": Decimal("0.00"), "VI-1": Decimal("0.00"),
            "INV-3": Decimal("150.00"), "INV-2": Decimal("63.50"),
        }  # fmt: skip
        assert count(app, PaymentAllocation) == 2
    before = snapshot(app)
    ok(do_import(runner, "payments", path), "payments: 0 created, 0 updated, 2 unchanged")
    assert snapshot(app) == before

    more = PAYMENTS + "EL-1;2024-03-01;200;\n"
    ok(do_import(runner, "payments", write(tmp_path, "p2.csv", more)), "payments: 1 created")
    with app.app_context():
        paid = dict(db.session.execute(sa.select(Document.number, Document.paid)).all())
        assert paid["INV-1"] == Decimal("120.00") and paid["INV-3"] == Decimal("230.00")


def test_a_payment_carrying_the_qr_purpose_is_imported_and_pays_its_document(app, runner, tmp_path):
    """The purpose the portal's QR code asks for ("CONTRACT / DOCUMENT", up to 30 + 3 + 40
    characters) comes back as a bank statement's reference; an EPC purpose holds 140."""
    from lkapp.domain.payment_qr import document_purpose

    contract, older, named = "EL-" + "7" * 27, "D-" + "1" * 38, "SZ 2024/" + "2" * 32
    purpose = document_purpose(contract, named)
    assert (len(contract), len(named), len(purpose)) == (30, 40, 73)
    contracts_file = f"number;holder_name;tax_id;address;status\n{contract};Long Kft.;;;\n"
    ok(do_import(runner, "contracts", write(tmp_path, "c.csv", contracts_file)), "contracts: 1")
    documents_file = (
        "contract_number;kind;number;issued_on;period;due_on;net;vat_rate;vat;total\n"
        f"{contract};invoice;{older};2024-01-05;2023-12;2024-01-20;100;0;0;100\n"
        f"{contract};invoice;{named};2024-02-05;2024-01;2024-02-20;80;0;0;80\n"
    )
    ok(do_import(runner, "documents", write(tmp_path, "d.csv", documents_file)), "documents: 2")
    longest = "P" * 140
    payments_file = (
        "contract_number;paid_on;amount;reference\n"
        f"{contract};2024-02-10;80;{purpose}\n"
        f"{contract};2024-02-11;1;{longest}\n"
    )
    ok(do_import(runner, "payments", write(tmp_path, "p.csv", payments_file)), "payments: 2")
    with app.app_context():
        assert set(db.session.scalars(sa.select(Payment.reference))) == {purpose, longest}
        paid = dict(db.session.execute(sa.select(Document.number, Document.paid)).all())
    # The purpose names the newer invoice: it pays that one, not the oldest unpaid.
    assert paid == {older: Decimal("1.00"), named: Decimal("80.00")}
    too_long = f"contract_number;paid_on;amount;reference\n{contract};2024-02-12;5;{'P' * 141}\n"
    [error] = failed(do_import(runner, "payments", write(tmp_path, "p2.csv", too_long)))
    assert error.startswith('p2.csv:2: reference "PPP')
    assert error.endswith('": is longer than 140 characters')


def test_a_changed_document_total_reallocates_payments(app, runner, tmp_path, documents):
    ok(do_import(runner, "payments", write(tmp_path, "p.csv", PAYMENTS)), "payments: 2 created")
    smaller = DOCUMENTS.replace("200.00,20,40.00,240.00", "100.00,20,20.00,120.00")
    ok(
        do_import(runner, "documents", write(tmp_path, "d2.csv", smaller)),
        "documents: 0 created, 1 updated",
    )
    with app.app_context():
        paid = dict(db.session.execute(sa.select(Document.number, Document.paid)).all())
        assert paid["INV-3"] == Decimal("120.00") and paid["INV-1"] == Decimal("30.00")
        total = db.session.scalar(sa.select(sa.func.sum(PaymentAllocation.amount)))
        assert total == Decimal("213.50")


# --- document lines -----------------------------------------------------------------------


def test_documents_with_lines(app, runner, tmp_path, contracts):
    documents = write(tmp_path, "documents.csv", DOCUMENTS)
    lines = write(tmp_path, "lines.csv", LINES)
    result = do_import(runner, "documents", documents, "--lines", str(lines))
    ok(result, "documents: 4 created, 0 updated, 0 unchanged")
    assert "5 document line(s) written" in result.stdout
    with app.app_context():
        job = db.session.scalar(sa.select(ImportJob).order_by(ImportJob.id.desc()))
        assert job.filename == "documents.csv + lines.csv"  # as an upload's job names both
        invoice = db.session.scalar(sa.select(Document).where(Document.number == "INV-1"))
        assert [(line.position, line.description, line.kwh, line.tariff, line.amount)
                for line in invoice.lines] == [
            (1, "Energy T1", Decimal("500.000"), Decimal("0.15000"), Decimal("75.00")),
            (2, "Network fee", None, None, Decimal("25.00")),
        ]  # fmt: skip
    before = snapshot(app)
    ok(
        do_import(runner, "documents", documents, "--lines", str(lines)),
        "documents: 0 created, 0 updated, 4 unchanged",
    )
    assert snapshot(app) == before

    relined = LINES.replace("Energy T1;500;0,15;75\n", "Energy T1;400;0,15;60\n").replace(
        "Network fee;;;25\n", "Network fee;;;40\n"
    )
    ok(
        do_import(
            runner, "documents", documents, "--lines", str(write(tmp_path, "l2.csv", relined))
        ),
        "documents: 0 created, 1 updated, 3 unchanged",
    )
    with app.app_context():
        invoice = db.session.get(Document, invoice.id)
        assert [line.amount for line in invoice.lines] == [Decimal("60.00"), Decimal("40.00")]
        assert count(app, DocumentLine) == 5
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "import.updated")
        )
        assert event.details["before"]["lines"][0] == "Energy T1 | 500.000 kWh | 0.15000 | 75.00"
        assert event.details["after"]["lines"] == [
            "Energy T1 | 400.000 kWh | 0.15000 | 60.00", "Network fee |  kWh |  | 40.00",
        ]  # fmt: skip
    # Without a lines file the stored lines stay.
    ok(do_import(runner, "documents", documents), "documents: 0 created, 0 updated, 4 unchanged")
    assert count(app, DocumentLine) == 5


def test_lines_must_add_up_and_name_documents_of_the_file(app, runner, tmp_path, contracts):
    documents = write(tmp_path, "documents.csv", DOCUMENTS)
    lines = LINES.replace(
        "invoice;INV-3;Energy T1;1000;0.2;200", "invoice;INV-3;Energy T1;1000;0.2;199.99"
    )
    lines += "act;INV-1;Stray;;;1\ninvoice;INV-4;Unknown;;;1\n"
    result = do_import(
        runner, "documents", documents, "--lines", str(write(tmp_path, "l.csv", lines))
    )
    assert failed(result) == [
        'documents.csv:5: net "200.00": its lines in l.csv add up to 199.99',
        'l.csv:7: document_number "INV-1": no act with this number in documents.csv',
        'l.csv:8: document_number "INV-4": no invoice with this number in documents.csv',
    ]
    assert count(app, Document) == 0 and count(app, DocumentLine) == 0


def test_vat_rounded_line_by_line_is_accepted_with_the_lines(app, runner, tmp_path, contracts):
    """Five lines of 1.35 at 27 %: 0.36 of VAT each, 1.80 for the document where 27 % of the
    net 6.75 is 1.82. With its lines the document is good (half a cent a line and one for the
    whole: 0.03); without them, or further off, it is refused."""
    header = "contract_number;kind;number;issued_on;period;due_on;net;vat_rate;vat;total\n"
    documents = header + "EL-1;invoice;INV-9;2024-02-01;2024-01;2024-02-20;6,75;27;{vat};{total}\n"
    lines = "document_kind;document_number;description;kwh;tariff;amount\n" + (
        "invoice;INV-9;Energy;;;1,35\n" * 5
    )

    def run(vat, total, with_lines):
        path = write(tmp_path, "d.csv", documents.format(vat=vat, total=total))
        more = ["--lines", str(write(tmp_path, "l.csv", lines))] if with_lines else []
        return do_import(runner, "documents", path, *more)

    assert failed(run("1,86", "8,61", True)) == [
        'd.csv:2: vat "1.86": is not 27% of the net 6.75 (1.82, within 0.03 for 5 lines)'
    ]
    assert failed(run("1,80", "8,55", False)) == [
        'd.csv:2: vat "1,80": is not 27% of the net 6.75 (1.82, within a cent)'
    ]
    assert count(app, Document) == 0
    ok(run("1,80", "8,55", True), "documents: 1 created")
    with app.app_context():
        assert db.session.scalar(sa.select(Document.vat)) == Decimal("1.80")


@pytest.mark.parametrize("batch", [1, 5_000])
def test_document_with_per_line_vat_can_be_reimported_without_its_lines(
    app, runner, tmp_path, monkeypatch, batch
):
    """Six lines of 10.87 at 27 %: 2.93 of VAT each, 17.58 for the document where 27 % of the
    net 65.22 is 17.61. Accepted with its lines, the document keeps them when billing sends its
    header alone (a new due date): the VAT is judged against the lines stored for it. A new
    document, or one further off than its stored lines explain, is still refused, by line.
    (``batch``: the stored lines are counted for that many rows at once.)"""
    monkeypatch.setattr("lkapp.services.billing.documents.VAT_BATCH", batch)
    contracts = "number;holder_name;tax_id;address;status\nEL-1;A Kft.;;;active\n"
    ok(do_import(runner, "contracts", write(tmp_path, "c.csv", contracts)), "contracts: 1")
    head = "contract_number;kind;number;issued_on;period;due_on;net;vat_rate;vat;total\n"
    row = "EL-1;invoice;{number};2024-02-01;2024-01;{due};65.22;27;{vat};{total}\n"
    documents = head + "".join(
        row.format(number=number, due="2024-02-20", vat="17.58", total="82.80")
        for number in ("INV-1", "INV-2")
    )
    lines = "document_kind;document_number;description;kwh;tariff;amount\n" + "".join(
        f"invoice;{number};Line {i};;;10.87\n" for number in ("INV-1", "INV-2") for i in range(6)
    )
    ok(
        do_import(
            runner,
            "documents",
            write(tmp_path, "d.csv", documents),
            "--lines",
            str(write(tmp_path, "l.csv", lines)),
        ),
        "documents: 2 created",
    )
    before = snapshot(app)

    refused = head + (
        row.format(number="INV-1", due="2024-02-25", vat="17.58", total="82.80")
        + row.format(number="INV-3", due="2024-02-25", vat="17.58", total="82.80")  # new
        + row.format(number="INV-2", due="2024-02-25", vat="17.56", total="82.78") * 2  # 0.05 off
    )
    problems = failed(do_import(runner, "documents", write(tmp_path, "d2.csv", refused)))
    assert sorted(problems) == [  # (line 5's two in the order they are found)
        'd2.csv:3: vat "17.58": is not 27% of the net 65.22 (17.61, within a cent)',
        'd2.csv:4: vat "17.56": is not 27% of the net 65.22 (17.61, within 0.04 for 6 lines)',
        'd2.csv:5: contract_number+kind+number "EL-1 invoice INV-2": the same key as line 4: '
        "each document may appear once per file",
        'd2.csv:5: vat "17.56": is not 27% of the net 65.22 (17.61, within 0.04 for 6 lines)',
    ]
    assert snapshot(app) == before

    corrected = head + row.format(number="INV-1", due="2024-02-25", vat="17.58", total="82.80")
    ok(
        do_import(runner, "documents", write(tmp_path, "d3.csv", corrected)),
        "documents: 0 created, 1 updated",
    )
    with app.app_context():
        invoice = db.session.scalar(sa.select(Document).where(Document.number == "INV-1"))
        assert invoice.due_on == date(2024, 2, 25)
        assert [line.amount for line in invoice.lines] == [Decimal("10.87")] * 6
    assert count(app, DocumentLine) == 12


# --- bad rows: every problem with line, column and value; nothing written -----------------


def test_bad_documents_are_all_reported_and_nothing_is_written(app, runner, tmp_path, contracts):
    text = (
        "contract_number,kind,number,issued_on,period,due_on,net,vat_rate,vat,total\n"
        "EL-9,invoice,INV-1,2024-02-01,2024-01,2024-02-20,100,20,20,120\n"
        'EL-1,bill,INV-2,2024-02-30,2024-13,2024-02-20,"1 000,00",20,20,120\n'
        "EL-1,invoice,INV-3,2024-02-01,2024-01,2024-02-20,100,20,20,121\n"
        "EL-1,invoice,INV-4,2024-02-01,2024-01,2024-02-20,100,20,25,125\n"
        "EL-1,invoice,INV-5,2024-02-01,2024-01,2024-02-20,100,20,20.01,120.01\n"
        "EL-1,invoice,INV-5,2024-02-01,2024-01,2024-02-20,100,20,20.00,120.00\n"
        "EL-1,invoice,INV-6,2024-02-01,2024-01,,100,20,20,120\n"
        "EL-1,act,A-1,2024-02-01,2024-01,2024-01-31,100,120,120,220\n"
        "EL-1,invoice,CN-1,2024-02-01,2024-01,2024-02-20,-100,20,-20,-120\n"
        "EL-1,act,A-2,2024-02-01,2024-01,,-100,20,-20,-120\n"
        "EL-1,invoice,INV-7,2024-02-01\n"
        "EL-1,invoice,INV-8,2024-02-01,2024-01,2024-02-20,1,000.00,20,20,1020\n"
    )
    before = snapshot(app)
    result = do_import(runner, "documents", write(tmp_path, "bad.csv", text))
    assert failed(result) == [
        'bad.csv:2: contract_number "EL-9": no such contract',
        'bad.csv:3: kind "bill": must be one of: invoice, vat_invoice, act',
        'bad.csv:3: issued_on "2024-02-30": is not a day of the calendar',
        'bad.csv:3: period "2024-13": is not a month of the calendar',
        'bad.csv:3: net "1 000,00": is not a number (no thousands separators: 1234.56 or 1234,56)',
        'bad.csv:4: total "121": is not net + vat (100.00 + 20.00 = 120.00)',
        'bad.csv:5: vat "25": is not 20% of the net 100.00 (20.00, within a cent)',
        'bad.csv:7: contract_number+kind+number "EL-1 invoice INV-5": the same key as line 6: '
        "each document may appear once per file",
        'bad.csv:8: due_on "": an invoice needs a due date',
        'bad.csv:9: vat_rate "120": must not be more than 100 (%)',
        'bad.csv:9: due_on "2024-01-31": is before issued_on',
        'bad.csv:10: total "-120": is below zero: a credit note is not a payable invoice '
        "(import it as a payment that names the invoice it settles)",
        "bad.csv:12: has 4 cells where the header has 10 "
        "(is the row cut short, or a line break in a cell not in quotes?)",
        "bad.csv:13: has 11 cells where the header has 10 (is a cell with a ',' not in quotes?)",
    ]
    assert snapshot(app) == before
    with app.app_context():
        job = db.session.scalar(sa.select(ImportJob).where(ImportJob.kind == "documents"))
        assert job.status == "failed" and job.finished_at
        assert job.created == job.updated == job.unchanged == 0
        assert job.errors[0] == {
            "level": "error", "file": "bad.csv", "line": 2, "column": "contract_number",
            "value": "EL-9", "message": "no such contract",
        }  # fmt: skip
        assert len(job.errors) == 14
    [failure] = failures(app)  # the audit log says so too, with the count of errors
    assert (failure["file"], failure["rows"], failure["errors"]) == ("bad.csv", 12, 14)
    # A check alone (--dry-run) records nothing, whatever it finds.
    failed(do_import(runner, "documents", write(tmp_path, "bad.csv", text), "--dry-run"))
    assert len(failures(app)) == 1


def test_bad_contracts_meters_and_payments(app, runner, tmp_path, contracts):
    contracts_text = (
        "number;holder_name;tax_id;address;status\n"
        ";Nobody;;;active\n"
        "EL-3;;;;closed\n"
        "EL-4;Line\tbreak;;;\n"
        "EL/2024/5;Slash Kft.;;;\n"
        "..;Dots Kft.;;;\n"
    )
    assert failed(do_import(runner, "contracts", write(tmp_path, "c.csv", contracts_text))) == [
        'c.csv:2: number "": is required',
        'c.csv:3: holder_name "": is required',
        'c.csv:3: status "closed": must be one of: active, terminated',
        'c.csv:4: holder_name "Line\tbreak": contains a control character (a line break or a tab)',
        "c.csv:5: number \"EL/2024/5\": contains a '/', which the portal's addresses cannot carry",
        'c.csv:6: number "..": is not a contract number',
    ]
    meters_text = (
        "contract_number,serial,zones,digits,ct_ratio,installed_on,removed_on\n"
        "EL-9,M-300,T1,6,1,2020-01-01,\n"
        "EL-1,M-301,T4,6,1,2020-01-01,\n"
        "EL-1,M-302,T1,12,0,2020-01-01,\n"
        "EL-1,M-303,T1,6,1,2020-05-01,2020-04-01\n"
        "EL-1,M-303,T1,6,1,2020-05-01,\n"
        "EL-1,M-304,T1,6,1,2020-05-01,\n"
    )
    assert failed(do_import(runner, "meters", write(tmp_path, "m.csv", meters_text))) == [
        'm.csv:2: contract_number "EL-9": no such contract',
        'm.csv:3: zones "T4": must be one of: T1 | T1,T2 | T1,T2,T3',
        'm.csv:4: digits "12": must be between 4 and 9',
        'm.csv:4: ct_ratio "0": must be between 1 and 100000',
        'm.csv:5: removed_on "2020-04-01": is before installed_on',
    ]
    payments_text = (
        "contract_number;paid_on;amount;reference\n"
        "EL-1;2024-02-10;0;a\n"
        "EL-1;2024-02-10;-5;b\n"
        "EL-1;2099-01-01;5;c\n"
        "EL-7;2024-02-10;5;d\n"
        "EL-1;2024-02-10;5,00;e\n"
        "EL-1;10.02.2024;5;e\n"
        "EL-1;2024-02-10;5;f\n"
    )
    assert failed(do_import(runner, "payments", write(tmp_path, "p.csv", payments_text))) == [
        'p.csv:2: amount "0": must be more than zero',
        'p.csv:3: amount "-5": must be more than zero',
        'p.csv:4: paid_on "2099-01-01": is in the future',
        'p.csv:5: contract_number "EL-7": no such contract',
        "p.csv:7: contract_number+reference+paid_on+amount \"EL-1 2024-02-10 5.00 'e'\": the same "
        "key as line 6: each payment may appear once per file",
    ]
    assert count(app, Meter) == 0 and count(app, Payment) == 0 and count(app, Contract) == 2


def test_a_quote_that_never_closes_is_named_as_the_mistake(runner, tmp_path):
    """A '"' that opens a cell and never closes takes the lines below into that cell: the
    report told the operator to look for a row cut short, not for the quote."""
    text = (
        "number;holder_name;tax_id;address;status\n"
        "EL-1;Tisza Bakery Kft.;;Szeged;active\n"
        'EL-2;"Sun Kft.;;Pécs;active\n'
        "EL-3;Moon Kft.;;Győr;terminated\n"
    )
    assert failed(do_import(runner, "contracts", write(tmp_path, "c.csv", text))) == [
        "c.csv:3: has 2 cells where the header has 5 (a cell in quotes opens on this line and "
        "does not close: is a '\"' missing?)",
    ]


def test_bad_readings(app, runner, tmp_path, meters):
    good = (
        "contract_number;meter_serial;zone;period;value\n"
        "EL-1;M-100;T1;2024-02;1600\n"
        "EL-1;M-101;T2;2024-01;5\n"
    )
    ok(do_import(runner, "readings", write(tmp_path, "r.csv", good)), "readings: 2 created")
    text = (
        "contract_number;meter_serial;zone;period;value\n"
        "EL-1;M-100;T2;2024-03;1700\n"
        "EL-2;M-100;T1;2024-03;1700\n"
        "EL-1;M-100;T1;2024-03;1200\n"
        "EL-1;M-999;T1;2024-03;1\n"
        "EL-1;M-100;T1;2099-01;1\n"
        "EL-2;M-200;T1;2024-01;123456\n"
        "EL-1;M-100;T1;2019-12;1\n"
        "EL-1;M-101;T1;2024-01;10\n"
        "EL-1;M-101;T1;2024-01;11\n"
        "EL-1;M-101;T2;2023-12;6\n"
        "EL-2;M-200;T2;2024-01;-1\n"
    )
    assert failed(do_import(runner, "readings", write(tmp_path, "bad.csv", text))) == [
        'bad.csv:2: zone "T2": the meter\'s zones are T1',
        'bad.csv:3: meter_serial "M-100": belongs to contract EL-1, not to this one',
        'bad.csv:4: value "1200.000": is below 1600.000 of the previous period 2024-02',
        'bad.csv:5: meter_serial "M-999": no such meter',
        'bad.csv:6: period "2099-01": is in the future',
        'bad.csv:7: value "123456": has more than the meter\'s 5 digits',
        'bad.csv:8: period "2019-12": is before the meter was installed (2020-01)',
        'bad.csv:10: meter_serial+zone+period "M-101 T1 2024-01": the same key as line 9: '
        "each reading may appear once per file",
        'bad.csv:11: value "6.000": is above 5.000 already stored for the next period 2024-01',
        'bad.csv:12: value "-1": must not be negative',
    ]
    # A zone set that would drop a zone with readings is refused too.
    dropping = METERS.replace('EL-1,M-101,"T1,T2"', "EL-1,M-101,T1")
    assert failed(do_import(runner, "meters", write(tmp_path, "m.csv", dropping))) == [
        'm.csv:3: zones "T1": the meter has readings in zone T2, which this zone set drops',
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "documents.csv:1: the file is empty: the header row is missing"),
        ("number;kind\n".encode("utf-16"), "documents.csv:1: the file is UTF-16 text"),
        (b"contract_number,kind\nEL-1,invoice\n", "missing column(s): number, issued_on"),
        (
            DOCUMENTS.replace("Bakery", "").encode() + b"EL-1,invoice,INV-\xe9,2024-02-01\n",
            "documents.csv:6: is not UTF-8 text; save the file as UTF-8",
        ),
    ],
)
def test_unreadable_files_are_reported(runner, tmp_path, contracts, data, message):
    path = tmp_path / "documents.csv"
    path.write_bytes(data)
    assert any(message in line for line in failed(do_import(runner, "documents", path)))


def test_error_list_is_capped_but_counted(app, tmp_path, contracts):
    rows = "".join(f"EL-9,invoice,N{i},2024-02-01,2024-01,2024-02-20,1,0,0,1\n" for i in range(30))
    path = write(tmp_path, "d.csv", DOCUMENTS.splitlines()[0] + "\n" + rows)
    with app.app_context():
        report = run_import("documents", path, max_errors=10)
    assert report.errors.count == 30 and len(report.errors.items) == 10
    assert [problem.line for problem in report.errors.items] == list(range(2, 12))
    assert report.summary() == "documents: nothing imported; 30 error(s) in 30 row(s) of d.csv"


# --- all or nothing -----------------------------------------------------------------------


def test_a_crash_half_way_leaves_nothing(app, runner, tmp_path, contracts, monkeypatch):
    from lkapp.services.billing import create_job

    ok(do_import(runner, "payments", write(tmp_path, "p.csv", PAYMENTS)), "payments: 2 created")
    before = snapshot(app)
    original = DocumentImporter.write
    calls = []

    def write_then_crash(self, bulk, batch):
        calls.append(len(batch))
        original(self, bulk, batch)
        if len(calls) == crash_at:
            raise RuntimeError("disk on fire")

    monkeypatch.setattr(DocumentImporter, "write", write_then_crash)
    path = write(tmp_path, "d.csv", DOCUMENTS)
    crash_at = 1
    result = do_import(runner, "documents", path)
    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)
    assert calls == [4], "the CLI writes this file in one batch"
    assert snapshot(app) == before

    calls.clear()
    crash_at = 2
    with app.app_context():
        job_id = create_job("documents", path)
        with pytest.raises(RuntimeError, match="disk on fire"):
            run_import("documents", path, job=job_id, batch_size=2)
        job = db.session.get(ImportJob, job_id)
        assert job.status == "failed"
        assert "the import stopped and wrote nothing: disk on fire" in job.errors[0]["message"]
    assert calls == [2, 2], "two batches were written before the crash"
    assert snapshot(app) == before
    assert [failure["error"] for failure in failures(app)] == ["disk on fire"] * 2


def test_a_failing_after_write_hook_rolls_back_allocation_too(app, tmp_path, documents):
    before = snapshot(app)

    def hook(conn, report):
        assert report.affected_contract_ids and conn.execute(sa.text("SELECT 1")).scalar()
        raise RuntimeError("notices failed")

    with app.app_context(), pytest.raises(RuntimeError, match="notices failed"):
        run_import("payments", write(tmp_path, "p.csv", PAYMENTS), after_write=hook)
    assert snapshot(app) == before


@pytest.fixture
def impatient(app_config):
    """Requests wait a quarter of a second for a lock (5 s by default)."""
    app_config["DATABASE_LOCK_TIMEOUT"] = 0.25


def test_two_imports_at_once_write_one_after_the_other(impatient, app, tmp_path, documents):
    """A second import waits for the first to finish writing, however long a request would
    wait, and then allocates with the first one's payments in view: each reallocating from
    its own view once left INV-1 paid twice over and INV-3 short on PostgreSQL."""
    holding, release = threading.Event(), threading.Event()
    errors = []

    def hold(conn, report):
        holding.set()
        release.wait(10)

    def run(name, text, hook=None):
        try:
            with app.app_context():
                report = run_import("payments", write(tmp_path, name, text), after_write=hook)
                assert report.ok and report.written, report.errors
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    header = "contract_number;paid_on;amount;reference\n"
    first = threading.Thread(
        target=run, args=("a.csv", header + "EL-1;2024-02-10;120;PO 1\n", hold)
    )
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=run, args=("b.csv", header + "EL-1;2024-03-10;240;PO 2\n"))
    second.start()
    second.join(1.0)  # four times what a request waits for a lock
    assert second.is_alive(), "the second import did not wait for the first"
    release.set()
    first.join(20)
    second.join(20)
    assert errors == []
    with app.app_context():
        paid = dict(db.session.execute(sa.select(Document.number, Document.paid)).all())
        assert paid["INV-1"] == Decimal("120.00") and paid["INV-3"] == Decimal("240.00")
        allocated = dict(
            db.session.execute(
                sa.select(
                    PaymentAllocation.document_id, sa.func.sum(PaymentAllocation.amount)
                ).group_by(PaymentAllocation.document_id)
            ).all()
        )
        totals = dict(db.session.execute(sa.select(Document.id, Document.total)).all())
        assert all(amount <= totals[document] for document, amount in allocated.items())
        assert sum(allocated.values()) == Decimal("360.00")


@pytest.mark.parametrize("bad_rows", [0, 1])
def test_an_import_with_a_job_waits_too_and_ends_as_its_file_deserves(
    impatient, app, tmp_path, documents, bad_rows
):
    """The job of the second import (each upload and command has one) is written while the
    first holds SQLite's write lock: the second failed with "database is locked" after a
    request's wait, its job left pending, no error report, nothing in the audit log."""
    from lkapp.services.billing import create_job

    holding, release = threading.Event(), threading.Event()
    header = "contract_number;paid_on;amount;reference\n"
    second_file = header + "EL-1;2024-03-10;240;PO 2\n" + "EL-9;2024-03-10;5;PO 3\n" * bad_rows
    jobs, reports, errors = {}, {}, []
    with app.app_context():
        for name, text in (
            ("a.csv", header + "EL-1;2024-02-10;120;PO 1\n"),
            ("b.csv", second_file),
        ):
            path = write(tmp_path, name, text)
            jobs[name] = (path, create_job("payments", path))

    def hold(conn, report):
        holding.set()
        release.wait(10)

    def run(name, hook=None):
        try:
            with app.app_context():
                path, job_id = jobs[name]
                reports[name] = run_import("payments", path, job=job_id, after_write=hook)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    first = threading.Thread(target=run, args=("a.csv", hold))
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=run, args=("b.csv",))
    second.start()
    second.join(1.0)  # four times what a request waits for a lock
    # (On PostgreSQL a file that fails its check has nothing to wait for.)
    assert second.is_alive() or bad_rows, "the second import did not wait for the first"
    release.set()
    first.join(20)
    second.join(20)
    assert errors == []
    with app.app_context():
        job = db.session.get(ImportJob, jobs["b.csv"][1])
        assert job.status == ("failed" if bad_rows else "done")
        assert [error["value"] for error in job.errors] == ["EL-9"] * bad_rows
    assert [failure["file"] for failure in failures(app)] == ["b.csv"] * bad_rows
    assert reports["b.csv"].written != bool(bad_rows)


@pytest.mark.parametrize("kind", ["payments", "documents"])
def test_the_same_file_twice_at_once_is_written_once_and_then_unchanged(
    kind, app, tmp_path, contracts, request, monkeypatch
):
    """An operator's double click, or two operators: the second import checks the file while
    the first writes, then waits. It used to decide from what it saw before the wait which
    contracts had rows at all, inserted the first import's rows again and was refused by the
    database, the file blamed and the SQL shown."""
    if kind == "payments":
        request.getfixturevalue("documents")
    text = PAYMENTS if kind == "payments" else DOCUMENTS
    holding, release = threading.Event(), threading.Event()
    waiting, reports, errors = [], {}, []
    take_write_lock = Bulk.take_write_lock

    def take(self, *args, **kwargs):
        waiting.append(threading.current_thread().name)
        return take_write_lock(self, *args, **kwargs)

    monkeypatch.setattr(Bulk, "take_write_lock", take)

    def hold(conn, report):
        holding.set()
        release.wait(10)

    def run(name, hook=None):
        try:
            with app.app_context():
                report = run_import(kind, write(tmp_path, name, text), after_write=hook)
                reports[threading.current_thread().name] = report
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    first = threading.Thread(target=run, args=("a.csv", hold), name="first")
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=run, args=("b.csv",), name="second")
    second.start()
    for _ in range(200):  # its check is done once it waits for the lock
        if "second" in waiting:
            break
        second.join(0.05)
    assert "second" in waiting and second.is_alive()
    release.set()
    first.join(20)
    second.join(20)
    assert errors == []
    rows = len(text.strip().splitlines()) - 1
    # By thread: once the first commits, the second may finish before the first thread runs again.
    assert {name: (r.written, r.created, r.unchanged) for name, r in reports.items()} == {
        "first": (True, rows, 0),
        "second": (True, 0, rows),
    }
    model = Payment if kind == "payments" else Document
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(model)) == rows


def test_a_file_changed_between_check_and_write_writes_nothing(
    app, tmp_path, contracts, monkeypatch
):
    path = write(tmp_path, "d.csv", DOCUMENTS)
    original = DocumentImporter.write

    def write_and_tamper(self, bulk, batch):
        original(self, bulk, batch)
        if "INV-X" not in path.read_text():
            with open(path, "a") as handle:
                handle.write("EL-1,invoice,INV-X,2024-02-01,2024-01,2024-02-20,1,0,0,1\n")

    monkeypatch.setattr(DocumentImporter, "write", write_and_tamper)
    with (
        app.app_context(),
        pytest.raises(ImportAborted, match="changed while it was being imported"),
    ):
        run_import("documents", path, batch_size=2)
    assert count(app, Document) == 0


# --- the job row, progress, dry run, hooks -------------------------------------------------


def test_job_row_progress_and_hook(app, tmp_path, contracts):
    from lkapp.services.billing import create_job

    path = write(tmp_path, "d.csv", DOCUMENTS)
    seen = []
    registered = []

    @register_after_write
    def remember(conn, report):
        registered.append((report.kind, len(report.new_document_ids)))

    try:
        with app.app_context():
            job_id = create_job("documents", path)
            job = db.session.get(ImportJob, job_id)
            assert (job.status, job.rows_total, job.filename) == ("pending", 4, "d.csv")
            db.session.rollback()
            report = run_import(
                "documents", path, job=job_id, progress=lambda *args: seen.append(args)
            )
            job = db.session.get(ImportJob, job_id)
            assert (job.status, job.rows_total, job.rows_done) == ("done", 4, 4)
            assert (job.created, job.updated, job.unchanged) == (4, 0, 0)
            assert job.started_at <= job.finished_at <= datetime.now(UTC)
            assert job.errors == []
            ids = db.session.scalars(sa.select(Document.id).order_by(Document.id)).all()
            assert sorted(report.new_document_ids) == ids
            contract_ids = set(db.session.scalars(sa.select(Contract.id)))
            assert report.affected_contract_ids == contract_ids
            event = db.session.scalar(
                sa.select(AuditEvent)
                .where(AuditEvent.action == "import.completed")
                .order_by(AuditEvent.id.desc())
                .limit(1)
            )
            assert (event.object_type, event.object_id) == ("ImportJob", str(job_id))
            assert event.details["created"] == 4 and event.details["file"] == "d.csv"
    finally:
        from lkapp.services.billing import engine

        engine._after_write_hooks.remove(remember)
    assert registered == [("documents", 4)]
    assert seen[0] == ("checking", 0, 4) and ("checking", 4, 4) in seen
    assert seen[-1] == ("writing", 4, 4)


def test_dry_run_checks_and_writes_nothing(app, runner, tmp_path, contracts):
    before = snapshot(app)
    result = do_import(runner, "documents", write(tmp_path, "d.csv", DOCUMENTS), "--dry-run")
    ok(result, "documents: 4 row(s) of d.csv are valid (nothing written)")
    assert snapshot(app) == before and count(app, ImportJob) == 1  # the contracts' job only


def test_fast_write_pass_parses_like_the_check(app, tmp_path, contracts):
    """The write pass parses documents without the checks: the values must be the same."""
    from lkapp.services.billing.base import Context
    from lkapp.services.billing.bulk import Bulk
    from lkapp.services.billing.reader import CsvFile
    from lkapp.services.billing.report import ImportReport

    text = (
        "contract_number;kind;number;issued_on;period;due_on;net;vat_rate;vat;total\n"
        "EL-1;INVOICE;'=INV-1;1.2.2024;2024-01;20.02.2024;0100,5;20;20,10;120,60\n"
        "EL-2;act;A 1;2024-02-01;2024-01;;-10;0;0;-10.00\n"
        "EL-1;vat_invoice;+7;2024-02-29;2024-02;2024-03-01;1;27,5;0,28;1.28\n"
    )
    path = write(tmp_path, "d.csv", text)
    with app.app_context(), db.engine.connect() as conn:
        importer = DocumentImporter(
            Context(ImportReport("documents", "d.csv"), datetime.now(UTC), None, ""),
            CsvFile(path, DocumentImporter.columns),
        )
        importer.prepare(Bulk(conn))
        rows = list(importer.source.rows())
        checked = [importer.row(cells, line) for line, cells in rows]
        assert None not in checked, importer.problems.items
        fast = [importer.write_row(cells, line) for line, cells in rows]
    assert fast == checked
    assert [tuple(map(str, record[6:])) for record in fast] == [
        ("100.50", "20.00", "20.10", "120.60"),
        ("-10.00", "0.00", "0.00", "-10.00"),
        ("1.00", "27.50", "0.28", "1.28"),
    ]
    assert fast[0][2] == "=INV-1" and fast[2][2] == "+7"


def test_key_hash_collisions_are_checked_against_the_real_keys(
    app, tmp_path, contracts, monkeypatch
):
    """Duplicates are found by 64-bit key hashes; a collision alone must not be an error."""
    from lkapp.services.billing import engine

    monkeypatch.setattr(engine, "hash", lambda key: 1, raising=False)  # every key collides
    text = DOCUMENTS + "EL-2,invoice,INV-2,2024-02-01,2024-01,2024-02-20,50.00,27,13.50,63.50\n"
    with app.app_context():
        report = run_import("documents", write(tmp_path, "dup.csv", text))
        assert [(p.line, p.value) for p in report.errors.items] == [(6, "EL-2 invoice INV-2")]
        assert report.errors.items[0].message.startswith("the same key as line 4")
        report = run_import("documents", write(tmp_path, "d.csv", DOCUMENTS))
        assert report.ok and report.created == 4


def test_lines_need_kind_and_number_to_name_one_document(runner, tmp_path, contracts):
    twice = DOCUMENTS + "EL-2,invoice,INV-1,2024-02-01,2024-01,2024-02-20,100.00,20,20.00,120.00\n"
    documents = write(tmp_path, "documents.csv", twice)
    result = do_import(
        runner, "documents", documents, "--lines", str(write(tmp_path, "l.csv", LINES))
    )
    assert failed(result) == [
        'documents.csv:6: number "INV-1": line 2 has the same kind and number (for another '
        "contract): the lines file cannot tell them apart",
    ]
    # Without lines the same documents are fine: their keys differ by contract.
    ok(do_import(runner, "documents", documents), "documents: 5 created")


def test_a_spreadsheets_export_is_taken_as_it_is_saved(app, runner, tmp_path):
    """What Excel or LibreOffice save: a BOM, ';' and CRLF, a ';' after the last name (an
    empty column), an address of two lines in one cell. The empty column was "unknown column
    ''" and the second line "a control character": the whole file refused."""
    text = (
        "number;holder_name;tax_id;address;status;\r\n"
        'EL-1;Tisza Bakery Kft.;12345678-2-42;"Fő utca 1.\r\nBudapest";active;\r\n'
        "EL-2;Volga LLC;7701234567;Moscow, Tverskaya 1;;\r\n"
    )
    ok(do_import(runner, "contracts", write(tmp_path, "c.csv", text, bom=True)), "contracts: 2")
    with app.app_context():
        address = db.session.scalar(sa.select(Contract.address).where(Contract.number == "EL-1"))
    assert address == "Fő utca 1., Budapest"

    stray = text.replace("Tverskaya 1;;", "Tverskaya 1;;note")
    assert failed(do_import(runner, "contracts", write(tmp_path, "d.csv", stray))) == [
        "d.csv:4: has a value in a column without a name (after the last named column)"
    ]


def test_a_meter_s_digits_may_not_shrink_below_a_stored_reading(app, runner, tmp_path, meters):
    """A register made shorter than a reading already stored: the customer's next reading was
    refused as too long."""
    readings = "contract_number;meter_serial;zone;period;value\nEL-1;M-100;T1;2024-02;12345\n"
    ok(do_import(runner, "readings", write(tmp_path, "r.csv", readings)), "readings: 1 created")
    shrinking = METERS.replace("EL-1,M-100,T1,6,", "EL-1,M-100,T1,4,")
    assert failed(do_import(runner, "meters", write(tmp_path, "m.csv", shrinking))) == [
        'm.csv:2: digits "4": the meter has a reading of 12345.000, more than 4 digits hold',
    ]
    fits = METERS.replace("EL-1,M-100,T1,6,", "EL-1,M-100,T1,5,")
    ok(do_import(runner, "meters", write(tmp_path, "m2.csv", fits)), "meters: 0 created, 1 updated")
