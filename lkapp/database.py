"""Engine settings per backend."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine

CONNECT_TIMEOUT = 5  # seconds, PostgreSQL (unless the URL sets connect_timeout)


def configure_engine(engine: Engine, lock_timeout: float) -> None:
    """Per backend. A statement waits at most ``lock_timeout`` seconds for a lock another
    transaction holds, then fails, and the request is answered 503 (lkapp.main.errors) instead
    of hanging behind it; a long transaction of its own (an import, the demo loader) is not cut.

    SQLite: foreign keys on, WAL for readers beside a writer, ``busy_timeout``.
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


def database_is_empty() -> bool:
    """No contracts and no users: the state in which demo data may be loaded."""
    from .extensions import db
    from .models import Contract, User

    return not db.session.query(Contract.id).limit(1).first() and not (
        db.session.query(User.id).limit(1).first()
    )
