"""Back office, readings: the export for billing, and entering a reading for a customer.

The export marks what it exports; the next export of the same month has only the readings
that are new or corrected since, unless "all" is ticked. A reading entered by an operator has
the source ``operator`` and goes through the customer's checks (window, digits, not below the
last one, confirmation of a big jump).
"""

from __future__ import annotations

import io
from datetime import date

from flask import Blueprint, Response, abort, flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import BooleanField, SearchField, StringField
from wtforms.validators import Length, ValidationError

from ..auth.decorators import staff_required
from ..domain.csvformat import CellError, parse_period
from ..domain.readings import shift_month
from ..extensions import db
from ..formatting import lazy_gettext as _l
from ..htmx import redirect as htmx_redirect
from ..htmx import render
from ..models import Meter
from . import clock, services
from .forms import ReadingForm, apply_verdicts, consumption_chart, period_shown, reading_form
from .mails import queue_receipt
from .views import commit_with_retry, problem_text

bp = Blueprint("readings_staff", __name__)


class ExportForm(FlaskForm):
    period = StringField(
        _l("Month (YYYY-MM)"),
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        # No numeric keypad: a phone's (iOS) has no "-" to type YYYY-MM with.
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    everything = BooleanField(_l("All readings of the month, also those exported before"))
    decimal_comma = BooleanField(_l("Values with a decimal comma (12,5)"))

    def validate_period(self, field):
        try:
            self.month = parse_period(field.data or "")
        except CellError:
            raise ValidationError(_l("Enter a month as YYYY-MM, for example 2026-11.")) from None


class MeterSearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField(
        _l("Contract number or meter serial"),
        validators=[Length(max=100, message=_l("Search with at most 100 characters."))],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )


def default_export_month(today: date) -> date:
    """The month whose window has opened last: this one from its first window day on."""
    first, _last = clock.window_days()
    this_month = today.replace(day=1)
    return this_month if today.day >= first else shift_month(this_month, -1)


def _index_context(export_form: ExportForm | None = None) -> dict:
    search = MeterSearchForm(request.args)
    query = search.q.data.strip() if search.validate() and search.q.data else ""
    if export_form is None:
        export_form = ExportForm(
            formdata=None, period=f"{default_export_month(clock.local_today()):%Y-%m}"
        )
    month = getattr(export_form, "month", None)
    if month is None:
        try:
            month = parse_period(export_form.period.data or "")
        except CellError:
            month = None
    return {
        "export_form": export_form,
        "counts": services.export_counts(month) if month else None,
        "month": month,
        "search_form": search,
        "query": query,
        "found": services.find_meters(query) if query else [],
    }


@bp.get("/")
@staff_required
def index():
    """Export a month's readings for billing; find a meter to enter a reading for."""
    return render("readings/staff/index.html", "readings/staff/_meters.html", **_index_context())


@bp.post("/export")
@staff_required
def export():
    """The CSV for billing; the readings in it are marked exported."""
    form = ExportForm()
    if not form.validate_on_submit():
        return render(
            "readings/staff/index.html",
            "readings/staff/_export_form.html",
            status=422,
            **_index_context(form),
        )
    out = io.StringIO(newline="")
    count = services.export_readings(
        out,
        form.month,
        everything=form.everything.data,
        actor=current_user,
        decimal_comma=form.decimal_comma.data,
    )
    if count == 0 and not form.everything.data:
        # An empty file would go to billing as the month's readings, or, after a double click,
        # replace the download that had them (browsers keep the last answer): the page says
        # there is nothing new instead, and since when.
        db.session.rollback()
        return render_template(
            "readings/staff/index.html",
            **_index_context(form),
            nothing_new=True,
            last_export=services.last_export(form.month),
        )
    db.session.commit()
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="readings-{form.month:%Y-%m}'
        f'{"-all" if form.everything.data else ""}.csv"'
    )
    response.headers["X-Readings-Exported"] = str(count)
    return response


def _meter(meter_id: int) -> Meter:
    meter = db.session.get(Meter, meter_id)
    if meter is None:
        abort(404)
    return meter


def _meter_context(
    meter: Meter,
    form: ReadingForm | None = None,
    problem: str | None = None,
    shown: date | None = None,
):
    window = clock.window()
    item = services.meter_readings(meter, window)
    months = services.chart_months(clock.local_today())
    return {
        "contract": meter.contract,
        "meter": meter,
        "item": item,
        "window": window,
        "form": form or reading_form(meter, blank=True),
        "form_action": url_for("readings_staff.meter", meter_id=meter.id),
        "problems": {meter.id: problem_text(problem, shown)},
        "chart": consumption_chart(item, months),
        "contracts": services.contract_numbers(item),
    }


@bp.route("/meters/<int:meter_id>", methods=["GET", "POST"])
@staff_required
def meter(meter_id: int):
    """A meter's readings, and this month's readings entered for the customer."""
    meter = _meter(meter_id)
    if request.method == "GET":
        return render_template("readings/staff/meter.html", **_meter_context(meter))
    form = reading_form(meter)
    period = period_shown(request.form)
    problem = None
    if form.validate_on_submit():
        typed, confirmed = form.typed(), form.confirm.data

        def work():
            result = services.submit(
                meter,
                typed,
                confirmed=confirmed,
                user=current_user,
                source="operator",
                period=period,
            )
            queue_receipt(meter.contract, result, entered_by_office=True)
            return result

        try:
            submission = commit_with_retry(work)
        except IntegrityError:
            db.session.rollback()
            problem = "race"
        else:
            if submission.ok:
                flash(
                    _(
                        "Readings of meter %(serial)s entered for the customer.",
                        serial=meter.serial,
                    ),
                    "success",
                )
                return htmx_redirect(url_for("readings_staff.meter", meter_id=meter.id))
            problem = submission.problem
            apply_verdicts(form, submission)
    return render(
        "readings/staff/meter.html",
        "readings/_form.html",
        status=422,
        **_meter_context(meter, form, problem, period),
    )
