"""The office's contract pages: search, the contract page, issuing a code, detaching; who may."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from lkapp.domain.codes import normalize_code
from lkapp.electricity import services
from lkapp.extensions import db
from lkapp.models import AuditEvent, ConfirmationCode, Contract, utcnow
from lkapp.security import verify_password
from tests.conftest import swapped

NUMBER = "EL-0000042"
CODE_RE = re.compile(r"<code>([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})</code>")


@pytest.fixture
def contracts(app):
    def create(number=NUMBER, holder="Tisza Bakery Kft.", tax_id="12345678-2-42", **fields):
        with app.app_context():
            row = Contract(
                number=number,
                holder_name=holder,
                tax_id=tax_id,
                address=fields.pop("address", "Budapest, Fő utca 1."),
                **fields,
            )
            db.session.add(row)
            db.session.commit()
            return row.id

    return create


@pytest.fixture
def staff(make_user, auth):
    user_id = make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    return user_id


def issue(client, number=NUMBER, htmx=False, **data):
    data.setdefault("received_by", "holder")
    if htmx:
        return client.htmx("POST", f"/staff/contracts/{number}/codes", data=data)
    return client.post(f"/staff/contracts/{number}/codes", data=data)


def shown_code(response) -> str:
    [code] = set(CODE_RE.findall(response.text))
    return code


# --- who may ----------------------------------------------------------------------------

STAFF_GETS = ["/staff/contracts", f"/staff/contracts/{NUMBER}"]
STAFF_POSTS = [
    f"/staff/contracts/{NUMBER}/codes",
    f"/staff/contracts/{NUMBER}/slip",
    f"/staff/contracts/{NUMBER}/slip.pdf",
    f"/staff/contracts/{NUMBER}/detach",
]


def test_anonymous_is_sent_to_sign_in(client, contracts):
    contracts()
    for url in STAFF_GETS:
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    for url in STAFF_POSTS:
        assert client.post(url, data={"code": "X", "reason": "x"}).status_code == 302


def test_customers_get_403(app, client, contracts, make_user, auth):
    contracts()
    make_user()
    auth.login()
    for url in STAFF_GETS:
        assert client.get(url).status_code == 403, url
    for url in STAFF_POSTS:
        assert client.post(url, data={"received_by": "holder", "reason": "xyz"}).status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(ConfirmationCode.id))) == 0


# --- search -----------------------------------------------------------------------------


def test_search_by_number_name_or_tax_id(client, staff, contracts, make_user):
    owner = make_user(email="owner@example.com")
    contracts()
    contracts("EL-0000043", holder="Dunai Gépház Zrt.", tax_id="87654321-1-13", account_id=owner)
    contracts("EL-0000050", holder="Ёлка ООО", tax_id="7701234567")
    contracts("EL-0000051", holder="Pusztai Kft.", tax_id="HU24681357-2-41")

    def found(query):
        page = client.get("/staff/contracts", query_string={"q": query}).text
        return set(re.findall(r'href="/staff/contracts/(EL-\d+)"', page))

    assert found("0000042") == {"EL-0000042"}
    assert found("el-00000") == {"EL-0000042", "EL-0000043", "EL-0000050", "EL-0000051"}
    assert found("gépház") == {"EL-0000043"}
    assert found("GÉPHÁZ") == {"EL-0000043"}
    assert found("ёлка") == {"EL-0000050"}, "any letter case, not only ASCII"
    assert found("ЁЛКА ооо") == {"EL-0000050"}
    assert found("tisza bakery") == {"EL-0000042"}
    assert found("87654321-1") == {"EL-0000043"}
    assert found("8765432111") == {"EL-0000043"}, "a tax id without its dashes"
    assert found("77012") == {"EL-0000050"}
    assert found("hu2468") == {"EL-0000051"}, "a tax id in any letter case, on PostgreSQL too"
    assert found("hu24681357241") == {"EL-0000051"}
    assert found("%") == set(), "LIKE wildcards are plain characters"
    assert found("nothing like it") == set()
    page = client.get("/staff/contracts", query_string={"q": "EL-0000043"}).text
    assert "owner@example.com" in page
    # On a phone each contract is a card (the account was a column off the screen's edge).
    assert '<table class="stack">' in page
    assert '<td data-label="Account">owner@example.com</td>' in page
    assert "1 contract matches “EL-0000043”." in page


def test_a_search_runs_within_one_field_not_into_the_next(client, staff, contracts):
    """Number, holder name and tax id are lower-cased as one text, a line break between
    them: a search that runs from one into the next finds nothing, a line break in it too."""
    contracts()  # EL-0000042, "Tisza Bakery Kft.", 12345678-2-42

    def found(query):
        page = client.get("/staff/contracts", query_string={"q": query}).text
        return set(re.findall(r'href="/staff/contracts/(EL-\d+)"', page))

    for query in ("0000042 tisza", "0000042\ntisza", "kft.\n12345678", "kft. 1234", "kft.1234"):
        assert found(query) == set(), repr(query)
    assert found("Kft.") == found("12345678242") == {NUMBER}


def test_search_is_live_and_a_plain_form(client, staff, contracts):
    contracts()
    full = client.get("/staff/contracts")
    assert full.status_code == 200 and "<header" in full.text
    assert 'method="get" action="/staff/contracts"' in full.text
    assert 'data-hx-trigger="input changed delay:300ms, search"' in full.text
    assert 'data-hx-target="#contract-results"' in full.text
    assert 'aria-current="page">Contracts</a>' in full.text
    fragment = client.htmx("GET", "/staff/contracts?q=tisza")
    assert swapped(fragment.text).startswith('<div id="contract-results"')
    assert "<header" not in fragment.text and NUMBER in fragment.text
    assert "HX-Request" in fragment.headers["Vary"]


def test_search_results_are_paginated(client, staff, contracts):
    for n in range(45):
        contracts(f"EL-{n:07d}", holder=f"Holder {n}")
    first = client.get("/staff/contracts?q=holder").text
    assert "45 contracts match “holder”." in first
    assert "Page 1 of 3" in first and "EL-0000019" in first and "EL-0000020" not in first
    assert 'href="/staff/contracts?q=holder&amp;page=2"' in first
    second = client.htmx("GET", "/staff/contracts?q=holder&page=2").text
    assert "Page 2 of 3" in second and "EL-0000020" in second and "EL-0000019" not in second
    assert 'data-hx-push-url="true"' in second
    beyond = client.get("/staff/contracts?q=holder&page=99").text
    assert "Page 3 of 3" in beyond
    assert "Page 1 of 3" in client.get("/staff/contracts?q=holder&page=abc").text


def test_staff_start_page_offers_the_search(client, staff):
    page = client.get("/staff/").text
    assert 'action="/staff/contracts"' in page and "Find a contract" in page


# --- the contract page and issuing ------------------------------------------------------


def test_contract_page_shows_account_and_codes(app, client, staff, contracts, make_user):
    owner = make_user(email="owner@example.com", name="Owner Ltd")
    contracts(account_id=owner, attached_at=utcnow())
    page = client.get(f"/staff/contracts/{NUMBER}").text
    assert "owner@example.com" in page and "Owner Ltd" in page
    assert "No code has been issued for this contract." in page
    assert "This contract is attached to an account. Detach it first, then issue" in page
    assert ">Issue code</button>" not in page
    # Detaching withdraws unused codes: a code issued now would die with the detach.
    refused = issue(client)
    assert refused.status_code == 409 and "Detach it first" in refused.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(ConfirmationCode.id))) == 0
    assert 'id="detach-form"' in page
    assert client.get("/staff/contracts/EL-NOPE").status_code == 404


def test_issuing_shows_the_code_once_and_stores_only_its_hash(app, client, staff, contracts):
    contracts()
    first = shown_code(issue(client))
    response = issue(client)
    page = response.text
    assert response.status_code == 200
    code = shown_code(response)
    assert code != first
    assert "Valid until" in page and "Tisza Bakery Kft." in page and NUMBER in page
    assert "Download slip (PDF)" in page and "Print view" in page
    assert "http://localhost/electricity/add" in page, "how to use it"
    assert response.headers["Cache-Control"] == "no-store"
    with app.app_context():
        codes = db.session.scalars(sa.select(ConfirmationCode).order_by(ConfirmationCode.id)).all()
        assert [c.revoked_at is not None for c in codes] == [True, False]
        assert codes[1].issued_by_label == "op@example.org" and codes[1].received_by == "holder"
        assert code not in codes[1].code_hash and normalize_code(code) not in codes[1].code_hash
        assert verify_password(codes[1].code_hash, normalize_code(code))
        assert (codes[1].expires_at - codes[1].issued_at).days == 30
        issued = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "contract.code_issued")
        ).all()
        assert len(issued) == 2 and issued[0].actor_id is not None
    # The page afterwards lists the codes, never a code itself.
    later = client.get(f"/staff/contracts/{NUMBER}").text
    assert code not in later and "Withdrawn" in later and "Not used yet" in later
    assert "op@example.org" in later


def test_issuing_in_place_also_refreshes_the_codes_table(client, staff, contracts):
    contracts()
    response = issue(client, htmx=True)
    page = response.text
    assert swapped(page).startswith('<section id="issued-code"')
    assert '<section id="codes" aria-labelledby="codes-title" data-hx-swap-oob="true">' in page
    assert "A new code was issued; earlier unused codes no longer work." in page
    assert "<header" not in page and "HX-Request" in response.headers["Vary"]


def test_a_representative_needs_name_and_power_of_attorney(app, client, staff, contracts):
    contracts()
    response = issue(client, htmx=True, received_by="representative")
    assert response.status_code == 422
    assert swapped(response.text).startswith('<form id="issue-code"')
    assert "Enter the representative's name." in response.text
    assert "Enter the number of the power of attorney." in response.text
    full = issue(client, received_by="representative", representative_name="Kovács Anna")
    assert full.status_code == 422 and "<header" in full.text
    assert 'value="Kovács Anna"' in full.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(ConfirmationCode.id))) == 0
    ok = issue(
        client,
        received_by="representative",
        representative_name="Kovács Anna",
        power_of_attorney="PoA-77/2026",
    )
    assert ok.status_code == 200
    assert "Kovács Anna, representative (power of attorney PoA-77/2026)" in ok.text
    with app.app_context():
        record = db.session.scalar(sa.select(ConfirmationCode))
        assert record.received_by == "representative"
        assert (record.representative_name, record.power_of_attorney) == (
            "Kovács Anna",
            "PoA-77/2026",
        )
    page = client.get(f"/staff/contracts/{NUMBER}").text
    assert "Representative: Kovács Anna, power of attorney PoA-77/2026" in page


def test_holder_codes_ignore_representative_fields(app, client, staff, contracts):
    contracts()
    issue(client, received_by="holder", representative_name="Someone", power_of_attorney="1")
    with app.app_context():
        record = db.session.scalar(sa.select(ConfirmationCode))
        assert record.received_by == "holder" and record.representative_name == ""


def test_used_code_shows_who_used_it(app, client, staff, contracts, make_user):
    contracts()
    code = shown_code(issue(client))
    customer = make_user(email="ann@example.com")
    with app.app_context():
        from lkapp.models import User

        result = services.attach_contract(db.session.get(User, customer), NUMBER, code)
        assert result.ok
        db.session.commit()
    page = client.get(f"/staff/contracts/{NUMBER}").text
    assert "Used" in page and "ann@example.com" in page
    assert "Attached to an account" in page, "the history"


# --- detaching --------------------------------------------------------------------------


def test_detach_needs_a_reason_and_is_audited(app, client, staff, contracts, make_user, mailbox):
    owner = make_user(email="owner@example.com")
    contracts(account_id=owner, attached_at=utcnow())
    with app.app_context():  # an unused code (the office may no longer issue one now)
        pending = services.issue_code(services.find_contract(NUMBER))
        db.session.commit()
    missing = client.htmx("POST", f"/staff/contracts/{NUMBER}/detach", data={"reason": ""})
    assert missing.status_code == 422
    assert "The account is told by email, without the reason." in missing.text
    assert swapped(missing.text).startswith('<form id="detach-form"')
    assert "Say why the contract is detached" in missing.text
    assert mailbox.to("owner@example.com") == []
    response = client.htmx(
        "POST",
        f"/staff/contracts/{NUMBER}/detach",
        data={"reason": "Premises sold; new holder showed the deed"},
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/staff/contracts/{NUMBER}"
    page = client.get(f"/staff/contracts/{NUMBER}").text
    assert "The contract was detached; its unused codes no longer work." in page
    assert "Not attached to any account." in page
    assert "Premises sold; new holder showed the deed" in page, "the reason in the history"
    with app.app_context():
        contract = services.find_contract(NUMBER)
        assert contract.account_id is None
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "contract.detached")
        )
        assert event.details["reason"] == "Premises sold; new holder showed the deed"
        assert event.details["by"] == "staff" and event.details["account_id"] == str(owner)
        record = services.latest_code(contract)
        assert record.revoked_at is not None
        assert services.code_is_current(contract, pending) is None
    again = client.post(f"/staff/contracts/{NUMBER}/detach", data={"reason": "twice"})
    assert again.status_code == 302
    assert "The contract is not attached to any account." in client.get(again.location).text
    # A page opened before the detach, sent without a reason: not the form again, for an
    # account that is gone ("The contract leaves the account , and ...").
    stale = client.htmx("POST", f"/staff/contracts/{NUMBER}/detach", data={"reason": ""})
    assert stale.status_code == 204, stale.text
    assert "The contract is not attached to any account." in client.get(again.location).text

    # The account that lost the contract is told, once, without the operator's reason.
    [notice] = mailbox.to("owner@example.com")
    assert notice["Subject"] == f"Contract {NUMBER} was removed from your account"
    text = mailbox.text(notice)
    assert f"Our office removed contract {NUMBER}" in text
    assert "http://localhost/support/ask" in text and "http://localhost/electricity" in text
    assert "Premises sold" not in text and "Premises sold" not in mailbox.html(notice)


def test_detach_tells_no_account_the_office_has_locked(
    app, client, staff, contracts, make_user, mailbox
):
    """The office locks an account whose mailbox is in dispute, then detaches its contract:
    whoever holds the mailbox must not hear of it."""
    owner = make_user(email="owner@example.com", locked_at=utcnow(), locked_reason="staff")
    contracts(account_id=owner, attached_at=utcnow())
    # The form said "The account is told by email" all the same.
    page = client.get(f"/staff/contracts/{NUMBER}").text
    assert "told by email" not in page and "The account gets no email about it" in page
    response = client.post(f"/staff/contracts/{NUMBER}/detach", data={"reason": "Disputed"})
    assert response.status_code == 302
    assert "The contract was detached" in client.get(response.location).text
    assert mailbox.to("owner@example.com") == []


# --- the slip ---------------------------------------------------------------------------


def test_the_history_names_imports_and_notices_in_the_operators_language(
    app, client, staff, contracts
):
    """An import's change showed as "import.updated" with Python dicts, in every language."""
    contract_id = contracts()
    with app.app_context():
        db.session.add_all(
            [
                AuditEvent(
                    action="import.updated",
                    object_type="Contract",
                    object_id=str(contract_id),
                    details={
                        "kind": "contracts",
                        "key": NUMBER,
                        "before": {"holder_name": "Old Kft."},
                        "after": {"holder_name": "Tisza Bakery Kft."},
                        "file": "contracts-2026-11.csv",
                    },
                ),
                AuditEvent(
                    action="notice.debt_appeared",
                    object_type="Contract",
                    object_id=str(contract_id),
                    details={"overdue": "120.00", "day": "2026-11-20"},
                ),
            ]
        )
        db.session.commit()
    cells = [
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(
            r"<td[^>]*>(.*?)</td>", client.get(f"/staff/contracts/{NUMBER}").text, re.S
        )
    ]
    assert "Changed by an import" in cells and "Overdue debt notice" in cells
    assert "holder_name: Old Kft. → Tisza Bakery Kft.; file: contracts-2026-11.csv" in cells
    assert not any("{" in cell or "import.updated" in cell for cell in cells)
    client.post("/language", data={"locale": "hu", "next": "/"})
    page = client.get(f"/staff/contracts/{NUMBER}").text
    assert "import.updated" not in page and "notice.debt_appeared" not in page


