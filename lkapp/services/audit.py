"""The audit trail: one AuditEvent per write that matters (append-only)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import has_request_context, request

from ..extensions import db
from ..models import AuditEvent, User


def record(
    action: str,
    actor: User | None = None,
    obj: object | None = None,
    **details,
) -> AuditEvent:
    """Add an event for ``action`` on ``obj`` by ``actor``; the request's IP when there is one."""
    event = AuditEvent(
        action=action,
        actor_id=actor.id if actor is not None else None,
        object_type=type(obj).__name__ if obj is not None else "",
        object_id=str(getattr(obj, "id", "")) if obj is not None else "",
        ip=(request.remote_addr or "") if has_request_context() else "",
        details={key: str(value) for key, value in details.items()},
    )
    db.session.add(event)
    return event


def latest(action: str, obj: object, since: datetime) -> AuditEvent | None:
    """The newest ``action`` event on ``obj`` recorded at ``since`` or later, or None."""
    return db.session.scalars(
        sa.select(AuditEvent)
        .where(
            AuditEvent.action == action,
            AuditEvent.object_type == type(obj).__name__,
            AuditEvent.object_id == str(obj.id),
            AuditEvent.created_at >= since,
        )
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(1)
    ).first()
