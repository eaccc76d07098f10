"""Contracts and their confirmation codes."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from ..domain.codes import generate_code, normalize_code
from ..extensions import db
from ..models import ConfirmationCode, Contract, User, utcnow
from ..security import hash_password
from ..services import audit


def find_contract(number: str) -> Contract | None:
    return db.session.scalar(sa.select(Contract).where(Contract.number == number.strip()))


def issue_code(
    contract: Contract,
    issued_by: User | None = None,
    issued_by_label: str = "",
    representative: str = "",
    power_of_attorney: str = "",
) -> str:
    """A new code for ``contract``; earlier unused codes stop working. Returns the plain code."""
    now = utcnow()
    db.session.execute(
        sa.update(ConfirmationCode)
        .where(
            ConfirmationCode.contract_id == contract.id,
            ConfirmationCode.used_at.is_(None),
            ConfirmationCode.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    code = generate_code()
    record = ConfirmationCode(
        contract_id=contract.id,
        code_hash=hash_password(normalize_code(code)),
        issued_at=now,
        expires_at=now + timedelta(days=current_app.config["CODE_TTL_DAYS"]),
        issued_by_id=issued_by.id if issued_by else None,
        issued_by_label=issued_by_label or (issued_by.email if issued_by else ""),
        received_by="representative" if representative else "holder",
        representative_name=representative,
        power_of_attorney=power_of_attorney,
    )
    db.session.add(record)
    db.session.flush()
    audit.record(
        "contract.code_issued",
        actor=issued_by,
        obj=contract,
        received_by=record.received_by,
        representative=representative,
        power_of_attorney=power_of_attorney,
    )
    return code
