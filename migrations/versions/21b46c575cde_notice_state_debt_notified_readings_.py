"""notice state: debt notified, readings reminded

Revision ID: 21b46c575cde
Revises: 2198d9a02165
Create Date: 2026-11-25 20:22:46.866576

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '21b46c575cde'
down_revision = '2198d9a02165'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE ADD COLUMN (no batch copy): SQLite supports it, and a batch copy of
    # "users" would drop the expression index on lower(email), which reflection cannot see.
    op.add_column(
        "contracts",
        sa.Column("debt_notified", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("users", sa.Column("readings_reminded_for", sa.Date(), nullable=True))


def downgrade():
    op.drop_column("users", "readings_reminded_for")
    op.drop_column("contracts", "debt_notified")
