"""Exports of documents and payments for reconciliation: format, round trip, formula guard."""

import csv
import io
from datetime import date
from decimal import Decimal

from lkapp.services.billing.export import csv_chunks, write_csv

from .test_import import CONTRACTS, DOCUMENTS, LINES, do_import, ok, snapshot, write


def read_csv(path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith("\ufeff".encode()), "UTF-8 with a BOM, for spreadsheets"
    assert b"\r\n" in raw
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))


def test_documents_export_round_trip(app, runner, tmp_path):
    ok(do_import(runner, "contracts", write(tmp_path, "c.csv", CONTRACTS)), "contracts: 2 created")
    credit = "EL-2,act,CR-1,2024-02-05,2024-01,,-10.00,27,-2.70,-12.70\n"
    documents = write(tmp_path, "d.csv", DOCUMENTS + credit)
    lines = write(tmp_path, "l.csv", LINES + "act;CR-1;=Correction;;;-10\n")
    ok(do_import(runner, "documents", documents, "--lines", str(lines)), "documents: 5 created")

    out, lines_out = tmp_path / "export.csv", tmp_path / "export-lines.csv"
    result = runner.invoke(
        args=[
            "export",
            "documents",
            "--period",
            "2024-01",
            "--out",
            str(out),
            "--lines",
            str(lines_out),
        ]  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"Exported 4 document(s) of 2024-01 to {out}.",
        f"Exported 5 document line(s) of 2024-01 to {lines_out}.",
    ]
    rows = read_csv(out)
    assert rows == [
        ["contract_number", "kind", "number", "issued_on", "period", "due_on", "net", "vat_rate",
         "vat", "total"],
        ["EL-1", "invoice", "INV-1", "2024-02-01", "2024-01", "2024-02-20", "100.00", "20.00",
         "20.00", "120.00"],
        ["EL-1", "vat_invoice", "VI-1", "2024-02-01", "2024-01", "", "100.00", "20.00", "20.00",
         "120.00"],
        ["EL-2", "act", "CR-1", "2024-02-05", "2024-01", "", "-10.00", "27.00", "-2.70", "-12.70"],
        ["EL-2", "invoice", "INV-2", "2024-02-01", "2024-01", "2024-02-20", "50.00", "27.00",
         "13.50", "63.50"],
    ]  # fmt: skip
    assert read_csv(lines_out)[1:] == [
        ["invoice", "INV-1", "Energy T1", "500.000", "0.15000", "75.00"],
        ["invoice", "INV-1", "Network fee", "", "", "25.00"],
        ["vat_invoice", "VI-1", "Energy and network", "", "", "100.00"],
        ["act", "CR-1", "'=Correction", "", "", "-10.00"],
        ["invoice", "INV-2", "Energy", "250.500", "0.19960", "50.00"],
    ]
    assert not list(tmp_path.glob("*.part")), "no temporary file left behind"

    before = snapshot(app)
    ok(
        do_import(runner, "documents", out, "--lines", str(lines_out)),
        "documents: 0 created, 0 updated, 4 unchanged",
    )
    assert snapshot(app) == before, "the export imports back unchanged"


def test_payments_export_guards_formulas_and_round_trips(app, runner, tmp_path):
    ok(do_import(runner, "contracts", write(tmp_path, "c.csv", CONTRACTS)), "contracts: 2 created")
    payments = (
        "contract_number;paid_on;amount;reference\n"
        'EL-1;2024-02-10;150;"=HYPERLINK(""http://evil.example"",""Click"")"\n'
        "EL-1;2024-02-11;10,5;+36 1 555 0101\n"
        "EL-2;2024-02-12;70;-5\n"
        "EL-2;2024-02-13;1;@SUM(A1)\n"
        "EL-2;2024-02-29;2;INV-2\n"
        "EL-2;2024-03-01;3;next month\n"
    )
    ok(do_import(runner, "payments", write(tmp_path, "p.csv", payments)), "payments: 6 created")
    result = runner.invoke(args=["export", "payments", "--period", "2024-02"])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == "Exported 5 payment(s) of 2024-02."
    text = result.stdout_bytes.decode()  # (Result.stdout turns CRLF into LF)
    assert text.startswith("\ufeffcontract_number;paid_on;amount;reference\r\n")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=";"))
    assert rows[1:] == [
        ["EL-1", "2024-02-10", "150.00", '\'=HYPERLINK("http://evil.example","Click")'],
        ["EL-1", "2024-02-11", "10.50", "'+36 1 555 0101"],
        ["EL-2", "2024-02-12", "70.00", "-5"],  # a plain number: no formula, left alone
        ["EL-2", "2024-02-13", "1.00", "'@SUM(A1)"],
        ["EL-2", "2024-02-29", "2.00", "INV-2"],
    ]
    exported = tmp_path / "exported.csv"
    exported.write_bytes(result.stdout_bytes)
    before = snapshot(app)
    ok(do_import(runner, "payments", exported), "payments: 0 created, 0 updated, 5 unchanged")
    assert snapshot(app) == before


