"""user_sessions: the browser a session was signed in from, to tell a new device

Revision ID: a3d7f1c9e2b5
Revises: e5a9c3b7d2f4
Create Date: 2026-11-27 07:10:00

A sign-in from a browser that has not signed in to the account lately mails the account a
notice (lkapp.auth.sessions.is_new_device). Sessions from before this revision have no
device: an account with none known gets no notice until it has one, so the upgrade does not
send one to every account at its next sign-in.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "a3d7f1c9e2b5"
down_revision = "e5a9c3b7d2f4"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE ADD COLUMN, never a batch copy (see 21b46c575cde).
    op.add_column("user_sessions", sa.Column("device", sa.String(length=64)))


def downgrade():
    op.drop_column("user_sessions", "device")
