"""Questions, their messages and attachments. Services add and flush; the view commits once,
then the mail queued in the outbox goes out.

``Question.updated_at`` is the time of the thread's last message, set only where a message is
added (the lists' "Last message" and the office's age filter read it); closing sets
``closed_at`` alone.

Attachments are written to ``instance/attachments/<sha256>`` (content-addressed: the same
file twice is stored once) before the transaction commits; a request that fails afterwards
leaves at most an unreferenced file behind, never a row without its file.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from ..database import lock_row
from ..domain import questions as rules
from ..domain.accounts import normalize_tax_id
from ..extensions import db
from ..models import Attachment, Contract, Message, Question, User, utcnow
from ..services import audit

ATTACHMENTS = "attachments"


@dataclass(frozen=True)
class Upload:
    """A file that passed the checks (type from its content, size), ready to store."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Page:
    rows: list
    page: int
    pages: int
    total: int


def normalize_email(email: str) -> str:
    """Contact emails are kept lower-case: one asker, one key (rate limit, earlier questions)."""
    return email.strip().lower()


# --- files ------------------------------------------------------------------------------


def attachments_dir() -> Path:
    return Path(current_app.instance_path) / ATTACHMENTS


def _store(data: bytes) -> tuple[str, str]:
    """Write ``data`` under its sha256 (once); returns (sha256, path relative to instance/)."""
    digest = hashlib.sha256(data).hexdigest()
    directory = attachments_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / digest
    if not path.exists():
        partial = directory / f".{digest}.{secrets.token_hex(4)}.part"
        partial.write_bytes(data)
        os.chmod(partial, 0o600)
        os.replace(partial, path)  # atomic: a reader never sees half a file
    return digest, f"{ATTACHMENTS}/{digest}"


def attachment_path(attachment: Attachment) -> Path:
    """The stored file of ``attachment``; only names made by ``_store`` are accepted."""
    digest = attachment.sha256
    if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
        raise ValueError("not a stored attachment")
    return attachments_dir() / digest


# --- asking and replying ----------------------------------------------------------------


def _add_message(
    question: Question,
    body: str,
    uploads: list[Upload],
    author: User | None = None,
    from_staff: bool = False,
) -> Message:
    message = Message(
        question=question,
        author_id=author.id if author is not None else None,
        from_staff=from_staff,
        body=body,
        created_at=utcnow(),
    )
    db.session.add(message)
    for upload in uploads[: rules.MAX_FILES]:
        digest, path = _store(upload.data)
        message.attachments.append(
            Attachment(
                filename=upload.filename,
                content_type=upload.content_type,
                size=len(upload.data),
                sha256=digest,
                storage_path=path,
            )
        )
    return message


def _reference_taken(reference: str) -> bool:
    return (
        db.session.scalar(sa.select(Question.id).where(Question.reference == reference)) is not None
    )


def file_bytes_in_window(user: User) -> int:
    """How many bytes of files ``user`` attached within ``FILES_WINDOW``."""
    since = utcnow() - rules.FILES_WINDOW
    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Attachment.size), 0))
        .join(Message, Message.id == Attachment.message_id)
        .where(Message.author_id == user.id, Message.created_at >= since)
    )


def anonymous_file_bytes_in_window() -> int:
    """How many bytes of files questions asked without an account attached, together, within
    ``ANONYMOUS_FILES_WINDOW``."""
    since = utcnow() - rules.ANONYMOUS_FILES_WINDOW
    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Attachment.size), 0))
        .join(Message, Message.id == Attachment.message_id)
        .where(Message.author_id.is_(None), Message.created_at >= since)
    )


def questions_in_window(email: str) -> int:
    """How many questions this email asked within the rate-limit window (kept in the DB, so
    it holds across workers and restarts)."""
    since = utcnow() - rules.EMAIL_WINDOW
    return db.session.scalar(
        sa.select(sa.func.count(Question.id)).where(
            Question.contact_email == normalize_email(email), Question.created_at >= since
        )
    )


# A question with the same words and files as one the same asker sent this long ago or less
# is that question sent again (a double click, a reload of the answer, Back and Send).
RESENT_WITHIN = timedelta(minutes=10)


