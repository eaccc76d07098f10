"""Contracts and their confirmation codes: issue, attach, detach, and the figures of a contract.

Services add and flush; the caller (a view or a command) commits once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased

from ..database import any_contains, unicode_lower
from ..domain import balance, contract_list
from ..domain.attach import (
    ACCOUNT_WINDOW,
    MAX_ACCOUNT_FAILURES,
    MAX_CODE_FAILURES,
    CodeFacts,
    Outcome,
    check_attempt,
    code_state,
    counts_against_code,
    retry_after,
)
from ..domain.codes import generate_code, normalize_code
from ..extensions import db
from ..models import (
    AuditEvent,
    ConfirmationCode,
    Contract,
    Meter,
    Reading,
    User,
    utcnow,
)
from ..security import DUMMY_PASSWORD_HASH, hash_password, verify_password
from ..services import audit

ATTACH_FAILED = "contract.attach_failed"


def local_today() -> date:
    """Today in the deployment's time zone (due dates are calendar days there)."""
    return datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).date()


# --- finding contracts ------------------------------------------------------------------


def typed_number(typed: str) -> tuple[sa.ColumnElement, sa.ColumnElement]:
    """The WHERE and the ORDER BY that find a contract number typed in any case: as typed,
    else in capitals (the numbers are upper-case; "el-0000042" is "EL-0000042")."""
    return Contract.number.in_({typed, typed.upper()}), Contract.number != typed


def find_contract(number: str) -> Contract | None:
    return db.session.scalar(sa.select(Contract).where(Contract.number == number.strip()))


@cache
def _own_contract_statement() -> sa.Select:
    """Built once: every contract page runs it."""
    return sa.select(Contract).where(
        Contract.number == sa.bindparam("number"),
        Contract.account_id == sa.bindparam("account_id"),
    )


def contract_of(user: User, number: str) -> Contract | None:
    """``user``'s contract with this number; None when there is none or it is someone else's
    (the caller answers 404 for both)."""
    params = {"number": number, "account_id": user.id}
    return db.session.scalar(_own_contract_statement(), params)


