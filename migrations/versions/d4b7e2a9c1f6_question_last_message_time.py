"""questions: updated_at is the time of the last message (closing had set it to the close time)

Revision ID: d4b7e2a9c1f6
Revises: c53eeba7733d
Create Date: 2026-11-27 16:50:00

The lists' "Last message" and the office's age filter read ``questions.updated_at``. Closing a
thread used to set it too, so a thread closed today looked like one written to today. Closing
now sets ``closed_at`` alone; this puts the threads closed before back to their last message.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "d4b7e2a9c1f6"
down_revision = "c53eeba7733d"
branch_labels = None
depends_on = None

questions = sa.table(
    "questions",
    sa.column("id", sa.Integer),
    sa.column("updated_at", sa.DateTime),
    sa.column("closed_at", sa.DateTime),
)
messages = sa.table(
    "messages", sa.column("question_id", sa.Integer), sa.column("created_at", sa.DateTime)
)


def upgrade():
    last_message = (
        sa.select(sa.func.max(messages.c.created_at))
        .where(messages.c.question_id == questions.c.id)
        .scalar_subquery()
    )
    op.execute(
        questions.update()
        .where(questions.c.closed_at.is_not(None), last_message.is_not(None))
        .values(updated_at=last_message)
    )


def downgrade():
    pass  # the close times are in closed_at: nothing to undo
