"""The reading-window reminder: once per window, to the accounts that asked for it
(``notify_readings``) and have a meter without a reading for the window's month yet.

``User.readings_reminded_for`` remembers the month of the last reminder; it is set with a
conditional UPDATE, so two runs of ``flask notify`` on the same day still send one mail.
The caller (``lkapp.services.notify.run_daily``) commits and sends the outbox. Each account is
handled on its own (``for_one_account``): one that fails keeps its month unset and is
reminded on the next run, the others are reminded now. Like every notice, a reminder ends
with a link that turns reminders off (``notify.stop_link``), also its one-click unsubscribe.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import sqlalchemy as sa
from flask import url_for
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from werkzeug.routing import BuildError

from ..auth.services import notifiable
from ..domain.readings import reading_window, shift_month
from ..extensions import db
from ..formatting import day, month
from ..models import Contract, Meter, Reading, User
from ..services.mail import one_click_unsubscribe, queue_mail
from ..services.notify import for_one_account, stop_link
from .clock import window_days


def queue_window_reminders(today: date, failed: list[int] | None = None) -> int:
    """Queue the reminders due on ``today`` (a day in the deployment's time zone); how many.
    The ids of the accounts that failed are added to ``failed``."""
    failed = [] if failed is None else failed
    window = reading_window(today, *window_days())
    if not window.is_open:
        return 0
    period = window.period
    waiting = _contracts_waiting(period)
    if not waiting:
        return 0
    users = db.session.scalars(
        sa.select(User).where(User.id.in_(list(waiting))).order_by(User.id)
    ).all()
    queued = 0
    for user in users:
        queued += bool(for_one_account(user.id, failed, _remind, user, waiting[user.id], window))
    return queued


def _remind(user: User, numbers: list[str], window) -> bool:
    """Claim ``user``'s reminder for the window's month and queue it; False when another run
    of the same day had it already."""
    claimed = db.session.execute(
        sa.update(User)
        .where(
            User.id == user.id,
            sa.or_(
                User.readings_reminded_for.is_(None),
                User.readings_reminded_for < window.period,
            ),
        )
        .values(readings_reminded_for=window.period)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        return False
    _queue_reminder(user, numbers, window.period, window.closes_on)
    return True


def _contracts_waiting(period: date) -> dict[int, list[str]]:
    """Account id -> numbers of its active contracts with a meter still without a reading for
    ``period``, for the accounts that want the reminder and have not had it for ``period``."""
    meter_waits = (
        sa.select(Meter.id)
        .where(
            Meter.contract_id == Contract.id,
            Meter.installed_on < shift_month(period, 1),
            sa.or_(Meter.removed_on.is_(None), Meter.removed_on >= period),
            ~sa.exists().where(
                Reading.meter_id == Meter.id,
                Reading.period == period,
                Reading.status != "superseded",
            ),
        )
        .exists()
    )
    rows = db.session.execute(
        sa.select(Contract.account_id, Contract.number)
        .join(User, User.id == Contract.account_id)
        .where(
            Contract.status == "active",
            meter_waits,
            User.role == "customer",
            User.notify_readings.is_(True),
            notifiable(),
            sa.or_(User.readings_reminded_for.is_(None), User.readings_reminded_for < period),
        )
        .order_by(Contract.account_id, Contract.number)
    ).all()
    waiting: dict[int, list[str]] = defaultdict(list)
    for account_id, number in rows:
        waiting[account_id].append(number)
    return waiting


def _link(endpoint: str, **values) -> str | None:
    """An absolute link when one can be built (in a request, or with ``SERVER_NAME``)."""
    try:
        return url_for(endpoint, _external=True, **values)
    except (RuntimeError, BuildError):
        return None


# A reminder names this many contracts, then counts the rest: the page of all meters
# (the mail's link) lists them; 300 numbers made one paragraph of 3,600 characters. At most
# 20: a list of 21 would take Russian's "one" form, which names a single contract.
CONTRACTS_LISTED = 20


def _waiting(numbers: list[str]) -> str:
    """The paragraph naming the contracts that wait (call it under the user's locale)."""
    listed, more = numbers[:CONTRACTS_LISTED], len(numbers) - CONTRACTS_LISTED
    if more > 0:
        # The count of the rest decides the plural form, not the list's length.
        return ngettext(
            "Waiting for readings: contracts %(numbers)s and %(num)s more contract.",
            "Waiting for readings: contracts %(numbers)s and %(num)s more contracts.",
            more,
            numbers=", ".join(listed),
        )
    return ngettext(
        "Waiting for readings: contract %(numbers)s.",
        "Waiting for readings: contracts %(numbers)s.",
        len(numbers),
        numbers=", ".join(numbers),
    )


def _queue_reminder(user: User, numbers: list[str], period: date, closes_on: date) -> None:
    several = len(numbers) > 1
    link = _link("readings_all.form") if several else _link("readings.tab", number=numbers[0])
    link = link or _link("electricity.index")
    with force_locale(user.locale):
        paragraphs = [
            _("Hello, %(name)s,", name=user.name),
            _(
                "The meter readings for %(month)s are accepted until %(date)s.",
                month=month(period),
                date=day(closes_on, "long"),
            ),
            _waiting(numbers),
            _("Send them all on one page of My Account, “Readings of all meters”.")
            if several
            else _("Send them in My Account: Electricity, the contract, then the Readings tab."),
        ]
        subject = _("Time to send your meter readings")
    stop = stop_link(user.id, user.email, "readings")
    queue_mail(
        user.email,
        subject,
        "notice",
        user.locale,
        headers=one_click_unsubscribe(stop),
        paragraphs=paragraphs,
        link=link,
        notice_kind="readings",
        stop_link=stop,
    )
