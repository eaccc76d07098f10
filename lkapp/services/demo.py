"""Demo data: a reproducible book of business customers, for demos, development and load tests.

``generate`` fills an empty database with organisations (English, Hungarian and Russian names
and addresses, so that fonts and sorting get exercised) holding contracts, meters with monthly
readings, monthly invoices with their VAT invoices, and payments allocated by the portal's own
rules (``lkapp.domain.allocation``), and two questions to the office. The same seed on the same
day gives the same data: the history ends with the last full month before today.

Tens of millions of rows do not fit through the ORM in minutes, so rows go through the DBAPI
cursor in large batches (SQLite: ``executemany``; PostgreSQL: ``COPY``), in one transaction, and
carry values in the form the database keeps them: dates as ISO text, times as UTC text, money
as float (what SQLAlchemy's ``Numeric`` binds on SQLite; exact for cents, and parsed exactly by
PostgreSQL). Each contract draws from its own ``Random(f"{seed}:{index}")``, so batch sizes,
backends and processes never change the data: big loads generate rows in a second process
while this one writes them (100,000 contracts x 5 years, ~55 million rows, take 4-8 minutes on
2 cores depending on what else runs; SQLite file ~7 GB).
"""

from __future__ import annotations

import math
import multiprocessing
import queue
import random
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache

import click
import sqlalchemy as sa

from ..domain.allocation import DocumentEntry, PaymentEntry, allocate
from ..domain.codes import ALPHABET
from ..domain.money import to_money, vat_of
from ..domain.readings import shift_month
from ..extensions import db
from ..models import AuditEvent, Contract, Message, Question, User, utcnow
from ..security import hash_password

CUSTOMER_EMAIL = "demo@example.com"
CUSTOMER_PASSWORD = "demo-portal-2026"  # noqa: S105 - published demo login
CHAIN_EMAIL = "chain@example.com"
STAFF_EMAIL = "staff@example.com"
STAFF_PASSWORD = "staff-portal-2026"  # noqa: S105 - published demo login

LOGINS_TEXT = f"""\
Demo logins:
  customer  {CUSTOMER_EMAIL}   password {CUSTOMER_PASSWORD}   (two contracts attached)
  customer  {CHAIN_EMAIL}  password {CUSTOMER_PASSWORD}   (a bakery chain: contracts 3 to 14)
  staff     {STAFF_EMAIL}  password {STAFF_PASSWORD}   (back office: /staff)
Staff sign in with a code from an authenticator app: the first sign-in shows the key to add to
one. Without an app, this prints the code for a key:
  .venv/bin/python -c "import pyotp; print(pyotp.TOTP(input('Key: ').replace(' ', '')).now())"\
"""

VAT_RATE = Decimal("20")
CONTRACTS_PER_BATCH = 500
# From this many contract-years on, a second process generates while this one writes (starting
# it costs about a second).
WORKER_FROM = 2000

# The demo customer: the holder of the first two contracts.
CUSTOMER = {
    "name": "Sunflower Bakery Ltd",
    "tax_id": "GB123456782",
    "phone": "+44 113 496 0000",
    "addresses": ("14 Mill Lane, Leeds LS2 7AB", "3 Station Road, Leeds LS11 5QT"),
}

# The second demo customer: a chain of bakeries, holder of the contracts after the first two
# (a long list: the Electricity list's search and filters, the readings of all meters).
CHAIN = {"name": "Napfény Pékség Kft.", "tax_id": "12345676-2-42", "phone": "+36 1 555 0142"}
CHAIN_CONTRACTS = 12

COLUMNS = {
    "contracts": (
        "id", "number", "holder_name", "tax_id", "address", "status", "account_id",
        "attached_at", "debt_notified", "created_at",
    ),
    "meters": (
        "id", "contract_id", "serial", "zones", "digits", "ct_ratio", "installed_on", "removed_on",
    ),
    "readings": (
        "id", "meter_id", "zone", "period", "value", "submitted_at", "source", "user_id", "status",
    ),
    "documents": (
        "id", "contract_id", "kind", "number", "issued_on", "period", "due_on", "net",
        "vat_rate", "vat", "total", "paid", "created_at",
    ),
    "document_lines": ("id", "document_id", "position", "description", "kwh", "tariff", "amount"),
    "payments": ("id", "contract_id", "paid_on", "amount", "reference", "created_at"),
    "payment_allocations": ("id", "payment_id", "document_id", "amount"),
}  # fmt: skip

# Net EUR per kWh in the first year of the history, by tariff plan and zone, with the line text.
TARIFFS = {
    "T1": {"T1": ("0.21500", "Electricity, single rate")},
    "T1,T2": {
        "T1": ("0.24800", "Electricity T1 day"),
        "T2": ("0.12900", "Electricity T2 night"),
    },
    "T1,T2,T3": {
        "T1": ("0.21400", "Electricity T1 day"),
        "T2": ("0.11800", "Electricity T2 night"),
        "T3": ("0.29600", "Electricity T3 peak"),
    },
}
TARIFF_RISES = (Decimal("1.06"), Decimal("1.04"), Decimal("1.08"), Decimal("1.03"), Decimal("1.05"))
# Low, medium and high voltage connections pay less per kWh.
VOLTAGE_DISCOUNTS = (Decimal("1.00"), Decimal("0.95"), Decimal("0.90"))

