"""The question service's emails, queued in the outbox in the asker's language."""

from __future__ import annotations

from flask import url_for

from ..formatting import lazy_gettext as _l
from ..models import Message, Question, User
from ..services.mail import queue_mail


def _locale(question: Question, account: User | None) -> str:
    """The account's language when the asker has one, else the page's language at asking."""
    return account.locale if account is not None else question.locale


def _thread_link(question: Question) -> str | None:
    if question.user_id is None:
        return None  # an anonymous asker has no thread to open: the answer comes by mail
    return url_for("support.thread", reference=question.reference, _external=True)


def question_received(question: Question, body: str, account: User | None = None) -> None:
    """At once, to the address the answer will go to: its reference, and for a signed-in
    asker a copy of the question. Asked without an account, the address is whatever was
    typed: a copy of the text (or the typed name) would let anyone who solves the captcha
    mail words of their choosing from the utility's address to any inbox."""
    queue_mail(
        question.contact_email,
        _l("We received your question %(reference)s", reference=question.reference),
        "support_received",
        locale=_locale(question, account),
        question=question,
        body=body,
        link=_thread_link(question),
    )


def answered(question: Question, message: Message, account: User | None = None) -> str | None:
    """The office's answer, to the asker (the account's email when one asked, which may have
    changed since); the address it goes to. None for an account its customer has closed: it
    has no address any more."""
    if account is not None and account.is_closed:
        return None
    recipient = account.email if account is not None else question.contact_email
    queue_mail(
        recipient,
        _l("Answer to your question %(reference)s", reference=question.reference),
        "support_answer",
        locale=_locale(question, account),
        question=question,
        body=message.body,
        link=_thread_link(question),
        ask_link=url_for("support.ask", _external=True),
    )
    return recipient
