"""Readings: a contract's meters with their history, submitting a month's readings, export.

Services add and flush; the caller (a view or a command) commits once. A reading is never
changed in place: a correction marks the live row ``superseded`` and inserts the new value, so
history keeps both. The partial unique index ``uq_readings_live`` (meter, zone, period) WHERE
status != 'superseded' makes two simultaneous submissions for one month end with exactly one
live row; the loser of that race gets an IntegrityError and its caller tries once more
(``lkapp.readings.views.commit_with_retry``), superseding the winner: both stay in history.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from functools import cache, cached_property
from operator import itemgetter
from typing import TextIO

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager

from ..database import hold_sqlite_writes
from ..domain.readings import (
    Check,
    Window,
    check_reading,
    consumption,
    month_span,
    months_between,
    pages_of_groups,
    shift_month,
)
from ..domain.readings import parse_value as parse_register
from ..extensions import db
from ..formatting import formats
from ..models import AuditEvent, Contract, Meter, MeterMove, Reading, User
from ..services import audit
from ..services.billing.export import write_csv
from . import clock

LIVE = Reading.status != "superseded"
CHART_MONTHS = 24
HISTORY_MONTHS = 12
RECENT_MONTHS = 12
# The readings of all meters come in pages of whole contracts with about this many meters: a
# chain of shops has thousands, which took seconds and megabytes as one page.
METERS_PER_PAGE = 50
EXPORT_COLUMNS = (
    "contract_number", "meter_serial", "zone", "period", "value", "submitted_at", "source"
)  # fmt: skip


# --- reading a contract's meters ----------------------------------------------------------


@dataclass
class Row:
    """One stored reading, with the consumption since the live reading before its month."""

    id: int
    zone: str
    period: date
    value: Decimal
    submitted_at: datetime
    source: str
    status: str
    contract_id: int | None = None  # given for this contract (None: the meter's)
    kwh: Decimal | None = None  # None: no earlier reading to count from
    rolled_over: bool = False
    months: int = 1  # the months ``kwh`` covers (more than one after a gap in the readings)

    @property
    def live(self) -> bool:
        return self.status != "superseded"


@dataclass
class Arrival:
    """The readings of one month that arrived together, by zone: the zones of one form, of one
    import or of one operator's entry (one time, source and status)."""

    period: date
    submitted_at: datetime
    source: str
    status: str
    zones: dict[str, Row] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.status != "superseded"

    @property
    def last_id(self) -> int:
        return max(row.id for row in self.zones.values())

    @property
    def contract_id(self) -> int | None:
        """The contract the readings were given for (None: the meter's)."""
        return next(iter(self.zones.values())).contract_id


