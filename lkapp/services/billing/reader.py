"""Reading an exchange file as a stream of rows: encoding, BOM, delimiter, header, line numbers.

Nothing here holds more than one row: the file is read line by line in binary (so that a line
that is not UTF-8 gets its own line number instead of stopping the read), decoded, and fed to
the ``csv`` module, which joins quoted cells that span lines.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from ...domain.csvformat import CellError, detect_delimiter, normalize_header

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
SCAN_BLOCK = 1 << 20


class FileProblem(Exception):
    """The file as a whole cannot be read (not UTF-8 text, broken quoting, bad header)."""

    def __init__(self, line: int, message: str, column: str = "", value: str = ""):
        super().__init__(message)
        self.file = ""  # the file's label, set by CsvFile
        self.line = line
        self.message = message
        self.column = column
        self.value = value


@dataclass(frozen=True)
class FileFacts:
    size: int
    sha256: str
    lines: int  # physical lines (an estimate of the rows for progress: header included)


def scan(path: str | os.PathLike) -> FileFacts:
    """Size, SHA-256 and line count in one fast pass over the bytes."""
    digest = hashlib.sha256()
    size = lines = 0
    last = b""
    with open(path, "rb") as handle:
        while block := handle.read(SCAN_BLOCK):
            digest.update(block)
            size += len(block)
            lines += block.count(b"\n")
            last = block
    if last and not last.endswith(b"\n"):
        lines += 1
    return FileFacts(size=size, sha256=digest.hexdigest(), lines=lines)


class CsvFile:
    """One exchange file: ``rows()`` yields ``(line_number, cells)`` after checking the header.

    ``columns`` are the names the format requires (in any order in the file); ``index`` maps
    each to its position once the header has been read. ``sha256`` is the digest of the bytes
    the last full ``rows()`` pass read, so a caller can tell whether the file changed between
    two passes.
    """

    def __init__(self, path: str | os.PathLike, columns: tuple[str, ...], label: str = ""):
        self.path = os.fspath(path)
        self.columns = columns
        self.label = label or os.path.basename(self.path)
        self.index: dict[str, int] = {}
        self.width = self.named = len(columns)
        self.delimiter = ","
        self.sha256 = ""
        self.decode_problems: list[tuple[int, str]] = []
        self.rows_read = 0

    # The file's text lines, decoded one by one (a bad line is replaced and noted, not fatal).
    def _text_lines(self, handle, digest) -> Iterator[str]:
        for number, raw in enumerate(handle, 1):
            digest.update(raw)
            if number == 1:
                if raw.startswith(UTF8_BOM):
                    raw = raw[len(UTF8_BOM) :]
                elif raw.startswith(UTF16_BOMS):
                    raise FileProblem(1, "the file is UTF-16 text; save it as UTF-8 (CSV UTF-8)")
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                self.decode_problems.append((number, "is not UTF-8 text; save the file as UTF-8"))
                yield raw.decode("utf-8", "replace")

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Data rows with stripped cells; blank lines are skipped. Raises FileProblem.

        A row may have more or fewer cells than the header (``width``): the caller reports it.
        Lines that are not UTF-8 are read with replacement characters and listed in
        ``decode_problems`` as ``(line, message)`` for the caller to report.
        """
        self.decode_problems = []
        try:
            yield from self._rows()
        except FileProblem as problem:
            problem.file = self.label
            raise

    def _rows(self) -> Iterator[tuple[int, list[str]]]:
        digest = hashlib.sha256()
        with open(self.path, "rb") as handle:
            lines = self._text_lines(handle, digest)
            header_line = next(lines, None)
            if header_line is None or not header_line.strip():
                if any(line.strip() for line in lines):
                    raise FileProblem(1, "the first line is empty: the header row must be on it")
                raise FileProblem(1, "the file is empty: the header row is missing")
            if "\r" in header_line.rstrip("\r\n"):
                # Lines ended by a carriage return alone (a classic Mac's "CSV"): the whole file
                # reads as one line, which the csv module calls a "new-line character seen in
                # unquoted field".
                raise FileProblem(
                    1,
                    "the lines end with a carriage return alone (an old Mac format); save the "
                    "file as CSV UTF-8",
                )
            try:
                self.delimiter = detect_delimiter(header_line)
            except CellError as error:
                raise FileProblem(1, str(error)) from None
            reader = csv.reader(_prepend(header_line, lines), delimiter=self.delimiter)
            start = 2  # the line the row being read begins on (a quoted cell may span lines)
            try:
                self._read_header(next(reader))
                strip = str.strip
                for cells in reader:
                    cells = list(map(strip, cells))
                    if cells and (cells[0] or any(cells)):  # a blank line is no row
                        yield start, cells
                    start = reader.line_num + 1
            except csv.Error as error:
                if "field larger than field limit" in str(error):
                    raise FileProblem(
                        start,
                        "a cell in quotes opens on this line and does not close (is a '\"' "
                        "missing?)",
                    ) from None
                if "new-line character seen in unquoted field" in str(error):
                    # Python's words end "do you need to open the file in universal-newline
                    # mode?", a hint for a programmer: the operator's file has a lone CR.
                    raise FileProblem(
                        reader.line_num,
                        "a carriage return alone, in a cell not in quotes or at the end of a "
                        "line: put the cell in quotes, or save the file as CSV UTF-8",
                    ) from None
                raise FileProblem(reader.line_num, f"cannot be read as CSV ({error})") from None
        self.sha256 = digest.hexdigest()

    def _read_header(self, header: list[str]) -> None:
        names = [normalize_header(name) for name in header]
        # Columns without a name at the end: a spreadsheet's empty columns, or a ';' after
        # the last name. Their cells must be empty (``named``).
        while names and not names[-1]:
            names.pop()
        self.named = len(names)
        index: dict[str, int] = {}
        problems = []
        for position, name in enumerate(names):
            if name in index:
                problems.append(f"the column {name!r} appears twice")
            elif name not in self.columns:
                problems.append(f"unknown column {name!r}")
            index[name] = position
        missing = [name for name in self.columns if name not in index]
        if missing:
            problems.append("missing column(s): " + ", ".join(missing))
        if problems:
            raise FileProblem(
                1,
                "the header row: "
                + "; ".join(problems)
                + " (the columns are: "
                + ", ".join(self.columns)
                + ")",
            )
        self.index.clear()  # in place: importers hold a reference to it
        self.index.update(index)
        self.width = len(header)


def _prepend(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest
