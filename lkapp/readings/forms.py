"""The readings form: one field per tariff zone of a meter, and the confirmation checkbox.

A meter's zones decide the fields, so the form class is made per meter. The fields are named
by zone (``T1``) and their ids carry the meter's id (``m12-T1``): the Readings tab shows one
form per meter.

Beside the form, the words and figures the readings pages show: zone labels, the tables' texts
(``table_texts``), and the history, receipt and chart formatted in one pass per table
(``history_rows``, ``reading_lines``, ``chart_text``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from types import SimpleNamespace

from flask_babel import gettext as _
from flask_babel import ngettext
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import BooleanField, Label, StringField

from ..domain.csvformat import CellError, parse_period
from ..formatting import Formats, formats, month, per_locale
from ..formatting import lazy_gettext as _l
from ..models import Meter
from .chart import Chart, bar_chart, draw, figure_rows
from .services import Arrival, MeterReadings, Row, Submission, ZoneResult

ZONE_NAMES = {"T1": _l("T1 day"), "T2": _l("T2 night"), "T3": _l("T3 peak")}


def zone_label(meter: Meter, zone: str) -> str:
    """``T1`` alone on a single-zone meter; else the zone with its name (``T2 night``)."""
    return str(_zone_name(meter.zone_list, zone))


def _zone_name(zones: list[str] | tuple[str, ...], zone: str):
    """``zone_label`` still to be translated (a lazy string), for a form class that serves
    every language."""
    return zone if len(zones) == 1 else ZONE_NAMES[zone]


def zone_labels(meter: Meter) -> dict[str, str]:
    """The labels of all the meter's zones, translated once for a whole table."""
    return {zone: zone_label(meter, zone) for zone in meter.zone_list}


@per_locale
def table_texts() -> SimpleNamespace:
    """The words of the readings tables (column names, sources, statuses), translated once per
    locale rather than once per row: a history has hundreds of rows. A namespace, not a dict:
    Jinja tries ``texts.value`` as an attribute first, and on a dict that fails, an exception
    per cell."""
    return SimpleNamespace(
        month=_("Month"),
        zone=_("Zone"),
        value=_("Value"),
        kwh=_("Consumption, kWh"),
        kwh_unit=_("kWh"),
        source=_("Source"),
        received=_("Received"),
        status=_("Status"),
        portal=_("portal"),
        operator=_("operator"),
        imported=_("import"),
        replaced=_("replaced"),
        exported=_("sent to billing"),
        accepted=_("accepted"),
        rolled_over=_("meter rolled over"),
        no_previous=_("No earlier reading to count from"),
        contract=_("Contract"),
    )


def reading_value(value, fmt: Formats | None = None) -> str:
    """A register value or kWh figure: decimals only as many as it has (at most 3). A table
    passes its ``Formats``."""
    return (fmt or formats()).number(value, 3, trim=True)


@dataclass(frozen=True)
class ReadingLine:
    """A stored reading as the receipt shows it, every cell formatted."""

    row: Row
    zone: str
    value: str
    kwh: str | None  # None: no earlier reading to count from
    source: str
    received: str  # in the deployment's time zone
    stamp: str  # ``row.submitted_at`` for the machine (ISO 8601, UTC)
    status: str  # the badge's text
    badge: str  # the badge's classes


def reading_lines(
    rows: list[Row], labels: dict[str, str], texts: SimpleNamespace, style: str
) -> list[ReadingLine]:
    """The receipt's lines, a reading each, formatted in one Python pass; the time received
    in ``style`` (the history shows the day alone)."""
    fmt = formats()
    return [
        ReadingLine(
            row,
            labels[row.zone],
            reading_value(row.value, fmt),
            None if row.kwh is None else reading_value(row.kwh, fmt),
            *_arrival_cells(row, texts, fmt, style),
        )
        for row in rows
    ]


