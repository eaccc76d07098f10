"""The Electricity tab: the list, adding a contract with a code (every answer), the tabs,
ownership (404), detaching."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from lkapp.electricity import services
from lkapp.extensions import db
from lkapp.models import (
    AuditEvent,
    ConfirmationCode,
    Contract,
    Document,
    Meter,
    Payment,
    Reading,
    User,
    utcnow,
)
from lkapp.payments import services as payment_services
from tests.conftest import swapped

NUMBER = "EL-0000042"
NO_MATCH = "The contract number or the confirmation code is wrong."


@pytest.fixture
def contracts(app):
    """Create contracts; returns a function number -> id."""

    def create(number=NUMBER, holder="Tisza Bakery Kft.", account_id=None, **fields):
        with app.app_context():
            row = Contract(
                number=number,
                holder_name=holder,
                tax_id=fields.pop("tax_id", "12345678-2-42"),
                address=fields.pop("address", "Budapest, Fő utca 1."),
                account_id=account_id,
                attached_at=utcnow() if account_id else None,
                **fields,
            )
            db.session.add(row)
            db.session.commit()
            return row.id

    return create


@pytest.fixture
def issue(app):
    """Issue a code for a contract as the office does; returns the plain code."""

    def issue_code(number=NUMBER, **kwargs):
        with app.app_context():
            code = services.issue_code(services.find_contract(number), **kwargs)
            db.session.commit()
            return code

    return issue_code


@pytest.fixture
def customer(make_user, auth):
    """Ann, signed in; returns her user id."""
    user_id = make_user()
    auth.login()
    return user_id


def attach(client, number=NUMBER, code="", htmx=False):
    data = {"number": number, "code": code}
    if htmx:
        return client.htmx("POST", "/electricity/add", data=data)
    return client.post("/electricity/add", data=data)


def audit_actions(app, action_prefix="contract."):
    with app.app_context():
        return db.session.scalars(
            sa.select(AuditEvent.action)
            .where(AuditEvent.action.startswith(action_prefix))
            .order_by(AuditEvent.id)
        ).all()


def problem_of(response) -> str:
    match = re.search(r'<p class="form-error" role="alert"[^>]*>(.*?)</p>', response.text, re.S)
    return match.group(1).strip() if match else ""


def same_page(first: str, second: str) -> bool:
    """Equal but for the CSRF tokens (they carry a timestamp)."""
    token = re.compile(r'(csrf_token" value=|"X-CSRFToken": )"[^"]+"')
    return token.sub("TOKEN", first) == token.sub("TOKEN", second)


# --- the list ---------------------------------------------------------------------------


def test_electricity_needs_sign_in(client):
    for url in ("/electricity", "/electricity/add", f"/electricity/{NUMBER}"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")


def test_empty_list_explains_how_to_add_and_nav_links_here(client, customer):
    response = client.get("/electricity")
    page = response.text
    assert response.status_code == 200
    assert "There are no contracts in your account yet." in page
    assert 'href="/electricity/add"' in page and "Add contract" in page
    assert 'href="/electricity" aria-current="page">Electricity</a>' in page


def test_add_form_is_a_page_and_a_fragment(client, customer):
    full = client.get("/electricity/add")
    assert full.status_code == 200 and "<header" in full.text
    assert 'id="add-contract"' in full.text
    assert "Contract number" in full.text and "Confirmation code" in full.text
    fragment = client.htmx("GET", "/electricity/add")
    assert "<header" not in fragment.text
    assert swapped(fragment.text).startswith('<form id="add-contract"')
    assert "HX-Request" in fragment.headers["Vary"] and "HX-Request" in full.headers["Vary"]


def test_list_is_a_page_and_a_fragment(client, customer, contracts):
    full = client.get("/electricity")
    fragment = client.htmx("GET", "/electricity")
    assert "<h1>Electricity</h1>" in full.text
    assert swapped(fragment.text).startswith('<section id="contracts"')
    assert "<header" not in fragment.text
    assert "HX-Request" in fragment.headers["Vary"]


# --- adding: success --------------------------------------------------------------------


def test_adding_with_the_code_attaches_and_uses_it(app, client, customer, contracts, issue):
    contracts()
    code = issue()
    response = attach(client, code=code.lower().replace("-", " "))
    assert response.status_code == 302 and response.headers["Location"] == "/electricity"
    page = client.get("/electricity").text
    assert "Contract EL-0000042 is now in your account." in page
    assert f'href="/electricity/{NUMBER}"' in page and "Tisza Bakery Kft." in page
    with app.app_context():
        contract = services.find_contract(NUMBER)
        assert contract.account_id == customer and contract.attached_at is not None
        [record] = db.session.scalars(sa.select(ConfirmationCode)).all()
        assert record.used_at is not None and record.used_by_id == customer
    assert audit_actions(app) == ["contract.code_issued", "contract.attached"]


def test_a_code_pasted_with_no_break_spaces_and_dashes_attaches(
    app, client, customer, contracts, issue
):
    """Copied from a mail, a PDF or a messenger: a narrow no-break space and an en dash
    between the groups, a no-break space around it."""
    contracts()
    first, second, third = issue().split("-")
    response = attach(client, code=f"\u00a0{first}\u202f{second}\u2013{third}\u00a0")
    assert response.status_code == 302, problem_of(response)
    with app.app_context():
        assert services.find_contract(NUMBER).account_id == customer


def test_adding_in_place_returns_the_new_list_and_a_flash(client, customer, contracts, issue):
    contracts("EL-0000001", holder="First Ltd")
    contracts()
    first = issue("EL-0000001")
    assert attach(client, "EL-0000001", first).status_code == 302
    code = issue()
    response = attach(client, code=code, htmx=True)
    page = response.text
    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == "#contracts"
    assert response.headers["HX-Reswap"] == "outerHTML"
    assert "HX-Request" in response.headers["Vary"]
    assert swapped(page).startswith('<section id="contracts"')
    assert "<header" not in page
    assert "First Ltd" in page and "Tisza Bakery Kft." in page, "several contracts per account"
    assert '<tr class="is-new">' in page
    assert 'data-hx-swap-oob="innerHTML"' in page and "is now in your account" in page


def test_adding_from_its_own_page_with_htmx_navigates_to_the_list(
    client, customer, contracts, issue
):
    contracts()
    code = issue()
    response = client.htmx(
        "POST",
        "/electricity/add",
        data={"number": NUMBER, "code": code},
        headers={"HX-Current-URL": "http://localhost/electricity/add"},
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/electricity"


def test_a_code_from_the_command_line_works(app, client, customer, contracts, runner):
    contracts()
    result = runner.invoke(args=["contracts", "issue-code", NUMBER])
    code = result.output.strip().splitlines()[-1]
    assert attach(client, code=code).status_code == 302


# --- adding: every failure --------------------------------------------------------------


def test_form_errors_say_what_is_missing(app, client, customer):
    response = attach(client, number="", code="", htmx=True)
    assert response.status_code == 422
    assert "Enter the contract number." in response.text
    assert "Enter the confirmation code from the office" in response.text
    malformed = attach(client, code="hello")
    assert malformed.status_code == 422
    assert "A confirmation code has 12 letters and digits" in malformed.text
    misread = attach(client, code="KQ7M-3XTA-P9C0")  # a zero for the slip's letter
    assert misread.status_code == 422
    assert "A confirmation code has no 0: check these against the slip." in misread.text
    assert f'value="{NUMBER}"' in malformed.text
    assert audit_actions(app) == [], "not a try at any contract"


def test_unknown_number_and_wrong_code_get_one_identical_answer(
    app, client, customer, contracts, issue
):
    contracts()
    issue()
    wrong_code = attach(client, code="AAAA-AAAA-AAAA")
    unknown = attach(client, number="EL-9999999", code="AAAA-AAAA-AAAA")
    assert wrong_code.status_code == unknown.status_code == 422
    assert NO_MATCH in problem_of(wrong_code)
    assert problem_of(wrong_code) == problem_of(unknown)
    assert same_page(wrong_code.text.replace(NUMBER, "N"), unknown.text.replace("EL-9999999", "N"))
    for response in (wrong_code, unknown):
        assert "AAAA-AAAA-AAAA" not in response.text, "the code never comes back"
    assert f'value="{NUMBER}"' in wrong_code.text, "the number does"
    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "contract.attach_failed")
        ).all()
        assert [e.details["reason"] for e in events] == ["no_match", "no_match"]
        assert events[0].object_type == "Contract" and events[1].object_type == ""
        assert events[1].details["number"] == "EL-9999999"
        code = db.session.scalar(sa.select(ConfirmationCode))
        assert code.failed_attempts == 1


def test_a_number_typed_in_small_letters_finds_the_contract(
    app, client, customer, contracts, issue
):
    """A phone capitalises a field's first letter only: "El-0000042" is the slip's number."""
    contracts()
    code = issue()
    response = attach(client, number="El-0000042", code=code.lower())
    assert response.status_code == 302
    with app.app_context():
        assert services.find_contract(NUMBER).account_id == customer


def test_a_number_typed_as_printed_wins_over_its_capitals(app, client, customer, contracts, issue):
    contracts("el-7")
    contracts("EL-7")
    code = issue("el-7")
    assert attach(client, number="el-7", code=code).status_code == 302
    with app.app_context():
        assert services.find_contract("el-7").account_id == customer
        assert services.find_contract("EL-7").account_id is None


def test_an_older_code_is_just_wrong(client, customer, contracts, issue):
    contracts()
    old = issue()
    issue()
    assert NO_MATCH in problem_of(attach(client, code=old))


def test_expired_code(app, client, customer, contracts, issue):
    contracts()
    code = issue()
    with app.app_context():
        record = db.session.scalar(sa.select(ConfirmationCode))
        record.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    response = attach(client, code=code)
    assert response.status_code == 422
    assert problem_of(response) == (
        "This confirmation code has expired. Ask the office for a new one."
    )


def test_used_code_and_already_yours(app, client, customer, contracts, issue, make_user, auth):
    contracts()
    code = issue()
    assert attach(client, code=code).status_code == 302
    again = attach(client, code=code)
    assert problem_of(again) == "This contract is already in your account."
    auth.logout()
    make_user(email="bob@example.com")
    auth.login(email="bob@example.com")
    used = attach(client, code=code)
    assert used.status_code == 422
    assert problem_of(used) == (
        "This confirmation code has been used already. Ask the office for a new one."
    )
    assert "ann@example.com" not in used.text


def test_contract_of_another_account_is_not_named(app, client, contracts, issue, make_user, auth):
    other = make_user(email="other@example.com", name="Other Owner Ltd")
    contracts(account_id=other)
    code = issue()
    make_user()
    auth.login()
    response = attach(client, code=code)
    assert response.status_code == 422
    assert problem_of(response) == (
        "This contract is attached to another account. Please contact the office."
    )
    assert "other@example.com" not in response.text and "Other Owner" not in response.text
    with app.app_context():
        assert services.find_contract(NUMBER).account_id == other
        assert db.session.scalar(sa.select(ConfirmationCode.used_at)) is None, "code kept"


def test_five_wrong_tries_lock_the_code(app, client, customer, contracts, issue):
    contracts()
    code = issue()
    for _ in range(5):
        assert NO_MATCH in problem_of(attach(client, code="AAAA-AAAA-AAAA"))
    locked = attach(client, code=code)
    assert problem_of(locked) == (
        "This confirmation code is locked after too many wrong tries. Ask the office for a new one."
    )
    # A guesser learns nothing: a wrong code on a locked contract is still just wrong.
    assert NO_MATCH in problem_of(attach(client, code="AAAA-AAAA-AAAA"))
    with app.app_context():
        assert db.session.scalar(sa.select(ConfirmationCode.failed_attempts)) == 5
        assert services.find_contract(NUMBER).account_id is None
    # The office issues a new code, and that one works.
    assert attach(client, code=issue()).status_code == 302


def test_an_account_making_ten_wrong_tries_an_hour_must_wait(
    app, client, customer, contracts, issue
):
    contracts()
    for number in range(10):
        attach(client, number=f"EL-{number:07d}", code="AAAA-AAAA-AAAA")
    code = issue()
    response = attach(client, code=code)
    assert response.status_code == 422
    assert problem_of(response) == "Too many wrong tries. Wait 60 minutes and try again."
    with app.app_context():
        assert services.find_contract(NUMBER).account_id is None
        throttled = db.session.scalar(
            sa.select(sa.func.count()).where(AuditEvent.action == "contract.attach_throttled")
        )
        assert throttled == 1
        # An hour later the oldest failures age out and the account may try again.
        db.session.execute(
            sa.update(AuditEvent)
            .where(AuditEvent.action == "contract.attach_failed")
            .values(created_at=utcnow() - timedelta(minutes=61))
        )
        db.session.commit()
    assert attach(client, code=code).status_code == 302


def test_the_limit_counts_per_account(app, client, contracts, issue, make_user, auth):
    make_user(email="mallory@example.com")
    auth.login(email="mallory@example.com")
    for number in range(10):
        attach(client, number=f"EL-{number:07d}", code="AAAA-AAAA-AAAA")
    auth.logout()
    make_user()
    auth.login()
    contracts()
    assert attach(client, code=issue()).status_code == 302


def test_a_withdrawn_code_says_so(app, client, contracts, issue, make_user, auth):
    ann = make_user()
    contracts(account_id=ann)
    pending = issue()  # handed out while the contract was still attached
    auth.login()
    assert client.post(f"/electricity/{NUMBER}/detach").status_code == 302
    auth.logout()
    make_user(email="bob@example.com")
    auth.login(email="bob@example.com")
    response = attach(client, code=pending)
    assert "This confirmation code no longer works" in problem_of(response)


# --- a contract's pages -----------------------------------------------------------------


def test_an_operator_cannot_take_a_contract_into_a_staff_account(
    app, client, contracts, issue, make_user, auth
):
    """Staff issue the codes: with one, an operator could attach a customer's contract to
    the back office's own account and send readings as the customer."""
    contracts()
    code = issue()
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    assert client.get("/electricity/add").status_code == 403
    assert attach(client, code=code).status_code == 403
    with app.app_context():
        assert services.find_contract(NUMBER).account_id is None


