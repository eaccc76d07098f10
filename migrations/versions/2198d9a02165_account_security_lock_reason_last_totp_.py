"""account security: lock reason, last TOTP step

users.locked_reason tells a lock after failed sign-ins (a password reset lifts it) from a
lock set by staff; users.totp_last_step makes each TOTP code usable once.

Revision ID: 2198d9a02165
Revises: 316952e70130
Create Date: 2026-11-25 19:43:38.331870

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2198d9a02165'
down_revision = '316952e70130'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE (no batch copy): a batch copy of "users" on SQLite would drop the
    # expression index on lower(email), which reflection cannot see.
    op.add_column(
        "users", sa.Column("locked_reason", sa.String(length=20), server_default="", nullable=False)
    )
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))


def downgrade():
    op.drop_column("users", "totp_last_step")
    op.drop_column("users", "locked_reason")