def history_rows(
    history: list[Arrival],
    labels: dict[str, str],
    texts: SimpleNamespace,
    contracts: dict[int | None, str] | None = None,
) -> Markup:
    """The history table's rows, a line per arrival: its month, each of the meter's zones (its
    reading and kWh under the zone's name, two empty cells where the arrival has none of it),
    and how, when and with what status its readings came. With ``contracts`` (the numbers by
    id, None: the meter's), each line names the contract it was given for.

    Formatted and drawn in one Python pass: a whole history has hundreds of readings, and
    Jinja's loop over their cells cost about twice as much."""
    fmt = formats()
    words = {name: escape(text) for name, text in vars(texts).items()}
    zones = [(zone, escape(label)) for zone, label in labels.items()]
    kwh_cell = f'<td class="num" data-label="{words["kwh_unit"]}">'
    no_previous = f'<span class="muted" title="{words["no_previous"]}">—</span>'
    rolled_over = f' <span class="badge badge-warn">{words["rolled_over"]}</span>'
    months: dict[date, Markup] = {}
    lines = []
    for arrival in history:
        month = months.get(arrival.period)
        if month is None:
            month = months[arrival.period] = escape(fmt.month(arrival.period))
        cells = [
            "<tr>" if arrival.live else '<tr class="superseded">',
            f'<th scope="row">{month}</th>',
        ]
        for zone, label in zones:
            row = arrival.zones.get(zone)
            if row is None:
                cells.append("<td></td><td></td>")
                continue
            cells.append(
                f'<td class="num" data-label="{label}">{escape(reading_value(row.value, fmt))}'
                f"{rolled_over if row.rolled_over else ''}</td>{kwh_cell}"
                f"{no_previous if row.kwh is None else escape(reading_value(row.kwh, fmt))}</td>"
            )
        source, received, stamp, status, badge = _arrival_cells(arrival, texts, fmt)
        cells.append(
            f'<td data-label="{words["source"]}">{escape(source)}</td>'
            f'<td class="date" data-label="{words["received"]}">'
            f'<time datetime="{stamp}">{escape(received)}</time></td>'
            f'<td data-label="{words["status"]}"><span class="{badge}">{escape(status)}</span></td>'
        )
        if contracts:
            number = escape(contracts[arrival.contract_id])
            cells.append(f'<td data-label="{words["contract"]}">{number}</td>')
        cells.append("</tr>")
        lines.append("".join(cells))
    return Markup("".join(lines))  # noqa: S704  # nosec B704  (every text escaped)


def _arrival_cells(
    arrival: Row | Arrival, texts: SimpleNamespace, fmt: Formats, style: str | None = None
):
    """Source, when received (shown: the day, or the moment in ``style``; and for the
    machine), status and its badge's classes."""
    if not arrival.live:
        status, badge = texts.replaced, "badge"
    else:
        status = texts.exported if arrival.status == "exported" else texts.accepted
        badge = "badge badge-ok"
    return (
        {"portal": texts.portal, "operator": texts.operator}.get(arrival.source, texts.imported),
        fmt.moment(arrival.submitted_at, style) if style else fmt.day(arrival.submitted_at),
        arrival.submitted_at.isoformat(),
        status,
        badge,
    )


@dataclass(frozen=True)
class ChartText:
    """The words and figures of a consumption chart, formatted in one pass like the history
    (each figure once, for its bar and its table cell)."""

    drawing: Markup  # the inside of the <svg>: axes, and the bars with their tooltips ("T1
    # day, March 2026: 1,234 kWh")
    rows: Markup  # the table's rows, newest month first: the month, then each zone's kWh


def consumption_chart(item: MeterReadings, months: list[date]) -> Chart:
    """The meter's chart over ``months``, its axes labelled in the request's locale."""
    fmt = formats()
    series, shared = item.monthly_kwh(months)
    chart = bar_chart(
        months,
        series,
        label=fmt.numeric_month,
        value_label=lambda value: reading_value(value, fmt),
    )
    chart.shared = shared
    return chart


def chart_text(chart: Chart, labels: dict[str, str]) -> ChartText:
    fmt = formats()
    names = [fmt.month(start) for start in chart.months]
    index = {start: i for i, start in enumerate(chart.months)}
    figures = {
        zone: [None if kwh is None else reading_value(kwh, fmt) for kwh in chart.series[zone]]
        for zone in chart.zones
    }
    for zone, start in chart.shared:  # about: a share of several months' consumption
        i = index[start]
        if figures[zone][i] is not None:
            figures[zone][i] = "≈" + figures[zone][i]
    unit = _("%(kwh)s kWh")
    tooltips = []
    for bar in chart.bars:
        i = index[bar.month]
        tooltips.append(f"{labels[bar.zone]}, {names[i]}: " + unit % {"kwh": figures[bar.zone][i]})
    rows = [
        (names[i], [figures[zone][i] for zone in chart.zones])
        for i in reversed(range(len(chart.months)))
    ]
    return ChartText(draw(chart, tooltips), figure_rows(rows))


class ReadingForm(FlaskForm):
    meter: Meter

    def zone_fields(self):
        return [self[zone] for zone in self.meter.zone_list]

    def typed(self) -> dict[str, str]:
        return {zone: self[zone].data or "" for zone in self.meter.zone_list}