@dataclass
class MeterReadings:
    """A meter and everything the Readings tab shows of it."""

    meter: Meter
    rows: list[Row]  # as loaded (see contract_readings), oldest month first; within a month,
    # in the order they arrived
    period: date  # the month the window is (or will be) for
    accepts: bool  # installed and not removed for that month
    # Whose view: a contract's, which sees only the readings given for it
    # (``Reading.contract_id``), or (None) the office's, which sees them all. The others
    # still count where the meter's register does: the last reading a new one must not fall
    # below, and the first month's consumption.
    viewer: int | None = None

    @property
    def contract_ended(self) -> bool:
        """Whether the holder's contract is terminated: its final readings are the office's to
        take, so the holder may no longer send any (the office still may)."""
        return self.viewer == self._contract_id and self.meter.contract.status != "active"

    @property
    def zones(self) -> list[str]:
        return self.meter.zone_list

    @cached_property
    def _contract_id(self) -> int:
        """The meter's contract, read once: ``shown`` asks for each of a few hundred rows."""
        return self.meter.contract_id

    @property
    def moved_away(self) -> bool:
        """Whether billing has moved the meter from the viewing contract to another one."""
        return self.viewer is not None and self.viewer != self._contract_id

    def shown(self, row: Row) -> bool:
        return self.viewer is None or (row.contract_id or self._contract_id) == self.viewer

    @cached_property
    def given_before_move(self) -> bool:
        """Whether the previous holder gave this window's readings before the meter moved:
        the month has its readings, and they are not the new holder's to replace; the new
        holder's first month is the next one."""
        return any(
            row.live
            and row.period == self.period
            and row.contract_id not in (None, self._contract_id)
            for row in self.rows
        )

    @cached_property
    def _live_by_zone(self) -> dict[str, list[Row]]:
        """Each zone's live readings, grouped once: the tab asks for them a dozen times (the
        rows are not changed after loading)."""
        live = defaultdict(list)
        for row in self.rows:
            if row.live:
                live[row.zone].append(row)
        return live

    def live_series(self, zone: str) -> list[Row]:
        return self._live_by_zone.get(zone, [])

    def latest(self, zone: str, before: date | None = None) -> Row | None:
        """The newest live reading of ``zone`` (of a month before ``before``, if given)."""
        return next(
            (
                row
                for row in reversed(self.live_series(zone))
                if before is None or row.period < before
            ),
            None,
        )

    def of_period(self, period: date) -> list[Row]:
        return [row for row in self.rows if row.period == period and self.shown(row)]

    def submitted(self) -> dict[str, Row]:
        """This window's live readings by zone (what a new submission would supersede)."""
        return {row.zone: row for row in self.of_period(self.period) if row.live}

    def history(self, since: date | None = None) -> list[Arrival]:
        """The readings as arrivals, a line of the history each: newest month first, and
        within a month the live readings before the ones they replaced, newest first; only
        the months from ``since`` on, when given."""
        arrivals: dict[tuple, Arrival] = {}
        for row in self.rows:
            if (since is not None and row.period < since) or not self.shown(row):
                continue
            key = (row.period, row.submitted_at, row.source, row.status, row.contract_id)
            arrival = arrivals.get(key)
            if arrival is not None and row.zone in arrival.zones:
                key += (row.id,)  # the same zone twice at one instant: a line of its own
                arrival = None
            if arrival is None:
                arrival = arrivals[key] = Arrival(*key[:4])
            arrival.zones[row.zone] = row
        return sorted(
            arrivals.values(), key=lambda a: (-a.period.toordinal(), not a.live, -a.last_id)
        )

    def has_history_before(self, since: date) -> bool:
        first = next((row for row in self.rows if self.shown(row)), None)
        return first is not None and first.period < since

    def recent_kwh(self, zone: str, period: date) -> list[tuple[Decimal, int]]:
        """The consumption of the readings of the 12 months before ``period``, each with the
        months it covers (for the 3x rule), of this contract's months only: another
        business's use says nothing of this one's."""
        since = shift_month(period, -RECENT_MONTHS)
        return [
            (row.kwh, row.months)
            for row in self.live_series(zone)
            if since <= row.period < period and row.kwh is not None and self.shown(row)
        ]

    def monthly_kwh(
        self, months: list[date]
    ) -> tuple[dict[str, list[Decimal | None]], set[tuple[str, date]]]:
        """Per zone, the consumption of each month of ``months`` (None: no reading), and the
        (zone, month) whose figure is a share: a reading after months without one covers
        them all, and its kWh are shared evenly among them rather than put in its month."""
        wanted = set(months)
        result, shared = {}, set()
        for zone in self.zones:
            by_month = {}
            for row in self.live_series(zone):
                if row.kwh is None or not self.shown(row):
                    continue
                if row.months == 1:
                    by_month[row.period] = row.kwh
                    continue
                share = row.kwh / row.months
                for back in range(row.months):
                    month = shift_month(row.period, -back)
                    if month in wanted:
                        by_month[month] = share
                        shared.add((zone, month))
            result[zone] = [by_month.get(month) for month in months]
        return result, shared


def meter_accepts(meter: Meter, period: date) -> bool:
    """Whether ``meter`` is installed for the month ``period`` (not removed before it)."""
    return meter.installed_on < shift_month(period, 1) and (
        meter.removed_on is None or meter.removed_on >= period
    )


@cache
def _meters_statement() -> sa.Select:
    """A contract's meters, installed ones first, then those billing has moved to another
    contract: built once, the contract a parameter."""
    contract_id = sa.bindparam("contract_id")
    moved_away = sa.select(MeterMove.meter_id).where(MeterMove.from_contract_id == contract_id)
    return (
        sa.select(Meter)
        .where(sa.or_(Meter.contract_id == contract_id, Meter.id.in_(moved_away)))
        .order_by(Meter.contract_id != contract_id, Meter.removed_on.is_not(None), Meter.serial)
    )