@pytest.fixture
def attached(app, customer, contracts):
    """Ann's contract with meters, readings, invoices and payments."""
    contract_id = contracts(account_id=customer)
    today = date.today()
    with app.app_context():
        meter = Meter(
            contract_id=contract_id,
            serial="MTR-77001",
            zones="T1,T2",
            digits=6,
            ct_ratio=40,
            installed_on=date(2020, 1, 1),
        )
        db.session.add(meter)
        db.session.flush()
        db.session.add_all(
            [
                Reading(meter_id=meter.id, zone="T1", period=date(2026, 1, 1), value=100),
                Reading(meter_id=meter.id, zone="T1", period=date(2026, 2, 1), value=12345),
                Reading(
                    meter_id=meter.id, zone="T2", period=date(2026, 2, 1), value=Decimal("678.5")
                ),
            ]
        )
        invoice = {"kind": "invoice", "net": 0, "vat_rate": 27, "vat": 0, "period": today}
        db.session.add_all(
            [
                # overdue, 40 paid: 60 overdue
                Document(
                    contract_id=contract_id,
                    number="INV-1",
                    issued_on=today - timedelta(days=40),
                    due_on=today - timedelta(days=10),
                    total=Decimal("100.00"),
                    paid=Decimal("40.00"),
                    **invoice,
                ),
                # due later, unpaid: the next due date
                Document(
                    contract_id=contract_id,
                    number="INV-2",
                    issued_on=today,
                    due_on=today + timedelta(days=15),
                    total=Decimal("200.00"),
                    **invoice,
                ),
                # an accompanying VAT invoice never counts
                Document(
                    contract_id=contract_id,
                    kind="vat_invoice",
                    number="VAT-2",
                    issued_on=today,
                    period=today,
                    due_on=today + timedelta(days=15),
                    net=0,
                    vat_rate=27,
                    vat=0,
                    total=Decimal("200.00"),
                ),
            ]
        )
        db.session.add_all(
            [
                Payment(contract_id=contract_id, paid_on=today, amount=Decimal("40.00")),
                Payment(
                    contract_id=contract_id, paid_on=today, amount=Decimal("10.50"), reference="x"
                ),
            ]
        )
        db.session.commit()
    return contract_id