# The days of the month when readings come in (the portal's default window).
READINGS_DAYS = range(15, 26)

# How a contract's holder pays; weights out of 100 (see _Book._payments).
BEHAVIOURS = {"punctual": 72, "late": 10, "partial": 6, "stopped": 4, "prepayer": 8}

# --- names, addresses and tax ids -----------------------------------------------------------

# fmt: off
_EN = {
    "words": ("Northwind", "Bluebell", "Riverside", "Oakwood", "Harbour", "Kingsway", "Meadow",
              "Summit", "Redbrick", "Greenfield", "Ashford", "Lighthouse"),
    "trades": ("Bakery", "Logistics", "Print Works", "Dental Clinic", "Hotel", "Cold Storage",
               "Motors", "Fitness", "Brewery", "Laundry", "Joinery", "Pharmacy", "Garden Centre"),
    "forms": ("Ltd", "Ltd", "LLC", "Limited"),
    "streets": ("Mill Lane", "High Street", "Station Road", "Church Street", "Victoria Road",
                "Park Avenue", "King's Road", "Queen Street", "Canal Side", "Market Place"),
    "cities": (("London", "E"), ("Leeds", "LS"), ("Manchester", "M"), ("Bristol", "BS"),
               ("Glasgow", "G"), ("Cardiff", "CF")),
}
_HU = {
    "words": ("Dunamenti", "Fővárosi", "Tiszai", "Győri", "Pécsi", "Szegedi", "Kőbányai", "Bükki",
              "Zöldfa", "Napfény", "Hűvösvölgyi", "Őrségi"),
    "trades": ("Pékség", "Nyomda", "Fogászat", "Szálloda", "Hűtőház", "Autószerviz",
               "Kereskedelmi", "Sörfőzde", "Patika", "Asztalosipari", "Mosoda", "Kertészet"),
    "forms": ("Kft.", "Kft.", "Zrt.", "Bt."),
    "streets": ("Váci út", "Fő utca", "Petőfi Sándor utca", "Kossuth Lajos utca", "Rákóczi út",
                "Széchenyi tér", "Dózsa György út", "Bartók Béla út", "Szőlő utca", "Öntöde utca"),
    "cities": (("Budapest", 1011, 1239), ("Debrecen", 4024, 4032), ("Szeged", 6720, 6729),
               ("Győr", 9021, 9030), ("Pécs", 7621, 7636), ("Miskolc", 3525, 3535)),
}
_RU = {
    "brands": ("Волга", "Ладога", "Север", "Урал", "Кама", "Нева", "Енисей", "Байкал", "Алтай",
               "Исеть", "Ока", "Дон"),
    "trades": ("Трейд", "Сервис", "Строй", "Принт", "Логистик", "Хлеб", "Мед", "Авто", "Холод",
               "Пласт", "Фарм", "Текстиль"),
    "forms": ("ООО", "ООО", "АО"),
    "streets": ("Ленина", "Садовая", "Мира", "Гагарина", "Пушкина", "Советская", "Заводская",
                "Набережная", "Лесная", "Кирова"),
    "cities": (("Москва", 101000, 129999), ("Санкт-Петербург", 190000, 199999),
               ("Казань", 420000, 420140), ("Екатеринбург", 620000, 620150),
               ("Новосибирск", 630000, 630130), ("Самара", 443000, 443130)),
}
# fmt: on

# Payment references by language: (naming the invoice, generic, advance).
_REFERENCES = {
    "en": ("PO {po} {number}", "PO {po} electricity", "PO {po} advance payment"),
    "hu": (
        "Átutalás {po}, számla {number}",
        "Átutalás {po} villamos energia",
        "Átutalás {po} előleg",
    ),
    "ru": ("П/п {po} оплата по счёту {number}", "П/п {po} за электроэнергию", "П/п {po} аванс"),
}


def _uk_vat_number(rng: random.Random) -> str:
    """GB + 7 digits + two check digits (weights 8..2, sum + check divisible by 97)."""
    digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(6)]
    total = sum(d * w for d, w in zip(digits, range(8, 1, -1), strict=True))
    return "GB" + "".join(map(str, digits)) + f"{-total % 97:02d}"


def _hungarian_tax_number(rng: random.Random) -> str:
    """Adószám 12345676-2-42: the 8th digit checks the first seven (weights 9, 7, 3, 1)."""
    digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(6)]
    total = sum(d * w for d, w in zip(digits, (9, 7, 3, 1, 9, 7, 3), strict=True))
    county = rng.choice((2, 7, 9, 13, 41, 42, 43, 44))
    return "".join(map(str, digits)) + f"{-total % 10}-2-{county:02d}"


