"""readings (history from billing): ``contract_number, meter_serial, zone, period, value``.

The key is (meter, zone, period). A reading from billing is stored with source ``import`` and
status ``accepted``. When a live reading (not superseded) exists for the key with the same
value, the row is unchanged; with a different value the import never overwrites it: the old
row becomes ``superseded`` and a new one is accepted (an ``import.updated`` audit event names
both; a warning tells the operator when the superseded value was the customer's own).

Checks besides the cells: the meter belongs to the contract and has the zone; the value fits
the meter's register; the period is not in the future nor outside the meter's installation;
and per meter and zone the values do not decrease from one period to the next, counting the
readings already stored (a roll-over of the register from its top tenth to its bottom tenth
is not a decrease, as in the portal).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date
from decimal import Decimal

import sqlalchemy as sa

from ...domain.csvformat import format_period, parse_decimal, strip_formula_guard
from ...domain.readings import is_rollover
from ...models import Meter, MeterMove, Reading
from .base import BAD, Importer, local_today, month_of
from .bulk import Bulk

ZONES = ("T1", "T2", "T3")
LIVE = "t.status <> 'superseded'"
MAX_DIGITS = 9


class ReadingImporter(Importer):
    kind = "readings"
    key_columns = ("meter_serial", "zone", "period")
    columns = ("contract_number", "meter_serial", "zone", "period", "value")
    table = Reading.__table__

    def prepare(self, bulk: Bulk) -> None:
        self.load_contracts(bulk)
        self.numbers = {id_: number for number, id_ in self.contracts.items()}
        meters = Meter.__table__
        self.meters = {
            serial: (id_, contract_id, tuple(zones.split(",")), digits, month_of(on), month_of(off))
            for serial, id_, contract_id, zones, digits, on, off in bulk.conn.execute(
                meters.select().with_only_columns(
                    meters.c.serial,
                    meters.c.id,
                    meters.c.contract_id,
                    meters.c.zones,
                    meters.c.digits,
                    meters.c.installed_on,
                    meters.c.removed_on,
                )
            )
        }
        self.digits = {meter[0]: meter[3] for meter in self.meters.values()}
        self.moves = self._moves(bulk)
        # (meter id, zone, period) -> the contract of its live reading, for the moved meters:
        # a correction may name it, as the export does.
        self.given_for = {
            (meter_id, zone, period): contract_id
            for meter_id, zone, period, contract_id in bulk.select_in(
                self.table,
                "meter_id",
                sorted(self.moves),
                ("meter_id", "zone", "period", "contract_id"),
                where="status <> 'superseded'",
            )
        }
        self.this_month = self.ctx.today.replace(day=1)
        # (meter id, zone) -> [(period, value, line)] of the file, for the order check.
        self.series: dict[tuple[int, str], list[tuple[date, Decimal, int]]] = defaultdict(list)

    def parse(self, cells, line):
        at = self.at
        contract_id = self.contract(cells, line)
        serial = strip_formula_guard(cells[at["meter_serial"]])
        meter = self.meters.get(serial)
        zone = cells[at["zone"]].upper()
        period = self.take(cells, line, "period", self.period)
        value = self.take(cells, line, "value", parse_decimal, 3, integer_digits=MAX_DIGITS)
        if meter is None:
            self.fail(
                line, "meter_serial", serial, "is required" if not serial else "no such meter"
            )
            return None
        meter_id, owner, zones, digits, installed, removed = meter
        holder = owner if period is BAD else self._holder(meter_id, owner, period)
        corrected = self.given_for.get((meter_id, zone, period))
        if contract_id is not BAD and contract_id not in (owner, holder, corrected):
            number = self.numbers.get
            self.fail(
                line,
                "meter_serial",
                serial,
                f"belongs to contract {number(owner, '?')}, not to this one"
                if holder == owner
                else f"belonged to contract {number(holder, '?')} in {format_period(period)} "
                f"(to {number(owner, '?')} now), not to this one",
            )
        if zone not in zones:
            self.fail(
                line,
                "zone",
                cells[at["zone"]],
                f"the meter's zones are {', '.join(zones)}" if zone else "is required",
            )
        if value is not BAD:
            if value < 0:
                self.fail(line, "value", cells[at["value"]], "must not be negative")
            elif value >= Decimal(10) ** digits:
                self.fail(
                    line, "value", cells[at["value"]], f"has more than the meter's {digits} digits"
                )
        if period is not BAD:
            if period > self.this_month:
                self.fail(line, "period", cells[at["period"]], "is in the future")
            elif period < installed:
                self.fail(
                    line, "period", cells[at["period"]],
                    f"is before the meter was installed ({format_period(installed)})",
                )  # fmt: skip
            elif removed is not None and period > removed:
                self.fail(
                    line, "period", cells[at["period"]],
                    f"is after the meter was removed ({format_period(removed)})",
                )  # fmt: skip
        return (meter_id, zone, period, value, holder)

    def key(self, record):
        return record[:3]

    def describe_key(self, key):
        return f"{self._serials().get(key[0], key[0])} {key[1]} {format_period(key[2])}"

    def accept(self, line, record):
        self.series[(record[0], record[1])].append((record[2], record[3], line))

    def after_check(self, bulk: Bulk, progress) -> None:
        """Values must not decrease from period to period (the file over the stored ones)."""
        stored: dict[tuple[int, str], dict[date, Decimal]] = defaultdict(dict)
        meter_ids = sorted({meter_id for meter_id, _ in self.series})
        for meter_id, zone, period, value in bulk.select_in(
            self.table,
            "meter_id",
            meter_ids,
            ("meter_id", "zone", "period", "value"),
            where="status <> 'superseded'",
        ):
            if (meter_id, zone) in self.series:
                stored[(meter_id, zone)][period] = value
        for (meter_id, zone), rows in self.series.items():
            digits = self.digits[meter_id]
            merged = {
                period: (value, 0) for period, value in stored.get((meter_id, zone), {}).items()
            }
            merged.update({period: (value, line) for period, value, line in rows})
            previous = None
            for period in sorted(merged):
                value, line = merged[period]
                if previous is not None:
                    before_period, (before_value, before_line) = previous
                    if value < before_value and not is_rollover(before_value, value, digits):
                        self._report_decrease(
                            period, value, line, before_period, before_value, before_line
                        )
                previous = (period, (value, line))
        self.series.clear()

    def _report_decrease(self, period, value, line, before_period, before_value, before_line):
        if line:
            self.fail(
                line,
                "value",
                value,
                f"is below {before_value} of the previous period {format_period(before_period)}",
            )
        elif before_line:
            self.fail(
                before_line,
                "value",
                before_value,
                f"is above {value} already stored for the next period {format_period(period)}",
            )

    def write(self, bulk: Bulk, batch) -> None:
        ctx, report = self.ctx, self.ctx.report
        existing = {
            (meter_id, zone, period): (id_, value, source, status, contract_id)
            for id_, meter_id, zone, period, value, source, status, contract_id in (
                bulk.select_by_keys(
                    self.table,
                    ("meter_id", "zone", "period"),
                    [record[:3] for _, record in batch],
                    (
                        "id",
                        "meter_id",
                        "zone",
                        "period",
                        "value",
                        "source",
                        "status",
                        "contract_id",
                    ),  # fmt: skip
                    where=LIVE,
                )
            )
        }
        new, superseded = [], []
        for line, record in batch:
            row = existing.get(record[:3])
            if row is not None and row[1] == record[3]:
                report.unchanged += 1
                continue
            new.append((line, record, row))
        ids = bulk.next_ids(self.table, len(new))
        for id_, (line, record, row) in zip(ids, new, strict=True):
            if row is None:
                continue
            old_id, old_value, source, status, _ = row
            superseded.append(("superseded", old_id))
            ctx.audit_updated(
                "Reading",
                id_,
                self._key_text(record),
                {"id": old_id, "value": str(old_value), "source": source, "status": status},
                {"id": id_, "value": str(record[3]), "source": "import", "status": "accepted"},
            )
            if source != "import":
                ctx.report.warnings.add(
                    self.file,
                    line,
                    "value",
                    record[3],
                    f"supersedes the {source} reading {old_value} of {self._key_text(record)}",
                )
        # Supersede first: the live reading of a key must be unique at every statement.
        bulk.update(self.table, ("status",), superseded)
        bulk.insert(
            self.table,
            (
                "id",
                "meter_id",
                "zone",
                "period",
                "value",
                "submitted_at",
                "source",
                "status",
                "contract_id",
            ),  # fmt: skip
            [
                (
                    id_,
                    *record[:4],
                    ctx.now,
                    "import",
                    "accepted",
                    # a correction stays with the reading it corrects (None: the meter's
                    # contract, which holds its month: a move gives those to the one it left)
                    (row and row[4]) or record[4],
                )  # fmt: skip
                for id_, (_, record, row) in zip(ids, new, strict=True)
            ],
        )
        report.created += len(new) - len(superseded)
        report.updated += len(superseded)

    def _key_text(self, record) -> str:
        serial = self._serials().get(record[0], f"#{record[0]}")
        return f"meter {serial} {record[1]} {format_period(record[2])}"

    def _moves(self, bulk: Bulk) -> dict[int, list[tuple[date, int]]]:
        """Meter id -> the months billing moved it in (in the deployment's time zone) with
        the contract it left, oldest first, for the meters it moved."""
        moves = defaultdict(list)
        table = MeterMove.__table__
        for meter_id, contract_id, moved_at in bulk.conn.execute(
            sa.select(table.c.meter_id, table.c.from_contract_id, table.c.moved_at).order_by(
                table.c.moved_at
            )
        ):
            moved_at = moved_at if moved_at.tzinfo else moved_at.replace(tzinfo=UTC)
            moves[meter_id].append((local_today(moved_at).replace(day=1), contract_id))
        return moves

    def _holder(self, meter_id: int, owner: int, period: date) -> int:
        """The contract that held the meter in the month ``period``: a reading of a month
        before a move is the contract's it left (a file may name it, or the meter's contract
        of now), as the readings export names it."""
        for month, left in self.moves.get(meter_id, ()):
            if period < month:
                return left
        return owner

    def _serials(self) -> dict[int, str]:
        if not hasattr(self, "_serial_by_id"):
            self._serial_by_id = {meter[0]: serial for serial, meter in self.meters.items()}
        return self._serial_by_id
