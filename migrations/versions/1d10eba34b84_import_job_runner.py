"""import job runner: host, pid and start time of the process running it

Revision ID: 1d10eba34b84
Revises: 21b46c575cde
Create Date: 2026-11-25 22:39:59.423079

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1d10eba34b84'
down_revision = '21b46c575cde'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE ADD COLUMN, never a batch copy (see 21b46c575cde).
    op.add_column("import_jobs", sa.Column("runner_host", sa.String(length=255), nullable=True))
    op.add_column("import_jobs", sa.Column("runner_pid", sa.Integer(), nullable=True))
    op.add_column("import_jobs", sa.Column("runner_started", sa.BigInteger(), nullable=True))


def downgrade():
    op.drop_column("import_jobs", "runner_started")
    op.drop_column("import_jobs", "runner_pid")
    op.drop_column("import_jobs", "runner_host")
