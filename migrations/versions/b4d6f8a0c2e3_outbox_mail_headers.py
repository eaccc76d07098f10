"""outbox_mail: headers of a mail beyond the usual ones (a notice's one-click unsubscribe)

Revision ID: b4d6f8a0c2e3
Revises: a3c5e7f9b1d2
Create Date: 2026-12-01 12:00:00

Notices (new documents, debt, the readings window) carry `List-Unsubscribe` and
`List-Unsubscribe-Post` (RFC 8058): large mailbox providers require one-click unsubscribe of
bulk senders. The link names the account and the kind of notice, so it is built when the mail
is queued and kept with it; NULL for every other mail.

A plain ALTER TABLE ADD COLUMN, never a batch copy: a3c5e7f9b1d2's expression index on this
table would be dropped by the copy without a word.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b4d6f8a0c2e3"
down_revision = "a3c5e7f9b1d2"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("outbox_mail", sa.Column("headers", sa.JSON(none_as_null=True), nullable=True))


def downgrade():
    op.drop_column("outbox_mail", "headers")
