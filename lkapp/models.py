"""The tables of the portal (see DESIGN.md, "Data model").

Money is ``Numeric(14, 2)``; times are stored in UTC and come back timezone-aware.
Derived figures (balances, statuses) are computed in ``lkapp.domain``; the one stored
derivative is ``Document.paid`` (kept by payment allocation) so that lists can filter by it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .domain.accounts import CLOSED
from .extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given; store times in UTC with tzinfo")
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            # combine, not replace(tzinfo=...): a third of the time (0.4 against 1.3 µs), and
            # a page of readings reads a few hundred times
            value = datetime.combine(value.date(), value.time(), UTC)
        return value


Money = sa.Numeric(14, 2)

ROLES = ("customer", "staff", "admin")
CONTRACT_STATUSES = ("active", "terminated")
RECEIVED_BY = ("holder", "representative")
ZONE_SETS = ("T1", "T1,T2", "T1,T2,T3")
READING_SOURCES = ("portal", "operator", "import")
READING_STATUSES = ("accepted", "superseded", "exported")
DOCUMENT_KINDS = ("invoice", "vat_invoice", "act")
QUESTION_SUBJECTS = ("lost_login", "documents", "readings", "payments", "other")
QUESTION_STATUSES = ("new", "answered", "closed")
IMPORT_KINDS = ("contracts", "meters", "readings", "documents", "payments")
IMPORT_STATUSES = ("pending", "running", "failed", "done")


def _one_of(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({quoted})", name=name)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (_one_of("role", ROLES, "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    name: Mapped[str] = mapped_column(sa.String(200))
    tax_id: Mapped[str] = mapped_column(sa.String(20), default="")
    phone: Mapped[str] = mapped_column(sa.String(30), default="")
    role: Mapped[str] = mapped_column(sa.String(10), default="customer")
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why locked_at is set: "failed_logins" (lifted by a password reset) or "staff" (only staff
    # lift it). Empty means an old or manual lock, which a reset does not lift either.
    locked_reason: Mapped[str] = mapped_column(sa.String(20), default="", server_default="")
    failed_logins: Mapped[int] = mapped_column(default=0)
    last_failed_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    # The last TOTP time step accepted: a code is good once (RFC 6238, section 5.2).
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    recovery_codes: Mapped[list] = mapped_column(sa.JSON, default=list)
    locale: Mapped[str] = mapped_column(sa.String(5), default="en")
    notify_documents: Mapped[bool] = mapped_column(default=True)
    notify_debt: Mapped[bool] = mapped_column(default=True)
    notify_readings: Mapped[bool] = mapped_column(default=True)
    # The first day of the month whose reading-window reminder this account got (once a window).
    readings_reminded_for: Mapped[date | None]
    # Whether a sign-in of this account has recorded its browser (lkapp.auth.sessions
    # .note_device): before that there is nothing to compare a sign-in with.
    devices_recorded: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    contracts: Mapped[list[Contract]] = relationship(
        back_populates="account", order_by="Contract.number"
    )

    # Set by the session loader: the UserSession this request runs under. Flask-Login's
    # get_id() returns it, so the cookie names a revocable server-side session, not the user.
    session_id = None

    def get_id(self) -> str | None:
        return self.session_id

    @property
    def is_staff(self) -> bool:
        return self.role in ("staff", "admin")

    @property
    def is_closed(self) -> bool:
        """Closed by the customer (lkapp.auth.services.close_account): nothing to mail to."""
        return self.locked_reason == CLOSED

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None

    @property
    def has_two_factor(self) -> bool:
        return self.totp_secret is not None

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


# Email is the login: unique whatever its letter case.
sa.Index("uq_users_email_lower", sa.func.lower(User.email), unique=True)


class UserSession(db.Model):
    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    remember: Mapped[bool] = mapped_column(default=False)
    second_factor_done: Mapped[bool] = mapped_column(default=False)
    ip: Mapped[str] = mapped_column(sa.String(45), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(300), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A hash of the browser's device cookie (lkapp.auth.sessions.note_device).
    device: Mapped[str | None] = mapped_column(sa.String(64))

    user: Mapped[User] = relationship()


class Contract(db.Model):
    __tablename__ = "contracts"
    __table_args__ = (_one_of("status", CONTRACT_STATUSES, "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(30), unique=True)
    holder_name: Mapped[str] = mapped_column(sa.String(200), index=True)
    tax_id: Mapped[str] = mapped_column(sa.String(20), index=True)
    address: Mapped[str] = mapped_column(sa.String(300))
    status: Mapped[str] = mapped_column(sa.String(12), default="active")
    account_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    attached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Whether the account was last told that this contract has overdue debt; the daily notice
    # mails only on a change (debt appeared / debt cleared).
    debt_notified: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    account: Mapped[User | None] = relationship(back_populates="contracts")
    meters: Mapped[list[Meter]] = relationship(back_populates="contract", order_by="Meter.serial")
    codes: Mapped[list[ConfirmationCode]] = relationship(
        back_populates="contract", order_by="ConfirmationCode.issued_at.desc()"
    )


class ConfirmationCode(db.Model):
    __tablename__ = "confirmation_codes"
    __table_args__ = (_one_of("received_by", RECEIVED_BY, "received_by"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(
        sa.ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(sa.String(255))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issued_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    issued_by_label: Mapped[str] = mapped_column(sa.String(254), default="")
    received_by: Mapped[str] = mapped_column(sa.String(14), default="holder")
    representative_name: Mapped[str] = mapped_column(sa.String(200), default="")
    power_of_attorney: Mapped[str] = mapped_column(sa.String(60), default="")
    failed_attempts: Mapped[int] = mapped_column(default=0)

    contract: Mapped[Contract] = relationship(back_populates="codes")
    issued_by: Mapped[User | None] = relationship(foreign_keys=[issued_by_id])


class Meter(db.Model):
    __tablename__ = "meters"
    __table_args__ = (
        _one_of("zones", ZONE_SETS, "zones"),
        sa.CheckConstraint("digits BETWEEN 4 AND 9", name="digits"),
        sa.CheckConstraint("ct_ratio >= 1", name="ct_ratio"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(
        sa.ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    serial: Mapped[str] = mapped_column(sa.String(30), unique=True)
    zones: Mapped[str] = mapped_column(sa.String(10), default="T1")
    digits: Mapped[int] = mapped_column(default=6)
    ct_ratio: Mapped[int] = mapped_column(default=1)
    installed_on: Mapped[date]
    removed_on: Mapped[date | None]
    # When billing moved the meter to its contract from another one (the readings given
    # before are the previous holder's: ``Reading.contract_id``). None: on this contract
    # since it was installed.
    moved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    contract: Mapped[Contract] = relationship(back_populates="meters")

    @property
    def zone_list(self) -> list[str]:
        return self.zones.split(",")


class MeterMove(db.Model):
    """A meter that billing moved from one contract to another: the contract it left still
    shows its holder the readings given for it."""

    __tablename__ = "meter_moves"

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(sa.ForeignKey("meters.id", ondelete="CASCADE"))
    from_contract_id: Mapped[int] = mapped_column(
        sa.ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Reading(db.Model):
    __tablename__ = "readings"
    __table_args__ = (
        sa.Index("ix_readings_meter_period", "meter_id", "period"),
        # A month's readings (the office's counts and the export for billing).
        sa.Index("ix_readings_period_status", "period", "status", "source"),
        # At most one live (not superseded) reading per meter, zone and month.
        sa.Index(
            "uq_readings_live",
            "meter_id",
            "zone",
            "period",
            unique=True,
            sqlite_where=sa.text("status != 'superseded'"),
            postgresql_where=sa.text("status != 'superseded'"),
        ),
        _one_of("zone", ("T1", "T2", "T3"), "zone"),
        _one_of("source", READING_SOURCES, "source"),
        _one_of("status", READING_STATUSES, "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(sa.ForeignKey("meters.id", ondelete="CASCADE"))
    zone: Mapped[str] = mapped_column(sa.String(2))
    period: Mapped[date]
    value: Mapped[Decimal] = mapped_column(sa.Numeric(12, 3))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(sa.String(10), default="portal")
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(sa.String(12), default="accepted")
    # The contract the reading was given for: set when it is stored, and on the meter's older
    # readings when billing moves the meter to another contract, so that they stay with the
    # previous holder. None (readings stored before this column): the meter's contract. No
    # foreign key: SQLite adds none to a table in place, and contracts are never deleted.
    contract_id: Mapped[int | None]

    meter: Mapped[Meter] = relationship()


class Document(db.Model):
    __tablename__ = "documents"
    __table_args__ = (
        sa.UniqueConstraint("contract_id", "kind", "number", name="uq_documents_key"),
        sa.Index("ix_documents_contract_issued", "contract_id", "issued_on"),
        sa.Index("ix_documents_contract_due", "contract_id", "due_on"),
        _one_of("kind", DOCUMENT_KINDS, "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("contracts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(12))
    number: Mapped[str] = mapped_column(sa.String(40))
    issued_on: Mapped[date]
    period: Mapped[date]
    due_on: Mapped[date | None]
    net: Mapped[Decimal] = mapped_column(Money)
    vat_rate: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))
    vat: Mapped[Decimal] = mapped_column(Money)
    total: Mapped[Decimal] = mapped_column(Money)
    # The part of an invoice that allocated payments cover (kept by payment allocation).
    paid: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    contract: Mapped[Contract] = relationship()
    lines: Mapped[list[DocumentLine]] = relationship(
        back_populates="document", order_by="DocumentLine.position", cascade="all, delete-orphan"
    )


class DocumentLine(db.Model):
    __tablename__ = "document_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(
        sa.ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=1)
    description: Mapped[str] = mapped_column(sa.String(200))
    kwh: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 3))
    tariff: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 5))
    amount: Mapped[Decimal] = mapped_column(Money)

    document: Mapped[Document] = relationship(back_populates="lines")


class Payment(db.Model):
    __tablename__ = "payments"
    __table_args__ = (
        sa.UniqueConstraint(
            "contract_id", "reference", "paid_on", "amount", name="uq_payments_key"
        ),
        sa.Index("ix_payments_contract_paid", "contract_id", "paid_on"),
        sa.CheckConstraint("amount > 0", name="amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("contracts.id", ondelete="CASCADE"))
    paid_on: Mapped[date]
    amount: Mapped[Decimal] = mapped_column(Money)
    # A transfer's purpose as the bank carries it: up to 140 characters (EPC QR, SEPA).
    reference: Mapped[str] = mapped_column(sa.String(140), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    contract: Mapped[Contract] = relationship()
    allocations: Mapped[list[PaymentAllocation]] = relationship(
        back_populates="payment", cascade="all, delete-orphan"
    )


class PaymentAllocation(db.Model):
    __tablename__ = "payment_allocations"
    __table_args__ = (sa.CheckConstraint("amount > 0", name="amount"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )
    document_id: Mapped[int] = mapped_column(
        sa.ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    amount: Mapped[Decimal] = mapped_column(Money)

    payment: Mapped[Payment] = relationship(back_populates="allocations")
    document: Mapped[Document] = relationship()


class Question(db.Model):
    __tablename__ = "questions"
    __table_args__ = (
        sa.Index("ix_questions_status_created", "status", "created_at"),
        _one_of("subject", QUESTION_SUBJECTS, "subject"),
        _one_of("status", QUESTION_STATUSES, "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(20), unique=True)
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    contact_email: Mapped[str] = mapped_column(sa.String(254), index=True)
    contact_name: Mapped[str] = mapped_column(sa.String(200))
    contract_number: Mapped[str] = mapped_column(sa.String(30), default="")
    contract_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contracts.id", ondelete="SET NULL")
    )
    subject: Mapped[str] = mapped_column(sa.String(12))
    status: Mapped[str] = mapped_column(sa.String(10), default="new")
    locale: Mapped[str] = mapped_column(sa.String(5), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    messages: Mapped[list[Message]] = relationship(
        back_populates="question", order_by="Message.created_at"
    )


class Message(db.Model):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(
        sa.ForeignKey("questions.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    from_staff: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    question: Mapped[Question] = relationship(back_populates="messages")
    attachments: Mapped[list[Attachment]] = relationship(back_populates="message")


class Attachment(db.Model):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        sa.ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(60))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    storage_path: Mapped[str] = mapped_column(sa.String(300))

    message: Mapped[Message] = relationship(back_populates="attachments")


class ImportJob(db.Model):
    __tablename__ = "import_jobs"
    __table_args__ = (
        _one_of("kind", IMPORT_KINDS, "kind"),
        _one_of("status", IMPORT_STATUSES, "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(12))
    filename: Mapped[str] = mapped_column(sa.String(255))
    file_sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")
    rows_total: Mapped[int] = mapped_column(default=0)
    rows_done: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list] = mapped_column(sa.JSON, default=list)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The process running the import (billing.runner): once it is gone, the job is
    # "interrupted" at once, not after staff.imports.STALE_AFTER.
    runner_host: Mapped[str | None] = mapped_column(sa.String(255))
    runner_pid: Mapped[int | None] = mapped_column(sa.Integer)
    runner_started: Mapped[int | None] = mapped_column(sa.BigInteger)


class AuditEvent(db.Model):
    """Append-only record of every write that matters."""

    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(sa.String(60), index=True)
    object_type: Mapped[str] = mapped_column(sa.String(30), default="")
    object_id: Mapped[str] = mapped_column(sa.String(40), default="")
    ip: Mapped[str] = mapped_column(sa.String(45), default="")
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class OutboxMail(db.Model):
    __tablename__ = "outbox_mail"
    __table_args__ = (
        # The mail waiting (neither given up nor sent) and the mail given up lately.
        sa.Index("ix_outbox_mail_given_up", "given_up_at", "sent_at"),
        # The office's list of the mail to a customer's address, newest first (compared as
        # ``uq_users_email_lower`` compares addresses). An expression index: Alembic's batch
        # mode on SQLite drops it without a word (docs/design-notes.md).
        sa.Index(
            "ix_outbox_mail_recipient",
            sa.func.lower(sa.column("recipient")),
            "created_at",
            "id",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(200))
    body_text: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # while a sender sends it
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    given_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Headers of this mail beyond the usual ones (a notice's one-click unsubscribe), or NULL.
    headers: Mapped[dict | None] = mapped_column(sa.JSON(none_as_null=True))


class CaptchaChallenge(db.Model):
    __tablename__ = "captcha_challenges"

    id: Mapped[str] = mapped_column(sa.String(43), primary_key=True)
    answer_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
