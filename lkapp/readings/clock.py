"""The clock of the readings: "now" and "today", in one place so tests can move the calendar.

The window is a matter of calendar days in the deployment's time zone (``TIMEZONE``): at 23:30
UTC on the 14th it is already the 15th in Budapest, and the window is open there. Tests
monkeypatch ``utcnow``; everything else here follows from it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app

from ..domain.readings import Window, reading_window


def utcnow() -> datetime:
    return datetime.now(UTC)


def local_today() -> date:
    """Today's date where the utility is (``TIMEZONE``)."""
    return utcnow().astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()


def window_days() -> tuple[int, int]:
    """The first and last day of the window (``READINGS_WINDOW``, checked at start-up)."""
    first, last = (int(part) for part in current_app.config["READINGS_WINDOW"].split("-"))
    return first, last


def window(today: date | None = None) -> Window:
    """The readings window of ``today`` (default: today in the deployment's time zone)."""
    return reading_window(today or local_today(), *window_days())
