"""payments: a reference of up to 140 characters, as a transfer's purpose

Revision ID: b8e4d2f6a1c3
Revises: a3d7f1c9e2b5
Create Date: 2026-11-27 12:00:00

The purpose the portal prints in its payment QR code and asks customers to write on their
transfer is "CONTRACT / DOCUMENT" (lkapp.domain.payment_qr.document_purpose), up to 73
characters, and an EPC transfer's purpose holds up to 140. A bank statement that carried it
as the payment's reference failed the whole payments file at 60.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "b8e4d2f6a1c3"
down_revision = "a3d7f1c9e2b5"
branch_labels = None
depends_on = None


def _reference_length(old, new):
    """PostgreSQL changes the type in place. SQLite has no ALTER COLUMN: batch mode copies
    the table and drops the old one, and with the foreign keys the app turns on (which no
    PRAGMA turns off inside the migration's transaction) dropping it deletes every payment's
    allocations (ON DELETE CASCADE); they are kept aside and put back."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute(
            "CREATE TEMPORARY TABLE kept_payment_allocations AS "
            "SELECT id, payment_id, document_id, amount FROM payment_allocations"
        )
    # resolve_fks=False: reflect this table alone (not contracts, nor users and its
    # expression index, which reflection cannot read and warns about).
    with op.batch_alter_table("payments", reflect_kwargs={"resolve_fks": False}) as batch_op:
        batch_op.alter_column(
            "reference",
            existing_type=sa.String(length=old),
            type_=sa.String(length=new),
            existing_nullable=False,
        )
    if sqlite:
        op.execute(
            "INSERT INTO payment_allocations (id, payment_id, document_id, amount) "
            "SELECT id, payment_id, document_id, amount FROM kept_payment_allocations"
        )
        op.execute("DROP TABLE kept_payment_allocations")


def upgrade():
    _reference_length(60, 140)


def downgrade():
    # Fails on PostgreSQL while a reference is longer than 60 (nothing is cut short).
    _reference_length(140, 60)
