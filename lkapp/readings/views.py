"""The Readings tab of a contract: meters, this month's form per meter, receipt, history, chart.

Served under ``/electricity/<number>/readings`` (the tab bar comes from ``render_tab`` of the
electricity blueprint). Every URL names a contract of the signed-in account, else 404.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TypeVar

from flask import Blueprint, abort, flash, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from ..domain.csvformat import CellError, parse_period
from ..domain.readings import shift_month
from ..electricity.views import TABS, own_contract, render_tab
from ..extensions import db
from ..formatting import month as format_month
from ..htmx import redirect as htmx_redirect
from ..htmx import render, wants_fragment
from ..models import Contract, Meter
from . import clock, services
from .forms import (
    ReadingForm,
    apply_verdicts,
    chart_text,
    consumption_chart,
    history_rows,
    period_shown,
    reading_form,
    reading_lines,
    reading_value,
    table_texts,
    zone_labels,
)
from .mails import queue_receipt

bp = Blueprint("readings", __name__)
bp.add_app_template_filter(reading_value, "reading")
bp.add_app_template_global(zone_labels)
bp.add_app_template_global(table_texts)
bp.add_app_template_global(reading_lines)
bp.add_app_template_global(history_rows)
bp.add_app_template_global(chart_text)

T = TypeVar("T")


def commit_with_retry(work: Callable[[], T]) -> T:
    """Run ``work`` (which adds and flushes) and commit; if another submission for the same
    meter and month took the live slot first (IntegrityError on ``uq_readings_live``), roll
    back and run it once more: it then supersedes the winner, and both stay in history."""
    try:
        result = work()
        db.session.commit()
        return result
    except IntegrityError:
        db.session.rollback()
    result = work()
    db.session.commit()
    return result


@bp.app_template_global()
def problem_text(problem: str | None, shown: date | None = None) -> str | None:
    """The message of a refusal (``Submission.problem``); ``shown``: the month the form was
    shown for (a ``period_changed`` names it)."""
    if problem == "period_changed":
        return _(
            "This form was for %(shown)s; readings are now taken for %(month)s. Check the "
            "values and send them again.",
            shown=format_month(shown),
            month=format_month(clock.window().period),
        )
    if problem == "window_closed":
        window = clock.window()
        return _(
            "Readings are accepted from day %(first)s to day %(last)s of the month. The next "
            "window opens on %(date)s.",
            first=window.opens_on.day,
            last=window.closes_on.day,
            date=format_date(window.opens_on, "long"),
        )
    if problem == "contract_ended":
        return _(
            "This contract has ended: readings are no longer accepted for it. To report a final "
            "reading, ask our office a question."
        )
    if problem == "meter_removed":
        return _("This meter is not installed for this month; no readings can be sent for it.")
    if problem == "given_before_move":
        period = clock.window().period
        return _(
            "This meter's readings for %(month)s were given by its previous holder, before it "
            "moved to this contract. The first readings for this contract are for %(next)s.",
            month=format_month(period),
            next=format_month(shift_month(period, 1)),
        )
    if problem == "race":
        return _(
            "Another submission for this meter arrived at the same moment. Check the history "
            "below and send the readings again if they are not there."
        )
    return None


def tab_context(contract: Contract, forms: dict[int, ReadingForm] | None = None) -> dict:
    """What the Readings tab shows: the window, each meter with its form, history and chart."""
    window = clock.window()
    today = clock.local_today()
    months = services.chart_months(today)
    # The history table shows the last year unless the customer asks for all of it: every
    # reading of every zone is a long page, on a phone above all, and the months before the
    # chart's are not even loaded.
    whole = request.args.get("history") == "all"
    history_since = None if whole else services.history_start(today)
    meters = services.contract_readings(contract, window, since=None if whole else months[0])
    forms = dict(forms or {})
    charts = {}
    for item in meters:
        if (
            item.accepts
            and not (item.contract_ended or item.given_before_move)
            and (item.meter.id not in forms)
        ):
            forms[item.meter.id] = reading_form(item.meter, blank=True)
        charts[item.meter.id] = consumption_chart(item, months)
    return {
        "window": window,
        "meters": meters,
        "forms": forms,
        "charts": charts,
        "history_since": history_since,
        "history_months": services.HISTORY_MONTHS,
    }


@bp.get("/<number>/readings")
@login_required
def tab(number: str):
    """Meters with their last readings, this month's forms, history and consumption chart."""
    contract = own_contract(number)
    return render_tab(contract, "readings", "readings/tab.html", **tab_context(contract))


