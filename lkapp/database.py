"""Engine settings per backend, and ``unicode_lower`` (lower case in every alphabet)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction

CONNECT_TIMEOUT = 5  # seconds, PostgreSQL (unless the URL sets connect_timeout)


def configure_engine(engine: Engine, lock_timeout: float) -> None:
    """Per backend. A statement waits at most ``lock_timeout`` seconds for a lock another
    transaction holds, then fails, and the request is answered 503 (lkapp.main.errors) instead
    of hanging behind it; a long transaction of its own (an import, the demo loader) is not cut.

    SQLite: foreign keys on, WAL for readers beside a writer, ``busy_timeout``, and the
    function behind ``unicode_lower``.
    PostgreSQL: ``lock_timeout`` (never ``statement_timeout``: an import may run for minutes)
    and a connect timeout, so an unreachable server fails a request instead of hanging it.
    """
    timeout_ms = int(lock_timeout * 1000)
    if engine.dialect.name == "postgresql":

        @event.listens_for(engine, "do_connect")
        def _connect_timeout(_dialect, _record, _cargs, cparams):
            cparams.setdefault("connect_timeout", CONNECT_TIMEOUT)

        @event.listens_for(engine, "connect")
        def _lock_timeout(dbapi_connection, _record):
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, false)", (f"{timeout_ms}ms",))
            dbapi_connection.commit()

        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
        cursor.execute("PRAGMA synchronous = NORMAL")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()
        dbapi_connection.create_function(_SQLITE_LOWER, 1, _lower, deterministic=True)


class unicode_lower(GenericFunction):
    """``lower()`` that knows every alphabet, for searching names ("ёлка" finds "Ёлка ООО",
    "gépház" finds "GÉPHÁZ"). PostgreSQL's ``lower()`` does (in a UTF-8 locale); SQLite's
    knows ASCII only, so there it is Python's ``str.lower``, under a name of its own: the
    built-in stays what the ``lower(email)`` index was built with."""

    type = sa.String()
    inherit_cache = True


_SQLITE_LOWER = "lkapp_lower"


def _lower(text: str | None) -> str | None:
    return text.lower() if isinstance(text, str) else text


def any_contains(columns, lowered: str):
    """Whether one of ``columns`` (never NULL) contains ``lowered`` (lower-cased) in any
    letter case. One ``unicode_lower`` of the columns joined by line breaks instead of one per
    column: on SQLite each is a call into Python (a search of 100,000 contracts took a
    quarter less). A text with a line break could match across two columns that way: it is
    looked for in each column on its own."""
    if "\n" in lowered:
        return sa.or_(*(unicode_lower(c).contains(lowered, autoescape=True) for c in columns))
    joined = columns[0]
    for column in columns[1:]:
        joined = joined + "\n" + column
    return unicode_lower(joined).contains(lowered, autoescape=True)


@compiles(unicode_lower)
def _unicode_lower(element, compiler, **kw) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(unicode_lower, "sqlite")
def _unicode_lower_sqlite(element, compiler, **kw) -> str:
    return f"{_SQLITE_LOWER}({compiler.process(element.clauses, **kw)})"


def lock_row(model, ident):
    """The row of ``model`` with primary key ``ident`` (None if there is none), read again
    from the database and held until the transaction ends: another request that takes the
    same lock, or writes the row, waits until then and reads it as this one left it. For the
    check of a check-then-act (a link that works once, a thread's status): the check reads
    the state the write is made on, not the state another request is changing meanwhile.

    PostgreSQL: ``SELECT ... FOR UPDATE``. SQLite has no row locks: its one write lock,
    taken by a write that changes nothing (as the billing import takes it), holds every row.
    Either waits as long as any lock does (``configure_engine``), then fails with a 503.
    """
    from .extensions import db

    hold_sqlite_writes(model)
    return db.session.get(model, ident, populate_existing=True, with_for_update=True)


def hold_sqlite_writes(model) -> None:
    """SQLite: take the database's one write lock now, until the transaction ends, with a
    write to ``model``'s table that changes nothing. Nothing on PostgreSQL."""
    from .extensions import db

    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(
            sa.delete(model).where(sa.false()).execution_options(synchronize_session=False)
        )


def database_is_empty() -> bool:
    """No contracts and no users: the state in which demo data may be loaded."""
    from .extensions import db
    from .models import Contract, User

    return not db.session.query(Contract.id).limit(1).first() and not (
        db.session.query(User.id).limit(1).first()
    )