def test_list_shows_balance_debt_and_next_due(client, attached):
    page = client.get("/electricity").text
    assert "€249.50" in page  # 300 invoiced − 50.50 paid
    assert "Overdue: €60.00" in page
    next_due = date.today() + timedelta(days=15)
    assert f'datetime="{next_due.isoformat()}"' in page


def test_overview_shows_contract_meters_and_figures(client, attached):
    response = client.get(f"/electricity/{NUMBER}")
    page = response.text
    assert response.status_code == 200
    for text in ("Tisza Bakery Kft.", "12345678-2-42", "Budapest, Fő utca 1.", "Active"):
        assert text in page
    # The zones named as on the Readings tab, not as bare codes.
    assert "MTR-77001" in page and ">T1 day, T2 night<" in page and ">40<" in page
    assert "T1 day: 12,345" in page and "T2 night: 678.5" in page and "February 2026" in page
    assert "678.500" not in page  # the decimals it has, as on the Readings tab
    assert "€249.50" in page and "€60.00" in page
    assert 'aria-current="page">Overview</a>' in page


def test_tabs_are_urls_with_fragments(client, attached):
    """Each tab is an address of its own, named in the page's title; an htmx answer leads
    with that title, which htmx puts in the document (every tab was "Contract N")."""
    for suffix, label in (
        ("", "Overview"),
        ("/documents", "Documents"),
        ("/readings", "Readings"),
        ("/payments", "Payments"),
    ):
        url = f"/electricity/{NUMBER}{suffix}"
        full = client.get(url)
        fragment = client.htmx("GET", url)
        assert full.status_code == fragment.status_code == 200
        assert "<header" in full.text and "<header" not in fragment.text
        assert swapped(fragment.text).startswith('<div id="contract-tab"')
        title = f"<title>{label} · Contract {NUMBER} · City Power Supply</title>"
        assert title in full.text and fragment.text.startswith(title)
        assert f'aria-current="page">{label}</a>' in fragment.text
        assert 'data-hx-push-url="true"' in fragment.text
        assert "HX-Request" in fragment.headers["Vary"]


