"""The consumption chart: monthly kWh per zone as grouped bars, laid out on the server.

The template puts the result in an inline ``<svg>`` (classes only, no style attributes: the
CSP allows no inline styles) next to a table of the same figures for screen readers. What is
inside, the axes and a hundred and more bars, comes drawn by ``draw``, and the table's rows by
``figure_rows``: one string built here costs a fifth of a template loop over the same parts.
Floats are fine here: they are pixel positions, never amounts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 32, 14, 36  # the least room for the axes' labels
GRID_LINES = 4
TICK_GAP = 6  # between a value and the plot
# The largest font size of the axes' labels, in the chart's units: the stylesheet's for the
# narrowest phones (app.css, ".chart .axis"), where the chart is drawn at 0.4 of its size.
# The margins are wide enough for the labels at that size.
AXIS_FONT = 26


class Bar(NamedTuple):  # a tuple: a chart has a hundred and more
    zone: str
    month: date
    kwh: Decimal
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Tick:
    y: float
    value: Decimal
    text: str


@dataclass(frozen=True)
class Label:
    x: float
    text: str
    minor: bool  # hidden on a phone, where only every other label fits


@dataclass
class Chart:
    months: list[date]
    zones: list[str]
    series: dict[str, list[Decimal | None]]
    # (zone, month) whose figure is an even share of a reading that covers several months
    shared: set[tuple[str, date]] = field(default_factory=set)
    bars: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT  # where the plot ends
    baseline: float = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return not self.bars


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least ``value`` (> 0)."""
    power = Decimal(10) ** math.floor(math.log10(value))
    for step in (1, 2, Decimal("2.5"), 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover - the loop ends at 10


def text_width(text: str, size: float = AXIS_FONT) -> float:
    """About how wide ``text`` is drawn at ``size``: a figure takes 0.64 of the size in the
    widest usual sans-serif face (DejaVu Sans), a separator or a space 0.35."""
    narrow = sum(char in ",. \u00a0\u202f/" for char in text)
    return size * (0.64 * (len(text) - narrow) + 0.35 * narrow)


def bar_chart(
    months: list[date],
    series: dict[str, list[Decimal | None]],
    label: Callable[[date], str] = lambda month: f"{month:%m/%y}",
    value_label: Callable[[Decimal], str] = str,
    label_every: int = 3,
) -> Chart:
    """Lay out ``series`` (per zone, one value or None per month of ``months``).

    Every ``label_every``-th month is labelled, counting back from the newest; every other
    label is ``minor``. The left margin fits the widest value, the right one half the newest
    month's label (centred under its bars)."""
    zones = list(series)
    chart = Chart(months, zones, series)
    values = [v for values in series.values() for v in values if v]
    if not values:
        return chart
    top = nice_ceiling(max(values))
    plot_height = HEIGHT - TOP - BOTTOM
    ticks = [top * step / GRID_LINES for step in range(GRID_LINES + 1)]
    texts = [value_label(value) for value in ticks]
    left = max(LEFT, math.ceil(max(map(text_width, texts))) + TICK_GAP + 4)
    newest = label(months[-1])
    right = WIDTH - max(RIGHT, math.ceil(text_width(newest) / 2) + 4)
    group = (right - left) / len(months)
    chart.left, chart.right = left, right
    gap = group * 0.15
    bar_width = (group - 2 * gap) / len(zones)
    width = round(bar_width, 1)
    scale = plot_height / float(top)
    for index, month in enumerate(months):
        x0 = left + index * group
        back = len(months) - 1 - index
        if back % label_every == 0:
            text = newest if back == 0 else label(month)
            minor = back % (2 * label_every) != 0
            chart.labels.append(Label(round(x0 + group / 2, 1), text, minor))
        for z, zone in enumerate(zones):
            kwh = series[zone][index]
            if not kwh:
                continue
            height = float(kwh) * scale
            chart.bars.append(
                Bar(
                    zone,
                    month,
                    kwh,
                    round(x0 + gap + z * bar_width, 1),
                    round(TOP + plot_height - height, 1),
                    width,
                    round(height, 1),
                )
            )
    for step, (value, text) in enumerate(zip(ticks, texts, strict=True)):
        chart.ticks.append(Tick(round(TOP + plot_height * (1 - step / GRID_LINES), 1), value, text))
    return chart


def draw(chart: Chart, titles: Iterable[str]) -> Markup:
    """The inside of the chart's ``<svg>`` after its title: the grid lines with their values,
    the bars, each with its tooltip (``titles``, in the order of ``chart.bars``), the months'
    labels and the baseline. A bar of ``chart.shared`` (a share of a reading that covered
    several months) is drawn lighter."""
    left, right, baseline, shared = chart.left, chart.right, chart.baseline, chart.shared
    classes = {zone: f"bar zone-{escape(zone.lower())}" for zone in chart.zones}
    # Every text is escaped; the rest are numbers and our own names.
    parts = [
        f'<line class="grid" x1="{left}" x2="{right}" y1="{tick.y}" y2="{tick.y}"></line>'
        f'<text class="axis" x="{left - TICK_GAP}" y="{tick.y}" text-anchor="end"'
        f' dominant-baseline="central">{escape(tick.text)}</text>'
        for tick in chart.ticks
    ]
    parts += [
        f'<rect class="{classes[bar.zone]}{" shared" if (bar.zone, bar.month) in shared else ""}"'
        f' x="{bar.x}" y="{bar.y}" width="{bar.width}" height="{bar.height}">'
        f"<title>{escape(title)}</title></rect>"
        for bar, title in zip(chart.bars, titles, strict=True)
    ]
    parts += [
        f'<text class="axis{" minor" if label.minor else ""}" x="{label.x}"'
        f' y="{baseline + TICK_GAP}" text-anchor="middle" dominant-baseline="hanging">'
        f"{escape(label.text)}</text>"
        for label in chart.labels
    ]
    parts.append(
        f'<line class="baseline" x1="{left}" x2="{right}" y1="{baseline}" y2="{baseline}"></line>'
    )
    return Markup("".join(parts))  # noqa: S704  # nosec B704


def figure_rows(rows: Iterable[tuple[str, list[str | None]]]) -> Markup:
    """The rows of the chart's table: a month each (``rows``: its name, then each zone's kWh,
    None where it has no reading)."""
    empty = '<td class="num"><span class="muted">—</span></td>'
    return Markup(  # noqa: S704  # nosec B704  (every text escaped)
        "".join(
            f'<tr><th scope="row">{escape(month)}</th>'
            + "".join(
                empty if kwh is None else f'<td class="num">{escape(kwh)}</td>' for kwh in cells
            )
            + "</tr>"
            for month, cells in rows
        )
    )
