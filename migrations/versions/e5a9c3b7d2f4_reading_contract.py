"""readings: the contract each was given for; meters: when and from where one moved

Revision ID: e5a9c3b7d2f4
Revises: 7e3b9c4d2a10
Create Date: 2026-11-27 04:10:00

A meter that billing moves to another contract (a new tenant at the same premises) took its
whole reading history along: the new holder saw the previous one's consumption month by
month, could open their receipts and replace their last readings, and the billing export
named the new contract for all of them. A reading now keeps the contract it was given for
(empty, as on every reading stored before: the meter's contract), a meter keeps when it moved
to its contract, and the contract it left keeps the meter's readings given for it
(``meter_moves``). The meters moved before get both from the meters import's audit
events (``import.updated`` of a Meter whose contract changed), latest move first: each gives
the readings sent before it, or of an earlier month, to the contract the meter left then.
Then a correction that billing imported goes to the contract of the month's first reading of
its zone, as the readings import does from now on (a holder's own reading that replaced the
previous holder's stays the holder's).
"""

from zoneinfo import ZoneInfo

from alembic import op
from flask import current_app
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "e5a9c3b7d2f4"
down_revision = "7e3b9c4d2a10"
branch_labels = None
depends_on = None

# Times with their zone, as lkapp.models.UTCDateTime declares them: on PostgreSQL a time
# without one would pass through the session's zone, an hour off around a clock change.
meters = sa.table(
    "meters", sa.column("id", sa.Integer), sa.column("moved_at", sa.DateTime(timezone=True))
)
readings = sa.table(
    "readings",
    sa.column("id", sa.Integer),
    sa.column("meter_id", sa.Integer),
    sa.column("zone", sa.String),
    sa.column("period", sa.Date),
    sa.column("status", sa.String),
    sa.column("source", sa.String),
    sa.column("submitted_at", sa.DateTime(timezone=True)),
    sa.column("contract_id", sa.Integer),
)
contracts = sa.table("contracts", sa.column("id", sa.Integer))
meter_moves = sa.table(
    "meter_moves",
    sa.column("meter_id", sa.Integer),
    sa.column("from_contract_id", sa.Integer),
    sa.column("moved_at", sa.DateTime(timezone=True)),
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
    # Plain ALTER TABLE ADD COLUMN, never a batch copy (see 21b46c575cde), so no foreign key
    # (SQLite adds none in place; contracts are never deleted) and no index (the readings are
    # found by meter).
    op.add_column("meters", sa.Column("moved_at", sa.DateTime(timezone=True)))
    op.add_column("readings", sa.Column("contract_id", sa.Integer))
    op.create_table(
        "meter_moves",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column(
            "meter_id",
            sa.Integer,
            sa.ForeignKey("meters.id", ondelete="CASCADE", name="fk_meter_moves_meter_id_meters"),
            nullable=False,
        ),
        sa.Column(
            "from_contract_id",
            sa.Integer,
            sa.ForeignKey(
                "contracts.id",
                ondelete="CASCADE",
                name="fk_meter_moves_from_contract_id_contracts",
            ),
            nullable=False,
        ),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_meter_moves"),
    )
    op.create_index(
        "ix_meter_moves_from_contract_id", "meter_moves", ["from_contract_id"], unique=False
    )
    bind = op.get_bind()
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    existing = set(bind.execute(sa.select(contracts.c.id)).scalars())
    moves = bind.execute(
        sa.select(audit_events.c.object_id, audit_events.c.details, audit_events.c.created_at)
        .where(
            audit_events.c.action == "import.updated",
            audit_events.c.object_type == "Meter",
        )
        .order_by(audit_events.c.id.desc())
    ).all()
    moved = set()
    for object_id, details, moved_at in moves:
        left = ((details or {}).get("before") or {}).get("contract_id")
        if left is None:
            continue  # another change of the meter
        left, meter_id = int(left), int(object_id)  # the audit writes ids as text
        if meter_id not in moved:
            moved.add(meter_id)
            bind.execute(meters.update().where(meters.c.id == meter_id).values(moved_at=moved_at))
        aware = moved_at if moved_at.tzinfo else moved_at.replace(tzinfo=ZoneInfo("UTC"))
        month = aware.astimezone(zone).date().replace(day=1)
        if left not in existing:
            continue  # (contracts are never deleted)
        bind.execute(
            meter_moves.insert().values(
                meter_id=meter_id, from_contract_id=left, moved_at=moved_at
            )
        )
        bind.execute(
            readings.update()
            .where(
                readings.c.meter_id == meter_id,
                sa.or_(readings.c.submitted_at < moved_at, readings.c.period < month),
            )
            .values(contract_id=left)
        )
    # A correction billing imported goes with the month's first reading of its zone.
    first = readings.alias("first")
    same_key = sa.and_(
        first.c.meter_id == readings.c.meter_id,
        first.c.zone == readings.c.zone,
        first.c.period == readings.c.period,
    )
    for meter_id in moved:
        bind.execute(
            readings.update()
            .where(
                readings.c.meter_id == meter_id,
                readings.c.source == "import",
                sa.exists().where(same_key, first.c.id < readings.c.id),
            )
            .values(
                contract_id=sa.select(first.c.contract_id)
                .where(same_key)
                .order_by(first.c.id)
                .limit(1)
                .scalar_subquery()
            )
        )


def downgrade():
    op.drop_index("ix_meter_moves_from_contract_id", table_name="meter_moves")
    op.drop_table("meter_moves")
    op.drop_column("readings", "contract_id")
    op.drop_column("meters", "moved_at")
