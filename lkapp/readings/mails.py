"""Readings mail: the receipt after a submission. Queued in the caller's transaction (outbox)."""

from __future__ import annotations

from flask import has_request_context, url_for
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _

from ..auth.services import may_be_written_to
from ..formatting import moment, month
from ..models import Contract, User
from ..services.mail import queue_mail
from .forms import reading_value, zone_label
from .services import Submission


def receipt_url(contract: Contract, submission: Submission) -> str:
    return url_for(
        "readings.receipt",
        number=contract.number,
        meter_id=submission.meter.id,
        period=f"{submission.period:%Y-%m}",
        _external=True,
    )


def queue_receipt(contract: Contract, submission: Submission, entered_by_office: bool) -> None:
    """Email the account holding ``contract`` what was stored (nobody when unattached, nor
    to an account the office locked or one not confirmed: the office enters readings for
    those too)."""
    account: User | None = contract.account
    if account is None or not submission.stored or not may_be_written_to(account):
        return
    meter = submission.meter
    link = receipt_url(contract, submission) if has_request_context() else None
    with force_locale(account.locale):
        paragraphs = [
            _("Hello, %(name)s,", name=account.name),
            _(
                "We received the readings of meter %(serial)s (contract %(number)s) for %(month)s:",
                serial=meter.serial,
                number=contract.number,
                month=month(submission.period),
            ),
        ]
        paragraphs += _zone_lines(submission)
        paragraphs.append(_("Received %(time)s.", time=moment(submission.stored[0].submitted_at)))
        if entered_by_office:
            paragraphs.append(_("The office entered these readings on your behalf."))
        if submission.superseded:
            paragraphs.append(
                _("They replace the readings sent earlier for this month; both stay in history.")
            )
        subject = _("Readings received: meter %(serial)s", serial=meter.serial)
    queue_mail(
        account.email,
        subject,
        "notice",
        account.locale,
        paragraphs=paragraphs,
        link=link,
    )


def queue_readings_received(account: User, submissions: list[Submission]) -> None:
    """Email ``account`` one receipt for the meters it sent together from the page of all
    its meters (a mail per meter would be dozens at once)."""
    stored = [submission for submission in submissions if submission.stored]
    if not stored:
        return
    link = url_for("readings_all.form", _external=True) if has_request_context() else None
    with force_locale(account.locale):
        paragraphs = [
            _("Hello, %(name)s,", name=account.name),
            _(
                "We received the readings for %(month)s of these meters:",
                month=month(stored[0].period),
            ),
        ]
        for submission in stored:
            meter = submission.meter
            paragraphs.append(
                _(
                    "Meter %(serial)s (contract %(number)s):",
                    serial=meter.serial,
                    number=meter.contract.number,
                )
            )
            paragraphs += ["– " + line for line in _zone_lines(submission)]
        paragraphs.append(_("Received %(time)s.", time=moment(stored[0].stored[0].submitted_at)))
        if any(submission.superseded for submission in stored):
            paragraphs.append(
                _(
                    "Where readings for this month had been sent before, the new ones replace "
                    "them; both stay in history."
                )
            )
        subject = ngettext(
            "Readings received: %(num)s meter", "Readings received: %(num)s meters", len(stored)
        )
    queue_mail(account.email, subject, "notice", account.locale, paragraphs=paragraphs, link=link)


def _zone_lines(submission: Submission) -> list[str]:
    """A line per stored zone: its value, the kWh since the last reading, a rollover."""
    lines = []
    for reading in submission.stored:
        verdict = submission.zones[reading.zone]
        kwh = verdict.check.kwh if verdict.previous is not None else None
        line = _(
            "%(zone)s: %(value)s",
            zone=zone_label(submission.meter, reading.zone),
            value=reading_value(reading.value),
        )
        if kwh is not None:
            line += " · " + _("%(kwh)s kWh", kwh=reading_value(kwh))
        if verdict.check.rolled_over:
            line += " · " + _("the meter rolled over past its maximum")
        lines.append(line)
    return lines