def test_list_figures_take_one_query_whatever_the_number_of_contracts(
    app, client, customer, contracts
):
    from sqlalchemy import event

    def count_queries():
        statements = []
        with app.app_context():
            engine = db.engine

        def listener(*args):
            statements.append(args[2])

        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.get("/electricity").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(statements)

    contracts("EL-1", account_id=customer)
    contracts("EL-2", account_id=customer)  # from two on, the months of documents too
    two = count_queries()
    for number in range(3, 9):
        contracts(f"EL-{number}", account_id=customer)
    assert count_queries() == two


# --- ownership --------------------------------------------------------------------------


def test_another_customers_contract_is_404_like_a_missing_one(
    app, client, contracts, make_user, auth
):
    ann = make_user()
    contracts(account_id=ann)
    contracts("EL-FREE")  # exists, attached to nobody
    make_user(email="bob@example.com")
    auth.login(email="bob@example.com")
    for number in (NUMBER, "EL-FREE", "EL-NOPE"):
        for suffix in ("", "/documents", "/readings", "/payments", "/detach"):
            url = f"/electricity/{number}{suffix}"
            assert client.get(url).status_code == 404, url
            assert client.htmx("GET", url).status_code == 404, url
        assert client.post(f"/electricity/{number}/detach").status_code == 404
    first, *others = [
        client.get(f"/electricity/{n}").text.replace(n, "N") for n in (NUMBER, "EL-FREE", "EL-NOPE")
    ]
    for other in others:
        assert same_page(first, other), "the same answer whether the contract exists or not"
    with app.app_context():
        assert services.find_contract(NUMBER).account_id == ann


