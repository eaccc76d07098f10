"""meters: the first month a meter counts for its contract

Revision ID: 9b1f6a2c4e70
Revises: 7e3b9c4d2a10
Create Date: 2026-11-26 23:50:00

A meter that billing moves to another contract (a new tenant at the same premises) took its
whole reading history along: the new holder saw the previous one's consumption, month by
month, and could open their receipts. ``contract_since`` is the first month of the meter's
current contract (set by the meters import when it moves the meter); the customer's pages
show no reading of an earlier month. Empty: the meter has always been on its contract.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "9b1f6a2c4e70"
down_revision = "7e3b9c4d2a10"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE ADD COLUMN, never a batch copy (see 21b46c575cde).
    op.add_column("meters", sa.Column("contract_since", sa.Date()))


def downgrade():
    op.drop_column("meters", "contract_since")
