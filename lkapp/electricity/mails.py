"""What the account hears about its contracts from the office, queued in its language."""

from __future__ import annotations

from flask import url_for

from ..formatting import lazy_gettext as _l
from ..models import Contract, User
from ..services.mail import queue_mail


def detached_by_office(account: User, contract: Contract) -> None:
    """The office took ``contract`` out of ``account``: without a word the contract would just
    be gone from the customer's list. The reason the operator gave stays in the audit log."""
    queue_mail(
        account.email,
        _l("Contract %(number)s was removed from your account", number=contract.number),
        "contract_detached",
        locale=account.locale,
        user=account,
        contract=contract,
        contracts_link=url_for("electricity.index", _external=True),
        ask_link=url_for("support.ask", _external=True),
    )
