"""Clock edges seen through the portal: readings sent in the hour that clocks repeat when
summer time ends, on the receipt and in its mail."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import Meter, OutboxMail, Reading
from lkapp.readings import clock
from tests.conftest import text_of

NUMBER = "EL-0000042"


@pytest.fixture
def meter(app, make_user, auth, ledger) -> int:
    """Ann, signed in, with a one-zone meter read in September 2026; its id."""
    contract = ledger.contract(NUMBER, account_id=make_user())
    auth.login()
    with app.app_context():
        row = Meter(contract_id=contract, serial="SN-1", digits=6, installed_on=date(2020, 1, 1))
        db.session.add(row)
        db.session.flush()
        db.session.add(
            Reading(
                meter_id=row.id,
                zone="T1",
                period=date(2026, 9, 1),
                value=Decimal(100),
                submitted_at=datetime(2026, 9, 20, 9, tzinfo=UTC),
                source="import",
            )
        )
        db.session.commit()
        return row.id


@pytest.mark.sqlite_only  # passes on PostgreSQL too; the times are UTC-aware on both
def test_readings_sent_an_hour_apart_in_the_repeated_hour_keep_apart(
    app, client, meter, monkeypatch
):
    """25 October 2026, Budapest: 00:30 and 01:30 UTC are both 02:30 on the clock. The receipt
    and the mails showed the same time for the reading and the correction an hour later."""
    for when, value in (
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), 150),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), 160),
    ):
        monkeypatch.setattr(clock, "utcnow", lambda when=when: when)
        response = client.post(f"/electricity/{NUMBER}/readings/meters/{meter}", data={"T1": value})
        assert response.status_code == 302
    receipt = text_of(client.get(f"/electricity/{NUMBER}/readings/meters/{meter}/2026-10").text)
    assert "160 60 portal Oct 25, 2026, 2:30 AM GMT+01:00 accepted" in receipt
    assert "150 50 portal Oct 25, 2026, 2:30 AM GMT+02:00 replaced" in receipt
    with app.app_context():
        bodies = db.session.scalars(sa.select(OutboxMail.body_text).order_by(OutboxMail.id)).all()
    received = [line for body in bodies for line in body.splitlines() if "Received" in line]
    assert received == [
        "Received Oct 25, 2026, 2:30\u202fAM GMT+02:00.",
        "Received Oct 25, 2026, 2:30\u202fAM GMT+01:00.",
    ]