# --- detaching --------------------------------------------------------------------------


def test_detach_asks_first_then_detaches(app, client, attached, issue):
    confirm = client.get(f"/electricity/{NUMBER}/detach")
    assert confirm.status_code == 200 and "Detach contract EL-0000042?" in confirm.text
    fragment = client.htmx("GET", f"/electricity/{NUMBER}/detach")
    assert swapped(fragment.text).startswith('<form id="detach-contract"')
    with app.app_context():
        contract = services.find_contract(NUMBER)
        assert contract.account_id is not None, "nothing happened yet"
        contract.debt_notified = True  # the account was told of a debt on this contract
        db.session.commit()
    pending = issue()
    response = client.htmx("POST", f"/electricity/{NUMBER}/detach")
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/electricity"
    page = client.get("/electricity").text
    assert "is no longer in your account" in page
    assert "There are no contracts in your account yet." in page
    assert client.get(f"/electricity/{NUMBER}").status_code == 404
    with app.app_context():
        contract = services.find_contract(NUMBER)
        assert contract.account_id is None and contract.attached_at is None
        assert contract.debt_notified is False, "the next account will hear of the debt"
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "contract.detached")
        )
        assert event.details["by"] == "customer" and event.details["codes_revoked"] == "1"
        assert db.session.scalar(sa.select(ConfirmationCode.revoked_at)) is not None
    assert "This confirmation code no longer works" in problem_of(attach(client, code=pending))