def _russian_inn(rng: random.Random) -> str:
    """The ten-digit INN of a company; the last digit checks the others."""
    digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(8)]
    total = sum(d * w for d, w in zip(digits, (2, 4, 10, 3, 5, 9, 4, 6, 8), strict=True))
    return "".join(map(str, digits)) + str(total % 11 % 10)


def _organisation(rng: random.Random) -> tuple[str, str, str, str]:
    """Language, name, tax id and a supply address of a random business customer."""
    language = rng.choices(("en", "hu", "ru"), weights=(40, 30, 30))[0]
    number = rng.randint(1, 180)
    if language == "en":
        name = f"{rng.choice(_EN['words'])} {rng.choice(_EN['trades'])} {rng.choice(_EN['forms'])}"
        city, area = rng.choice(_EN["cities"])
        letters = "ABDEFGHJLNPQRSTUWXYZ"
        postcode = f"{area}{rng.randint(1, 28)} {rng.randint(1, 9)}{rng.choice(letters)}"
        postcode += rng.choice(letters)
        address = f"{number} {rng.choice(_EN['streets'])}, {city} {postcode}"
        return language, name, _uk_vat_number(rng), address
    if language == "hu":
        name = f"{rng.choice(_HU['words'])} {rng.choice(_HU['trades'])} {rng.choice(_HU['forms'])}"
        return language, name, _hungarian_tax_number(rng), _hungarian_address(rng, number)
    name = f"{rng.choice(_RU['forms'])} «{rng.choice(_RU['brands'])}-{rng.choice(_RU['trades'])}»"
    city, low, high = rng.choice(_RU["cities"])
    address = f"{rng.randint(low, high)}, г. {city}, ул. {rng.choice(_RU['streets'])}, д. {number}"
    return language, name, _russian_inn(rng), address


def _hungarian_address(rng: random.Random, number: int) -> str:
    city, low, high = rng.choice(_HU["cities"])
    return f"{rng.randint(low, high)} {city}, {rng.choice(_HU['streets'])} {number}."


# --- dates --------------------------------------------------------------------------------


@cache
def _day(ordinal: int) -> date:
    return date.fromordinal(ordinal)