def contract_readings(
    contract: Contract, window: Window, since: date | None = None
) -> list[MeterReadings]:
    """The meters of ``contract`` (installed ones first, then the ones moved away from it)
    with their readings, in two queries whatever the number of meters and months: all of
    them, or with ``since`` only those of that month on, plus each zone's last live reading
    before it (what the first month's consumption counts from, and the last reading of a
    meter read no more since)."""
    meters = db.session.scalars(_meters_statement(), {"contract_id": contract.id}).all()
    return _with_readings(meters, window, since, viewer=contract.id)


@cache
def _account_meters_in_use_statement() -> sa.Select:
    """The meters on an account's active contracts, by contract number and serial (as the
    dashboard and the reminders count them): ids and dates only, enough to page them. Built
    once, the account a parameter."""
    return (
        sa.select(Meter.id, Meter.contract_id, Meter.installed_on, Meter.removed_on)
        .join(Contract, Contract.id == Meter.contract_id)
        .where(Contract.account_id == sa.bindparam("account_id"), Contract.status == "active")
        .order_by(Contract.number, Meter.serial)
    )


@cache
def _meters_with_contract_statement() -> sa.Select:
    """Some meters (``meter_ids``) with their contract, by contract number and serial."""
    return (
        sa.select(Meter)
        .join(Meter.contract)
        .options(contains_eager(Meter.contract))
        .where(Meter.id.in_(sa.bindparam("meter_ids", expanding=True)))
        .order_by(Contract.number, Meter.serial)
    )


@dataclass
class MeterPage:
    """A page of the readings of all meters: whole contracts, about ``METERS_PER_PAGE``
    meters."""

    items: list[MeterReadings]
    page: int
    pages: int


def account_meter_page(
    user: User, window: Window, page: int = 1, meter_ids: list[int] | None = None
) -> MeterPage:
    """The meters on ``user``'s active contracts that are installed for the window's month,
    each as its contract's holder sees it, with that month's readings and each zone's last one
    before it: those of page ``page`` (the last one past it), or with ``meter_ids`` those of
    them (the page a form was sent from, whatever has moved the pages' bounds since). Three
    statements whatever the number of meters."""
    rows = db.session.execute(_account_meters_in_use_statement(), {"account_id": user.id})
    in_use = [(row.id, row.contract_id) for row in rows if meter_accepts(row, window.period)]
    contracts: dict[int, list[int]] = {}
    for meter_id, contract_id in in_use:
        contracts.setdefault(contract_id, []).append(meter_id)
    groups = list(contracts.values())
    bounds = pages_of_groups([len(group) for group in groups], METERS_PER_PAGE)
    page = min(max(page, 1), max(len(bounds), 1))
    if meter_ids is not None:
        wanted = set(meter_ids)
        ids = [meter_id for meter_id, _contract_id in in_use if meter_id in wanted]
    else:
        ids = [meter_id for i in (bounds[page - 1] if bounds else ()) for meter_id in groups[i]]
    meters = (
        db.session.scalars(_meters_with_contract_statement(), {"meter_ids": ids}).all()
        if ids
        else []
    )
    items = _with_readings(meters, window, since=window.period)
    return MeterPage(
        [replace(item, viewer=item.meter.contract_id) for item in items], page, len(bounds)
    )


def account_meters_out_of_use(
    user: User, window: Window, meter_ids: list[int]
) -> list[MeterReadings]:
    """Those of ``meter_ids`` that are on ``user``'s contracts, whatever the contract's status
    or the meter's dates, each as its holder sees it with the window's readings: meters a form
    showed that no longer take readings (the contract ended, the meter was removed). The others
    are on no contract of the account, and nothing is told of them."""
    meter_ids = [i for i in meter_ids if 0 < i < 2**63]  # a longer id is no meter (and no SQL)
    if not meter_ids:
        return []
    meters = db.session.scalars(
        _meters_with_contract_statement().where(Contract.account_id == user.id),
        {"meter_ids": meter_ids},
    ).all()
    items = _with_readings(meters, window, since=window.period)
    return [replace(item, viewer=item.meter.contract_id) for item in items]


