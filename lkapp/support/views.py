"""The customer's side of "Ask a question": asking with or without an account, the account's
threads, replies, and the attachments of one's own threads.

Without an account the form is guarded by the captcha, a per-IP limit (Flask-Limiter) and a
per-email limit counted in the database; its answer is one page whatever the email is, so it
tells nobody whether an account has that address.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..auth.mails import send_after_response
from ..auth.views import me, new_picture_limit
from ..domain import questions as rules
from ..extensions import db, limiter
from ..htmx import redirect as htmx_redirect
from ..htmx import render
from ..models import Attachment
from ..security import uploads
from ..services import captcha as captchas
from . import mails, services
from .forms import AskForm, CabinetAskForm, ReplyForm

bp = Blueprint("support", __name__)

# Three files of 5 MB and the text fit; anything bigger is refused before it is read.
MAX_REQUEST_SIZE = rules.MAX_FILES * rules.MAX_FILE_SIZE + 1024 * 1024
SENT_KEY = "support_reference"


def _known_account() -> bool:
    """Exempt from the per-IP limit, which is for asking without an account: a signed-in
    account whose email is confirmed (an unconfirmed one may have typed anyone's address,
    and the receipt quotes the question to it)."""
    return current_user.is_authenticated and current_user.is_confirmed


# --- asking -------------------------------------------------------------------------------


@bp.route("/ask", methods=["GET", "POST"])
@uploads(MAX_REQUEST_SIZE)
@limiter.limit(
    lambda: current_app.config.get("RATELIMIT_SUPPORT", "10 per hour"),
    methods=["POST"],
    exempt_when=_known_account,
)
@new_picture_limit(exempt_when=_known_account)
def ask():
    """Ask a question: from the account's contracts when signed in with a confirmed email,
    else with the captcha, as without an account."""
    if current_user.is_authenticated and current_user.is_staff:
        return redirect(url_for("support_staff.index"))
    if request.method == "POST" and not current_user.is_authenticated and _accounts_form():
        # Sent after its session ended: as a visitor's it would come back asking for an
        # email and a captcha, its contract lost. Sign in first; the question is kept.
        return current_app.login_manager.unauthorized()
    if _known_account():
        return _cabinet_ask()
    return _anonymous_ask()


def _accounts_form() -> bool:
    """The form sent is the account's (it names one of its contracts, not an email)."""
    return "contract" in request.form and "email" not in request.form


def _render_ask(form, challenge, status=200):
    return render(
        "support/ask.html",
        "support/_ask_form.html",
        status=status,
        form=form,
        challenge=challenge,
        from_account=False,
    )


def _with_new_picture(form: AskForm, status: int = 422, captcha_error: str | None = None):
    """The form again with a new picture: the old one is used up by the check."""
    if captcha_error:
        form.captcha.errors = [captcha_error]
    form.captcha.data = ""
    form.ask_for_files_again()
    challenge = captchas.new_challenge()
    db.session.commit()
    return _render_ask(form, challenge, status=status)


def _asked_already(form: AskForm):
    return services.asked_already(
        form.email.data,
        form.subject.data,
        form.question.data,
        form.uploads,
        contract_number=form.contract_number.data or "",
    )


def _anonymous_ask():
    form = AskForm()
    if request.method == "POST" and request.form.get("new_captcha"):
        # "New picture" with JavaScript off: the same form again, values kept.
        form.captcha.data = ""
        form.ask_for_files_again()
        challenge = captchas.new_challenge()
        db.session.commit()
        return _render_ask(form, challenge)
    if form.validate_on_submit():
        if not captchas.verify(request.form.get("captcha_id"), form.captcha.data):
            solved = captchas.solved_moments_ago(request.form.get("captcha_id"), form.captcha.data)
            earlier = _asked_already(form) if solved else None
            if earlier is not None:  # the form sent twice: its first copy's picture and words
                session[SENT_KEY] = earlier.reference
                return htmx_redirect(url_for("support.sent"))
            return _with_new_picture(
                form,
                captcha_error=_(
                    "The code did not match the picture. Type the code from this new picture."
                ),
            )
        earlier = _asked_already(form)
        if earlier is not None:  # sent again after its answer: the same page, no new mail
            db.session.commit()  # the used picture
            session[SENT_KEY] = earlier.reference
            return htmx_redirect(url_for("support.sent"))
        if rules.too_many_from_email(services.questions_in_window(form.email.data)):
            form.email.errors = [
                _(
                    "Too many questions from this email address in the last hour. Please wait "
                    "a while before you ask again."
                )
            ]
            return _with_new_picture(form, status=429)
        question = services.ask(
            email=form.email.data,
            name=form.name.data,
            contract_number=form.contract_number.data or "",
            subject=form.subject.data,
            body=form.question.data,
            locale=str(get_locale()),
            uploads=form.uploads,
        )
        mails.question_received(question, form.question.data)
        db.session.commit()
        session[SENT_KEY] = question.reference
        # The mail leaves after the answer, so the answer takes as long for every address.
        return send_after_response(htmx_redirect(url_for("support.sent")))
    # First visit, or other fields wrong: keep a picture the user may have read already.
    challenge = None
    if request.method == "POST":
        challenge = captchas.live_challenge(request.form.get("captcha_id", ""))
        form.ask_for_files_again()
    if challenge is None:
        challenge = captchas.new_challenge()
        form.captcha.data = ""
    db.session.commit()
    return _render_ask(form, challenge, status=422 if form.errors else 200)


