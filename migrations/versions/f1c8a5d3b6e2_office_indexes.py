"""indexes for the back office's start page and readings export at a larger utility's size

Revision ID: f1c8a5d3b6e2
Revises: d4b7e2a9c1f6
Create Date: 2026-11-27 20:00:00

The office's start page counts this month's readings, the mail given up and today's codes; the
readings page counts a month's readings to export, and the export marks and reads them. Each
read its whole table: with 100,000 contracts over five years, 11 million readings, and the
start page and the readings page took about a second each. A month's readings are now found by
their period (their status and source beside it: the counts read the index alone), mail given
up by when (and whether sent: the mail waiting is found by both), and codes by when issued.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "f1c8a5d3b6e2"
down_revision = "d4b7e2a9c1f6"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_readings_period_status", "readings", ["period", "status", "source"], unique=False
    )
    op.create_index(
        "ix_outbox_mail_given_up", "outbox_mail", ["given_up_at", "sent_at"], unique=False
    )
    op.create_index(
        op.f("ix_confirmation_codes_issued_at"), "confirmation_codes", ["issued_at"], unique=False
    )


def downgrade():
    op.drop_index(op.f("ix_confirmation_codes_issued_at"), table_name="confirmation_codes")
    op.drop_index("ix_outbox_mail_given_up", table_name="outbox_mail")
    op.drop_index("ix_readings_period_status", table_name="readings")