def test_detach_needs_the_csrf_token(app, client, attached):
    response = client.post(f"/electricity/{NUMBER}/detach", csrf=False)
    assert response.status_code == 400
    with app.app_context():
        assert services.find_contract(NUMBER).account_id is not None


def test_staff_accounts_see_no_electricity_link(client, make_user, auth):
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    assert 'href="/electricity"' not in client.get("/staff/").text


def test_user_model_untouched_by_attach(app, client, customer, contracts, issue):
    contracts()
    attach(client, code=issue())
    with app.app_context():
        user = db.session.get(User, customer)
        assert [c.number for c in user.contracts] == [NUMBER]


def test_grouped_query_agrees_with_the_domain_rule(app, customer, contracts):
    """The list's SQL aggregates and lkapp.domain.balance give the same figures, all of
    them: several unpaid invoices may share the next due date (the amount due sums them) or
    the oldest overdue one (the lowest number is named)."""
    import random

    from lkapp.domain import balance

    rng = random.Random(4)
    today = date(2026, 11, 20)
    expected = {}
    with app.app_context():
        days = [today + timedelta(days=d) for d in (-40, -9, -1, 0, 1, 12)]
        for n in range(8):
            contract = Contract(
                number=f"EL-R{n}",
                holder_name="R",
                tax_id="1",
                address="A",
                account_id=customer,
            )
            db.session.add(contract)
            db.session.flush()
            invoices, paid_total = [], Decimal("0.00")
            for i in range(rng.randint(0, 8)):
                total = Decimal(rng.randint(1, 100_000)) / 100
                paid = rng.choice([Decimal("0.00"), total, (total / 3).quantize(Decimal("0.01"))])
                due = rng.choice([None, *days])
                kind = rng.choice(["invoice", "invoice", "vat_invoice"])
                db.session.add(
                    Document(
                        contract_id=contract.id,
                        kind=kind,
                        number=f"D{i}",
                        issued_on=today,
                        period=today,
                        due_on=due,
                        net=0,
                        vat_rate=0,
                        vat=0,
                        total=total,
                        paid=paid,
                    )
                )
                if kind == "invoice":
                    invoices.append(balance.Invoice(total, paid, due, f"D{i}"))
            for j in range(rng.randint(0, 4)):
                amount = Decimal(rng.randint(1, 50_000)) / 100
                paid_total += amount
                db.session.add(
                    Payment(contract_id=contract.id, paid_on=today, amount=amount, reference=str(j))
                )
            expected[contract.number] = balance.summarize(invoices, paid_total, today)
        db.session.commit()
        user = db.session.get(User, customer)
        rows = payment_services.account_contracts(user, today)
        assert {row.number: row.summary for row in rows} == expected
        ids = [row.id for row in rows]
        by_id = payment_services.debts_of(ids, today)
        assert {row.number: by_id[row.id] for row in rows} == expected
        for row in rows:
            contract = db.session.get(Contract, row.id)
            assert payment_services.contract_debt(contract, today) == expected[row.number]
