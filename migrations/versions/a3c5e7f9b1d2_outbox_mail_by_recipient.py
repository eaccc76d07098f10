"""outbox_mail: an index by recipient, for the office's list of the mail sent to a customer

Revision ID: a3c5e7f9b1d2
Revises: f1c8a5d3b6e2
Create Date: 2026-12-01 10:00:00

The customer's page in the back office lists the latest mail to the account's address, newest
first. The address is compared as the unique index on users compares them, by the database's
own lower(): the part before the @ is kept as typed, and a question asked without an account
may have typed it in other letters. The index is on lower(recipient), then created_at and id,
so that the list reads its 20 rows from the index's end and the count the index alone.

An expression index: SQLite's reflection does not see it, so a later migration must not copy
this table with Alembic's batch mode (it would drop the index without a word).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a3c5e7f9b1d2"
down_revision = "f1c8a5d3b6e2"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_outbox_mail_recipient",
        "outbox_mail",
        [sa.text("lower(recipient)"), "created_at", "id"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_outbox_mail_recipient", table_name="outbox_mail")
