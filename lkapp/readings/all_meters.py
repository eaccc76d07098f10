"""Readings of all meters on one page (``/readings``): a customer with many supply points
sends a month's readings in one form instead of one contract tab after another.

Each meter's values go through the same checks as on its contract's Readings tab
(``services.submit``). The page is all or nothing: when any meter's values are refused, none
is stored and every message is shown beside its field; a meter left empty is skipped. A meter
typed for that no longer takes readings when the form arrives (its contract ended or left the
account, or it was removed) refuses the page too, rather than being dropped without a word.

A customer with many meters (a chain of shops) gets them in pages of whole contracts; each page
is sent on its own, all or nothing. The form names the meters it shows (a single page too), so
that what is typed is stored for those meters even if the pages' bounds have moved since (a
contract added or ended meanwhile).
"""

from __future__ import annotations

from flask import Blueprint, flash, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..htmx import redirect as htmx_redirect
from ..htmx import render
from . import clock, services
from .forms import ZONE_NAMES, ReadingForm, apply_verdicts, field_name, period_shown, reading_form
from .mails import queue_readings_received
from .views import commit_with_retry, problem_text

bp = Blueprint("readings_all", __name__)


def _forms(meters, blank: bool) -> dict[int, ReadingForm]:
    return {
        item.meter.id: reading_form(item.meter, blank=blank, together=True)
        for item in meters
        if not item.given_before_move
    }


def _page(found: services.MeterPage, forms, status: int = 200, items=None, **context):
    return render(
        "readings/all_meters.html",
        "readings/_all_meters_form.html",
        status=status,
        window=clock.window(),
        meters=found.items if items is None else items,
        forms=forms,
        found=found,
        url_for_page=_url_for_page,
        **context,
    )


def _url_for_page(page: int) -> str:
    """The address of a page; the first (the only one of most accounts) has none of its own."""
    return url_for("readings_all.form", page=page if page > 1 else None)


def _found(window) -> services.MeterPage:
    """The page asked for; for a form sent from a paged list, the meters it showed."""
    shown = request.form.getlist("meter", type=int) if request.method == "POST" else []
    page = request.args.get("page", 1, type=int)
    return services.account_meter_page(current_user, window, page, shown or None)


@bp.get("")
@login_required
def form():
    """Every meter in use on the account's contracts, with a field per tariff zone (a page of
    them when there are many)."""
    found = _found(clock.window())
    return _page(found, _forms(found.items, blank=True))


@bp.post("")
@login_required
def submit():
    """Store the readings typed for every meter of the page, or none of them."""
    window = clock.window()
    found = _found(window)
    meters = found.items
    shown = [item.meter.id for item in meters]  # read before a rollback expires them
    forms = _forms(meters, blank=False)
    if not window.is_open:
        return _page(found, forms, 422, problem=problem_text("window_closed"))
    gone = _typed_out_of_use(shown)
    period = period_shown(request.form)
    if period is not None and period != window.period:
        return _period_changed(window, found, forms, gone, period)
    typed = {meter_id: form.typed() for meter_id, form in forms.items()}
    typed = {
        meter_id: values
        for meter_id, values in typed.items()
        if any(value.strip() for value in values.values())
    }
    if not typed and not gone:
        return _page(found, forms, 422, problem=_("Type the readings of at least one meter."))

    def work():
        submissions = [
            services.submit(
                form.meter,
                typed[meter_id],
                confirmed=form.confirm.data,
                user=current_user,
                source="portal",
                period=period,
            )
            for meter_id, form in forms.items()
            if meter_id in typed
        ]
        if not gone and all(submission.ok for submission in submissions):
            queue_readings_received(current_user, submissions)
        else:
            db.session.rollback()  # all or nothing: the meters that passed are not kept either
        return submissions

    try:
        submissions = commit_with_retry(work)
    except IntegrityError:
        db.session.rollback()
        return _page(found, forms, 422, problem=problem_text("race"))
    if not gone and all(submission.ok for submission in submissions):
        flash(
            ngettext(
                "Readings of %(num)s meter received. A confirmation is on its way to your email.",
                "Readings of %(num)s meters received. A confirmation is on its way to your email.",
                len(submissions),
            ),
            "success",
        )
        return htmx_redirect(_url_for_page(found.page))
    if any(submission.problem == "period_changed" for submission in submissions):
        # The month turned while the request ran, after the check above.
        window = clock.window()
        found = services.account_meter_page(current_user, window, found.page, shown)
        return _period_changed(window, found, forms, gone, period)
    # The rollback expired every meter and contract: load them again at once, not one by one.
    found = services.account_meter_page(current_user, window, found.page, shown)
    problems = _meter_problems(submissions)
    refused = []
    for submission in submissions:
        form = forms[submission.meter.id]
        apply_verdicts(form, submission)
        if not submission.ok:
            refused.append(submission.meter)
    items, ended = _with_out_of_use(window, found, gone, problems)
    refused = sorted([*refused, *(item.meter for item in ended)], key=_place)
    return _page(
        found,
        forms,
        422,
        items=items,
        refused=refused,
        problems=problems,
        not_on_account=len(gone) - len(ended),
    )


def _with_out_of_use(window, found: services.MeterPage, gone: list[int], problems: dict):
    """The page's meters with those of ``gone`` still on the account (their contract ended,
    they were removed), each where it stood, its refusal put in ``problems``; and those. The
    others are no longer on the account: counted alone, nothing told of them."""
    ended = services.account_meters_out_of_use(current_user, window, gone)
    for item in ended:
        problems[item.meter.id] = problem_text(
            "contract_ended" if item.contract_ended else "meter_removed"
        )
    items = sorted([*found.items, *ended], key=lambda item: _place(item.meter))
    return items, ended


def _period_changed(window, found: services.MeterPage, forms, gone: list[int], period):
    """The page sent after the window moved on to another month (a tab left open): nothing
    stored, the values typed kept for the new month, "I have checked the reading" unticked
    (what was checked was the jump from another month)."""
    for form in forms.values():
        form.confirm.data = False
    problems: dict[int, str] = {}
    items, _ended = _with_out_of_use(window, found, gone, problems)
    return _page(
        found,
        forms,
        422,
        items=items,
        problems=problems,
        problem=problem_text("period_changed", period),
    )


def _place(meter) -> tuple[str, str]:
    """Where a meter stands on the page: by contract, then serial."""
    return meter.contract.number, meter.serial


def _typed_out_of_use(shown: list[int]) -> list[int]:
    """The meters the form named and had values typed for that are no longer among the
    account's meters in use (``shown``): their contract ended or left the account, or the
    meter was removed, between loading the form and sending it."""
    named = request.form.getlist("meter", type=int)
    return [
        meter_id
        for meter_id in dict.fromkeys(named)
        if meter_id not in shown
        and any(request.form.get(field_name(meter_id, zone), "").strip() for zone in ZONE_NAMES)
    ]


def _meter_problems(submissions) -> dict[int, str]:
    """A meter's message that is not about one field (such as a meter given before a move)."""
    return {
        submission.meter.id: problem_text(submission.problem)
        for submission in submissions
        if submission.problem
    }
