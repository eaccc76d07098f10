"""Notices by email: debt appeared / debt cleared (daily), new documents (at import).

``run_daily(today)`` is ``flask --app lkapp notify``: for every attached contract it compares
the overdue debt with what the account was last told (``Contract.debt_notified``) and mails
only on a change, once: "debt appeared" when a contract goes from no overdue debt to some,
"debt cleared" when it goes back. The flag moves only together with a queued mail, by a
conditional UPDATE, so a second run (even one running at the same time) mails nothing more.
An account that turned debt notices off is skipped and its flags stay as they were: turning
them on again brings the notice of whatever changed meanwhile.

Each account's notices are its own unit of work (``for_one_account``): a failure there (a
template, a stored value, a database error) rolls back that account's flags and mail, is
logged with its id and counted, and the run goes on with the others; the failed account
gets its notice on the next run, and the command exits non-zero.

Every notice ends with why it comes and a link that turns its kind off (``stop_link``), and
carries that link as its one-click unsubscribe (RFC 8058, ``mail.one_click_unsubscribe``).

"New document" notices are queued in the billing import's own transaction (an after-write
hook, ``install()``), one mail per account and import, so they commit or roll back with the
documents; ``run_daily`` (or ``flask outbox send``) sends them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from flask import render_template, url_for
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from werkzeug.routing import BuildError

from ..auth.services import notifiable
from ..auth.tokens import notice_token
from ..domain import balance
from ..extensions import db
from ..models import AuditEvent, Contract, Document, OutboxMail, User, utcnow
from .mail import mail_configured, one_click_unsubscribe, queue_mail, send_pending

log = logging.getLogger(__name__)

ACCOUNTS_PER_BATCH = 500
DOCUMENTS_PER_BATCH = 1_000
DOCUMENTS_LISTED = 20  # per "new documents" mail; the rest are counted


@dataclass
class DailySummary:
    day: date
    debt_appeared: int = 0  # contracts whose account was told of a new debt
    debt_cleared: int = 0  # contracts whose account was told the debt is paid
    mails: int = 0  # debt notices queued
    reminders: int = 0  # reading-window reminders queued
    sent: int = 0  # messages of the outbox sent at the end (any kind)
    unsent: int = 0  # messages of the outbox that failed at the end
    accounts_failed: list[int] = field(default_factory=list)  # ids: their notices wait

    @property
    def failed(self) -> int:
        """What went wrong: mail not sent and accounts not handled (the command exits 1)."""
        return self.unsent + len(self.accounts_failed)

    def __str__(self) -> str:
        text = (
            f"{self.day.isoformat()}: debt appeared on {self.debt_appeared} contract(s), "
            f"cleared on {self.debt_cleared}; {self.mails} debt notice(s) and "
            f"{self.reminders} reading reminder(s) queued; outbox: {self.sent} sent, "
            f"{self.unsent} failed"
        )
        if self.accounts_failed:
            ids = ", ".join(str(i) for i in self.accounts_failed)
            text += (
                f"; {len(self.accounts_failed)} account(s) failed and wait for the next run "
                f"(see the log): {ids}"
            )
        return text


def for_one_account(user_id: int, failed: list[int], work: Callable, *args):
    """``work(*args)`` for one account in a savepoint: its result, or None when it raised. A
    failure rolls back what it wrote (no flag without its mail, no mail without its flag), is
    logged with the account's id and added to ``failed``, so one account's bad data cost
    that account alone its notice of the day."""
    try:
        with db.session.begin_nested():
            return work(*args)
    except Exception:  # noqa: BLE001 - one account's failure must not stop the others
        log.exception("Notices for account %s failed; they wait for the next run", user_id)
        if user_id not in failed:  # its debt notice and its reminder: one account
            failed.append(user_id)
        return None


def run_daily(today: date | None = None) -> DailySummary:
    """The daily run: debt notices, reading-window reminders, then commit and send the
    outbox. Commits after each batch of accounts (a long run keeps what it did).

    ``today`` other than the real today is for tests: the documents' paid amounts are
    today's, so another day's run mails notices that were not true on that day (the command
    asks for ``--other-day``)."""
    from ..electricity.services import local_today
    from ..readings.reminders import queue_window_reminders

    today = today or local_today()
    summary = DailySummary(today)
    accounts = db.session.scalars(
        sa.select(User.id)
        .where(
            User.notify_debt.is_(True),
            notifiable(),
            sa.exists().where(Contract.account_id == User.id),
        )
        .order_by(User.id)
    ).all()
    for start in range(0, len(accounts), ACCOUNTS_PER_BATCH):
        _debt_notices(accounts[start : start + ACCOUNTS_PER_BATCH], today, summary)
        db.session.commit()

    summary.reminders = queue_window_reminders(today, summary.accounts_failed)
    db.session.commit()

    if mail_configured():
        delivery = send_pending()
        summary.sent, summary.unsent = delivery.sent, delivery.kept + delivery.given_up
    return summary


# --- debt -------------------------------------------------------------------------------


def _debt_notices(account_ids: list[int], today: date, summary: DailySummary) -> None:
    """Find the contracts of ``account_ids`` whose debt state differs from what their
    account was told; then, one account at a time, flip the flags (only if nobody else did)
    and queue its mails."""
    late = sa.and_(
        Document.kind == "invoice",
        Document.total > Document.paid,
        Document.due_on < today,
    )
    in_debt = sa.exists().where(Document.contract_id == Contract.id, late)
    rows = db.session.execute(
        sa.select(
            Contract.id,
            Contract.account_id,
            Contract.number,
            Contract.holder_name,
            Contract.debt_notified,
            in_debt.label("in_debt"),
        )
        .where(Contract.account_id.in_(account_ids))
        .order_by(Contract.number)
    ).all()
    changed: dict[int, list] = defaultdict(list)
    for row in rows:
        if bool(row.in_debt) != bool(row.debt_notified):
            changed[row.account_id].append(row)
    if not changed:
        return
    from ..payments.services import debts_of

    # Read for the whole batch at once; only the writes are one account's own.
    figures = debts_of([row.id for rows in changed.values() for row in rows], today)
    users = {
        user.id: user for user in db.session.scalars(sa.select(User).where(User.id.in_(changed)))
    }
    for user_id in sorted(changed):
        told = for_one_account(
            user_id,
            summary.accounts_failed,
            _tell_account,
            users[user_id],
            changed[user_id],
            figures,
            today,
        )
        if told is not None:
            appeared, cleared = told
            summary.debt_appeared += appeared
            summary.debt_cleared += cleared
            summary.mails += bool(appeared) + bool(cleared)


def _tell_account(user: User, rows: list, figures: dict, today: date) -> tuple[int, int]:
    """Flip the flags of one account's changed contracts and queue its "appeared" and
    "cleared" mails; how many contracts of each it was told of."""
    appeared = set(_flip([r.id for r in rows if r.in_debt], to=True))
    cleared = set(_flip([r.id for r in rows if not r.in_debt], to=False))
    if not appeared and not cleared:
        return 0, 0  # another run told it meanwhile
    notices = {
        kind: [Notice(r.id, r.number, r.holder_name, figures[r.id]) for r in rows if r.id in ids]
        for kind, ids in (("appeared", appeared), ("cleared", cleared))
    }
    for kind, told in notices.items():
        if told:
            _queue_debt_mail(user, f"notice_debt_{kind}", told, today)
    db.session.add_all(
        AuditEvent(
            action=f"notice.debt_{kind}",
            object_type="Contract",
            object_id=str(notice.contract_id),
            details={"overdue": str(notice.summary.overdue), "day": today.isoformat()},
        )
        for kind, told in notices.items()
        for notice in told
    )
    db.session.flush()
    return len(appeared), len(cleared)


def _flip(contract_ids: list[int], to: bool) -> list[int]:
    """Set ``debt_notified`` to ``to`` where it is still ``not to``; the ids changed here
    (a run at the same time waits on the row lock, then finds nothing left to change)."""
    if not contract_ids:
        return []
    return list(
        db.session.scalars(
            sa.update(Contract)
            .where(Contract.id.in_(contract_ids), Contract.debt_notified.is_(not to))
            .values(debt_notified=to)
            .returning(Contract.id)
            .execution_options(synchronize_session=False)
        )
    )


@dataclass(frozen=True)
class Notice:
    contract_id: int
    number: str
    holder_name: str
    summary: balance.Summary


# A subject names the contracts while they fit; beyond, it counts them (the body lists them).
SUBJECT_NUMBERS = 120  # characters


def _queue_debt_mail(user: User, template: str, notices: list[Notice], today: date) -> None:
    numbers = ", ".join(n.number for n in notices)
    with force_locale(user.locale):
        if len(numbers) > SUBJECT_NUMBERS:
            subject = (
                ngettext(
                    "Overdue debt on %(num)s contract",
                    "Overdue debt on %(num)s contracts",
                    len(notices),
                )
                if template == "notice_debt_appeared"
                else ngettext(
                    "Debt cleared on %(num)s contract",
                    "Debt cleared on %(num)s contracts",
                    len(notices),
                )
            )
        # One contract or several, not a plural form: Russian takes its "one" form for 21
        # contracts too, and a list of 21 short numbers fits the subject.
        elif template == "notice_debt_appeared":
            subject = (
                _("Overdue debt on contract %(numbers)s", numbers=numbers)
                if len(notices) == 1
                else _("Overdue debt on contracts %(numbers)s", numbers=numbers)
            )
        else:
            subject = (
                _("Debt cleared on contract %(numbers)s", numbers=numbers)
                if len(notices) == 1
                else _("Debt cleared on contracts %(numbers)s", numbers=numbers)
            )
    stop = stop_link(user.id, user.email, "debt")
    queue_mail(
        user.email,
        subject,
        template,
        user.locale,
        headers=one_click_unsubscribe(stop),
        user=user,
        notices=[(n, _link("payments.tab", number=n.number)) for n in notices],
        # Said once for several contracts: a chain of shops must not add up 75 lines.
        overdue=sum((n.summary.overdue for n in notices), balance.ZERO),
        today=today,
        link=_link("main.index"),
        notice_kind="debt",
        stop_link=stop,
    )


def _link(endpoint: str, **values) -> str | None:
    """An absolute link when one can be built: inside a request, or with ``SERVER_NAME``
    configured; else None and the mail says where to look instead."""
    try:
        return url_for(endpoint, _external=True, **values)
    except (RuntimeError, BuildError):
        return None


def stop_link(user_id: int, email: str, kind: str) -> str | None:
    """The link of a notice of ``kind`` (``tokens.NOTICE_KINDS``) that turns that kind off,
    when an absolute one can be built (``_link``)."""
    return _link("auth.stop_notices", token=notice_token(user_id, email, kind))


# --- new documents (queued by the import) -----------------------------------------------


def install() -> None:
    """Queue "new document" notices in every billing import (idempotent)."""
    from .billing import register_after_write

    register_after_write(queue_document_notices)


def queue_document_notices(conn: sa.Connection, report) -> int:
    """After-write hook of the billing import: one mail per account that wants document
    notices, listing the documents this import created for its contracts. Written with the
    import's connection, in its transaction. Returns the number of mails queued."""
    ids = list(report.new_document_ids)
    if not ids:
        return 0
    found: dict[int, list] = defaultdict(list)
    accounts: dict[int, tuple] = {}
    for start in range(0, len(ids), DOCUMENTS_PER_BATCH):
        rows = conn.execute(
            sa.select(
                Document.kind,
                Document.number,
                Document.issued_on,
                Document.period,
                Document.due_on,
                Document.total,
                Contract.number.label("contract_number"),
                User.id.label("user_id"),
                User.email,
                User.name,
                User.locale,
            )
            .join(Contract, Contract.id == Document.contract_id)
            .join(User, User.id == Contract.account_id)
            .where(Document.id.in_(ids[start : start + DOCUMENTS_PER_BATCH]))
            .where(User.notify_documents.is_(True), notifiable())
        ).all()
        for row in rows:
            found[row.user_id].append(row)
            accounts[row.user_id] = (row.email, row.name, row.locale)
    mails = []
    for user_id, documents in found.items():
        email, name, locale = accounts[user_id]
        documents.sort(key=lambda d: (d.contract_number, d.issued_on, d.kind, d.number))
        mails.append(_document_mail(user_id, email, name, locale, documents))
    for start in range(0, len(mails), DOCUMENTS_PER_BATCH):
        conn.execute(sa.insert(OutboxMail), mails[start : start + DOCUMENTS_PER_BATCH])
    return len(mails)


