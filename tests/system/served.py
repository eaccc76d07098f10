"""The app the system tests serve with gunicorn: the real one, with the readings clock held
inside the readings window.

Readings are accepted on some days of the month only (``READINGS_WINDOW``, in the deployment's
time zone); a suite that must pass on any day moves the readings clock (and nothing else) to
the middle of the window of this month, at the present time of day, when today is outside it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from lkapp import create_app
from lkapp.readings import clock

app = create_app()


def _hold_inside_window() -> None:
    with app.app_context():
        if clock.window().is_open:
            return
        first, last = clock.window_days()
        shift = timedelta(days=(first + last) // 2 - clock.local_today().day)
    real_utcnow = clock.utcnow

    def utcnow() -> datetime:
        return real_utcnow() + shift

    clock.utcnow = utcnow


_hold_inside_window()