def _own_meter(contract: Contract, meter_id: int) -> Meter:
    meter = services.meter_of(contract, meter_id)
    if meter is None:
        abort(404)
    return meter


def _meter_shown(contract: Contract, meter_id: int) -> Meter:
    """A meter of ``contract``, or one billing moved away from it (its receipts stay)."""
    meter = services.meter_shown_to(contract, meter_id)
    if meter is None:
        abort(404)
    return meter


@bp.post("/<number>/readings/meters/<int:meter_id>")
@login_required
def submit(number: str, meter_id: int):
    """Submit (or, inside the window, correct) this month's readings of one meter."""
    contract = own_contract(number)
    meter = _own_meter(contract, meter_id)
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
                source="portal",
                period=period,
            )
            queue_receipt(contract, result, entered_by_office=False)
            return result

        try:
            submission = commit_with_retry(work)
        except IntegrityError:
            db.session.rollback()
            problem = "race"
        else:
            if submission.ok:
                flash(
                    _("Readings received. A confirmation is on its way to your email."), "success"
                )
                return htmx_redirect(
                    url_for(
                        "readings.receipt",
                        number=contract.number,
                        meter_id=meter.id,
                        period=f"{submission.period:%Y-%m}",
                    )
                )
            problem = submission.problem
            apply_verdicts(form, submission)
    return render_form_error(contract, meter, form, problem, period)


def render_form_error(
    contract: Contract,
    meter: Meter,
    form: ReadingForm,
    problem: str | None,
    shown: date | None = None,
):
    """The form again with its messages (422): in place for htmx, else within the whole tab.
    After ``period_changed`` it is the new month's, with the values typed for the month
    ``shown``."""
    context = tab_context(contract, {meter.id: form})
    context["problems"] = {meter.id: problem_text(problem, shown)}
    item = next(item for item in context["meters"] if item.meter.id == meter.id)
    # A whole page opens at this form's first message (htmx swaps the form and focuses it).
    context["focus_form"] = None if wants_fragment() else meter.id
    # A new month: for htmx the whole tab, whose notice and other forms were the old month's.
    whole_tab = problem == "period_changed"
    response = render(
        "electricity/contract.html",
        "electricity/_tab.html" if whole_tab else "readings/_form.html",
        status=422,
        contract=contract,
        tab="readings",
        tabs=TABS,
        body="readings/tab.html",
        item=item,
        form=form,
        **context,
    )
    if whole_tab and wants_fragment():
        response.headers["HX-Retarget"] = "#contract-tab"
        response.headers["HX-Reswap"] = "outerHTML"
    return response


@bp.get("/<number>/readings/meters/<int:meter_id>/<period>")
@login_required
def receipt(number: str, meter_id: int, period: str):
    """The receipt of a month's readings of one meter: values, consumption, time, source."""
    contract = own_contract(number)
    meter = _meter_shown(contract, meter_id)
    try:
        month = parse_period(period)
    except CellError:
        abort(404)
    item = services.meter_readings(meter, clock.window(), contract)
    rows = item.of_period(month)
    if not rows:
        abort(404)
    return render_tab(
        contract,
        "readings",
        "readings/receipt.html",
        item=item,
        month=month,
        rows=sorted(rows, key=lambda r: (not r.live, r.zone, -r.id)),
    )
