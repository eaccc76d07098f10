"""The office's side of the question service (``/staff/questions``): the list with filters,
a thread with who asked, the answer, closing, and for "lost login" a password-reset link sent
to the account's own address (staff never see or set a password)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, request, url_for
from flask_babel import gettext as _

from ..auth import mails as auth_mails
from ..auth.decorators import staff_required
from ..auth.services import AUTO_LOCK, barred
from ..auth.views import me
from ..extensions import db
from ..htmx import redirect as htmx_redirect
from ..htmx import render
from ..models import Attachment, User
from . import mails, services
from .forms import ActionForm, AnswerForm, CloseForm, LookupForm, StaffFilterForm
from .views import send_attachment

bp = Blueprint("support_staff", __name__)


@bp.app_context_processor
def unanswered_questions():
    """``unanswered_questions()`` for the staff navigation: one count, only when it is shown."""

    def count() -> int:
        if "unanswered_questions" not in g:
            g.unanswered_questions = services.unanswered_count()
        return g.unanswered_questions

    return {"unanswered_questions": count}


def _question(reference: str):
    question = services.find_question(reference)
    if question is None:
        abort(404)
    return question


def may_get_reset_link(user: User) -> bool:
    """As for "Forgot password?": not for an account the office itself locked."""
    return user.locked_at is None or user.locked_reason == AUTO_LOCK


@bp.get("")
@staff_required
def index():
    """Questions, the longest waiting unanswered first; filters by status, subject, age."""
    form = StaffFilterForm(request.args)
    filters = (
        {
            "status": form.status.data or "",
            "subject": form.subject.data or "",
            "age": form.age.data or "",
        }
        if form.validate()
        else {"status": "", "subject": "", "age": ""}
    )
    result = services.staff_questions(
        status=filters["status"],
        subject=filters["subject"],
        older_than_days=int(filters["age"]) if filters["age"] else None,
        page=request.args.get("page", 1, type=int),
    )
    query = {key: value for key, value in filters.items() if value}
    return render(
        "support/staff/list.html",
        "support/staff/_results.html",
        form=form,
        result=result,
        filtered=bool(query),
        url_for_page=lambda page: url_for("support_staff.index", page=page, **query),
    )


def answer_recipient(question, account: User | None) -> str | None:
    """Where an answer goes: the account's email of today, else the contact email. None for
    an account its customer closed (no address left) or the office locked (its mailbox may
    be in other hands: it gets no reset link or detach notice either); the answer is then
    kept with the question, unsent."""
    if account is not None and barred(account):
        return None
    return account.email if account is not None else question.contact_email


def _thread_context(question, **overrides) -> dict:
    author_ids = {m.author_id for m in question.messages if m.from_staff and m.author_id}
    authors = (
        dict(
            db.session.execute(sa.select(User.id, User.email).where(User.id.in_(author_ids))).all()
        )
        if author_ids
        else {}
    )
    tax_id = request.args.get("tax_id", "").strip()[:20]
    candidates = (
        services.account_candidates(question, tax_id) if question.subject == "lost_login" else []
    )
    account = services.asker_account(question)
    context = {
        "question": question,
        "authors": authors,
        "account": account,
        "answer_to": answer_recipient(question, account),
        "contract": services.named_contract(question),
        "earlier": services.earlier_questions(question),
        "candidates": candidates,
        "tax_id": tax_id,
        "lookup_form": LookupForm(formdata=None, tax_id=tax_id),
        "may_get_reset_link": may_get_reset_link,
        "form": AnswerForm(formdata=None),
        "came_meanwhile": False,
    }
    context.update(overrides)
    return context


@bp.get("/<reference>")
@staff_required
def thread(reference: str):
    """A thread: the messages, who asked (and their account, contracts, earlier questions),
    the answer form; for "lost login" the accounts that may be theirs."""
    question = _question(reference)
    return render(
        "support/staff/thread.html", "support/staff/_answer_form.html", **_thread_context(question)
    )


@bp.post("/<reference>/answer")
@staff_required
def answer(reference: str):
    """Answer: mailed to the asker in their language, the thread is answered."""
    question = _question(reference)
    form = AnswerForm()
    if not form.validate_on_submit():
        return _answer_again(question, form, 422)
    message = services.answer(question, me(), form.body.data, form.seen.data)
    account = services.asker_account(question)
    if message is None:
        # Read under the thread's lock, which ``answer`` took: the answer that came meanwhile
        # may be this one, sent twice. Said as the first time, not stored or mailed again.
        again = form.seen.data is not None and services.answered_already(
            question, me(), form.body.data, form.seen.data
        )
        db.session.rollback()  # nothing was written; the thread as it is now
        if not again:
            return _answer_again(_question(reference), form, 409, came_meanwhile=True)
        _say_where_it_went(account, answer_recipient(question, account))
        return htmx_redirect(url_for("support_staff.thread", reference=question.reference))
    recipient = answer_recipient(question, account)
    if recipient is not None:
        recipient = mails.answered(question, message, account)
    db.session.commit()
    _say_where_it_went(account, recipient)
    return htmx_redirect(url_for("support_staff.thread", reference=question.reference))


def _say_where_it_went(account: User | None, recipient: str | None) -> None:
    if recipient is None and account.is_closed:
        flash(
            _("The customer closed the account: the answer is kept with the question, unsent."),
            "warning",
        )
    elif recipient is None:
        flash(
            _("The office locked the account: the answer is kept with the question, unsent."),
            "warning",
        )
    else:
        flash(_("The answer was sent to %(email)s.", email=recipient), "success")


def _answer_again(question, form: AnswerForm, status: int, came_meanwhile: bool = False):
    """The answer form with what was typed, and the thread as it is now. Messages that came
    after the operator's page was built are shown (with HTMX, the messages replace those of
    the page, out of band) and said: the answer was written without them."""
    if form.seen.data is not None and form.seen.data != len(question.messages):
        came_meanwhile = True
    return render(
        "support/staff/thread.html",
        "support/staff/_answer_form.html",
        status=status,
        **_thread_context(question, form=form, came_meanwhile=came_meanwhile),
    )


@bp.post("/<reference>/close")
@staff_required
def close(reference: str):
    """Close the thread (the asker may ask a new question)."""
    question = _question(reference)
    form = CloseForm()
    if not form.validate_on_submit():
        abort(400)
    if services.close(question, me(), form.seen.data):
        db.session.commit()
        flash(_("Question %(reference)s is closed.", reference=question.reference), "success")
    elif question.status != "closed":
        flash(
            _("A new message came after this page was opened: the question stays open."),
            "warning",
        )
    return htmx_redirect(url_for("support_staff.thread", reference=question.reference))


@bp.post("/<reference>/reset-link")
@staff_required
def reset_link(reference: str):
    """Send one of the thread's candidate accounts a password-reset link (to its own email)."""
    question = _question(reference)
    if question.subject != "lost_login" or not ActionForm().validate_on_submit():
        abort(404)
    tax_id = request.form.get("tax_id", "").strip()[:20]
    account_id = request.form.get("account_id", type=int)
    account = next(
        (u for u in services.account_candidates(question, tax_id) if u.id == account_id), None
    )
    if account is None or not may_get_reset_link(account):
        abort(404)
    auth_mails.password_reset(account)  # the very mail of "Forgot password?"
    services.reset_link_sent(question, me(), account)
    db.session.commit()
    flash(
        _("A password-reset link was sent to the account's email %(email)s.", email=account.email),
        "success",
    )
    return htmx_redirect(
        url_for("support_staff.thread", reference=question.reference, tax_id=tax_id or None)
    )


@bp.get("/attachments/<int:attachment_id>")
@staff_required
def attachment(attachment_id: int):
    """Any question's file, for the office (a download, never shown inline)."""
    found = db.session.get(Attachment, attachment_id)
    if found is None:
        abort(404)
    return send_attachment(found)