def asked_already(
    email: str,
    subject: str,
    body: str,
    uploads: list[Upload] = (),
    *,
    user: User | None = None,
    contract_number: str = "",
) -> Question | None:
    """The question ``user`` (None: someone without an account, at ``email``) sent a moment
    ago with these very words and files, if any. For an account the account's row is locked
    first, so that two copies sent at once find each other."""
    if user is not None:
        lock_row(User, user.id)
    query = (
        _thread_query()
        .where(
            Question.contact_email == normalize_email(email),
            Question.user_id == user.id if user is not None else Question.user_id.is_(None),
            Question.subject == subject,
            Question.contract_number == contract_number.strip(),
            Question.created_at >= utcnow() - RESENT_WITHIN,
        )
        .order_by(Question.id.desc())
    )
    files = _digests(uploads)
    for question in db.session.scalars(query):
        first = question.messages[0] if question.messages else None
        if first is not None and first.body == body and _attached(first) == files:
            return question
    return None


def _digests(uploads: list[Upload]) -> list[str]:
    return sorted(hashlib.sha256(upload.data).hexdigest() for upload in uploads[: rules.MAX_FILES])


def _attached(message: Message) -> list[str]:
    return sorted(attachment.sha256 for attachment in message.attachments)


def ask(
    *,
    email: str,
    name: str,
    subject: str,
    body: str,
    locale: str,
    user: User | None = None,
    contract_number: str = "",
    contract: Contract | None = None,
    uploads: list[Upload] = (),
) -> Question:
    """A new thread with its first message. ``contract`` is the account's own contract (signed
    in); for an anonymous asker a typed number is linked when such a contract exists, which
    only the office sees."""
    contract_number = contract_number.strip()
    if contract is None and contract_number:
        contract = db.session.scalar(sa.select(Contract).where(Contract.number == contract_number))
    now = utcnow()
    question = Question(
        reference=rules.unique_reference(_reference_taken),
        user_id=user.id if user is not None else None,
        contact_email=normalize_email(email),
        contact_name=name.strip(),
        contract_number=contract.number if contract is not None else contract_number,
        contract_id=contract.id if contract is not None else None,
        subject=subject,
        status="new",
        locale=locale,
        created_at=now,
        updated_at=now,
    )
    db.session.add(question)
    message = _add_message(question, body, list(uploads), author=user)
    question.updated_at = message.created_at
    db.session.flush()
    audit.record(
        "support.asked",
        actor=user,
        obj=question,
        reference=question.reference,
        subject=subject,
        signed_in=user is not None,
        attachments=len(message.attachments),
    )
    return question


def reply(
    question: Question,
    user: User,
    body: str,
    uploads: list[Upload] = (),
    page_showed_open: bool = False,
    seen: int | None = None,
) -> bool:
    """The asker adds a message; an answered thread opens again. False for a closed one,
    unless the reply was written on a page that showed it open (``page_showed_open``).

    A thread the office closes while the reply is on its way (the asker saw it open, and is
    told the reply was added) opens again with it, rather than keep a message nobody reads.
    The same reply sent twice from a page that showed ``seen`` messages (a double click, a
    reload of the answer) is added once.
    """
    status = rules.status_after_customer_reply(question.status, page_showed_open)
    if status is None:
        return False
    lock_row(Question, question.id)  # read again: closed meanwhile? (see ``close``)
    if seen is not None and _sent_already(question, user, body, uploads, seen):
        return True
    message = _add_message(question, body, list(uploads), author=user)
    question.status = status
    question.closed_at = None
    question.updated_at = message.created_at
    db.session.flush()
    audit.record(
        "support.replied",
        actor=user,
        obj=question,
        reference=question.reference,
        attachments=len(message.attachments),
    )
    return True


def _sent_already(
    question: Question, user: User, body: str, uploads: list[Upload], seen: int
) -> bool:
    """True when a message ``user`` added after the first ``seen`` ones of ``question`` has
    ``body`` and the same files: this one is that reply sent again."""
    files = _digests(uploads)
    return any(
        message.author_id == user.id
        and not message.from_staff
        and message.body == body
        and _attached(message) == files
        for message in _messages_after(question, seen)
    )


def _messages_after(question: Question, seen: int) -> list[Message]:
    """The messages of ``question`` after the first ``seen`` (what a page did not show)."""
    return db.session.scalars(
        sa.select(Message)
        .options(selectinload(Message.attachments))
        .where(Message.question_id == question.id)
        .order_by(Message.created_at, Message.id)
        .offset(max(seen, 0))
    ).all()