def period_shown(formdata) -> date | None:
    """The month a readings form was shown for: its hidden ``period`` (``YYYY-MM``, written
    from the window the page was drawn in). None without one (a page older than the field, a
    script) or with one that is no month: those are taken for the current window's month."""
    try:
        return parse_period(formdata.get("period", ""))
    except CellError:
        return None


def field_name(meter_id: int, zone: str) -> str:
    """A zone's field on a page of several meters' forms: ``m<meter>-<zone>``."""
    return f"m{meter_id}-{zone}"


def reading_form(meter: Meter, blank: bool = False, together: bool = False) -> ReadingForm:
    """The form of ``meter``; ``blank`` ignores the request's data (a page shown by GET).
    ``together``: one of the many meters of one page's form, its fields named ``m<id>-<zone>``
    (the page's one CSRF token is checked for every POST by ``CSRFProtect``)."""
    options: dict = {"formdata": None} if blank else {}
    if together:
        options |= {"prefix": f"m{meter.id}", "meta": {"csrf": False}}
    form = _form_class(tuple(meter.zone_list))(**options)
    for field in form:  # ids unique on a page of several meters: m<meter>-<zone>
        if field.short_name != "csrf_token":
            field.id = field_name(meter.id, field.short_name)
            field.label = Label(field.id, field.label.text)
    form.meter = meter
    return form


@cache
def _form_class(zones: tuple[str, ...]) -> type[ReadingForm]:
    """The form class of a meter with these zones, made once per process (a handful of zone
    sets): making it took longer than filling it in (0.2 ms a meter on every view of the
    Readings tab), and a class per meter outgrew any cache on an account of thousands. Its
    labels are translated when drawn, so one class serves every language."""
    fields = {
        zone: StringField(
            _zone_name(zones, zone),
            render_kw={"inputmode": "decimal", "autocomplete": "off", "spellcheck": "false"},
        )
        for zone in zones
    }
    fields["confirm"] = BooleanField(_l("I have checked the reading"))
    return type("MeterReadingForm", (ReadingForm,), fields)


def zone_problem(meter: Meter, verdict: ZoneResult, office: bool = False) -> str | None:
    """The message beside a zone's field, or None; ``office``: to an operator entering it for
    the customer (who cannot be sent to ask the office)."""
    error = verdict.error
    if error == "required":
        return _("Enter the value the meter shows for this zone.")
    if error == "not_a_number":
        return _("Enter the number on the meter, such as 12345 or 12345.5, without letters.")
    if error == "too_many_decimals":
        return _("At most 3 decimals.")
    if error == "too_many_digits":
        return _(
            "This meter shows at most %(digits)s digits before the decimal point.",
            digits=meter.digits,
        )
    if error == "below_previous" and office:
        return _(
            "This is below the last accepted reading, %(value)s for %(month)s. Check the value; "
            "if the meter was replaced, the new meter's readings can be entered once billing "
            "has registered it.",
            value=reading_value(verdict.previous.value),
            month=month(verdict.previous.period),
        )
    if error == "below_previous":
        return _(
            "This is below the last accepted reading, %(value)s for %(month)s. Check the value; "
            "if the meter was replaced, ask the office.",
            value=reading_value(verdict.previous.value),
            month=month(verdict.previous.period),
        )
    if verdict.needs_confirmation:
        check = verdict.check
        figures = {
            "kwh": reading_value(check.kwh),
            "average": reading_value(check.average.quantize(Decimal("0.001"))),
        }
        if check.months > 1:  # no reading for a while: the kWh are those of several months
            return ngettext(
                "That is %(kwh)s kWh over %(num)s month, over 3 times the average of "
                "%(average)s kWh a month. Check the reading, tick “I have checked the "
                "reading” and submit again.",
                "That is %(kwh)s kWh over %(num)s months, over 3 times the average of "
                "%(average)s kWh a month. Check the reading, tick “I have checked the "
                "reading” and submit again.",
                check.months,
                **figures,
            )
        return _(
            "That is %(kwh)s kWh, over 3 times the average of %(average)s kWh a month. Check "
            "the reading, tick “I have checked the reading” and submit again.",
            **figures,
        )
    return None


def apply_verdicts(form: ReadingForm, submission: Submission) -> None:
    """Put each zone's message beside its field (and on the checkbox when it is needed).
    After ``period_changed`` the checkbox is unticked: what was checked was the jump from
    another month."""
    if submission.problem == "period_changed":
        form.confirm.data = False
    for zone, verdict in submission.zones.items():
        message = zone_problem(form.meter, verdict, office=submission.source == "operator")
        if message and (verdict.error or submission.unconfirmed):
            form[zone].errors = [message]
    if submission.unconfirmed:
        form.confirm.errors = [_("Tick this box once you have checked the values above.")]