def meter_readings(meter: Meter, window: Window, contract: Contract | None = None) -> MeterReadings:
    """A meter with its readings, as ``contract``'s holder sees them, or (None) as the office
    does, with every contract's."""
    return _with_readings([meter], window, viewer=contract.id if contract else None)[0]


_ROW_COLUMNS = (
    Reading.meter_id,
    Reading.id,
    Reading.zone,
    Reading.period,
    Reading.value,
    Reading.submitted_at,
    Reading.source,
    Reading.status,
    Reading.contract_id,
)
# Oldest month first; within a month, in the order they arrived. By position: a key that
# reads the rows' attributes by name took ten times as long (0.17 ms for 144 rows).
_ARRIVAL_ORDER = itemgetter(
    *(
        [column.key for column in _ROW_COLUMNS].index(name)
        for name in ("meter_id", "period", "submitted_at", "id")
    )
)


@cache
def _readings_statement(whole: bool) -> sa.Select | sa.CompoundSelect:
    """The readings of some meters (``meter_ids``): all of them, or those from the month
    ``since`` on plus each zone's last live reading before it. Built once per kind, with
    parameters: building it anew cost more than running it."""
    meter_ids = sa.bindparam("meter_ids", expanding=True)
    if whole:
        return sa.select(*_ROW_COLUMNS).where(Reading.meter_id.in_(meter_ids))
    since = sa.bindparam("since", type_=sa.Date)
    last_before = (
        sa.select(Reading.meter_id, Reading.zone, sa.func.max(Reading.period).label("period"))
        .where(Reading.meter_id.in_(meter_ids), Reading.period < since, LIVE)
        .group_by(Reading.meter_id, Reading.zone)
        .subquery()
    )
    return sa.union_all(
        sa.select(*_ROW_COLUMNS).where(Reading.meter_id.in_(meter_ids), Reading.period >= since),
        sa.select(*_ROW_COLUMNS)
        .join(
            last_before,
            sa.and_(
                Reading.meter_id == last_before.c.meter_id,
                Reading.zone == last_before.c.zone,
                Reading.period == last_before.c.period,
            ),
        )
        .where(LIVE),
    )


def _with_readings(
    meters, window: Window, since: date | None = None, viewer: int | None = None
) -> list[MeterReadings]:
    if not meters:
        return []
    params = {"meter_ids": [m.id for m in meters], "since": since}
    rows = db.session.execute(_readings_statement(since is None), params).all()
    rows.sort(key=_ARRIVAL_ORDER)
    by_meter: dict[int, list[Row]] = defaultdict(list)
    for meter_id, *values in rows:
        by_meter[meter_id].append(Row(*values))
    result = []
    for meter in meters:
        meter_rows = by_meter.get(meter.id, [])
        _add_consumption(meter, meter_rows)
        result.append(
            MeterReadings(
                meter,
                meter_rows,
                window.period,
                meter_accepts(meter, window.period) and viewer in (None, meter.contract_id),
                viewer,
            )
        )
    return result


def _add_consumption(meter: Meter, rows: list[Row]) -> None:
    """Each row's kWh since the live reading of the latest earlier month of its zone."""
    live: dict[str, tuple[list[date], list[Decimal]]] = defaultdict(lambda: ([], []))
    for row in rows:
        if row.live:
            periods, values = live[row.zone]
            periods.append(row.period)
            values.append(row.value)
    digits, ct_ratio = meter.digits, meter.ct_ratio  # read once, not per row
    for row in rows:
        periods, values = live[row.zone]
        index = bisect.bisect_left(periods, row.period)
        if index == 0:
            continue
        previous = values[index - 1]
        row.kwh = consumption(previous, row.value, digits, ct_ratio)
        row.rolled_over = row.value < previous
        row.months = months_between(periods[index - 1], row.period)


# --- submitting ---------------------------------------------------------------------------


@dataclass
class ZoneResult:
    """One zone of a submission: what was typed and the verdict on it."""

    zone: str
    typed: str
    value: Decimal | None = None
    error: str | None = None  # a key: required, not_a_number, ..., below_previous
    previous: Row | None = None
    check: Check | None = None

    @property
    def needs_confirmation(self) -> bool:
        return self.check is not None and self.check.needs_confirmation