def latest_code(contract: Contract) -> ConfirmationCode | None:
    """The newest code of ``contract``: the only one an attempt is compared with."""
    return db.session.scalar(
        sa.select(ConfirmationCode)
        .where(ConfirmationCode.contract_id == contract.id)
        .order_by(ConfirmationCode.issued_at.desc(), ConfirmationCode.id.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class SearchPage:
    rows: list
    total: int
    page: int
    pages: int


def search_contracts(query: str, page: int = 1, per_page: int = 20) -> SearchPage:
    """Contracts whose number, holder name or tax id contains ``query`` (any letter case; a
    tax id also without its dashes), by number, with the attached account's email."""
    query = query.strip()
    matches = sa.select(Contract.id)
    if query:
        lowered = query.lower()
        fields = (Contract.number, Contract.holder_name, Contract.tax_id)
        matches = matches.where(
            sa.or_(any_contains(fields, lowered), tax_id_contains(Contract.tax_id, lowered))
        )
    matches = matches.add_columns(total_column(matches, bool(query)))

    def rows_of(limit: int, offset: int) -> list:
        # The page's contracts are found first, and only theirs are joined with the accounts.
        found = matches.order_by(Contract.number).limit(limit).offset(offset).subquery()
        return db.session.execute(
            sa.select(
                Contract.id,
                Contract.number,
                Contract.holder_name,
                Contract.tax_id,
                Contract.address,
                Contract.status,
                User.email.label("account_email"),
                found.c.total,
            )
            .join(found, found.c.id == Contract.id)
            .outerjoin(User, User.id == Contract.account_id)
            .order_by(Contract.number)
        ).all()

    return read_page(rows_of, page, per_page)


def tax_id_contains(column, lowered: str):
    """Whether the tax id ``column`` without its dashes contains ``lowered`` without dashes
    and spaces: "hu12345678" finds "HU12345678-2-42" on both databases (PostgreSQL's LIKE
    minds case). Used beside ``any_contains``: for a search without dashes or spaces, a tax
    id without dashes is found there already, and is not lower-cased a second time here."""
    bare = lowered.replace("-", "").replace(" ", "")
    if not bare:
        return sa.false()
    condition = unicode_lower(sa.func.replace(column, "-", "")).contains(bare, autoescape=True)
    return condition if bare != lowered else sa.and_(column.contains("-"), condition)


def total_column(stmt: sa.Select, filtered: bool):
    """The number of rows of ``stmt``, as a column ``total`` beside each. A search
    (``filtered``) counts them as it finds them (``count() OVER ()``): one pass through every
    row where a count and then the page took two. A list of all counts them first, through
    an index, and reads its page through another (rather than sorting every row)."""
    if filtered:
        return sa.func.count().over().label("total")
    counted = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    return sa.literal(counted or 0).label("total")


def read_page(rows_of: Callable[[int, int], list], page: int, per_page: int) -> SearchPage:
    """Page ``page`` of a search: ``rows_of(limit, offset)`` reads its rows in order, each
    with the number of all in ``total`` (``total_column``)."""
    page = max(page, 1)
    rows = rows_of(per_page, (page - 1) * per_page)
    if not rows and page > 1:  # past the last page (an old link): the last page
        first = rows_of(1, 0)
        page = max(1, -(-(first[0].total if first else 0) // per_page))
        rows = rows_of(per_page, (page - 1) * per_page)
    total = rows[0].total if rows else 0
    return SearchPage(rows, total, page, max(1, -(-total // per_page)))


# --- codes ------------------------------------------------------------------------------


def issue_code(
    contract: Contract,
    issued_by: User | None = None,
    issued_by_label: str = "",
    representative: str = "",
    power_of_attorney: str = "",
) -> str:
    """A new code for ``contract``; earlier unused codes stop working. Returns the plain code."""
    code, _record = issue_code_record(
        contract, issued_by, issued_by_label, representative, power_of_attorney
    )
    return code


def issue_code_record(
    contract: Contract,
    issued_by: User | None = None,
    issued_by_label: str = "",
    representative: str = "",
    power_of_attorney: str = "",
) -> tuple[str, ConfirmationCode]:
    """Like ``issue_code``, also returning the stored record (its expiry goes on the slip).

    Only the hash is stored: the plain code exists in this return value and nowhere else.
    """
    now = utcnow()
    db.session.execute(
        sa.update(ConfirmationCode)
        .where(
            ConfirmationCode.contract_id == contract.id,
            ConfirmationCode.used_at.is_(None),
            ConfirmationCode.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    code = generate_code()
    record = ConfirmationCode(
        contract_id=contract.id,
        code_hash=hash_password(normalize_code(code)),
        issued_at=now,
        expires_at=now + timedelta(days=current_app.config["CODE_TTL_DAYS"]),
        issued_by_id=issued_by.id if issued_by else None,
        issued_by_label=issued_by_label or (issued_by.email if issued_by else ""),
        received_by="representative" if representative else "holder",
        representative_name=representative,
        power_of_attorney=power_of_attorney,
    )
    db.session.add(record)
    db.session.flush()
    audit.record(
        "contract.code_issued",
        actor=issued_by,
        obj=contract,
        code_id=record.id,
        received_by=record.received_by,
        representative=representative,
        power_of_attorney=power_of_attorney,
    )
    return code, record


def code_is_current(contract: Contract, typed: str) -> ConfirmationCode | None:
    """The contract's newest code when ``typed`` is that code and it still works, else None.

    For reprinting a slip from the page that showed the code: the code travels back in a
    POST body, and this check stops that form from printing arbitrary text as a slip.
    """
    record = latest_code(contract)
    matches = verify_password(
        record.code_hash if record else DUMMY_PASSWORD_HASH, normalize_code(typed)
    )
    if record is None or not matches or code_state(_facts(record), utcnow()) != "live":
        return None
    return record


def code_history(contract: Contract) -> list:
    """Every code of ``contract``, newest first, with the email of the account that used it."""
    used_by = aliased(User)
    return db.session.execute(
        sa.select(ConfirmationCode, used_by.email.label("used_by_email"))
        .outerjoin(used_by, used_by.id == ConfirmationCode.used_by_id)
        .where(ConfirmationCode.contract_id == contract.id)
        .order_by(ConfirmationCode.issued_at.desc(), ConfirmationCode.id.desc())
    ).all()


def code_status(code: ConfirmationCode, now: datetime | None = None) -> str:
    return code_state(_facts(code), now or utcnow())


def _facts(code: ConfirmationCode) -> CodeFacts:
    return CodeFacts(
        expires_at=code.expires_at,
        used_at=code.used_at,
        revoked_at=code.revoked_at,
        failed_attempts=code.failed_attempts,
    )


# --- attaching --------------------------------------------------------------------------


@dataclass(frozen=True)
class AttachResult:
    outcome: Outcome
    contract: Contract | None = None
    wait: timedelta | None = None  # for THROTTLED: how long until the next try

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.ATTACHED


def account_wait(user: User, now: datetime | None = None) -> timedelta | None:
    """How long ``user`` must wait before trying a code again (None: may try now).

    Counted from the audit trail, so every worker and server sees the same count.
    """
    now = now or utcnow()
    recent = db.session.scalars(
        sa.select(AuditEvent.created_at)
        .where(
            AuditEvent.actor_id == user.id,
            AuditEvent.action == ATTACH_FAILED,
            AuditEvent.created_at > now - ACCOUNT_WINDOW,
        )
        .order_by(AuditEvent.created_at.desc())
        .limit(MAX_ACCOUNT_FAILURES)
    ).all()
    return retry_after(list(recent), now)


def attach_contract(user: User, number: str, typed_code: str) -> AttachResult:
    """Attach contract ``number`` to ``user`` if ``typed_code`` is its current code.

    Exactly one hash comparison whatever the input (against a dummy hash when the contract or
    its code does not exist), so an unknown number and a wrong code cost the same time (up to
    one small UPDATE, far below the hash's jitter, with ten tries an hour) and get the same
    outcome. Every failure is an AuditEvent, which the hourly limit counts.
    """
    number = number.strip()
    now = utcnow()
    wait = account_wait(user, now)
    if wait is not None:
        # Not counted as a failure: no code was compared, and the wait must not grow.
        audit.record("contract.attach_throttled", actor=user, number=number[:30])
        return AttachResult(Outcome.THROTTLED, wait=wait)

    contract, code = _contract_and_latest_code(number)
    matches = verify_password(
        code.code_hash if code is not None else DUMMY_PASSWORD_HASH, normalize_code(typed_code)
    )
    facts = _facts(code) if code is not None else None
    outcome = check_attempt(
        code=facts,
        matches=matches and code is not None,
        contract_account_id=contract.account_id if contract is not None else None,
        me=user.id,
        now=now,
    )
    if outcome is Outcome.ATTACHED:
        outcome = _claim(contract, code, user, now)
    if outcome is Outcome.ATTACHED:
        audit.record("contract.attached", actor=user, obj=contract, code_id=code.id)
        return AttachResult(outcome, contract)

    if counts_against_code(outcome, facts, now):
        db.session.execute(
            sa.update(ConfirmationCode)
            .where(
                ConfirmationCode.id == code.id,
                ConfirmationCode.used_at.is_(None),
                ConfirmationCode.revoked_at.is_(None),
            )
            .values(failed_attempts=ConfirmationCode.failed_attempts + 1)
            .execution_options(synchronize_session=False)
        )
    audit.record(ATTACH_FAILED, actor=user, obj=contract, reason=outcome.value, number=number[:30])
    return AttachResult(outcome, contract if outcome is not Outcome.NO_MATCH else None)


def _contract_and_latest_code(number: str):
    """The contract ``number`` and its newest code, in one query (either may be None).

    The number as typed, or else in capitals: a phone capitalises the first letter of a
    field only, and "El-0000042" is the slip's "EL-0000042"."""
    newest = (
        sa.select(ConfirmationCode.id)
        .where(ConfirmationCode.contract_id == Contract.id)
        .order_by(ConfirmationCode.issued_at.desc(), ConfirmationCode.id.desc())
        .limit(1)
        .correlate(Contract)
        .scalar_subquery()
    )
    matches, as_typed_first = typed_number(number)
    row = db.session.execute(
        sa.select(Contract, ConfirmationCode)
        .outerjoin(ConfirmationCode, ConfirmationCode.id == newest)
        .where(matches)
        .order_by(as_typed_first)
    ).first()
    return (row[0], row[1]) if row is not None else (None, None)


def _claim(contract: Contract, code: ConfirmationCode, user: User, now: datetime) -> Outcome:
    """The race-proof part: two conditional UPDATEs in the caller's transaction.

    The first takes the contract only while no account holds it; the second uses the code
    only while it is unused, unrevoked, unlocked and unexpired. Both are checked by rowcount,
    so of any number of simultaneous valid attempts exactly one gets both; on PostgreSQL the
    losers wait on the row lock and then match no row, on SQLite writers are serialised.
    """
    taken = db.session.execute(
        sa.update(Contract)
        .where(Contract.id == contract.id, Contract.account_id.is_(None))
        .values(account_id=user.id, attached_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        db.session.refresh(contract)
        return Outcome.ALREADY_YOURS if contract.account_id == user.id else Outcome.TAKEN

    used = db.session.execute(
        sa.update(ConfirmationCode)
        .where(
            ConfirmationCode.id == code.id,
            ConfirmationCode.used_at.is_(None),
            ConfirmationCode.revoked_at.is_(None),
            ConfirmationCode.failed_attempts < MAX_CODE_FAILURES,
            ConfirmationCode.expires_at > now,
        )
        .values(used_at=now, used_by_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        # The code changed since we read it (used, revoked or locked meanwhile): give the
        # contract back. We still hold its row (write lock), so nobody saw it attached.
        db.session.execute(
            sa.update(Contract)
            .where(Contract.id == contract.id, Contract.account_id == user.id)
            .values(account_id=None, attached_at=None)
            .execution_options(synchronize_session=False)
        )
        db.session.refresh(contract)
        db.session.refresh(code)
        state = code_state(_facts(code), now)
        return {
            "used": Outcome.USED,
            "locked": Outcome.LOCKED,
            "expired": Outcome.EXPIRED,
        }.get(state, Outcome.REVOKED)

    db.session.refresh(contract)
    db.session.refresh(code)
    return Outcome.ATTACHED


def detach_contract(
    contract: Contract, actor: User, reason: str = "", by_staff: bool = False
) -> int | None:
    """Detach ``contract`` from its account and withdraw its unused codes, so attaching again
    needs a new code. Returns the id of the account it left; None when it was not attached
    (any more).

    The debt-notice state goes too: the next account hears of a debt the contract carries."""
    previous = contract.account_id
    if previous is None:
        return None
    detached = db.session.execute(
        sa.update(Contract)
        .where(Contract.id == contract.id, Contract.account_id == previous)
        .values(account_id=None, attached_at=None, debt_notified=False)
        .execution_options(synchronize_session=False)
    )
    if detached.rowcount != 1:
        db.session.refresh(contract)
        return None
    now = utcnow()
    revoked = db.session.execute(
        sa.update(ConfirmationCode)
        .where(
            ConfirmationCode.contract_id == contract.id,
            ConfirmationCode.used_at.is_(None),
            ConfirmationCode.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    audit.record(
        "contract.detached",
        actor=actor,
        obj=contract,
        account_id=previous,
        by="staff" if by_staff else "customer",
        reason=reason,
        codes_revoked=revoked,
    )
    db.session.refresh(contract)
    return previous


def contract_events(contract: Contract, limit: int = 30) -> list:
    """The latest audit events about ``contract``, with the actor's email."""
    return db.session.execute(
        sa.select(AuditEvent, User.email.label("actor_email"))
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(AuditEvent.object_type == "Contract", AuditEvent.object_id == str(contract.id))
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(limit)
    ).all()


# --- figures ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractRow:
    """A contract of the customer's list with its figures."""

    id: int
    number: str
    holder_name: str
    address: str
    status: str
    summary: balance.Summary


@dataclass(frozen=True)
class ContractPage:
    """One page of an account's contracts after its search and filter."""

    rows: list[ContractRow]
    count: int  # the contracts that match, on every page
    total: int  # the contracts of the account
    page: int
    pages: int
    balance: Decimal  # the sums of the contracts that match
    overdue: Decimal
    # An advance on one contract pays nothing on another: what is owed, and what is ahead.
    to_pay: Decimal
    advance: Decimal


def find_contracts(
    rows: Sequence[ContractRow],
    query: str = "",
    show: str = "",
    lacking_readings: Collection[str] = (),
) -> list[ContractRow]:
    """The ``rows`` whose number, holder or address has every word of ``query`` and that pass
    the ``show`` filter; ``lacking_readings`` names the contracts with a meter still missing
    this month's readings."""
    if not contract_list.normalise(query) and not show:
        return list(rows)  # the whole list: nothing to compare for each of the contracts
    return [
        row
        for row in rows
        if contract_list.matches(query, row.number, row.holder_name, row.address)
        and contract_list.shown(show, row.summary, row.number in lacking_readings)
    ]


def contract_page(
    found: Sequence[ContractRow], total: int, page: int = 1, per_page: int = 50
) -> ContractPage:
    """The page ``page`` of the contracts ``found`` among the account's ``total``, with the
    sums of all of them."""
    pages = max(1, -(-len(found) // per_page))
    page = min(max(page, 1), pages)
    return ContractPage(
        list(found[(page - 1) * per_page : page * per_page]),
        len(found),
        total,
        page,
        pages,
        sum((row.summary.balance for row in found), balance.ZERO),
        sum((row.summary.overdue for row in found), balance.ZERO),
        sum((max(row.summary.balance, balance.ZERO) for row in found), balance.ZERO),
        sum((row.summary.advance for row in found), balance.ZERO),
    )


@dataclass(frozen=True)
class MeterView:
    meter: Meter
    latest: dict  # zone -> (period, value) of the latest live reading


@cache
def meters_statement() -> sa.Select:
    """A contract's meters, installed ones first: built once, the contract a parameter."""
    return (
        sa.select(Meter)
        .where(Meter.contract_id == sa.bindparam("contract_id"))
        .order_by(Meter.removed_on.is_not(None), Meter.serial)
    )


@cache
def _latest_readings_statement() -> sa.Select:
    """Each zone's latest live reading of a contract's meters: built once (building it anew
    cost more than running it), the contract a parameter."""
    meter_ids = sa.select(Meter.id).where(Meter.contract_id == sa.bindparam("contract_id"))
    live = sa.and_(Reading.meter_id.in_(meter_ids), Reading.status != "superseded")
    newest = (
        sa.select(Reading.meter_id, Reading.zone, sa.func.max(Reading.period).label("period"))
        .where(live)
        .group_by(Reading.meter_id, Reading.zone)
        .subquery()
    )
    return (
        sa.select(Reading.meter_id, Reading.zone, Reading.period, Reading.value)
        .join(
            newest,
            sa.and_(
                newest.c.meter_id == Reading.meter_id,
                newest.c.zone == Reading.zone,
                newest.c.period == Reading.period,
            ),
        )
        .where(live)
    )


def contract_meters(contract: Contract) -> list[MeterView]:
    """The meters of ``contract`` (installed ones first) with each zone's latest reading, in
    two queries."""
    params = {"contract_id": contract.id}
    meters = db.session.scalars(meters_statement(), params).all()
    if not meters:
        return []
    rows = db.session.execute(_latest_readings_statement(), params).all()
    latest: dict[int, dict] = {}
    for row in rows:
        latest.setdefault(row.meter_id, {})[row.zone] = (row.period, row.value)
    return [MeterView(m, latest.get(m.id, {})) for m in meters]
