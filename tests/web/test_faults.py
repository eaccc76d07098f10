"""The database locked or unreachable for a moment: a 503 "Temporarily unavailable" page with
Retry-After, one WARNING line for the operator, nothing half-written, and the same request
goes through once the database is back. Any other database error stays a 500."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import contextmanager
from datetime import UTC, date, datetime

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from lkapp import create_app
from lkapp.extensions import db
from lkapp.models import AuditEvent, Meter, OutboxMail, Reading
from lkapp.readings import clock
from tests.conftest import TEST_PASSWORD, Client, free_port, swapped

NUMBER = "EL-0000042"
URL = f"/electricity/{NUMBER}/readings/meters/%d"
LOCK_TIMEOUT = 0.5


@pytest.fixture
def app_config(app_config):
    """A lock is waited for half a second here (five in production), to keep the tests short."""
    return {**app_config, "DATABASE_LOCK_TIMEOUT": LOCK_TIMEOUT}


@pytest.fixture
def meter(app, make_user, auth, ledger, monkeypatch):
    """Ann, signed in, with a contract and a single-zone meter read in October; the readings
    window is open (November 20th)."""
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 11, 20, 12, tzinfo=UTC))
    contract_id = ledger.contract(NUMBER, account_id=make_user())
    with app.app_context():
        meter = Meter(contract_id=contract_id, serial="SN-1", installed_on=date(2020, 1, 1))
        db.session.add(meter)
        db.session.flush()
        db.session.add(Reading(meter_id=meter.id, zone="T1", period=date(2026, 10, 1), value=1000))
        db.session.commit()
        meter_id = meter.id
    auth.login()
    return meter_id


@contextmanager
def write_lock_held(database_url: str):
    """Another program holds the lock a reading needs: on SQLite the database's write lock
    (BEGIN EXCLUSIVE; readers go on in WAL mode), on PostgreSQL the readings table's
    (EXCLUSIVE: reads go on, writes wait)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        holder = sqlite3.connect(url.database, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
    else:
        holder = psycopg.connect(database_url.replace("+psycopg", ""))
        holder.execute("LOCK TABLE readings IN EXCLUSIVE MODE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


def november(app, meter_id) -> dict:
    """What the database holds of November's reading: rows, their audit events, receipts."""
    with app.app_context():
        return {
            "readings": db.session.scalars(
                sa.select(Reading.value).where(
                    Reading.meter_id == meter_id, Reading.period == date(2026, 11, 1)
                )
            ).all(),
            "audit": db.session.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "reading.submitted")
            ),
            "mail": db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMail)),
        }


def assert_unavailable_page(response) -> None:
    assert response.status_code == 503
    assert "Temporarily unavailable" in response.text
    assert "The portal is temporarily unavailable. Please try again later." in response.text
    assert "Traceback" not in response.text
    assert 1 <= int(response.headers["Retry-After"]) <= 30


def one_warning(caplog) -> str:
    """The operator's view: one WARNING line without a traceback, and no error at all."""
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    [record] = [r for r in caplog.records if r.name == "lkapp.main.errors"]
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "\n" not in record.getMessage()
    return record.getMessage()


def test_a_reading_sent_while_the_database_is_locked_gets_503_and_nothing_is_written(
    app, client, meter, database_url, caplog
):
    with write_lock_held(database_url):
        response = client.post(URL % meter, data={"T1": "1100"})

    assert_unavailable_page(response)
    assert "<header" in response.text and "ann@example.com" in response.text  # still signed in
    assert november(app, meter) == {"readings": [], "audit": 0, "mail": 0}
    message = one_warning(caplog)
    assert f"POST {URL % meter}" in message
    assert "locked" in message or "lock timeout" in message

    again = client.post(URL % meter, data={"T1": "1100"})
    assert again.status_code == 302
    assert november(app, meter) == {"readings": [1100], "audit": 1, "mail": 1}


