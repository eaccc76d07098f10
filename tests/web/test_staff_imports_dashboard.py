"""The staff dashboard: what is waiting (questions, codes today, outbox, readings of the
window, last imports), in a fixed number of queries."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from lkapp.domain.questions import new_reference
from lkapp.extensions import db
from lkapp.models import (
    ConfirmationCode,
    Contract,
    ImportJob,
    Meter,
    OutboxMail,
    Question,
    Reading,
    utcnow,
)

pytestmark = pytest.mark.sqlite_only


def window_period(app) -> date:
    """The month of the readings window that opened last (window 15-25 in the tests)."""
    today = utcnow().astimezone(ZoneInfo(app.config["TIMEZONE"])).date()
    first = int(app.config["READINGS_WINDOW"].split("-")[0])
    period = today.replace(day=1)
    return period if today.day >= first else (period - timedelta(days=1)).replace(day=1)


def add_data(app, tag: str) -> None:
    """Two of everything the dashboard counts, and one of each it must not count."""
    period = window_period(app)
    earlier = (period - timedelta(days=1)).replace(day=1)
    now = utcnow()
    with app.app_context():
        contract = Contract(number=f"EL-{tag}", holder_name="H", tax_id="1", address="A")
        db.session.add(contract)
        db.session.flush()
        meter = Meter(contract_id=contract.id, serial=f"M-{tag}", installed_on=date(2020, 1, 1))
        db.session.add(meter)
        db.session.flush()
        for status in ("new", "new", "answered"):
            db.session.add(
                Question(
                    reference=new_reference(),
                    contact_email="a@example.com",
                    contact_name="A",
                    subject="other",
                    status=status,
                )
            )
        for issued in (now, now, now - timedelta(days=2)):
            db.session.add(
                ConfirmationCode(
                    contract_id=contract.id,
                    code_hash="x",
                    issued_at=issued,
                    expires_at=issued + timedelta(days=30),
                )
            )
        for sent in (None, None, now):
            db.session.add(
                OutboxMail(recipient="a@example.com", subject="s", body_text="b", sent_at=sent)
            )
        readings = [
            ("T1", period, "portal", "accepted"),
            ("T2", period, "operator", "accepted"),
            ("T3", period, "import", "accepted"),  # from billing: not "received"
            ("T1", earlier, "portal", "accepted"),  # an earlier window
        ]
        for zone, month, source, status in readings:
            db.session.add(
                Reading(
                    meter_id=meter.id,
                    zone=zone,
                    period=month,
                    value=Decimal("100"),
                    source=source,
                    status=status,
                )
            )
        db.session.add_all(
            [
                ImportJob(
                    kind="payments",
                    filename=f"pay-{tag}.csv",
                    file_sha256="a" * 64,
                    status="done",
                    created=5,
                    updated=1,
                    unchanged=2,
                    finished_at=now,
                ),
                ImportJob(
                    kind="meters", filename=f"bad-{tag}.csv", file_sha256="b" * 64, status="failed"
                ),
            ]
        )
        db.session.commit()


def figure(html: str, label: str) -> str:
    match = re.search(rf"<dt>{re.escape(label)}[^<]*</dt><dd>([^<]*)</dd>", html)
    assert match, label
    return match.group(1)


def test_dashboard_shows_what_is_waiting(app, client, make_user, auth):
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    add_data(app, "1")
    html = client.get("/staff/").text
    assert figure(html, "Open questions") == "2"
    assert figure(html, "Codes issued today") == "2"
    assert figure(html, "Mail waiting in the outbox") == "2"
    assert figure(html, "Readings received in") == "2"
    assert (
        "pay-1.csv" in html and "Imported" in html and "5 created, 1 updated, 2 unchanged" in html
    )
    assert "bad-1.csv" in html and "Not imported" in html
    # The navigation's count of unanswered questions agrees.
    assert "2 unanswered" in html


def test_dashboard_queries_do_not_grow_with_the_data(app, client, make_user, auth):
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")

    def statements() -> int:
        seen = []
        with app.app_context():
            engine = db.engine

        def listener(*args):
            seen.append(args[2])

        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.get("/staff/").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len([s for s in seen if s.lstrip().upper().startswith("SELECT")])

    add_data(app, "1")
    one = statements()
    add_data(app, "2")
    add_data(app, "3")
    assert statements() == one
    # The session and its user, the figures, the last imports: nothing per figure.
    assert one <= 3, one