@dataclass
class Submission:
    meter: Meter
    period: date
    source: str = "portal"  # portal: the customer's; operator: the office's, for the customer
    zones: dict[str, ZoneResult] = field(default_factory=dict)
    # window_closed, contract_ended, meter_removed, given_before_move, period_changed
    problem: str | None = None
    unconfirmed: bool = False  # a value needs "I have checked the reading" first
    stored: list[Reading] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)
    # The month's live readings are these very values from the same source: the form sent
    # again (a double click, a reload of the answer). Nothing is stored, nor mailed again.
    unchanged: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.stored) or self.unchanged


def submit(
    meter: Meter,
    typed: dict[str, str],
    *,
    confirmed: bool,
    user: User,
    source: str = "portal",
    period: date | None = None,
) -> Submission:
    """Check the values typed for each zone of ``meter`` for this window's month and, when all
    are good (and any suspicious one is confirmed), store them: nothing is stored otherwise.
    ``period``: the month the form was shown for (None: not known, a page older than that
    field or a script); when the window is for another month now, nothing is stored either
    (``period_changed``): the values were read for that month.

    On a correction the month's live readings become ``superseded`` (``uq_readings_live``
    allows one live reading per meter, zone and month; the caller retries once when another
    submission won that race in the meantime).
    """
    window = clock.window()
    result = Submission(meter, window.period, source)
    if not window.is_open:
        result.problem = "window_closed"
        return result
    data = meter_readings(meter, window, meter.contract)
    if data.contract_ended and source == "portal":
        result.problem = "contract_ended"
        return result
    if not data.accepts:
        result.problem = "meter_removed"
        return result
    if data.given_before_move:
        result.problem = "given_before_move"
        return result
    if period is not None and period != window.period:
        result.problem = "period_changed"
        return result
    symbols = formats().symbols
    group_separator = symbols.group if symbols else ""
    for zone in meter.zone_list:
        text = (typed.get(zone) or "").strip()
        verdict = result.zones[zone] = ZoneResult(zone, text)
        verdict.value, verdict.error = parse_register(text, meter.digits, group_separator)
        if verdict.error:
            continue
        previous = verdict.previous = data.latest(zone, before=window.period)
        verdict.check = check_reading(
            verdict.value,
            previous.value if previous else None,
            meter.digits,
            meter.ct_ratio,
            data.recent_kwh(zone, window.period),
            months_between(previous.period, window.period) if previous else 1,
        )
        verdict.error = verdict.check.error
    if any(v.error for v in result.zones.values()):
        return result
    hold_writes()
    live = live_values(meter, window.period)  # read again under the lock: see hold_writes
    if all(live.get(zone) == (source, verdict.value) for zone, verdict in result.zones.items()):
        result.unchanged = True  # accepted (and confirmed, if it had to be) the first time
        return result
    if not confirmed and any(v.needs_confirmation for v in result.zones.values()):
        result.unconfirmed = True
        return result
    now = clock.utcnow()
    values = {zone: v.value for zone, v in result.zones.items()}
    result.superseded = supersede_live(meter, window.period, list(values))
    result.stored = insert_readings(meter, window.period, values, user, source, now)
    audit.record(
        "reading.submitted",
        actor=user,
        obj=meter,
        contract=meter.contract.number,
        period=f"{window.period:%Y-%m}",
        source=source,
        values=", ".join(f"{zone} {value}" for zone, value in values.items()),
        supersedes=", ".join(str(i) for i in result.superseded),
        confirmed=confirmed and any(v.needs_confirmation for v in result.zones.values()),
    )
    return result


def hold_writes() -> None:
    """SQLite: take the database's one write lock now, before the month's live readings are
    read again, with a write that changes nothing (as ``lkapp.database.lock_row`` does). The
    same form sent twice at once (a double click) then has its second request wait until the
    first is committed and read what it stored: "unchanged", instead of both reading an empty
    month and storing the values twice (and mailing them twice). Taken after the checks, which
    read the history: writers wait for each other for as short a time as may be. PostgreSQL
    needs none: there the second meets ``uq_readings_live`` and its retry reads the first's
    values."""
    hold_sqlite_writes(Reading)


