"""meters: ``contract_number, serial, zones, digits, ct_ratio, installed_on, removed_on``.

The key is the serial. Empty ``digits`` means 6 and empty ``ct_ratio`` 1 (the table's
defaults). A meter may move to another contract (an update, audited, dated ``moved_at``): its
readings stay with the contract they were given for (``Reading.contract_id``), and the new
holder's pages show none of the previous holder's. Its zone set may change, but not so as to
drop a zone that already has readings, nor its digits shrink below a reading already stored
(the customer's next reading would be refused as too long).
"""

from __future__ import annotations

from ...domain.csvformat import parse_date, parse_integer, parse_text, parse_zone_set
from ...models import ZONE_SETS, Meter, MeterMove, Reading
from .base import BAD, Importer, changes
from .bulk import Bulk

FIELDS = ("contract_id", "zones", "digits", "ct_ratio", "installed_on", "removed_on")
MAX_CT_RATIO = 100_000


class MeterImporter(Importer):
    kind = "meters"
    key_columns = ("serial",)
    columns = ("contract_number", "serial", "zones", "digits", "ct_ratio", "installed_on",
               "removed_on")  # fmt: skip
    table = Meter.__table__

    def prepare(self, bulk: Bulk) -> None:
        self.load_contracts(bulk)
        self.numbers = {id_: number for number, id_ in self.contracts.items()}
        self.stored = {
            serial: (id_, zones, digits)
            for id_, serial, zones, digits in bulk.conn.execute(
                self.table.select().with_only_columns(
                    self.table.c.id, self.table.c.serial, self.table.c.zones, self.table.c.digits
                )
            )
        }
        self.dropping: list[tuple[int, int, str, set[str]]] = []
        self.shrinking: list[tuple[int, int, int]] = []  # line, meter id, digits

    def parse(self, cells, line):
        take, optional = self.take, self.optional
        record = (
            take(cells, line, "serial", parse_text, 30),
            self.contract(cells, line),
            take(cells, line, "zones", parse_zone_set, ZONE_SETS),
            optional(cells, line, "digits", parse_integer, 4, 9) or 6,
            optional(cells, line, "ct_ratio", parse_integer, 1, MAX_CT_RATIO) or 1,
            take(cells, line, "installed_on", parse_date),
            optional(cells, line, "removed_on", parse_date),
        )
        installed, removed = record[5], record[6]
        if installed is not BAD and removed not in (None, BAD) and removed < installed:
            self.fail(line, "removed_on", cells[self.at["removed_on"]], "is before installed_on")
        return record

    def key(self, record):
        return record[:1]

    def accept(self, line, record):
        stored = self.stored.get(record[0])
        if stored is not None:
            dropped = set(stored[1].split(",")) - set(record[2].split(","))
            if dropped:
                self.dropping.append((line, stored[0], record[2], dropped))
            if record[3] < stored[2]:
                self.shrinking.append((line, stored[0], record[3]))

    def after_check(self, bulk: Bulk, progress) -> None:
        self._check_dropped_zones(bulk)
        self._check_shrinking_digits(bulk)

    def _check_shrinking_digits(self, bulk: Bulk) -> None:
        if not self.shrinking:
            return
        highest: dict[int, object] = {}
        for meter_id, value in bulk.select_in(
            Reading.__table__,
            "meter_id",
            [item[1] for item in self.shrinking],
            ("meter_id", "value"),
        ):
            highest[meter_id] = max(value, highest.get(meter_id, value))
        for line, meter_id, digits in self.shrinking:
            value = highest.get(meter_id)
            if value is not None and value >= 10**digits:
                self.fail(
                    line,
                    "digits",
                    str(digits),
                    f"the meter has a reading of {value}, more than {digits} digits hold",
                )

    def _check_dropped_zones(self, bulk: Bulk) -> None:
        if not self.dropping:
            return
        used: dict[int, set[str]] = {}
        for meter_id, zone in bulk.select_in(
            Reading.__table__, "meter_id", [item[1] for item in self.dropping], ("meter_id", "zone")
        ):
            used.setdefault(meter_id, set()).add(zone)
        for line, meter_id, zones, dropped in self.dropping:
            lost = sorted(dropped & used.get(meter_id, set()))
            if lost:
                self.fail(
                    line,
                    "zones",
                    zones,
                    f"the meter has readings in zone {', '.join(lost)}, which this zone set drops",
                )

    def write(self, bulk: Bulk, batch) -> None:
        moved = []

        def audit(row, record):
            before, after = changes(FIELDS, row[2:], record[1:])
            if "contract_id" in before:
                before["contract_number"] = self.numbers.get(row[2])
                after["contract_number"] = self.numbers.get(record[1])
                moved.append((row[0], row[2]))
            self.ctx.audit_updated("Meter", row[0], record[0], before, after)

        self.upsert(bulk, batch, "serial", FIELDS, audit)
        bulk.update(self.table, ("moved_at",), [(self.ctx.now, id_) for id_, _ in moved])
        # The readings stored before without their contract stay the previous holder's, who
        # still sees them.
        readings = Reading.__table__
        for meter_id, previous in moved:
            bulk.conn.execute(
                readings.update()
                .where(readings.c.meter_id == meter_id, readings.c.contract_id.is_(None))
                .values(contract_id=previous)
            )
            bulk.conn.execute(
                MeterMove.__table__.insert().values(
                    meter_id=meter_id, from_contract_id=previous, moved_at=self.ctx.now
                )
            )
