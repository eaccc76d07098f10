"""The consumption chart's layout: room for its labels, whatever the figures."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from lkapp.domain.readings import shift_month
from lkapp.readings.chart import LEFT, TICK_GAP, WIDTH, bar_chart, text_width

MONTHS = [shift_month(date(2026, 11, 1), -back) for back in reversed(range(24))]


def layout(kwh: str):
    return bar_chart(
        MONTHS,
        {"T1": [Decimal(kwh)] * 23 + [None], "T2": [Decimal(kwh) / 2] * 23 + [None]},
        label=lambda month: f"{month:%Y. %m.}",
        value_label=lambda value: f"{value:,.0f}",
    )


def test_a_large_consumer_gets_a_wider_margin_for_its_values():
    """A factory's 240,000 kWh a month: the axis goes to 250,000, and its label, drawn at the
    largest size (a phone's), stays left of the bars instead of running off the chart."""
    small, large = layout("150"), layout("240000")
    assert small.left == LEFT
    assert [tick.text for tick in large.ticks][-1] == "250,000"
    assert large.left >= text_width("250,000") + TICK_GAP > LEFT
    assert min(bar.x for bar in large.bars) >= large.left
    assert max(bar.x + bar.width for bar in large.bars) <= large.right


def test_the_newest_month_is_labelled_and_fits():
    """Every third month is labelled counting back from the newest, whose label is centred
    under its bars and keeps within the chart; every other label is left out on a phone."""
    chart = layout("150")
    assert [label.text for label in chart.labels][-1] == "2026. 11."
    assert [label.minor for label in chart.labels] == [True, False] * 4
    newest = chart.labels[-1]
    assert newest.x + text_width(newest.text) / 2 <= WIDTH
