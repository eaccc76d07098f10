"""Reading an exchange file: BOM, delimiter, header, line numbers, broken files (no app)."""

import hashlib

import pytest

from lkapp.services.billing.reader import CsvFile, FileProblem, scan

COLUMNS = ("contract_number", "paid_on", "amount", "reference")


def write(tmp_path, data: bytes, name="payments.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_bom_semicolons_and_any_column_order(tmp_path):
    path = write(
        tmp_path,
        "\ufeffReference; Amount ;paid_on;contract_number\r\n"
        "PO 1;12,50;01.02.2024;EL-1\r\n".encode(),
    )
    source = CsvFile(path, COLUMNS)
    rows = list(source.rows())
    assert source.delimiter == ";"
    assert rows == [(2, ["PO 1", "12,50", "01.02.2024", "EL-1"])]
    assert source.index == {"reference": 0, "amount": 1, "paid_on": 2, "contract_number": 3}
    assert source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_commas_quotes_blank_lines_and_line_numbers(tmp_path):
    path = write(
        tmp_path,
        b"contract_number,paid_on,amount,reference\n"
        b'EL-1,2024-02-01,"12,50","a ""quoted""\nreference"\n'
        b"\n"
        b",,,\n"
        b"EL-2,2024-02-02,3,x\n",
    )
    rows = list(CsvFile(path, COLUMNS).rows())
    # A quoted cell may span lines: the row is numbered by the line it begins on, where an
    # editor shows it (it was numbered by its last line).
    assert rows == [
        (2, ["EL-1", "2024-02-01", "12,50", 'a "quoted"\nreference']),
        (6, ["EL-2", "2024-02-02", "3", "x"]),
    ]


def test_header_problems_are_one_clear_error(tmp_path):
    path = write(tmp_path, b"contract_number;paid;amount;amount\nEL-1;2024-01-01;1;2\n")
    with pytest.raises(FileProblem) as caught:
        list(CsvFile(path, COLUMNS, label="p.csv").rows())
    problem = caught.value
    assert problem.file == "p.csv" and problem.line == 1
    assert problem.message.startswith("the header row: ")
    assert "unknown column 'paid'" in problem.message
    assert "the column 'amount' appears twice" in problem.message
    assert "missing column(s): paid_on, reference" in problem.message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"\n\n", "the file is empty"),
        (b"\r\nnumber;paid_on\r\n", "the first line is empty: the header row must be on it"),
        (
            b"contract_number;paid_on\rEL-1;2024-02-01\r",  # a classic Mac's "CSV"
            "the lines end with a carriage return alone",
        ),
        ("contract_number;paid_on".encode("utf-16"), "UTF-16"),
        (b"contract_number paid_on amount reference\n", "no ';' or ','"),
    ],
)
def test_unreadable_files(tmp_path, data, message):
    with pytest.raises(FileProblem, match=message):
        list(CsvFile(write(tmp_path, data), COLUMNS).rows())


def test_a_carriage_return_alone_inside_the_file_is_named_on_its_line(tmp_path):
    """A line ended the old Mac way below a header that is not, or a cell with a line break
    typed in it and no quotes: Python's message asked whether to "open the file in
    universal-newline mode"."""
    path = write(
        tmp_path,
        b"contract_number;paid_on;amount;reference\r\n"
        b"EL-1;2024-02-01;1;ok\r\n"
        b"EL-2;2024-02-01;1;PO\r17\r\n",
    )
    with pytest.raises(FileProblem) as caught:
        list(CsvFile(path, COLUMNS, label="p.csv").rows())
    assert caught.value.line == 3
    assert str(caught.value) == (
        "a carriage return alone, in a cell not in quotes or at the end of a line: put the "
        "cell in quotes, or save the file as CSV UTF-8"
    )


def test_a_line_that_is_not_utf8_is_noted_with_its_number(tmp_path):
    path = write(
        tmp_path,
        b"contract_number;paid_on;amount;reference\n"
        b"EL-1;2024-02-01;1;ok\n"
        b"EL-2;2024-02-01;1;Gy\xf5r\n",  # Latin-2, not UTF-8
    )
    source = CsvFile(path, COLUMNS)
    rows = list(source.rows())
    assert len(rows) == 2
    assert source.decode_problems == [(3, "is not UTF-8 text; save the file as UTF-8")]


def test_scan_counts_lines_and_hashes(tmp_path):
    path = write(tmp_path, b"a;b\n1;2\n3;4")
    facts = scan(path)
    assert facts.lines == 3 and facts.size == 11
    assert facts.sha256 == hashlib.sha256(b"a;b\n1;2\n3;4").hexdigest()


def test_a_quote_that_never_closes_is_reported_where_it_opens(tmp_path):
    """The rest of the file became one cell: "line 3405: cannot be read as CSV (field larger
    than field limit (131072))", in Python's words, thousands of lines below the mistake."""
    good = b"".join(b"EL-%d;2024-01-01;1;PO %d\n" % (n, n) for n in range(20_000))
    head = b"contract_number;paid_on;amount;reference\nEL-A;2024-01-01;1;A\nEL-B;2024-01-01;1;B\n"
    path = write(tmp_path, head + b'EL-X;2024-01-01;1;"PO 4\n' + good)
    with pytest.raises(FileProblem) as caught:
        list(CsvFile(path, COLUMNS, label="p.csv").rows())
    assert caught.value.line == 4 and "a cell in quotes opens on this line" in str(caught.value)


def test_empty_columns_after_the_last_name_are_no_columns(tmp_path):
    """A spreadsheet's export with a ';' after the last name, or a column it left empty."""
    path = write(
        tmp_path,
        b"contract_number;paid_on;amount;reference;;\n"
        b"EL-1;2024-01-01;1;PO 1;;\n"
        b"EL-2;2024-01-02;2;PO 2\n",
    )
    source = CsvFile(path, COLUMNS)
    rows = list(source.rows())
    assert [cells[:4] for _, cells in rows] == [
        ["EL-1", "2024-01-01", "1", "PO 1"],
        ["EL-2", "2024-01-02", "2", "PO 2"],
    ]
    assert source.named == 4 and source.width == 6