def _cabinet_ask():
    account = me()
    contracts = services.own_contracts(account)
    form = CabinetAskForm(contracts)
    if form.validate_on_submit():
        chosen = next((c for c in contracts if c.number == form.contract.data), None)
        earlier = services.asked_already(
            account.email,
            form.subject.data,
            form.question.data,
            form.uploads,
            user=account,
            contract_number=chosen.number if chosen is not None else "",
        )
        if earlier is not None:  # the same question sent again: it was sent once
            return _question_sent(earlier)
        if rules.too_many_from_email(services.questions_in_window(account.email)):
            form.question.errors = [
                _("Too many questions in the last hour. Please wait a while before you ask again.")
            ]
            form.ask_for_files_again()
            return _render_cabinet_ask(form, status=429)
        question = services.ask(
            user=account,
            email=account.email,
            name=account.name,
            contract=chosen,
            subject=form.subject.data,
            body=form.question.data,
            locale=account.locale,
            uploads=form.uploads,
        )
        mails.question_received(question, form.question.data, account)
        db.session.commit()
        return _question_sent(question)
    if request.method == "POST":
        form.ask_for_files_again()
    return _render_cabinet_ask(form, status=422 if form.errors else 200)


def _question_sent(question):
    db.session.commit()  # nothing to write when it was sent before: ends the lock
    flash(
        _(
            "Your question was sent. Its reference number is %(reference)s; "
            "the answer appears here and comes by email.",
            reference=question.reference,
        ),
        "success",
    )
    return htmx_redirect(url_for("support.thread", reference=question.reference))


def _render_cabinet_ask(form, status=200):
    return render(
        "support/ask.html",
        "support/_cabinet_ask_form.html",
        status=status,
        form=form,
        from_account=True,
    )


@bp.get("/ask/sent")
def sent():
    """The same answer for every email: the reference number and what happens next."""
    return render_template("support/sent.html", reference=session.get(SENT_KEY))


# --- the account's threads ----------------------------------------------------------------


@bp.get("/questions")
@login_required
def questions():
    """The account's questions with their status, the latest activity first."""
    if current_user.is_staff:
        return redirect(url_for("support_staff.index"))
    result = services.customer_questions(me(), request.args.get("page", 1, type=int))
    return render(
        "support/questions.html",
        "support/_questions.html",
        result=result,
        url_for_page=lambda page: url_for("support.questions", page=page),
    )


def _own_question(reference: str):
    question = services.question_of(me(), reference)
    if question is None:
        abort(404)  # someone else's or none at all: the same answer
    return question


@bp.get("/questions/<reference>")
@login_required
def thread(reference: str):
    """One thread: the question, the office's answers, replies, attachments."""
    question = _own_question(reference)
    return _render_thread(question, ReplyForm(formdata=None))


def _render_thread(question, form, status=200):
    return render(
        "support/thread.html",
        "support/_reply_form.html",
        status=status,
        question=question,
        form=form,
    )


@bp.post("/questions/<reference>/reply")
@uploads(MAX_REQUEST_SIZE)
@login_required
@limiter.limit("30 per hour")
def reply(reference: str):
    """The asker adds a message; an answered thread is open again for the office."""
    question = _own_question(reference)
    form = ReplyForm()
    # Written on a page of the open thread (the office may have closed it since): taken.
    page_showed_open = form.seen.data is not None
    if rules.status_after_customer_reply(question.status, page_showed_open) is None:
        flash(_("This question is closed. Ask a new question instead."), "warning")
        return htmx_redirect(url_for("support.thread", reference=question.reference))
    if form.validate_on_submit():
        office_wrote = _office_wrote_since(question, form.seen.data)
        services.reply(
            question, me(), form.body.data, form.uploads, page_showed_open, seen=form.seen.data
        )
        db.session.commit()
        if office_wrote:
            flash(
                _(
                    "Your reply was added. Our office wrote to you while you were writing: "
                    "their message is above yours."
                ),
                "success",
            )
        else:
            flash(_("Your reply was added. We will answer by email and here."), "success")
        return htmx_redirect(url_for("support.thread", reference=question.reference))
    form.ask_for_files_again()
    return _render_thread(question, form, status=422)


def _office_wrote_since(question, seen: int | None) -> bool:
    """True when the office wrote in the thread after the page that showed ``seen`` messages."""
    return seen is not None and any(m.from_staff for m in question.messages[seen:])


@bp.get("/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id: int):
    """A file of one's own thread, as a download of its checked type."""
    found = services.attachment_of(me(), attachment_id)
    if found is None:
        abort(404)
    return send_attachment(found)


def send_attachment(attachment: Attachment):
    """Serve a stored file as a download only: its checked type, no sniffing, no rendering."""
    try:
        path = services.attachment_path(attachment)
    except ValueError:
        abort(404)
    if not path.is_file():
        abort(404)
    response = send_file(
        path,
        mimetype=attachment.content_type,
        as_attachment=True,
        download_name=attachment.filename,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
