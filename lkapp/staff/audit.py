"""Back office: the audit log, filtered by account, contract, kind of event and dates; paged,
and as a CSV download (every cell guarded against spreadsheet formulas).

"Account" matches the events it did (actor) and the events done to it (object); "contract"
matches the events recorded on the contract and on its meters (readings entered for it).
Dates are days in the deployment's time zone, both ends included.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Response, current_app, request, stream_with_context, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, ValidationError

from ..auth import services as accounts
from ..auth.decorators import staff_required
from ..domain.csvformat import FIRST_YEAR, LAST_YEAR, format_cell
from ..electricity.services import typed_number
from ..extensions import db
from ..formatting import lazy_gettext as _l
from ..forms import one_line
from ..htmx import render
from ..models import AuditEvent, Contract, Meter, MeterMove, User, utcnow
from ..services import audit
from ..services.billing.export import csv_chunks
from .views import bp

PER_PAGE = 50
# A kind with at most this many events is sorted from the action's index (see Filters).
SORTED_AT_MOST = 10_000
CSV_COLUMNS = ("created_at", "actor", "action", "object_type", "object_id", "ip", "details")

# The kinds of event to filter by: each its words and the beginnings of its actions' names.
KINDS = {
    "auth": (_l("Accounts and sign-in"), ("auth.",)),
    "contract": (_l("Contracts and codes"), ("contract.",)),
    "import": (_l("Imports"), ("import.",)),
    "user": (_l("Staff accounts"), ("user.",)),
    "reading": (_l("Readings"), ("reading.", "readings.")),
    "question": (_l("Questions"), ("support.",)),
    "notice": (_l("Notices to customers"), ("notice.",)),
    "audit": (_l("Audit log exports"), ("audit.",)),
}
# Disabling and enabling a staff account are the customers' lock and unlock (one service):
# "who disabled this colleague?" looks under "Staff accounts", so their events on staff
# accounts belong there too (and stay under "Accounts and sign-in"); a customer's do not.
STAFF_LOCK_ACTIONS = ("auth.locked", "auth.unlocked")


def _staff_account_locks():
    staff_ids = sa.select(sa.cast(User.id, sa.String)).where(User.role.in_(("staff", "admin")))
    return sa.and_(
        AuditEvent.action.in_(STAFF_LOCK_ACTIONS),
        AuditEvent.object_type == "User",
        AuditEvent.object_id.in_(staff_ids),
    )


def _within_years(form, field):
    """A day the log can hold (and the day after it still a date: ``until`` ends there)."""
    if field.data and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
        raise ValidationError(
            _l("Enter a date from %(first)s to %(last)s.", first=FIRST_YEAR, last=LAST_YEAR)
        )


class AuditFilterForm(FlaskForm):
    """A GET form (changes nothing): no CSRF token."""

    class Meta:
        csrf = False

    # ``one_line``: a tab or line break pasted with the value reads as a space.
    user = StringField(
        _l("Account (email)"),
        validators=[Length(max=254, message=_l("An email address has at most 254 characters."))],
        filters=[one_line],
    )
    contract = StringField(
        _l("Contract number"),
        validators=[Length(max=30, message=_l("A contract number has at most 30 characters."))],
        filters=[one_line],
    )
    kind = SelectField(
        _l("Kind of event"),
        choices=[
            SelectChoice("", _l("All")),
            *(SelectChoice(kind, label) for kind, (label, _) in KINDS.items()),
        ],
        default="",
    )
    since = DateField(_l("From"), validators=[Optional(), _within_years])
    until = DateField(_l("To"), validators=[Optional(), _within_years])

    def validate_until(self, field):
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_l("The end date is before the start date."))


def _day_start(day: date) -> datetime:
    """Midnight of ``day`` in the deployment's time zone, as an aware datetime."""
    return datetime.combine(day, time(), tzinfo=ZoneInfo(current_app.config["TIMEZONE"]))


def _events_of_contract(contract_id: int):
    """The events recorded on the contract, and on its meters (readings entered, imports),
    those that moved away from it included."""
    meter_ids = [
        str(meter_id)
        for meter_id in db.session.scalars(
            sa.union(
                sa.select(Meter.id).where(Meter.contract_id == contract_id),
                sa.select(MeterMove.meter_id).where(MeterMove.from_contract_id == contract_id),
            )
        )
    ]
    return sa.or_(
        sa.and_(AuditEvent.object_type == "Contract", AuditEvent.object_id == str(contract_id)),
        sa.and_(AuditEvent.object_type == "Meter", AuditEvent.object_id.in_(meter_ids)),
    )


def _actions_beginning(beginnings: tuple[str, ...]) -> list[str]:
    """The distinct actions in the log that begin with one of ``beginnings``: one step of the
    action's index per distinct action (a few dozen), not a read of the log."""
    first = sa.select(sa.func.min(AuditEvent.action).label("action")).cte("actions", recursive=True)
    following = sa.select(
        sa.select(sa.func.min(AuditEvent.action))
        .where(AuditEvent.action > first.c.action)
        .scalar_subquery()
    ).where(first.c.action.is_not(None))
    actions = first.union_all(following)
    return [
        action
        for action in db.session.scalars(
            sa.select(actions.c.action).where(actions.c.action.is_not(None))
        )
        if action.startswith(beginnings)
    ]