@cache
def _day_text(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


@dataclass(frozen=True)
class _Month:
    index: int
    period: date
    period_text: str
    issued: int  # ordinal: the 3rd of the next month, or yesterday if that is earlier
    season: float  # cos of the month's angle: 1 in January, -1 in July
    tariff_year: int
    reading_status: str
    submitted: tuple[str, ...]  # readings come in on READINGS_DAYS
    document_stamp: str


class _Calendar:
    """The months of the history, ending with the last full month before ``today``; after this
    month's readings window (``read_now``), the readings of this month too, not yet billed."""

    def __init__(self, today: date, years: int, stamp_suffix: str):
        self.yesterday = today.toordinal() - 1
        self.stamp_suffix = stamp_suffix
        last = shift_month(today.replace(day=1), -1)
        first = shift_month(last, 1 - 12 * years)
        window_over = today.day > READINGS_DAYS[-1]
        self.months: list[_Month] = []
        for index in range(12 * years + 1):
            period = shift_month(first, index)
            issued = min(shift_month(period, 1).replace(day=3).toordinal(), self.yesterday)
            self.months.append(
                _Month(
                    index=index,
                    period=period,
                    period_text=period.isoformat(),
                    issued=issued,
                    season=math.cos(2 * math.pi * (period.month - 1) / 12),
                    tariff_year=period.year - first.year,
                    reading_status="accepted" if period == last and not window_over else "exported",
                    submitted=tuple(
                        self.stamp(period.replace(day=day), hour, hour * 7 % 60)
                        for day in READINGS_DAYS
                        for hour in range(8, 19)
                    ),
                    document_stamp=self.stamp(_day(issued), 5, 0),
                )
            )
        current = self.months.pop()
        self.read_now = replace(current, reading_status="accepted") if window_over else None
        self.first = first
        self.last = last
        self.start = first.toordinal()

    def stamp(self, day: date, hour: int, minute: int) -> str:
        """A UTC time as the loader writes it."""
        moment = datetime(day.year, day.month, day.day, hour, minute)
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f") + self.stamp_suffix

    def moment(self, day: date, hour: int) -> datetime:
        return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@cache
def _payment_stamp(ordinal: int, suffix: str) -> str:
    """Payments arrive with the evening's bank statement."""
    return _day(ordinal).strftime("%Y-%m-%d 20:00:00.000000") + suffix


# --- one contract ---------------------------------------------------------------------------


@dataclass
class _Invoice:
    month: _Month
    number: str
    vat_number: str
    due: int  # ordinal
    lines: list[tuple[int, str, int, float, float]]  # position, description, kWh, tariff, amount
    net: Decimal
    vat: Decimal
    total: Decimal
    id: int = 0


@dataclass(frozen=True)
class _Profile:
    """What the two demo customer's contracts look like (others are drawn at random)."""

    behaviour: str
    zones: str
    meters: int
    address: str


DEMO_PROFILES = (
    _Profile("arrears", "T1,T2", 1, CUSTOMER["addresses"][0]),
    _Profile("prepayer", "T1,T2,T3", 2, CUSTOMER["addresses"][1]),
)


class _Book:
    """Generates contracts one by one into rows, numbering them from ``first_ids`` on."""

    def __init__(self, contracts, seed, calendar, first_ids, account_ids):
        self.contracts = contracts
        self.seed = seed
        self.calendar = calendar
        self.next_id = dict(first_ids)
        self.customer_id, self.chain_id = account_ids
        self.rows: dict[str, list[tuple]] = {table: [] for table in COLUMNS}
        self.tariffs = self._tariff_table(calendar.months[-1].tariff_year)

    @staticmethod
    def _tariff_table(last_year: int) -> dict:
        """(discount, zones, zone, tariff year) -> (tariff as Decimal, as float, line text)."""
        table = {}
        for discount in range(len(VOLTAGE_DISCOUNTS)):
            for zones, by_zone in TARIFFS.items():
                for zone, (base, description) in by_zone.items():
                    tariff = Decimal(base) * VOLTAGE_DISCOUNTS[discount]
                    for year in range(last_year + 1):
                        exact = tariff.quantize(Decimal("0.00001"))
                        table[discount, zones, zone, year] = (exact, float(exact), description)
                        tariff *= TARIFF_RISES[year % len(TARIFF_RISES)]
        return table

    def take_ids(self, table: str, count: int) -> int:
        first = self.next_id[table]
        self.next_id[table] = first + count
        return first

    def take_rows(self) -> dict[str, list[tuple]]:
        rows, self.rows = self.rows, {table: [] for table in COLUMNS}
        return rows

    def add_contract(self, index: int) -> None:
        rng = random.Random(f"{self.seed}:{index}")  # noqa: S311 - reproducible on purpose
        calendar = self.calendar
        profile = DEMO_PROFILES[index] if index < len(DEMO_PROFILES) else None
        in_chain = len(DEMO_PROFILES) <= index < len(DEMO_PROFILES) + CHAIN_CONTRACTS
        contract_id = self.take_ids("contracts", 1)
        language, name, tax_id, address = _organisation(rng)
        months = calendar.months
        if profile is not None:
            language, name, tax_id, address = (
                "en",
                CUSTOMER["name"],
                CUSTOMER["tax_id"],
                profile.address,
            )
        elif in_chain:
            language, name, tax_id = "hu", CHAIN["name"], CHAIN["tax_id"]
            address = _hungarian_address(rng, rng.randint(1, 180))
        elif rng.random() < 0.04 and len(months) > 3:
            months = months[: rng.randint(len(months) // 2, len(months) - 2)]
        terminated = len(months) < len(calendar.months)
        attached = profile is not None or in_chain
        since = _day(calendar.start - rng.randint(40, 2500))
        self.rows["contracts"].append(
            (
                contract_id,
                f"EL-{index + 1:07d}",
                name,
                tax_id,
                address,
                "terminated" if terminated else "active",
                (self.customer_id if profile else self.chain_id) if attached else None,
                calendar.stamp(calendar.last, 10, 30 + index) if attached else None,
                False,
                calendar.stamp(since, 9, 0),
            )
        )
        zones = profile.zones if profile else rng.choices(tuple(TARIFFS), weights=(50, 35, 15))[0]
        meter_count = profile.meters if profile else (2 if rng.random() < 0.15 else 1)
        removed = shift_month(months[-1].period, 1) if terminated else None
        kwh = self._meters(rng, contract_id, zones, meter_count, since, months, removed)
        invoices = self._invoices(rng, index, zones, months, kwh)
        behaviour = (
            profile.behaviour
            if profile
            else rng.choices(tuple(BEHAVIOURS), weights=tuple(BEHAVIOURS.values()))[0]
        )
        payments = self._payments(rng, language, behaviour, invoices, months)
        self._settle(contract_id, invoices, payments)

    def _meters(self, rng, contract_id, zones, meter_count, since, months, removed):
        """Meters and their cumulative readings; returns kWh per zone per month (after CT)."""
        zone_list = zones.split(",")
        monthly_kwh = 300 * 100 ** rng.random()  # log-uniform: 300 to 30,000 kWh a month
        amplitude = rng.uniform(-0.12, 0.35)  # most peak in winter, some (cooling) in summer
        kwh = {zone: [0] * len(months) for zone in zone_list}
        read_months = months
        if removed is None and self.calendar.read_now is not None:
            read_months = [*months, self.calendar.read_now]
        readings = self.rows["readings"]
        split = rng.uniform(0.5, 0.8)
        for number in range(meter_count):
            meter_id = self.take_ids("meters", 1)
            share = 1 if meter_count == 1 else (split if number == 0 else 1 - split)
            meter_kwh = monthly_kwh * share
            ct_ratio = 1
            if meter_kwh >= 4000 or rng.random() < 0.08:
                ct_ratio = rng.choice((20, 40, 60, 80))
            units = meter_kwh / ct_ratio
            growth = len(read_months) * (units * (1 + abs(amplitude)) * 1.12 + 1)
            digits = min(9, max(rng.randint(5, 8), len(str(int(growth) * 2))))
            zone_units = [units * s for s in _zone_shares(rng, zone_list)]
            self.rows["meters"].append(
                (
                    meter_id,
                    contract_id,
                    f"{rng.choice(('CE303', 'MIR-C04', 'EM1021'))}-{meter_id:08d}",
                    zones,
                    digits,
                    ct_ratio,
                    since.isoformat(),
                    removed.isoformat() if removed else None,
                )
            )
            values = [rng.randrange(0, max(1, (10**digits - int(growth)) // 2)) for _ in zone_list]
            reading_id = self.take_ids("readings", len(read_months) * len(zone_list))
            for month in read_months:
                factor = (1 + amplitude * month.season) * (0.88 + 0.24 * rng.random())
                stamp = month.submitted[(meter_id * 37 + month.index * 11) % len(month.submitted)]
                for z, zone in enumerate(zone_list):
                    advance = int(zone_units[z] * factor + 0.5)
                    values[z] += advance
                    if month is not self.calendar.read_now:  # billed next month
                        kwh[zone][month.index] += advance * ct_ratio
                    readings.append(
                        (
                            reading_id,
                            meter_id,
                            zone,
                            month.period_text,
                            values[z],
                            stamp,
                            "import",
                            None,
                            month.reading_status,
                        )
                    )
                    reading_id += 1
        return kwh

    def _invoices(self, rng, index, zones, months, kwh) -> list[_Invoice]:
        """One invoice a month: a line per zone, net the sum of the lines, VAT on the net."""
        discount = rng.randrange(len(VOLTAGE_DISCOUNTS))
        term = rng.choice((15, 18, 20))
        invoices = []
        for month in months:
            lines = []
            net = Decimal("0.00")
            for position, (zone, by_month) in enumerate(kwh.items(), start=1):
                used = by_month[month.index]
                tariff, tariff_float, description = self.tariffs[
                    discount, zones, zone, month.tariff_year
                ]
                amount = to_money(used * tariff)
                net += amount
                lines.append((position, description, used, tariff_float, float(amount)))
            vat = vat_of(net, VAT_RATE)
            sequence = (month.period.month - 1) * self.contracts + index + 1
            invoices.append(
                _Invoice(
                    month=month,
                    number=f"INV-{month.period.year}-{sequence:07d}",
                    vat_number=f"VAT-{month.period.year}-{sequence:07d}",
                    due=month.issued + term,
                    lines=lines,
                    net=net,
                    vat=vat,
                    total=net + vat,
                )
            )
        return invoices

    def _payments(self, rng, language, behaviour, invoices, months):
        """(paid_on ordinal, amount, reference) of the holder's payments up to yesterday.

        punctual: pays what it owes around each due date (now and then rounds the sum up and
        pays that much less next time, or skips a month and pays both with the next invoice);
        late: the same, weeks after the due date; partial: often only part, with catch-up
        payments now and then; stopped: punctual until a few months ago, nothing since;
        prepayer: a fixed monthly sum a little above the average bill, before the invoice
        comes; arrears (the demo customer's first contract): punctual, then part of one
        invoice and nothing for the last two.
        """
        named, generic, advance = _REFERENCES[language]
        po = rng.randint(100, 9000)
        payments = []

        def pay(day: int, amount: Decimal, template: str, number: str = "") -> None:
            nonlocal po
            po += rng.randint(1, 40)
            if day <= self.calendar.yesterday and amount > 0:
                payments.append((day, amount, template.format(po=po, number=number)))

        def pay_invoice(invoice: _Invoice, day: int, amount: Decimal) -> None:
            day = max(day, invoice.month.issued + 1)
            if rng.random() < 0.15:
                pay(day, amount, generic)
            else:
                pay(day, amount, named, invoice.number)

        if behaviour == "prepayer":
            average = sum(i.total for i in invoices) / len(invoices)
            amount = Decimal(math.ceil(average * Decimal("1.05") / 10) * 10)
            for month in months:
                pay(month.period.toordinal() + 24, amount, advance)
            return payments

        stop = len(invoices) - rng.randint(2, 7) if behaviour == "stopped" else len(invoices)
        owed = Decimal("0.00")  # before this invoice: debt (> 0) or money paid ahead (< 0)
        for number, invoice in enumerate(invoices):
            owed += invoice.total
            due = invoice.due
            if behaviour in ("punctual", "late", "stopped"):
                chance = rng.random()
                if number >= stop or chance < 0.02 or owed <= 0:
                    continue
                amount = owed
                if chance < 0.05:
                    amount = to_money(math.ceil(owed / 10) * 10 + 10)
                delay = rng.randint(1, 30) if behaviour == "late" else rng.randint(-12, 2)
                pay_invoice(invoice, due + delay, amount)
                owed -= amount
            elif behaviour == "partial":
                chance = rng.random()
                if chance < 0.55:
                    pay_invoice(invoice, due + rng.randint(-3, 12), invoice.total)
                    owed -= invoice.total
                elif chance < 0.9:
                    part = to_money(invoice.total * Decimal(rng.uniform(0.3, 0.9)))
                    pay_invoice(invoice, due + rng.randint(0, 20), part)
                    owed -= part
                if number % 4 == 3 and owed > 0:
                    catch_up = to_money(owed * Decimal(rng.uniform(0.3, 0.8)))
                    pay(due + 25, catch_up, generic)
                    owed -= catch_up
            elif behaviour == "arrears":
                left = len(invoices) - number
                if left > 3:
                    pay_invoice(invoice, due + rng.randint(-10, 0), invoice.total)
                elif left == 3:
                    pay(due - 2, to_money(invoice.total * Decimal("0.6")), named, invoice.number)
        return payments

    def _settle(self, contract_id, invoices, payments) -> None:
        """Allocate the payments, then write documents, lines, payments and allocations."""
        calendar = self.calendar
        document_id = self.take_ids("documents", 2 * len(invoices))
        for invoice in invoices:
            invoice.id = document_id
            document_id += 2  # the VAT invoice follows its invoice
        payments.sort()
        payment_id = self.take_ids("payments", len(payments))
        result = allocate(
            [DocumentEntry(i.id, i.number, _day(i.due), i.total) for i in invoices],
            [
                PaymentEntry(payment_id + n, _day(day), amount, reference)
                for n, (day, amount, reference) in enumerate(payments)
            ],
        )

        documents = self.rows["documents"]
        lines = self.rows["document_lines"]
        line_id = self.take_ids("document_lines", 2 * sum(len(i.lines) for i in invoices))
        vat_rate = float(VAT_RATE)
        for invoice in invoices:
            month = invoice.month
            net, vat, total = float(invoice.net), float(invoice.vat), float(invoice.total)
            issued = _day_text(month.issued)
            for document_id, kind, number, due, paid in (
                (
                    invoice.id,
                    "invoice",
                    invoice.number,
                    _day_text(invoice.due),
                    result.paid[invoice.id],
                ),
                (invoice.id + 1, "vat_invoice", invoice.vat_number, None, 0),
            ):
                documents.append(
                    (
                        document_id,
                        contract_id,
                        kind,
                        number,
                        issued,
                        month.period_text,
                        due,
                        net,
                        vat_rate,
                        vat,
                        total,
                        float(paid),
                        month.document_stamp,
                    )
                )
                for line in invoice.lines:
                    lines.append((line_id, document_id, *line))
                    line_id += 1

        suffix = calendar.stamp_suffix
        self.rows["payments"].extend(
            (
                payment_id + n,
                contract_id,
                _day_text(day),
                float(amount),
                reference,
                _payment_stamp(day, suffix),
            )
            for n, (day, amount, reference) in enumerate(payments)
        )
        allocation_id = self.take_ids("payment_allocations", len(result.allocations))
        self.rows["payment_allocations"].extend(
            (allocation_id + n, a.payment_key, a.document_key, float(a.amount))
            for n, a in enumerate(result.allocations)
        )


def _zone_shares(rng: random.Random, zones: list[str]) -> list[float]:
    """How a meter's consumption splits over its zones: day and night; day, night and peak
    (the zones' names on the Readings tab, and in the invoices' lines)."""
    if len(zones) == 1:
        return [1.0]
    if len(zones) == 2:
        day = rng.uniform(0.6, 0.8)
        return [day, 1 - day]
    peak, night = rng.uniform(0.2, 0.3), rng.uniform(0.25, 0.35)
    return [1 - peak - night, night, peak]


# --- loading ------------------------------------------------------------------------------


class _SQLiteLoader:
    stamp_suffix = ""  # SQLAlchemy keeps naive UTC text on SQLite

    def __init__(self, connection: sa.Connection):
        self.cursor = connection.connection.dbapi_connection.cursor()
        self.statements: dict[str, str] = {}

    @contextmanager
    def bulk_mode(self):
        """Faster settings for the load, set back afterwards (the connection goes back to the pool).

        CHECK constraints of the ``IN (...)`` kind cost SQLite ~5 µs a row (it rebuilds the list
        for every row of an executemany), foreign keys another ~10%. The generator writes only
        valid rows: the tests run SQLite's integrity and foreign key checks after a load, and
        PostgreSQL enforces every constraint during its COPY. Must run outside a transaction.
        """
        settings = {"ignore_check_constraints": 1, "foreign_keys": 0, "cache_size": -256 * 1024}
        saved = {name: self.cursor.execute(f"PRAGMA {name}").fetchone()[0] for name in settings}
        for name, value in settings.items():
            self.cursor.execute(f"PRAGMA {name} = {value}")
        try:
            yield
        finally:
            for name, value in saved.items():
                self.cursor.execute(f"PRAGMA {name} = {value}")

    def insert(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        # Table and column names are this module's constants; every value is bound.
        statement = self.statements.get(table)
        if statement is None:
            marks = ", ".join("?" * len(columns))
            names = ", ".join(columns)
            statement = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608  # nosec B608
            self.statements[table] = statement
        self.cursor.executemany(statement, rows)

    def finish(self, tables) -> None:
        """Nothing to do: SQLite's rowids carry on after the highest id."""


class _PostgresLoader:
    stamp_suffix = "+00:00"

    def __init__(self, connection: sa.Connection):
        self.cursor = connection.connection.dbapi_connection.cursor()

    @contextmanager
    def bulk_mode(self):
        yield

    def insert(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        with self.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def finish(self, tables) -> None:
        """Move each id sequence past the ids written explicitly."""
        for table in tables:
            self.cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608  # nosec B608
                f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )


def _loader_for(connection: sa.Connection):
    if connection.dialect.name == "sqlite":
        return _SQLiteLoader(connection)
    return _PostgresLoader(connection)


def _insert_accounts(connection: sa.Connection, calendar: _Calendar) -> tuple[int, int]:
    """The two demo customers and the staff account; returns the customers' ids."""
    joined = calendar.moment(calendar.last, 9)
    common = {
        "confirmed_at": joined,
        "locked_at": None,
        "failed_logins": 0,
        "last_failed_login_at": None,
        "password_changed_at": joined,
        "totp_secret": None,
        "recovery_codes": [],
        "locale": "en",
        "notify_documents": True,
        "notify_debt": True,
        "notify_readings": True,
        "created_at": joined,
    }
    users = User.__table__
    customer_password = hash_password(CUSTOMER_PASSWORD)

    def insert_customer(email: str, holder: dict) -> int:
        values = {
            **common,
            "email": email,
            "password_hash": customer_password,
            **{key: holder[key] for key in ("name", "tax_id", "phone")},
            "role": "customer",
        }
        return connection.execute(sa.insert(users).returning(users.c.id), values).scalar_one()

    customer_id = insert_customer(CUSTOMER_EMAIL, CUSTOMER)
    chain_id = insert_customer(CHAIN_EMAIL, CHAIN)
    connection.execute(
        sa.insert(users),
        {
            **common,
            "email": STAFF_EMAIL,
            "password_hash": hash_password(STAFF_PASSWORD),
            "name": "Demo Operator",
            "tax_id": "",
            "phone": "",
            "role": "staff",
        },
    )
    return customer_id, chain_id


def _insert_questions(connection: sa.Connection, calendar: _Calendar, contracts: int, seed: int):
    """Two threads with the office: the demo customer's question about the invoice it paid in
    part (answered), and one from the bakery chain that waits for an answer since yesterday."""
    users = User.__table__
    ids = dict(connection.execute(sa.select(users.c.email, users.c.id)).all())
    contract_ids = dict(
        connection.execute(
            sa.select(Contract.__table__.c.number, Contract.__table__.c.id).where(
                Contract.__table__.c.number.in_(("EL-0000001", "EL-0000003"))
            )
        ).all()
    )
    # The invoice of the first contract paid in part (see _Book._payments, "arrears").
    month = calendar.months[-3]
    invoice = f"INV-{month.period.year}-{(month.period.month - 1) * contracts + 1:07d}"
    asked = _day(month.issued + 21)  # after its due date: 15 to 20 days
    rng = random.Random(f"{seed}:questions")  # noqa: S311 - reproducible on purpose
    threads = (
        (
            CUSTOMER_EMAIL,
            CUSTOMER["name"],
            "EL-0000001",
            "payments",
            calendar.moment(asked, 8),
            (
                (
                    False,
                    f"We could pay only 60% of invoice {invoice} this month. Can we pay the rest"
                    " in two parts together with the next invoices?",
                ),
                (
                    True,
                    f"Yes. Payments go to the oldest unpaid invoice first, so your next transfers"
                    f" settle the rest of {invoice} before the later invoices. The portal's"
                    " start page shows what is overdue.",
                ),
            ),
        ),
        (
            CHAIN_EMAIL,
            CHAIN["name"],
            "EL-0000003",
            "readings",
            calendar.moment(_day(calendar.yesterday), 9),
            (
                (
                    False,
                    "The meter of this shop was replaced last week. Which serial number should"
                    " we give the readings for from now on?",
                ),
            ),
        ),
    )
    for email, name, number, subject, created, messages in threads:
        answered = calendar.moment(_day(created.toordinal() + 1), 11) if len(messages) > 1 else None
        question_id = connection.execute(
            sa.insert(Question.__table__).returning(Question.__table__.c.id),
            {
                "reference": "Q-" + "".join(rng.choice(ALPHABET) for _ in range(8)),
                "user_id": ids[email],
                "contact_email": email,
                "contact_name": name,
                "contract_number": number if number in contract_ids else "",
                "contract_id": contract_ids.get(number),
                "subject": subject,
                "status": "answered" if answered else "new",
                "locale": "en",
                "created_at": created,
                "updated_at": answered or created,
                "answered_at": answered,
                "closed_at": None,
            },
        ).scalar_one()
        for from_staff, body in messages:
            connection.execute(
                sa.insert(Message.__table__),
                {
                    "question_id": question_id,
                    "author_id": ids[STAFF_EMAIL if from_staff else email],
                    "from_staff": from_staff,
                    "body": body,
                    "created_at": answered if from_staff else created,
                },
            )


def _generate_rows(
    contracts: int, seed: int, calendar: tuple, first_ids: dict, account_ids: tuple[int, int]
) -> Iterator[tuple[int, dict[str, list[tuple]]]]:
    """(number of contracts, their rows by table), CONTRACTS_PER_BATCH contracts at a time.

    ``calendar`` is the arguments of ``_Calendar``: little to send to a worker process.
    """
    book = _Book(contracts, seed, _Calendar(*calendar), first_ids, account_ids)
    for start in range(0, contracts, CONTRACTS_PER_BATCH):
        end = min(start + CONTRACTS_PER_BATCH, contracts)
        for index in range(start, end):
            book.add_contract(index)
        yield end - start, book.take_rows()


def _produce(batches: multiprocessing.Queue, arguments: tuple) -> None:
    """The worker process: generate rows into the queue; None at the end, or the error text."""
    try:
        for batch in _generate_rows(*arguments):
            batches.put(batch)
        batches.put(None)
    except Exception:  # noqa: BLE001 - handed over to the parent, which raises it
        batches.put(traceback.format_exc())


def _generate_rows_in_worker(*arguments) -> Iterator[tuple[int, dict[str, list[tuple]]]]:
    """``_generate_rows`` in a child process, so that generating and writing use two cores.

    Rows of a contract do not depend on where they are made, so the data are the same.
    """
    context = multiprocessing.get_context("spawn")  # no fork: the parent may run threads
    batches = context.Queue(maxsize=3)
    worker = context.Process(target=_produce, args=(batches, arguments), daemon=True)
    worker.start()
    try:
        while True:
            try:
                batch = batches.get(timeout=5)
            except queue.Empty:
                if not worker.is_alive():
                    raise RuntimeError("the demo data worker process died") from None
                continue
            if batch is None:
                return
            if isinstance(batch, str):
                raise RuntimeError(f"the demo data worker failed:\n{batch}")
            yield batch
    finally:
        if worker.is_alive():
            worker.terminate()
        worker.join()


def generate(
    contracts: int, years: int, seed: int, progress: bool = False, today: date | None = None
) -> str:
    """Fill an empty database with demo data in one transaction; returns a one-line summary.

    ``today`` (default: the real one) anchors the history, which ends the month before.
    """
    started = time.monotonic()
    counts = dict.fromkeys(COLUMNS, 0)
    with db.engine.connect() as connection:
        loader = _loader_for(connection)
        calendar_arguments = (today or date.today(), years, loader.stamp_suffix)
        calendar = _Calendar(*calendar_arguments)
        with loader.bulk_mode(), connection.begin():
            account_ids = _insert_accounts(connection, calendar)
            first_ids = {
                table: connection.execute(
                    sa.text(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")  # noqa: S608  # nosec B608
                ).scalar_one()
                for table in COLUMNS
            }
            arguments = (contracts, seed, calendar_arguments, first_ids, account_ids)
            in_worker = contracts * years >= WORKER_FROM
            producer = _generate_rows_in_worker if in_worker else _generate_rows
            with (
                closing(producer(*arguments)) as batches,
                click.progressbar(
                    length=contracts,
                    label="Generating demo data",
                    hidden=not progress,
                    file=sys.stderr,
                    show_pos=True,
                ) as bar,
            ):
                for done, rows in batches:
                    for table, table_rows in rows.items():
                        if table_rows:
                            loader.insert(table, COLUMNS[table], table_rows)
                            counts[table] += len(table_rows)
                    bar.update(done)
            loader.finish(COLUMNS)
            _insert_questions(connection, calendar, contracts, seed)
            connection.execute(
                sa.insert(AuditEvent.__table__),
                {
                    "actor_id": None,
                    "action": "demo.loaded",
                    "object_type": "",
                    "object_id": "",
                    "ip": "",
                    "details": {
                        "contracts": str(contracts),
                        "years": str(years),
                        "seed": str(seed),
                    },
                    "created_at": utcnow(),
                },
            )
    elapsed = time.monotonic() - started
    return (
        f"Demo data loaded in {elapsed:.1f} s ({calendar.first:%Y-%m} to {calendar.last:%Y-%m}): "
        f"{counts['contracts']:,} contracts, {counts['meters']:,} meters, "
        f"{counts['readings']:,} readings, {counts['documents']:,} documents "
        f"({counts['document_lines']:,} lines), {counts['payments']:,} payments "
        f"({counts['payment_allocations']:,} allocations), 3 accounts, 2 questions."
    )