def _document_mail(user_id: int, email: str, name: str, locale: str, documents: list) -> dict:
    listed = documents[:DOCUMENTS_LISTED]
    stop = stop_link(user_id, email, "documents")
    invoices = [d.total for d in documents if d.kind == "invoice"]
    context = {
        "name": name,
        "documents": listed,
        "more": len(documents) - len(listed),
        # Said once for several invoices: most of a chain's are beyond the list.
        "invoices": len(invoices),
        "invoiced": sum(invoices, balance.ZERO),
        "links": {
            number: _link("electricity.contract", number=number)
            for number in {d.contract_number for d in listed}
        },
        "link": _link("main.index"),
        "notice_kind": "documents",
        "stop_link": stop,
    }
    with force_locale(locale):
        if len(documents) == 1:
            subject = _(
                "New document %(number)s for contract %(contract)s",
                number=documents[0].number,
                contract=documents[0].contract_number,
            )
        else:
            subject = ngettext(
                "%(num)s new document in My Account",
                "%(num)s new documents in My Account",
                len(documents),
            )
        return {
            "recipient": email,
            "subject": str(subject)[:200],
            "body_text": render_template("email/notice_new_documents.txt", **context),
            "body_html": render_template("email/notice_new_documents.html", **context),
            "created_at": utcnow(),
            "attempts": 0,
            "last_error": "",
            "headers": one_click_unsubscribe(stop),
        }