def test_print_view_needs_the_current_code_in_a_post(app, client, staff, contracts):
    contracts()
    code = shown_code(issue(client))
    assert client.get(f"/staff/contracts/{NUMBER}/slip").status_code == 405
    view = client.post(f"/staff/contracts/{NUMBER}/slip", data={"code": code})
    assert view.status_code == 200
    assert f"<code>{code}</code>" in view.text and "Valid until" in view.text
    assert "<header" not in view.text, "the slip alone"
    assert view.headers["Cache-Control"] == "no-store"
    forged = client.post(f"/staff/contracts/{NUMBER}/slip", data={"code": "AAAA-AAAA-AAAA"})
    assert forged.status_code == 409 and "AAAA-AAAA-AAAA" not in forged.text
    no_token = client.post(f"/staff/contracts/{NUMBER}/slip", data={"code": code}, csrf=False)
    assert no_token.status_code == 400
    newer = shown_code(issue(client))
    assert newer != code
    assert client.post(f"/staff/contracts/{NUMBER}/slip", data={"code": code}).status_code == 409


def test_a_code_issued_while_the_customer_attaches_is_refused_not_shown(
    app, client, staff, contracts, make_user, monkeypatch
):
    """The customer attaches with the old code while the office issues a new one, after the
    page said "not attached": no new code is stored or shown (it could never be used)."""
    from lkapp.staff.forms import IssueCodeForm
    from tests.conftest import AuthActions
    from tests.web.test_races_auth import one_after_other

    make_user()
    contract_id = contracts()
    with app.app_context():
        old = services.issue_code(db.session.get(Contract, contract_id), issued_by_label="t")
        db.session.commit()
    customer = app.test_client()
    AuthActions(customer).login()
    attached, issued = one_after_other(
        monkeypatch,
        lambda: customer.post("/electricity/add", data={"number": NUMBER, "code": old}),
        lambda: issue(client),
        hold_after=(services, "attach_contract"),
        second_reaches=[(IssueCodeForm, "validate_on_submit")],
    )
    assert attached.status_code == 302
    assert issued.status_code == 409, issued
    assert not CODE_RE.search(issued.text)
    assert "This contract is attached to an account. Detach it first" in issued.text
    with app.app_context():
        codes = db.session.scalars(sa.select(ConfirmationCode)).all()
        assert [code.used_at is not None for code in codes] == [True]


