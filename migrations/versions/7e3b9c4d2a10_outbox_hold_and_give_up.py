"""outbox: which sender holds a mail while it sends it, and when a mail was given up

Revision ID: 7e3b9c4d2a10
Revises: 5c2f8a1e9b47
Create Date: 2026-11-26 16:50:00

Unsent mail was tried at every `outbox send` (every 5 minutes) and dropped without a word
after 10 tries, about 50 minutes of a mail server's outage. Now it is tried for three days
(lkapp.services.mail), a sender holds the mail it sends so that two senders never send one
mail twice, a mail given up says when, and a request does not wait for a mail server that
has just failed (the time of each mail's last try). Mail that the old rule dropped is marked
given up now.
"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "7e3b9c4d2a10"
down_revision = "5c2f8a1e9b47"
branch_labels = None
depends_on = None

outbox = sa.table(
    "outbox_mail",
    sa.column("sent_at", sa.DateTime(timezone=True)),
    sa.column("attempts", sa.Integer),
    sa.column("given_up_at", sa.DateTime(timezone=True)),
)


def upgrade():
    # Plain ALTER TABLE ADD COLUMN, never a batch copy (see 21b46c575cde).
    op.add_column("outbox_mail", sa.Column("held_until", sa.DateTime(timezone=True)))
    op.add_column("outbox_mail", sa.Column("given_up_at", sa.DateTime(timezone=True)))
    op.add_column("outbox_mail", sa.Column("last_attempt_at", sa.DateTime(timezone=True)))
    now = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # as lkapp.models.UTCDateTime stores it there
    op.execute(
        outbox.update()
        .where(outbox.c.sent_at.is_(None), outbox.c.attempts >= 10)
        .values(given_up_at=now)
    )


def downgrade():
    op.drop_column("outbox_mail", "last_attempt_at")
    op.drop_column("outbox_mail", "given_up_at")
    op.drop_column("outbox_mail", "held_until")
