"""Bulk statements for imports: many rows per statement, values bound as SQLAlchemy would.

(The SQL text is built from table and column names of the models, quoted by the dialect;
every value is a bound parameter. Hence the ``noqa: S608`` and ``nosec B608`` marks.)

A million rows do not go through the ORM (an object per row) nor through Core's per-row dict
handling in under two minutes; they go to the DBAPI cursor's ``executemany`` as tuples. The
values still pass through each column type's own bind processor (the same SQLAlchemy uses), so
rows written here look exactly like rows the ORM writes: on SQLite dates as ISO text, money as
a float (exact for cents), times as UTC text; on PostgreSQL native types.

New rows get their ids here, before the insert (``next_ids``): PostgreSQL draws them from the
table's sequence, SQLite counts on from ``max(id)`` under the write lock that
``take_write_lock`` takes at the start of the write transaction. Knowing the ids avoids
``RETURNING`` (twice as slow on SQLite) and lets document lines and audit events refer to them.
On PostgreSQL inserts go through ``COPY``, several times faster than ``executemany`` there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# How long an import waits for another one to finish writing (a million rows take about two
# minutes), and the advisory lock key of imports on PostgreSQL (any fixed number of our own).
IMPORT_LOCK_WAIT = 15 * 60.0
IMPORT_LOCK_KEY = 0x6C6B_6170  # "lkap"
MAX_PARAMETERS = 30_000  # SQLite allows 32,766 bound parameters, PostgreSQL 65,535
IN_BATCH = 2_000


class Bulk:
    """Bulk reads and writes on one connection (the import's write or read transaction)."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.dialect = conn.dialect
        self.sqlite = self.dialect.name == "sqlite"
        self.mark = "?" if self.dialect.paramstyle == "qmark" else "%s"
        self._quote = self.dialect.identifier_preparer.quote
        self._next_id: dict[str, int] = {}
        self._binders: dict[tuple[str, tuple[str, ...]], list] = {}
        self._readers: dict[tuple[str, tuple[str, ...]], list] = {}

    # --- values in and out ----------------------------------------------------------------

    def binders(self, table: sa.Table, names: Sequence[str]) -> list[Callable | None]:
        key = (table.name, tuple(names))
        if key not in self._binders:
            processors = []
            for name in names:
                column_type = table.c[name].type
                processor = column_type.dialect_impl(self.dialect).bind_processor(self.dialect)
                if processor is not None and isinstance(column_type, sa.Date):
                    processor = _remembering(processor)  # few distinct days, many rows
                processors.append(processor)
            self._binders[key] = processors
        return self._binders[key]

    def readers(self, table: sa.Table, names: Sequence[str]) -> list[Callable | None]:
        """Result processors (SQLite keeps dates as text and money as floats; psycopg needs
        none: it returns ``date`` and ``Decimal`` itself)."""
        key = (table.name, tuple(names))
        if key not in self._readers:
            if self.sqlite:
                self._readers[key] = [
                    table.c[name]
                    .type.dialect_impl(self.dialect)
                    .result_processor(self.dialect, None)
                    for name in names
                ]
            else:
                self._readers[key] = [None] * len(names)
        return self._readers[key]

    def bind_rows(self, table: sa.Table, names: Sequence[str], rows: Iterable[tuple]) -> list:
        procs = self.binders(table, names)
        active = [(i, proc) for i, proc in enumerate(procs) if proc is not None]
        if not active:
            return [tuple(row) for row in rows]
        out = []
        for row in rows:
            values = list(row)
            for i, proc in active:
                value = values[i]
                if value is not None:
                    values[i] = proc(value)
            out.append(tuple(values))
        return out

    def _read_rows(self, table: sa.Table, names: Sequence[str], rows) -> list[tuple]:
        procs = self.readers(table, names)
        active = [(i, proc) for i, proc in enumerate(procs) if proc is not None]
        if not active:
            return [tuple(row) for row in rows]
        out = []
        for row in rows:
            values = list(row)
            for i, proc in active:
                values[i] = proc(values[i])
            out.append(tuple(values))
        return out

    def _columns(self, names: Iterable[str], prefix: str = "") -> str:
        return ", ".join(prefix + self._quote(name) for name in names)

    # --- writes ---------------------------------------------------------------------------

    def take_write_lock(self, wait: float = IMPORT_LOCK_WAIT) -> None:
        """Hold the imports' write lock until the transaction ends, waiting up to ``wait``
        seconds for an import that holds it (not the few seconds a request waits).

        One import writes at a time: each reallocates the payments of its contracts from
        what it reads, so two at once would each miss the other's rows (an invoice paid
        twice over, another left unpaid). SQLite: the database's single write lock, from the
        first statement on, which also keeps ``max(id)`` read afterwards true. PostgreSQL: a
        transaction-level advisory lock of the imports.
        """
        if self.sqlite:
            usual = self.conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            self.conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(wait * 1000)}")
            try:
                self.conn.exec_driver_sql("DELETE FROM import_jobs WHERE 0 = 1")
            finally:
                self.conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(usual)}")
            return
        usual = self.conn.exec_driver_sql("SELECT current_setting('lock_timeout')").scalar()
        set_timeout = sa.text("SELECT set_config('lock_timeout', :value, true)")
        self.conn.execute(set_timeout, {"value": f"{int(wait * 1000)}ms"})
        self.conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK_KEY})
        self.conn.execute(set_timeout, {"value": usual})

    def next_ids(self, table: sa.Table, count: int) -> list[int]:
        if count == 0:
            return []
        if not self.sqlite:
            rows = self.conn.exec_driver_sql(
                f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) "  # noqa: S608  # nosec B608
                f"FROM generate_series(1, {int(count)})"
            )
            return [row[0] for row in rows]
        first = self._next_id.get(table.name)
        if first is None:
            sql = f"SELECT max(id) FROM {self._quote(table.name)}"  # noqa: S608  # nosec B608
            first = (self.conn.exec_driver_sql(sql).scalar() or 0) + 1
        self._next_id[table.name] = first + count
        return list(range(first, first + count))

    def insert(self, table: sa.Table, names: Sequence[str], rows: Sequence[tuple]) -> int:
        if not rows:
            return 0
        if not self.sqlite:
            return self._copy(table, names, rows)
        sql = (
            f"INSERT INTO {self._quote(table.name)} ({self._columns(names)}) "  # noqa: S608  # nosec B608
            f"VALUES ({', '.join([self.mark] * len(names))})"
        )
        self.conn.exec_driver_sql(sql, self.bind_rows(table, names, rows))
        return len(rows)

    def _copy(self, table: sa.Table, names: Sequence[str], rows: Sequence[tuple]) -> int:
        """PostgreSQL: ``COPY ... FROM STDIN`` on the transaction's own connection (several
        times faster than ``executemany``); psycopg writes dates, Decimals and times itself."""
        statement = f"COPY {self._quote(table.name)} ({self._columns(names)}) FROM STDIN"
        raw = self.conn.connection.dbapi_connection
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in self.bind_rows(table, names, rows):
                copy.write_row(row)
        return len(rows)

    def update(self, table: sa.Table, names: Sequence[str], rows: Sequence[tuple]) -> int:
        """``rows`` are ``(value, ..., id)`` tuples: SET the named columns WHERE id matches."""
        if not rows:
            return 0
        assignments = ", ".join(f"{self._quote(name)} = {self.mark}" for name in names)
        sql = f"UPDATE {self._quote(table.name)} SET {assignments} WHERE id = {self.mark}"  # noqa: S608  # nosec B608
        self.conn.exec_driver_sql(sql, self.bind_rows(table, (*names, "id"), rows))
        return len(rows)

    def delete_in(self, table: sa.Table, column: str, values: Sequence) -> None:
        for start in range(0, len(values), IN_BATCH):
            batch = list(values[start : start + IN_BATCH])
            marks = ", ".join([self.mark] * len(batch))
            self.conn.exec_driver_sql(
                f"DELETE FROM {self._quote(table.name)} WHERE {self._quote(column)} IN ({marks})",  # noqa: S608  # nosec B608
                tuple(batch),
            )

    # --- reads ----------------------------------------------------------------------------

    def _select_by_keys_unnest(self, table, key_names, keys, names, where) -> list[tuple]:
        arrays = ", ".join(f"%s::{_pg_array_type(table.c[name].type)}[]" for name in key_names)
        aliases = ", ".join(f"k{i}" for i in range(len(key_names)))
        on = " AND ".join(f"t.{self._quote(name)} = k.k{i}" for i, name in enumerate(key_names))
        sql = (
            f"SELECT {self._columns(names, 't.')} FROM unnest({arrays}) AS k({aliases}) "  # noqa: S608  # nosec B608
            f"JOIN {self._quote(table.name)} AS t ON {on}"
        )
        if where:
            sql += f" WHERE {where}"
        out: list[tuple] = []
        for start in range(0, len(keys), IN_BATCH * 5):
            batch = self.bind_rows(table, key_names, keys[start : start + IN_BATCH * 5])
            columns = tuple(list(column) for column in zip(*batch, strict=True))
            if columns:
                out.extend(self._read_rows(table, names, self.conn.exec_driver_sql(sql, columns)))
        return out

    def select_in(
        self,
        table: sa.Table,
        column: str,
        values: Sequence,
        names: Sequence[str],
        where: str = "",
        order_by: str = "",
    ) -> list[tuple]:
        """Rows whose ``column`` is one of ``values`` (in batches); ``where`` adds a condition
        written in SQL with no parameters."""
        out: list[tuple] = []
        values = list(values)
        binder = self.binders(table, (column,))[0]
        for start in range(0, len(values), IN_BATCH):
            batch = values[start : start + IN_BATCH]
            if binder is not None:
                batch = [binder(value) for value in batch]
            marks = ", ".join([self.mark] * len(batch))
            sql = (
                f"SELECT {self._columns(names)} FROM {self._quote(table.name)} "  # noqa: S608  # nosec B608
                f"WHERE {self._quote(column)} IN ({marks})"
            )
            if where:
                sql += f" AND ({where})"
            if order_by:
                sql += f" ORDER BY {order_by}"
            out.extend(self._read_rows(table, names, self.conn.exec_driver_sql(sql, tuple(batch))))
        return out

    def select_by_keys(
        self,
        table: sa.Table,
        key_names: Sequence[str],
        keys: Sequence[tuple],
        names: Sequence[str],
        where: str = "",
    ) -> list[tuple]:
        """Rows whose ``key_names`` equal one of ``keys``, found through the table's unique
        index: on SQLite a join with a VALUES list (a row-value ``IN`` list makes it scan the
        whole index), on PostgreSQL a join with ``unnest`` of one array per key column (a
        VALUES list of thousands of rows makes it hash-join against a full table scan)."""
        if not self.sqlite:
            return self._select_by_keys_unnest(table, key_names, keys, names, where)
        out: list[tuple] = []
        width = len(key_names)
        batch_size = max(1, MAX_PARAMETERS // width)
        on = " AND ".join(
            f"t.{self._quote(name)} = k.column{i + 1}" for i, name in enumerate(key_names)
        )
        row_marks = "(" + ", ".join([self.mark] * width) + ")"
        for start in range(0, len(keys), batch_size):
            batch = self.bind_rows(table, key_names, keys[start : start + batch_size])
            sql = (
                f"SELECT {self._columns(names, 't.')} "  # noqa: S608  # nosec B608
                f"FROM (VALUES {', '.join([row_marks] * len(batch))}) AS k "
                f"JOIN {self._quote(table.name)} AS t ON {on}"
            )
            if where:
                sql += f" WHERE {where}"
            flat = tuple(value for row in batch for value in row)
            out.extend(self._read_rows(table, names, self.conn.exec_driver_sql(sql, flat)))
        return out


_PG_ARRAY_TYPES = (
    (sa.Integer, "bigint"),
    (sa.Date, "date"),
    (sa.Numeric, "numeric"),
    (sa.String, "text"),
)


def _pg_array_type(column_type) -> str:
    for kind, name in _PG_ARRAY_TYPES:
        if isinstance(column_type, kind):
            return name
    raise TypeError(f"no array type for {column_type!r}")


def _remembering(processor: Callable, limit: int = 10_000) -> Callable:
    cache: dict = {}

    def process(value):
        bound = cache.get(value)
        if bound is None:
            bound = processor(value)
            if len(cache) >= limit:
                cache.clear()
            cache[value] = bound
        return bound

    return process
