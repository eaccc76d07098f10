"""users: the domain of every email in its one spelling, in letters, as the portal stores it now

Revision ID: c53eeba7733d
Revises: b8e4d2f6a1c3
Create Date: 2026-11-30 10:00:00

An address's domain is stored in one spelling (lkapp.auth.services.normalize_email): lower
case, in letters, whether it was typed in punycode ("xn--e1afmkfd.xn--p1ai"), in full-width
letters or with the "。" of an Asian keyboard. Accounts stored before kept the spelling typed:
they still sign in (find_user_by_email tries the older spellings too), but the profile took the
same address in letters for a new one, and mailed its owner that the address was in use. This
brings them in line. Closed accounts' "closed-<id>@closed.invalid" is in that spelling already.
"""

import idna
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "c53eeba7733d"
down_revision = "b8e4d2f6a1c3"
branch_labels = None
depends_on = None

users = sa.table("users", sa.column("id", sa.Integer), sa.column("email", sa.String))


def _unicode_domain(domain: str) -> str:
    """lkapp.domain.accounts.unicode_domain as it was written (IDNA 2008 with UTS 46), kept
    here so that this upgrade does not change with the app: as typed, lower-cased, when IDNA
    refuses it."""
    lowered = domain.lower()
    if lowered.isascii() and "xn--" not in lowered:
        return lowered
    try:
        return idna.decode(idna.encode(domain, uts46=True))
    except ValueError:  # IDNAError is a UnicodeError
        return lowered


def _normalized(email: str) -> str:
    local, at, domain = email.rpartition("@")
    return f"{local}{at}{_unicode_domain(domain)}" if at else email


def upgrade():
    conn = op.get_bind()
    rows = conn.execute(sa.select(users.c.id, users.c.email).order_by(users.c.id)).all()
    changes = {id_: (email, _normalized(email)) for id_, email in rows}
    changes = {id_: pair for id_, pair in changes.items() if pair[0] != pair[1]}
    # The unique index on lower(email) would refuse a clash half-way: name them all first.
    # Addresses are compared by the database's own lower(), as that index compares them.
    clashes, seen = [], {}
    for id_, (old, new) in changes.items():
        folded = conn.execute(sa.select(sa.func.lower(new))).scalar()
        kept = conn.execute(  # an account that keeps its address (the others are in seen)
            sa.select(users.c.id, users.c.email).where(
                sa.func.lower(users.c.email) == folded, users.c.id != id_
            )
        ).all()
        others = [email for other_id, email in kept if other_id not in changes]
        other = others[0] if others else seen.get(folded)
        if other is not None:
            clashes.append(f"{old!r} and {other!r}")
        seen.setdefault(folded, old)
    if clashes:
        raise RuntimeError(
            "these accounts' addresses are one address once their domains are spelled alike: "
            + "; ".join(clashes)
            + ". Change the address of one account of each pair, then upgrade again."
        )
    for id_, (_old, new) in changes.items():
        conn.execute(users.update().where(users.c.id == id_).values(email=new))


def downgrade():
    pass  # nothing to undo: the spelling typed is not kept, and any spelling signs in