class Filters:
    """The form's valid values as SQL conditions; ``unknown`` names an account or contract
    that does not exist (then nothing matches, and the page says why)."""

    def __init__(self, form: AuditFilterForm):
        self.conditions: list = []
        self.unknown: list[str] = []
        self.args: dict[str, str] = {}
        if form.user.data:
            self.args["user"] = form.user.data
            # As signing in finds it: any letter case, any spelling of the domain.
            user = accounts.find_user_by_email(form.user.data)
            if user is None:
                self.unknown.append("user")
            else:
                self.conditions.append(
                    sa.or_(
                        AuditEvent.actor_id == user.id,
                        sa.and_(
                            AuditEvent.object_type == "User",
                            AuditEvent.object_id == str(user.id),
                        ),
                    )
                )
        if form.contract.data:
            self.args["contract"] = form.contract.data
            # In any case, as the customer's "Add contract" reads it.
            matches, as_typed_first = typed_number(form.contract.data)
            contract_id = db.session.scalar(
                sa.select(Contract.id).where(matches).order_by(as_typed_first).limit(1)
            )
            if contract_id is None:
                self.unknown.append("contract")
            else:
                self.conditions.append(_events_of_contract(contract_id))
        if form.kind.data:
            self.args["kind"] = form.kind.data
            _, beginnings = KINDS[form.kind.data]
            matches = [AuditEvent.action.startswith(beginning) for beginning in beginnings]
            if form.kind.data == "user":
                matches.append(_staff_account_locks())
            kind_condition = sa.or_(*matches)
            self.conditions.append(kind_condition)
        if form.since.data:
            self.args["since"] = form.since.data.isoformat()
            self.conditions.append(AuditEvent.created_at >= _day_start(form.since.data))
        if form.until.data:
            self.args["until"] = form.until.data.isoformat()
            end = _day_start(form.until.data + timedelta(days=1))
            self.conditions.append(AuditEvent.created_at < end)
        # The kind alone: also as the log's actions it names, which the action's index finds
        # (its LIKE reads the whole log, and a rare kind's page walked all of it). With another
        # filter, that filter's index finds the events, as before.
        self.by_actions = None
        if form.kind.data and len(self.conditions) == 1 and self.conditions[0] is kind_condition:
            named = [AuditEvent.action.in_(_actions_beginning(beginnings))]
            if form.kind.data == "user":
                named.append(_staff_account_locks())
            self.by_actions = sa.or_(*named)

    def _where(self, by_actions: bool = False) -> list:
        if self.unknown:
            return [sa.false()]
        if by_actions and self.by_actions is not None:
            return [self.by_actions]
        return self.conditions

    def count(self) -> int:
        """The events that match: ``count(*)`` of the log alone (the join to the actor adds
        no row, and SQLite counts the rows of an index far faster than their ids)."""
        stmt = sa.select(sa.func.count()).select_from(AuditEvent)
        return db.session.scalar(stmt.where(*self._where(by_actions=True))) or 0

    def statement(self, total: int | None = None):
        """The events with their actor's email. Given the ``total``, a kind with few events
        is read through the index on the action and sorted; a kind with many is found
        walking the log newest first, where they are close together."""
        by_actions = total is not None and total <= SORTED_AT_MOST
        stmt = sa.select(AuditEvent, User.email).outerjoin(User, User.id == AuditEvent.actor_id)
        return stmt.where(*self._where(by_actions))


def _form() -> tuple[AuditFilterForm, Filters, bool]:
    form = AuditFilterForm(request.args)
    valid = form.validate()
    if not valid:
        # Filter by the fields that are right; the wrong ones say why beside them.
        for name in form.errors:
            field = getattr(form, name)
            field.data = None
            if isinstance(field, DateField):
                field.raw_data = []  # a date input cannot show a value that is not a date
    return form, Filters(form), valid


@bp.get("/audit")
@staff_required
def audit_log():
    """The audit log, newest first, 50 a page; the filters go into the address."""
    form, filters, valid = _form()
    total = filters.count()
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(request.args.get("page", 1, type=int), 1), pages)
    rows = db.session.execute(
        filters.statement(total)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).all()
    return render(
        "staff/audit/index.html",
        "staff/audit/_results.html",
        status=200 if valid else 422,
        form=form,
        filters=filters,
        rows=rows,
        total=total,
        page_number=page,
        pages=pages,
        csv_url=url_for("staff.audit_csv", **filters.args),
        url_for_page=lambda number: url_for("staff.audit_log", page=number, **filters.args),
    )


def _details(details: dict | None) -> str:
    return json.dumps(details or {}, ensure_ascii=False, sort_keys=True)


@bp.get("/audit.csv")
@staff_required
def audit_csv():
    """The filtered log as CSV (UTF-8 with BOM, ``;``), streamed; the export is audited."""
    form, filters, _valid = _form()
    audit.record("audit.exported", actor=current_user, **filters.args)
    db.session.commit()
    total = filters.count() if filters.by_actions is not None else None
    stmt = filters.statement(total).order_by(AuditEvent.created_at, AuditEvent.id)

    def rows():
        result = db.session.execute(stmt.execution_options(yield_per=1000))
        for event, email in result:
            yield (
                format_cell(event.created_at),
                email or "",
                event.action,
                event.object_type,
                event.object_id,
                event.ip,
                _details(event.details),
            )

    filename = f"audit-{utcnow():%Y%m%d-%H%M%S}.csv"
    return Response(
        stream_with_context(csv_chunks(CSV_COLUMNS, rows(), period_columns=())),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
