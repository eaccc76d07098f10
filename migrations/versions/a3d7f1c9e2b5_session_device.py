"""user_sessions: the browser a session was signed in from, to tell a new device

Revision ID: a3d7f1c9e2b5
Revises: e5a9c3b7d2f4
Create Date: 2026-11-27 07:10:00

A sign-in from a browser that has not signed in to the account lately mails the account a
notice (lkapp.auth.sessions.note_device). Sessions from before this revision have no
device, and no account has recorded one (users.devices_recorded): each account's first
sign-in after the upgrade records its browser without a notice, so the upgrade does not send
one to every account at its next sign-in.
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
    op.add_column(
        "users",
        sa.Column("devices_recorded", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade():
    op.drop_column("users", "devices_recorded")
    op.drop_column("user_sessions", "device")