# --- the office -------------------------------------------------------------------------


def answer(
    question: Question, staff: User, body: str, messages_seen: int | None = None
) -> Message | None:
    """An answer from the office: the thread is answered (a closed one opens to answered).
    None, and nothing written, when a message (a colleague's answer, the asker's reply) came
    after the operator's page showed ``messages_seen`` of them, or while this request ran:
    the answer was written without it."""
    if _new_messages(question, messages_seen):
        return None
    message = _add_message(question, body, [], author=staff, from_staff=True)
    question.status = "answered"
    question.answered_at = message.created_at
    question.updated_at = message.created_at
    question.closed_at = None
    db.session.flush()
    audit.record("support.answered", actor=staff, obj=question, reference=question.reference)
    return message


def answered_already(question: Question, staff: User, body: str, messages_seen: int) -> bool:
    """True when an answer of ``staff`` with ``body`` came after the first ``messages_seen``
    messages: this answer sent again (a double click, a reload), not one written without it."""
    return any(
        message.from_staff and message.author_id == staff.id and message.body == body
        for message in _messages_after(question, messages_seen)
    )


def close(question: Question, staff: User, messages_seen: int | None = None) -> bool:
    """Close a thread; False when nothing changes: it was closed already, or a message came
    after the operator's page showed ``messages_seen`` of them, or while this request ran (a
    reply the office has not read must not be closed unseen)."""
    if question.status == "closed" or _new_messages(question, messages_seen):
        return False
    if question.status == "closed":  # by a colleague, while this request waited for the lock
        return False
    question.status = "closed"
    question.closed_at = utcnow()  # not ``updated_at``: the last message's time stays
    audit.record("support.closed", actor=staff, obj=question, reference=question.reference)
    return True


def _new_messages(question: Question, messages_seen: int | None) -> bool:
    """Lock the thread and read it again (``lock_row``); True when it now holds other
    messages than the operator's page showed (``messages_seen``; None: those this request
    read before the lock, for a form without the count)."""
    seen = len(question.messages) if messages_seen is None else messages_seen
    lock_row(Question, question.id)
    return _message_count(question) != seen


def _message_count(question: Question) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(Message.id)).where(Message.question_id == question.id)
    )


def reset_link_sent(question: Question, staff: User, account: User) -> None:
    """On record: the office had the account sent a password-reset link for this thread."""
    audit.record(
        "support.reset_link_sent",
        actor=staff,
        obj=question,
        reference=question.reference,
        account_id=account.id,
    )


# --- reading ----------------------------------------------------------------------------


def _thread_query():
    return sa.select(Question).options(
        selectinload(Question.messages).selectinload(Message.attachments)
    )


def question_of(user: User, reference: str) -> Question | None:
    """``user``'s own thread ``reference`` with its messages; None for anyone else's (404)."""
    reference = rules.normalize_reference(reference)
    if reference is None:
        return None
    return db.session.scalar(
        _thread_query().where(Question.reference == reference, Question.user_id == user.id)
    )


def find_question(reference: str) -> Question | None:
    """Any thread (for the office)."""
    reference = rules.normalize_reference(reference)
    if reference is None:
        return None
    return db.session.scalar(_thread_query().where(Question.reference == reference))


