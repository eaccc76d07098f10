"""The app as the benchmark serves it: the real app plus two things that must never ship.

* ``/_bench/floor``: the floor of the benchmark, a bare route rendering the base layout with a
  60-row table from a Python list, printed as they are (no Babel formatting, no database work;
  the bench requests it without a session cookie).
* With ``LKAPP_BENCH_SQL_COUNT=1``, an ``X-SQL-Count`` response header: the SQL statements the
  request ran (a ``before_cursor_execute`` listener on the engine).

gunicorn loads it with ``'tests.load.floor_app:create_app()'``; the shipping ``wsgi.py`` and
``lkapp`` know nothing of it.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from flask import Blueprint, Flask, render_template
from sqlalchemy import event

from lkapp import create_app as create_lkapp
from lkapp.extensions import db

SQL_COUNT_HEADER = "X-SQL-Count"

floor = Blueprint("bench_floor", __name__, template_folder=str(Path(__file__).parent / "templates"))

FLOOR_ROWS = [
    {
        "number": f"INV-2026-{100000 + i}",
        "issued_on": date(2026, 1, 3) + timedelta(days=30 * i),
        "description": f"Electricity, single rate, month {i % 12 + 1}",
        "amount": Decimal("1234.56") + i,
    }
    for i in range(60)
]


@floor.get("/_bench/floor")
def floor_page():
    return render_template("bench_floor/floor.html", rows=FLOOR_ROWS)


@floor.get("/_bench/floor-formatted")
def floor_formatted():
    """A reference beside the floor: the same table through the app's money and date cells
    (Babel formatting), as the app's own tables print them."""
    return render_template("bench_floor/floor_formatted.html", rows=FLOOR_ROWS)


def _count_sql(app: Flask) -> None:
    """Count the statements of each request and report them in ``X-SQL-Count``."""
    counter = [0]  # sync workers: one request at a time per process

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_args, **_kwargs):
        counter[0] += 1

    inner = app.wsgi_app

    def reset_then_run(environ, start_response):
        counter[0] = 0
        return inner(environ, start_response)

    app.wsgi_app = reset_then_run

    def add_header(response):
        response.headers[SQL_COUNT_HEADER] = str(counter[0])
        return response

    # First in the list = run last (Flask runs after_request functions in reverse), so the
    # statements of the app's own after_request functions are counted too.
    app.after_request_funcs.setdefault(None, []).insert(0, add_header)


def create_app() -> Flask:
    app = create_lkapp()
    app.register_blueprint(floor)
    if os.environ.get("LKAPP_BENCH_SQL_COUNT") == "1":
        _count_sql(app)
    return app
