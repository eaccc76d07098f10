"""Engine settings per backend."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine


def configure_engine(engine: Engine) -> None:
    """SQLite: foreign keys on, WAL for readers beside a writer, wait instead of failing."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 5000")
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