def test_with_htmx_the_503_lands_in_the_main_area(app, client, meter, database_url):
    with write_lock_held(database_url):
        response = client.htmx("POST", URL % meter, data={"T1": "1100"})

    assert_unavailable_page(response)
    assert response.headers["HX-Retarget"] == "#main"
    assert response.headers["HX-Reswap"] == "innerHTML"
    assert response.text.startswith("<title>Temporarily unavailable · ")
    assert swapped(response.text).startswith('<div id="flashes"')  # the main area's live region
    assert '</div><section class="error-page"' in response.text
    assert "<header" not in response.text
    assert november(app, meter)["readings"] == []


@pytest.fixture
def unreachable_url(backend, tmp_path) -> str:
    """SQLite: the file's volume is not there; PostgreSQL: nothing listens on the port."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'not-mounted' / 'lkapp.sqlite3'}"
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/lkapp"


def test_an_unreachable_database_gets_503_and_healthz_says_so(
    app_config, client, meter, unreachable_url, caplog
):
    dead = create_app({**app_config, "SQLALCHEMY_DATABASE_URI": unreachable_url})
    dead.test_client_class = Client
    browser = dead.test_client()
    browser.set_cookie("session", client.get_cookie("session").value)  # Ann, signed in
    try:
        page = browser.get(f"/electricity/{NUMBER}/readings")
        assert_unavailable_page(page)
        assert "ann@example.com" not in page.text  # her account could not be read
        one_warning(caplog)

        browser.post("/logout")  # an anonymous visitor signing in meets the same page
        assert_unavailable_page(
            browser.post("/login", data={"email": "ann@example.com", "password": TEST_PASSWORD})
        )

        health = browser.get("/healthz")
        assert health.status_code == 503 and health.json["status"] == "unavailable"
    finally:
        with dead.app_context():
            db.engine.dispose()


def test_a_constraint_or_a_bad_query_is_still_a_500(app, client, caplog):
    """Bugs are not "temporarily unavailable": a 500 and a traceback for the operator (SQLite
    reports a missing table as an OperationalError too)."""

    @app.get("/fault/constraint")
    def constraint():
        db.session.execute(sa.text("INSERT INTO contracts (number) VALUES (NULL)"))

    @app.get("/fault/query")
    def query():
        db.session.execute(sa.text("SELECT * FROM no_such_table"))

    for path in ("/fault/constraint", "/fault/query"):
        caplog.clear()
        response = client.get(path)
        assert response.status_code == 500, path
        assert "Something went wrong" in response.text and "Retry-After" not in response.headers
        [record] = [r for r in caplog.records if r.name == "lkapp.main.errors"]
        assert record.levelno == logging.ERROR and record.exc_info is not None


def test_a_500_after_the_view_rolled_back_still_shows_the_page_signed_in(
    app, client, make_user, auth, caplog
):
    """A view that rolled back (an IntegrityError it handled), then failed: the signed-in
    user's details were expired by that rollback, and the error page, reading them from an
    account taken out of the session, failed in its turn."""

    @app.get("/fault/after-rollback")
    def after_rollback():
        db.session.rollback()
        raise RuntimeError("a bug after a handled rollback")

    make_user(email="ann@example.com", name="Ann's Bakery")
    auth.login()
    response = client.get("/fault/after-rollback")
    assert response.status_code == 500
    assert "Something went wrong" in response.text and "Sign out" in response.text


def test_the_warning_of_a_503_keeps_no_token_of_a_mailed_link(
    app, app_config, make_user, unreachable_url, caplog
):
    """The link's route stands in the warning, not its path: the token in it would confirm the
    account (or set its password) for whoever reads the log."""
    from lkapp.auth import tokens
    from lkapp.models import User

    user_id = make_user(email="ann@example.com", confirmed=False)
    with app.test_request_context():
        token = tokens.make_token("confirm", db.session.get(User, user_id))
    dead = create_app({**app_config, "SQLALCHEMY_DATABASE_URI": unreachable_url})
    try:
        page = dead.test_client().get(f"/confirm/{token}?probe=1")
        assert_unavailable_page(page)
        message = one_warning(caplog)
        assert "GET /confirm/<token>:" in message
        assert token not in message and token[-20:] not in message
    finally:
        with dead.app_context():
            db.engine.dispose()