def test_two_codes_issued_at_once_leave_one_that_works(
    app, client, staff, contracts, make_user, monkeypatch
):
    """Two operators (or a double click without JavaScript) issue a code at the same moment:
    the second must revoke the first, or the table shows two unused codes, one of which (the
    older, handed out all the same) can never be used."""
    from lkapp.staff import contracts as staff_contracts
    from tests.conftest import AuthActions
    from tests.web.test_races_auth import one_after_other

    contracts()
    make_user(email="colleague@example.org", role="staff")
    colleague = app.test_client()
    AuthActions(colleague).login(email="colleague@example.org")
    first, second = one_after_other(
        monkeypatch,
        lambda: issue(client),
        lambda: issue(colleague),
        hold_after=(services, "issue_code_record"),
        second_reaches=[(staff_contracts, "lock_row"), (services, "generate_code")],
    )
    assert first.status_code == second.status_code == 200
    with app.app_context():
        codes = db.session.scalars(sa.select(ConfirmationCode).order_by(ConfirmationCode.id))
        assert [code.revoked_at is None for code in codes] == [False, True]


def test_command_line_issue_says_until_when_and_for_whom(app, runner, contracts, make_user):
    owner = make_user(email="owner@example.com")
    contracts(account_id=owner)
    attached = runner.invoke(args=["contracts", "issue-code", NUMBER])
    assert attached.exit_code == 1
    assert f"contract {NUMBER} is attached to an account: detach it first" in attached.output
    with app.app_context():
        db.session.get(Contract, services.find_contract(NUMBER).id).account_id = None
        db.session.commit()
    result = runner.invoke(
        args=["contracts", "issue-code", NUMBER, "--representative", "Kovács Anna", "--poa", "P-1"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", lines[-1])
    assert "for representative Kovács Anna (power of attorney P-1)" in result.output


def test_too_long_a_search_is_said_in_the_operators_language(client, staff, contracts):
    """WTForms' own "Field cannot be longer than N characters." stayed English on a Hungarian
    page (its catalogue lacks that plural): the portal's own words are said instead."""
    contracts()
    client.post("/language", data={"locale": "hu", "next": "/"})
    page = client.get("/staff/contracts", query_string={"q": "x" * 101}).text
    assert "Legfeljebb 100 karakterrel keressen." in page
    assert "Field cannot be longer" not in page