def live_values(meter: Meter, period: date) -> dict[str, tuple[str, Decimal]]:
    """The (source, value) of each zone's live reading of ``period`` (the previous holder's,
    given before a move, were refused before: ``given_before_move``)."""
    r = Reading.__table__.c
    rows = db.session.execute(
        sa.select(r.zone, r.source, r.value).where(
            r.meter_id == meter.id, r.period == period, r.status != "superseded"
        )
    )
    return {zone: (source, value) for zone, source, value in rows}


def supersede_live(meter: Meter, period: date, zones: list[str]) -> list[int]:
    """Mark the live readings of ``zones`` for ``period`` superseded; their ids."""
    table = Reading.__table__
    return list(
        db.session.execute(
            sa.update(table)
            .where(
                table.c.meter_id == meter.id,
                table.c.period == period,
                table.c.zone.in_(zones),
                table.c.status != "superseded",
            )
            .values(status="superseded")
            .returning(table.c.id)
        ).scalars()
    )


def insert_readings(
    meter: Meter,
    period: date,
    values: dict[str, Decimal],
    user: User,
    source: str,
    now: datetime,
) -> list[Reading]:
    """Insert the new live readings (an IntegrityError here: another submission won)."""
    rows = [
        Reading(
            meter_id=meter.id,
            zone=zone,
            period=period,
            value=value,
            submitted_at=now,
            source=source,
            user_id=user.id,
            status="accepted",
            # The holder's as the meter's contract is now, whatever billing does with the
            # meter while the request runs.
            contract_id=meter.contract_id,
        )
        for zone, value in values.items()
    ]
    db.session.add_all(rows)
    db.session.flush()
    return rows


# --- finding ------------------------------------------------------------------------------


def contract_numbers(item: MeterReadings) -> dict[int | None, str]:
    """The numbers of the contracts ``item``'s readings were given for, by id (None: the
    meter's own), for the office's history."""
    numbers = {None: item.meter.contract.number}
    others = {row.contract_id for row in item.rows} - {None}
    if others:
        numbers |= dict(
            db.session.execute(
                sa.select(Contract.id, Contract.number).where(Contract.id.in_(others))
            ).all()
        )
    return numbers


def meter_of(contract: Contract, meter_id: int) -> Meter | None:
    """The meter ``meter_id`` of ``contract``, or None (the caller answers 404)."""
    return db.session.scalar(
        sa.select(Meter).where(Meter.id == meter_id, Meter.contract_id == contract.id)
    )


def meter_shown_to(contract: Contract, meter_id: int) -> Meter | None:
    """The meter ``meter_id`` of ``contract`` or moved away from it, or None."""
    return db.session.scalar(
        _meters_statement().where(Meter.id == meter_id), {"contract_id": contract.id}
    )


def find_meters(query: str, limit: int = 50) -> list[Meter]:
    """Meters whose serial is ``query`` or whose contract's number is ``query``, or that
    billing moved away from that contract (staff)."""
    query = query.strip()
    if not query:
        return []
    # One subquery per table, not an OR across the join: that looked up every meter's
    # contract to compare its number. Moves are few: their contracts are looked up.
    number_is = sa.func.lower(Contract.number) == query.lower()
    found = sa.union(
        sa.select(Meter.id).where(sa.func.lower(Meter.serial) == query.lower()),
        sa.select(Meter.id).where(Meter.contract_id.in_(sa.select(Contract.id).where(number_is))),
        sa.select(MeterMove.meter_id)
        .join(Contract, Contract.id == MeterMove.from_contract_id)
        .where(number_is),
    )
    return list(
        db.session.scalars(
            sa.select(Meter)
            .join(Contract, Contract.id == Meter.contract_id)
            .where(Meter.id.in_(found))
            .order_by(Contract.number, Meter.removed_on.is_not(None), Meter.serial)
            .limit(limit)
        )
    )


# --- export for billing -------------------------------------------------------------------


@dataclass
class ExportCounts:
    new: int  # accepted, not exported yet (new or corrected)
    exported: int  # exported already