def test_decimal_comma_option_and_bad_period(app, runner, tmp_path):
    ok(do_import(runner, "contracts", write(tmp_path, "c.csv", CONTRACTS)), "contracts: 2 created")
    ok(do_import(runner, "documents", write(tmp_path, "d.csv", DOCUMENTS)), "documents: 4 created")
    out = tmp_path / "comma.csv"
    result = runner.invoke(
        args=["export", "documents", "--period", "2024-02", "--out", str(out), "--decimal-comma"]
    )
    assert result.exit_code == 0, result.output
    assert read_csv(out)[1][6:] == ["200,00", "20,00", "40,00", "240,00"]
    before = snapshot(app)
    ok(do_import(runner, "documents", out), "documents: 0 created, 0 updated, 1 unchanged")
    assert snapshot(app) == before

    bad = runner.invoke(args=["export", "payments", "--period", "2024-13"])
    assert bad.exit_code == 2 and "is not a month of the calendar" in bad.stderr
    empty = runner.invoke(args=["export", "payments", "--period", "1999-01"])
    assert empty.exit_code == 0 and empty.stdout_bytes == (
        "\ufeffcontract_number;paid_on;amount;reference\r\n".encode()
    )


def test_the_shared_csv_writer():
    """What the readings export (another issue) builds on: any columns, the same guard."""
    out = io.StringIO(newline="")
    rows = [
        ("EL-1", date(2024, 5, 1), Decimal("-1.500"), None, "=cmd"),
        ("EL-2", date(2024, 6, 1), Decimal("2"), "portal", "\tx"),
    ]
    count = write_csv(out, ("contract_number", "period", "value", "source", "note"), rows)
    assert count == 2
    assert out.getvalue() == (
        "\ufeffcontract_number;period;value;source;note\r\n"
        "EL-1;2024-05;-1.500;;'=cmd\r\n"
        "EL-2;2024-06;2;portal;'\tx\r\n"
    )
    text = "".join(csv_chunks(("a",), ([i] for i in range(1200)), bom=False, delimiter=","))
    assert text.splitlines()[:2] == ["a", "0"] and len(text.splitlines()) == 1201


def test_a_contract_number_that_looks_like_a_formula_round_trips(app, runner, tmp_path):
    """The export guards "+7-100" as "'+7-100"; importing the export back said "no such
    contract": the guard was undone for texts, not for the look-up of a contract."""
    contracts = "number;holder_name;tax_id;address;status\n+7-100;Plus Kft.;;;active\n"
    ok(do_import(runner, "contracts", write(tmp_path, "c.csv", contracts)), "contracts: 1")
    payments = "contract_number;paid_on;amount;reference\n+7-100;2024-02-10;150;PO 1\n"
    ok(do_import(runner, "payments", write(tmp_path, "p.csv", payments)), "payments: 1 created")
    result = runner.invoke(args=["export", "payments", "--period", "2024-02"])
    assert "'+7-100;2024-02-10;150.00;PO 1" in result.stdout_bytes.decode()
    exported = tmp_path / "exported.csv"
    exported.write_bytes(result.stdout_bytes)
    ok(do_import(runner, "payments", exported), "payments: 0 created, 0 updated, 1 unchanged")


def test_documents_of_a_contract_number_that_looks_like_a_formula_round_trip(app, runner, tmp_path):
    """The documents import checked "'+7-100" without its guard, then wrote with it: a
    KeyError and a traceback, and the import failed."""
    contracts = "number;holder_name;tax_id;address;status\n+7-100;Plus Kft.;;;active\n"
    ok(do_import(runner, "contracts", write(tmp_path, "c.csv", contracts)), "contracts: 1")
    documents = (
        "contract_number;kind;number;issued_on;period;due_on;net;vat_rate;vat;total\n"
        "+7-100;invoice;INV-1;2024-02-01;2024-01;2024-02-20;100.00;27;27.00;127.00\n"
    )
    ok(do_import(runner, "documents", write(tmp_path, "d.csv", documents)), "documents: 1")
    exported = tmp_path / "exported.csv"
    result = runner.invoke(args=["export", "documents", "--period", "2024-01", "--out", exported])
    assert result.exit_code == 0, result.output
    assert read_csv(exported)[1][0] == "'+7-100"
    ok(do_import(runner, "documents", exported), "documents: 0 created, 0 updated, 1 unchanged")
