"""meters: when a meter moved to its contract, filled in for the meters moved before

Revision ID: c4d8e2f1a6b3
Revises: 9b1f6a2c4e70
Create Date: 2026-11-27 04:00:00

``contract_since`` (the month a moved meter counts from) still showed the new holder the
readings the previous holder gave earlier in that month, and let the new holder's reading
replace the previous holder's last one. ``moved_at`` is the moment of the move: a reading
given before it is the previous holder's. The meters moved before this version (a meters
import that changed their contract) get both from the import's audit event.
"""

from zoneinfo import ZoneInfo

from alembic import op
from flask import current_app
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "c4d8e2f1a6b3"
down_revision = "9b1f6a2c4e70"
branch_labels = None
depends_on = None

meters = sa.table(
    "meters",
    sa.column("id", sa.Integer),
    sa.column("moved_at", sa.DateTime(timezone=True)),
    sa.column("contract_since", sa.Date),
)
audit_events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer),
    sa.column("action", sa.String),
    sa.column("object_type", sa.String),
    sa.column("object_id", sa.String),
    sa.column("details", sa.JSON),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade():
    # Plain ALTER TABLE ADD COLUMN, never a batch copy (see 21b46c575cde).
    op.add_column("meters", sa.Column("moved_at", sa.DateTime(timezone=True)))
    bind = op.get_bind()
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    moves = {}  # meter id -> the time of its latest move, oldest event first
    events = bind.execute(
        sa.select(audit_events.c.object_id, audit_events.c.details, audit_events.c.created_at)
        .where(
            audit_events.c.action == "import.updated",
            audit_events.c.object_type == "Meter",
        )
        .order_by(audit_events.c.id)
        .execution_options(yield_per=1000)
    )
    for object_id, details, created_at in events:
        if "contract_id" in ((details or {}).get("before") or {}):
            moves[int(object_id)] = created_at
    for meter_id, moved_at in moves.items():
        aware = moved_at if moved_at.tzinfo else moved_at.replace(tzinfo=ZoneInfo("UTC"))
        bind.execute(
            meters.update()
            .where(meters.c.id == meter_id)
            .values(
                moved_at=moved_at,  # as the audit event stores it on this database
                contract_since=aware.astimezone(zone).date().replace(day=1),
            )
        )


def downgrade():
    op.drop_column("meters", "moved_at")
