"""The consumption chart: monthly kWh per zone as grouped bars, laid out on the server.

The template draws the result as an inline ``<svg>`` (classes only, no style attributes: the
CSP allows no inline styles) next to a table of the same figures for screen readers. Floats
are fine here: they are pixel positions, never amounts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 32, 12, 36  # RIGHT: room for half the newest month's label
GRID_LINES = 4


@dataclass(frozen=True)
class Bar:
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


@dataclass(frozen=True)
class Label:
    x: float
    text: str


@dataclass
class Chart:
    months: list[date]
    zones: list[str]
    series: dict[str, list[Decimal | None]]
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


def bar_chart(
    months: list[date],
    series: dict[str, list[Decimal | None]],
    label: Callable[[date], str] = lambda month: f"{month:%m/%y}",
    label_every: int = 3,
) -> Chart:
    """Lay out ``series`` (per zone, one value or None per month of ``months``)."""
    zones = list(series)
    chart = Chart(months, zones, series)
    values = [v for values in series.values() for v in values if v]
    if not values:
        return chart
    top = nice_ceiling(max(values))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    group = plot_width / len(months)
    gap = group * 0.15
    bar_width = (group - 2 * gap) / len(zones)
    for index, month in enumerate(months):
        x0 = LEFT + index * group
        if index % label_every == (len(months) - 1) % label_every:
            chart.labels.append(Label(round(x0 + group / 2, 1), label(month)))
        for z, zone in enumerate(zones):
            kwh = series[zone][index]
            if not kwh:
                continue
            height = float(kwh / top) * plot_height
            chart.bars.append(
                Bar(
                    zone,
                    month,
                    kwh,
                    x=round(x0 + gap + z * bar_width, 1),
                    y=round(TOP + plot_height - height, 1),
                    width=round(bar_width, 1),
                    height=round(height, 1),
                )
            )
    for step in range(GRID_LINES + 1):
        value = top * step / GRID_LINES
        chart.ticks.append(Tick(round(TOP + plot_height * (1 - step / GRID_LINES), 1), value))
    return chart
