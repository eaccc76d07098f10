"""users: the domain of every email in lower case, in any script, as the portal stores it now

Revision ID: 5c2f8a1e9b47
Revises: 1d10eba34b84
Create Date: 2026-11-26 11:10:00

SQLite's lower() knows ASCII letters only, so an account of "info@Пример.рф" was not found
when its owner typed "info@пример.рф". Addresses are stored with the domain lower-cased
(lkapp.auth.services.normalize_email); this brings the older ones in line.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "5c2f8a1e9b47"
down_revision = "1d10eba34b84"
branch_labels = None
depends_on = None

users = sa.table("users", sa.column("id", sa.Integer), sa.column("email", sa.String))


def _normalized(email: str) -> str:
    local, at, domain = email.rpartition("@")
    return f"{local}{at}{domain.lower()}" if at else email


def upgrade():
    conn = op.get_bind()
    rows = conn.execute(sa.select(users.c.id, users.c.email)).all()
    changes = {id_: (email, _normalized(email)) for id_, email in rows}
    changes = {id_: pair for id_, pair in changes.items() if pair[0] != pair[1]}
    # The unique index on lower(email) would refuse a clash half-way: name them all first.
    clashes, seen = [], {}
    for id_, (old, new) in changes.items():
        other = conn.execute(
            sa.select(users.c.email).where(
                sa.func.lower(users.c.email) == sa.func.lower(new), users.c.id != id_
            )
        ).scalar() or seen.get(new.lower())
        if other is not None:
            clashes.append(f"{old!r} and {other!r}")
        seen[new.lower()] = old
    if clashes:
        raise RuntimeError(
            "these accounts' addresses differ only in the letter case of their domain: "
            + "; ".join(clashes)
            + ". Change the address of one account of each pair, then upgrade again."
        )
    for id_, (_old, new) in changes.items():
        conn.execute(users.update().where(users.c.id == id_).values(email=new))


def downgrade():
    pass  # lower-case domains are what the older code accepts too; the typed case is not kept