def _paginate(query, count_query, page: int, per_page: int) -> Page:
    total = db.session.scalar(count_query)
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    rows = db.session.execute(query.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(rows, page, pages, total)


def customer_questions(user: User, page: int = 1, per_page: int = 20) -> Page:
    """The account's threads, the latest message first."""
    where = Question.user_id == user.id
    query = (
        sa.select(
            Question.reference,
            Question.subject,
            Question.status,
            Question.contract_number,
            Question.created_at,
            Question.updated_at,
        )
        .where(where)
        .order_by(Question.updated_at.desc(), Question.id.desc())
    )
    return _paginate(query, sa.select(sa.func.count(Question.id)).where(where), page, per_page)


def staff_questions(
    status: str = "",
    subject: str = "",
    older_than_days: int | None = None,
    page: int = 1,
    per_page: int = 25,
) -> Page:
    """Threads for the office: waiting ones first, the longest waiting at the top; then the
    others, the latest message first. ``older_than_days``: the last message is older."""
    conditions = []
    if status:
        conditions.append(Question.status == status)
    if subject:
        conditions.append(Question.subject == subject)
    cutoff = rules.age_cutoff(utcnow(), older_than_days)
    if cutoff is not None:
        conditions.append(Question.updated_at < cutoff)
    waiting = Question.status == "new"
    query = (
        sa.select(
            Question.reference,
            Question.subject,
            Question.status,
            Question.contact_email,
            Question.contact_name,
            Question.contract_number,
            Question.user_id,
            Question.created_at,
            Question.updated_at,
        )
        .where(*conditions)
        .order_by(
            sa.case((waiting, 0), else_=1),
            sa.case((waiting, _waiting_since()), else_=None).asc(),
            Question.updated_at.desc(),
            Question.id.desc(),
        )
    )
    count = sa.select(sa.func.count(Question.id)).where(*conditions)
    return _paginate(query, count, page, per_page)


def _waiting_since():
    """When the asker began to wait: their first message after the office's last answer. A
    follow-up while waiting ("here is the scan") must not send the thread to the back."""
    first = (
        sa.select(sa.func.min(Message.created_at))
        .where(
            Message.question_id == Question.id,
            Message.from_staff.is_(False),
            sa.or_(Question.answered_at.is_(None), Message.created_at > Question.answered_at),
        )
        .scalar_subquery()
    )
    return sa.func.coalesce(first, Question.updated_at)


def unanswered_count() -> int:
    """Threads waiting for the office (one indexed count)."""
    return db.session.scalar(sa.select(sa.func.count(Question.id)).where(Question.status == "new"))


def earlier_questions(question: Question, limit: int = 10) -> list:
    """Other threads of the same contact email, the latest first."""
    return db.session.execute(
        sa.select(Question.reference, Question.subject, Question.status, Question.created_at)
        .where(Question.contact_email == question.contact_email, Question.id != question.id)
        .order_by(Question.created_at.desc())
        .limit(limit)
    ).all()


def asker_account(question: Question) -> User | None:
    """The account that asked, with its contracts loaded."""
    if question.user_id is None:
        return None
    return db.session.scalar(
        sa.select(User).options(selectinload(User.contracts)).where(User.id == question.user_id)
    )


def named_contract(question: Question) -> Contract | None:
    if question.contract_id is None:
        return None
    return db.session.get(Contract, question.contract_id)


def account_candidates(question: Question, tax_id: str = "") -> list[User]:
    """Customer accounts that may be the asker's, for "lost login": the account that asked,
    one with the contact email, the one holding the named contract, and ones whose tax id is
    that contract's or the one the office typed."""
    conditions = [sa.func.lower(User.email) == question.contact_email.lower()]
    if question.user_id is not None:
        conditions.append(User.id == question.user_id)
    tax_ids = {normalize_tax_id(tax_id)} - {""}
    if question.contract_id is not None:
        contract = db.session.get(Contract, question.contract_id)
        if contract is not None:
            if contract.account_id is not None:
                conditions.append(User.id == contract.account_id)
            tax_ids |= {normalize_tax_id(contract.tax_id)} - {""}
    if tax_ids:
        conditions.append(_plain_tax_id(User.tax_id).in_(sorted(tax_ids)))
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.role == "customer", sa.or_(*conditions))
            .order_by(User.email)
            .limit(20)
        )
    )


def _plain_tax_id(column):
    """``normalize_tax_id`` in SQL: without spaces, dashes, dots and slashes, upper-case."""
    for noise in (" ", "-", ".", "/"):
        column = sa.func.replace(column, noise, "")
    return sa.func.upper(column)


def attachment_of(user: User, attachment_id: int) -> Attachment | None:
    """An attachment of one of ``user``'s own threads; None for anything else (404)."""
    return db.session.scalar(
        sa.select(Attachment)
        .join(Message, Attachment.message_id == Message.id)
        .join(Question, Message.question_id == Question.id)
        .where(Attachment.id == attachment_id, Question.user_id == user.id)
    )


def own_contracts(user: User) -> list[Contract]:
    return list(
        db.session.scalars(
            sa.select(Contract).where(Contract.account_id == user.id).order_by(Contract.number)
        )
    )