def export_counts(period: date) -> ExportCounts:
    r = Reading.__table__.c
    counts = dict(
        db.session.execute(
            sa.select(r.status, sa.func.count())
            .where(r.period == period, r.status != "superseded")
            .group_by(r.status)
        ).all()
    )
    return ExportCounts(counts.get("accepted", 0), counts.get("exported", 0))


@dataclass(frozen=True)
class LastExport:
    at: datetime
    by: str  # the operator's name, or their email; "" when the account is gone


def last_export(period: date, within: int = 200) -> LastExport | None:
    """The latest export of ``period`` that had readings in it, among the last ``within``
    exports of any month (their audit events): for an export that finds nothing new."""
    events = db.session.execute(
        sa.select(AuditEvent, User.name, User.email)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(AuditEvent.action == "readings.exported")
        .order_by(AuditEvent.id.desc())
        .limit(within)
    )
    month = f"{period:%Y-%m}"
    for event, name, email in events:
        if event.details.get("period") == month and int(event.details.get("rows") or 0):
            return LastExport(event.created_at, name or email or "")
    return None


def export_rows(period: date, everything: bool = False) -> list[tuple]:
    """Mark the period's accepted readings ``exported`` and return the rows to export: those
    (new or corrected since the last export), or with ``everything`` every live reading.

    The marking UPDATE comes first and returns what it marked, so a reading superseded at the
    same moment is either exported before its correction or not at all (the correction then
    waits for the next export).
    """
    table = Reading.__table__
    r = table.c
    columns = (r.meter_id, r.contract_id, r.zone, r.period, r.value, r.submitted_at, r.source)
    marked = db.session.execute(
        sa.update(table)
        .where(r.period == period, r.status == "accepted")
        .values(status="exported")
        .returning(*columns)
    ).all()
    if everything:
        marked = db.session.execute(
            sa.select(*columns).where(r.period == period, r.status == "exported")
        ).all()
    m, c = Meter.__table__.c, Contract.__table__.c
    meters = {
        meter_id: (contract_id, number, serial)
        for meter_id, contract_id, number, serial in db.session.execute(
            sa.select(m.id, m.contract_id, c.number, m.serial)
            .join_from(Meter.__table__, Contract.__table__, m.contract_id == c.id)
            .where(m.id.in_(sa.select(r.meter_id).where(r.period == period)))
        )
    }
    # Each reading under the contract it was given for: the last readings the previous holder
    # of a moved meter gave are theirs to pay. Few are: only those need a look-up.
    numbers = {contract_id: number for contract_id, number, _ in meters.values()}
    others = {row.contract_id for row in marked} - numbers.keys() - {None}
    if others:
        numbers |= dict(db.session.execute(sa.select(c.id, c.number).where(c.id.in_(others))).all())
    rows = [
        (
            numbers[contract_id or meters[meter_id][0]],
            meters[meter_id][2],
            zone,
            row_period,
            value,
            submitted_at,
            source,
        )
        for meter_id, contract_id, zone, row_period, value, submitted_at, source in marked
    ]
    rows.sort(key=lambda row: (row[0], row[1], row[2]))
    return rows


def export_readings(
    out: TextIO,
    period: date,
    *,
    everything: bool = False,
    decimal_comma: bool = False,
    actor: User | None = None,
) -> int:
    """Write the readings export of ``period`` (DESIGN.md, "readings export") to ``out`` and
    mark them exported (the caller commits once the file is written); the number of rows.
    The audit event says how the values were written: billing reading "12,5" as 125 is
    traced to the file that had it."""
    rows = export_rows(period, everything)
    count = write_csv(out, EXPORT_COLUMNS, rows, decimal_comma=decimal_comma)
    audit.record(
        "readings.exported",
        actor=actor,
        period=f"{period:%Y-%m}",
        rows=count,
        all=everything,
        decimal_comma=decimal_comma,
    )
    return count


def chart_months(today: date) -> list[date]:
    """The months of the consumption chart: the last 24, ending with this one."""
    return month_span(today, CHART_MONTHS)


def history_start(today: date) -> date:
    """The first month the history table shows unless asked for all of it: the last 12,
    ending with this one (the chart compares two years)."""
    return shift_month(today.replace(day=1), 1 - HISTORY_MONTHS)
