"""``flask --app lkapp notify``: debt appeared / debt cleared, once per change, as the profile
says; "new document" notices from the billing import. Mail is read from the SMTP test server."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import AuditEvent, Contract, Meter, OutboxMail, User, utcnow
from lkapp.readings import reminders
from lkapp.services import notify

DAY = date(2026, 3, 10)


@pytest.fixture
def ann(make_user):
    return make_user(name="Ann's Bakery Kft.")


@pytest.fixture
def late_invoice(ann, ledger):
    """EL-1 of Ann: an invoice of 120.00 due 1 March, 20.00 paid; EL-2 of Ann: nothing owed."""
    contract = ledger.contract("EL-1", account_id=ann)
    ledger.contract("EL-2", account_id=ann)
    ledger.add(
        ledger.document(contract, "INV-77", date(2026, 2, 10), date(2026, 3, 1), "120.00"),
        ledger.payment(contract, date(2026, 2, 20), "20.00"),
    )
    return contract


def run(runner, day: date):
    result = runner.invoke(args=["notify", "--date", day.isoformat(), "--other-day"])
    assert result.exit_code == 0, result.output
    return result.output


def flag(app, number="EL-1") -> bool:
    with app.app_context():
        return db.session.scalar(sa.select(Contract.debt_notified).where(Contract.number == number))


def test_debt_appears_once_and_clears_once(app, runner, mailbox, late_invoice, ledger):
    # Not due yet: nothing to say.
    assert "debt appeared on 0 contract(s)" in run(runner, date(2026, 3, 1))
    assert mailbox.messages == []

    output = run(runner, DAY)
    assert "debt appeared on 1 contract(s), cleared on 0" in output
    assert "outbox: 1 sent" in output
    [message] = mailbox.to("ann@example.com")
    assert message["Subject"] == "Overdue debt on contract EL-1"
    text = mailbox.text(message)
    # A name ending in "Kft." or "Ltd." gets no second full stop.
    assert "Hello, Ann's Bakery Kft.," in text and "Kft.." not in text
    assert "Contract EL-1 (Tisza Bakery Kft.)" in text
    assert "Overdue debt: €100.00" in text
    assert "Oldest overdue invoice: INV-77, due Mar 1, 2026 (9 days ago)" in text
    assert "EL-2" not in text
    assert "Overdue debt: €100.00" in mailbox.html(message)
    assert flag(app) is True

    # The next days: still in debt, nothing more.
    run(runner, DAY)
    run(runner, DAY + timedelta(days=1))
    assert len(mailbox.messages) == 1

    # Paid: one "cleared" notice, once.
    ledger.add(ledger.payment(late_invoice, DAY + timedelta(days=2), "100.00", "INV-77"))
    assert "cleared on 1" in run(runner, DAY + timedelta(days=3))
    run(runner, DAY + timedelta(days=4))
    assert len(mailbox.messages) == 2
    cleared = mailbox.messages[1]
    assert cleared["Subject"] == "Debt cleared on contract EL-1"
    assert "The overdue debt of your contract is paid." in mailbox.text(cleared)
    assert flag(app) is False
    with app.app_context():
        actions = db.session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.action.like("notice.%"))
        ).all()
    assert actions == ["notice.debt_appeared", "notice.debt_cleared"]


@pytest.mark.sqlite_only
def test_notices_link_to_the_portal_by_its_configured_name(app_config, mailbox, late_invoice):
    """Mail built outside any request (the daily job) still carries working links."""
    from lkapp import create_app

    app = create_app({**app_config, "SERVER_NAME": "my.utility.example"})
    run(app.test_cli_runner(), DAY)
    [message] = mailbox.to("ann@example.com")
    assert "http://my.utility.example/electricity/EL-1/payments" in mailbox.links(message)


def test_a_partly_paid_late_invoice_stays_a_debt(app, runner, mailbox, late_invoice, ledger):
    run(runner, DAY)
    ledger.add(ledger.payment(late_invoice, DAY, "99.99"))
    run(runner, DAY + timedelta(days=1))
    assert len(mailbox.messages) == 1  # 0.01 still overdue: no "cleared"
    assert flag(app) is True


def test_several_contracts_in_debt_make_one_mail(app, runner, mailbox, ann, ledger):
    for number in ("EL-A", "EL-B"):
        contract = ledger.contract(number, account_id=ann)
        ledger.add(ledger.document(contract, f"INV-{number}", DAY, DAY, "10.00"))
    run(runner, DAY + timedelta(days=1))
    [message] = mailbox.messages
    assert message["Subject"] == "Overdue debt on contracts EL-A, EL-B"
    assert "Overdue debt: €10.00" in mailbox.text(message)


def test_many_contracts_in_debt_at_once_are_counted_in_the_subject(
    app, runner, mailbox, ann, ledger
):
    """Thirty numbers made a subject of 400 characters: PostgreSQL refused the outbox row,
    and the whole daily run failed, for every account, every day after."""
    for n in range(30):
        contract = ledger.contract(f"EL-{n:07}", account_id=ann)
        ledger.add(ledger.document(contract, f"INV-{n}", DAY, DAY, "10.00"))
    assert "debt appeared on 30 contract(s)" in run(runner, DAY + timedelta(days=1))
    [message] = mailbox.messages
    assert message["Subject"] == "Overdue debt on 30 contracts"
    assert "EL-0000029" in mailbox.text(message)  # the body still names each


def test_debt_notices_respect_the_profile(app, runner, mailbox, ann, late_invoice):
    with app.app_context():
        db.session.get(User, ann).notify_debt = False
        db.session.commit()
    assert "debt appeared on 0 contract(s)" in run(runner, DAY)
    assert mailbox.messages == []
    assert flag(app) is False  # not told: the flag stays as it was

    # Turned on again while the debt is still there: told once.
    with app.app_context():
        db.session.get(User, ann).notify_debt = True
        db.session.commit()
    run(runner, DAY + timedelta(days=1))
    run(runner, DAY + timedelta(days=2))
    assert [m["Subject"] for m in mailbox.messages] == ["Overdue debt on contract EL-1"]


def test_unattached_contracts_get_no_notice(app, runner, mailbox, ledger):
    contract = ledger.contract("EL-FREE")
    ledger.add(ledger.document(contract, "INV-1", date(2026, 1, 1), date(2026, 1, 15), "5.00"))
    run(runner, DAY)
    assert mailbox.messages == []
    assert flag(app, "EL-FREE") is False


def test_mail_in_the_customers_language(app, runner, mailbox, ann, late_invoice):
    with app.app_context():
        db.session.get(User, ann).locale = "hu"
        db.session.commit()
    run(runner, DAY)
    [message] = mailbox.messages
    assert "EL-1" in message["Subject"]
    assert "100,00" in mailbox.text(message)  # Hungarian money format


def test_a_russian_subject_names_one_contract_in_the_singular(
    app, runner, mailbox, ann, late_invoice
):
    """Russian said "Просроченная задолженность, договоры: EL-1" (contracts) of one."""
    with app.app_context():
        db.session.get(User, ann).locale = "ru"
        db.session.commit()
    run(runner, DAY)
    [message] = mailbox.messages
    assert message["Subject"] == "Просроченная задолженность по договору EL-1"


@pytest.mark.parametrize(
    ("locale", "days", "words"),
    [("en", 1, "(1 day ago)"), ("ru", 2, "(2 дня назад)"), ("ru", 5, "(5 дней назад)")],
)
def test_the_days_overdue_are_counted_in_words(
    app, runner, mailbox, ann, late_invoice, locale, days, words
):
    """The first notice usually comes the day after the due date: it said "(1 days ago)"."""
    with app.app_context():
        db.session.get(User, ann).locale = locale
        db.session.commit()
    run(runner, date(2026, 3, 1) + timedelta(days=days))
    [message] = mailbox.messages
    assert words in mailbox.text(message) and words in mailbox.html(message)


def test_run_daily_summary_and_a_second_run_queues_nothing(app, mailbox, late_invoice):
    with app.app_context():
        first = notify.run_daily(DAY)
        second = notify.run_daily(DAY)
        queued = db.session.scalar(sa.select(sa.func.count(OutboxMail.id)))
    assert (first.debt_appeared, first.mails, first.sent) == (1, 1, 1)
    assert (second.debt_appeared, second.debt_cleared, second.mails) == (0, 0, 0)
    assert queued == 1
    assert first.reminders == 0  # reading reminders: the call site is not wired yet


def fail_for(monkeypatch, module, recipient: str, how: str) -> None:
    """Make ``module``'s mail queueing fail for ``recipient``: a Python error (a template or
    a stored value) or a database error (the transaction must survive it)."""
    real = module.queue_mail

    def queue_mail(to, *args, **kwargs):
        if to == recipient:
            if how == "database":
                db.session.execute(sa.text("SELECT no_such_column FROM no_such_table"))
            raise ValueError("a broken template")
        return real(to, *args, **kwargs)

    monkeypatch.setattr(module, "queue_mail", queue_mail)


@pytest.mark.parametrize("how", ["python", "database"])
def test_one_accounts_failure_costs_that_account_alone(
    app, runner, mailbox, ann, late_invoice, ledger, make_user, monkeypatch, caplog, how
):
    """An error while telling one account aborted the whole daily run: every account after
    it got no notice that day."""
    bob = make_user(email="bob@example.com", name="Bob Ltd.")
    zoe = make_user(email="zoe@example.com", name="Zoe Kft.")
    for number, account in (("EL-B", bob), ("EL-Z", zoe)):
        contract = ledger.contract(number, account_id=account)
        ledger.add(ledger.document(contract, f"INV-{number}", DAY, DAY, "10.00"))
    with app.app_context():  # the window of 15-25 March is open: reminders too
        for number in ("EL-1", "EL-B", "EL-Z"):
            contract_id = db.session.scalar(sa.select(Contract.id).where(Contract.number == number))
            db.session.add(
                Meter(contract_id=contract_id, serial=f"SN-{number}", installed_on=date(2020, 1, 1))
            )
        db.session.commit()
    fail_for(monkeypatch, notify, "bob@example.com", how)
    fail_for(monkeypatch, reminders, "bob@example.com", how)

    day = date(2026, 3, 16)
    result = runner.invoke(args=["notify", "--date", day.isoformat(), "--other-day"])
    assert result.exit_code == 1
    assert "debt appeared on 2 contract(s)" in result.output
    assert "2 debt notice(s) and 2 reading reminder(s) queued" in result.output
    assert f"1 account(s) failed and wait for the next run (see the log): {bob}" in result.output
    assert f"Notices for account {bob} failed" in caplog.text
    for address in ("ann@example.com", "zoe@example.com"):
        assert sorted(m["Subject"] for m in mailbox.to(address)) == [
            f"Overdue debt on contract {'EL-1' if address[0] == 'a' else 'EL-Z'}",
            "Time to send your meter readings",
        ]
    assert mailbox.to("bob@example.com") == []
    # Rolled back: no flag without its mail, no mail and no audit event without its flag.
    assert flag(app, "EL-B") is False
    with app.app_context():
        assert db.session.get(User, bob).readings_reminded_for is None
        assert (
            db.session.scalar(
                sa.select(sa.func.count(OutboxMail.id)).where(
                    OutboxMail.recipient == "bob@example.com"
                )
            )
            == 0
        )
        told = db.session.scalars(
            sa.select(Contract.number)
            .join(AuditEvent, AuditEvent.object_id == sa.cast(Contract.id, sa.String))
            .where(AuditEvent.action == "notice.debt_appeared")
            .order_by(Contract.number)
        ).all()
    assert told == ["EL-1", "EL-Z"]

    # Fixed by the next day's run: Bob is told, and only he.
    monkeypatch.undo()
    mailbox.clear()
    output = run(runner, day + timedelta(days=1))
    assert "debt appeared on 1 contract(s)" in output and "failed and wait" not in output
    assert sorted(m["Subject"] for m in mailbox.messages) == [
        "Overdue debt on contract EL-B",
        "Time to send your meter readings",
    ]
    assert {m["To"] for m in mailbox.messages} == {"bob@example.com"}
    assert flag(app, "EL-B") is True


def test_notify_rejects_a_bad_date(runner):
    result = runner.invoke(args=["notify", "--date", "10.03.2026"])
    assert result.exit_code == 2
    assert "use YYYY-MM-DD" in result.output
    far = runner.invoke(args=["notify", "--date", "9999-12-28"])  # was a traceback
    assert far.exit_code == 2 and far.exception.__class__ is SystemExit
    assert "Invalid value for --date: use a day from 1900 to 2099" in far.output


def test_notify_refuses_another_day_than_today_without_other_day(
    app, runner, mailbox, late_invoice, ledger, monkeypatch
):
    """A past --date compared today's payments with that day's due dates: an account that
    paid its old invoice but owes a new one, due since, was mailed "debt cleared"."""
    from lkapp.electricity import services as electricity

    monkeypatch.setattr(electricity, "local_today", lambda: DAY)
    run(runner, DAY)  # told of the debt of INV-77 (due 1 March)
    assert flag(app)
    ledger.add(
        ledger.payment(late_invoice, DAY, "100.00"),  # INV-77 paid,
        ledger.document(late_invoice, "INV-78", DAY, DAY - timedelta(days=1), "50.00"),
    )  # INV-78 overdue since 9 March: in debt still
    mailbox.clear()
    for day in (DAY - timedelta(days=5), DAY + timedelta(days=1)):
        refused = runner.invoke(args=["notify", "--date", day.isoformat()])
        assert refused.exit_code == 2
        assert f"Invalid value for --date: {day.isoformat()} is not today (2026-03-10)" in (
            " ".join(refused.output.split())
        )
    assert mailbox.messages == [] and flag(app)
    assert "--other-day" in runner.invoke(args=["notify", "--help"]).output
    today = runner.invoke(args=["notify", "--date", DAY.isoformat()])
    assert today.exit_code == 0 and "cleared on 0" in today.output
    assert mailbox.messages == [] and flag(app)


# --- new documents ----------------------------------------------------------------------

DOCUMENTS_CSV = """contract_number;kind;number;issued_on;period;due_on;net;vat_rate;vat;total
EL-1;invoice;INV-2026-03;2026-03-05;2026-02;2026-03-20;100.00;27;27.00;127.00
EL-1;vat_invoice;VAT-2026-03;2026-03-05;2026-02;;100.00;27;27.00;127.00
EL-FREE;invoice;INV-FREE-03;2026-03-05;2026-02;2026-03-20;10.00;27;2.70;12.70
"""


def import_documents(runner, tmp_path, content=DOCUMENTS_CSV):
    path = tmp_path / "documents.csv"
    path.write_text(content, encoding="utf-8")
    result = runner.invoke(args=["import", "documents", str(path)])
    assert result.exit_code == 0, result.output


def test_imported_documents_bring_one_notice_per_account(
    app, runner, mailbox, tmp_path, ann, ledger, make_user
):
    ledger.contract("EL-1", account_id=ann)
    ledger.contract("EL-FREE")
    import_documents(runner, tmp_path)
    with app.app_context():
        [queued] = db.session.scalars(sa.select(OutboxMail)).all()
    assert queued.recipient == "ann@example.com" and queued.sent_at is None
    run(runner, DAY)  # the daily run sends what waits in the outbox
    [message] = mailbox.messages
    assert message["Subject"] == "2 new documents in My Account"
    text = mailbox.text(message)
    assert "Contract EL-1: Invoice INV-2026-03, February 2026, €127.00, due Mar 20, 2026" in text
    # The VAT invoice of the same sum is no second bill: the mail says so.
    assert (
        "Contract EL-1: VAT invoice VAT-2026-03, February 2026, €127.00, nothing to pay: "
        "for your records" in text
    )
    assert "INV-FREE-03" not in text

    # The same file again creates nothing and tells nothing.
    import_documents(runner, tmp_path)
    run(runner, DAY)
    assert len(mailbox.messages) == 1


def test_document_notices_respect_the_profile(app, runner, mailbox, tmp_path, ann, ledger):
    ledger.contract("EL-1", account_id=ann)
    ledger.contract("EL-FREE")
    with app.app_context():
        db.session.get(User, ann).notify_documents = False
        db.session.commit()
    import_documents(runner, tmp_path)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(OutboxMail.id))) == 0


@pytest.mark.parametrize(
    ("state", "told"),
    [
        ({"locked_reason": "staff"}, False),  # the office locked it, e.g. a disputed mailbox
        ({"confirmed_at": None}, False),  # the address may be anyone's
        ({"locked_reason": "failed_logins"}, True),  # guards the sign-in, not the mailbox
    ],
)
def test_notices_go_to_confirmed_accounts_the_office_has_not_locked(
    app, runner, mailbox, tmp_path, ann, late_invoice, ledger, state, told
):
    """Debt and document notices carry amounts: they went to any account, locked by the
    office or never confirmed, where the readings reminder already looked."""
    with app.app_context():
        user = db.session.get(User, ann)
        for name, value in state.items():
            setattr(user, name, value)
        if "locked_reason" in state:
            user.locked_at = utcnow()
        db.session.commit()
    ledger.contract("EL-FREE")
    import_documents(runner, tmp_path)
    run(runner, DAY)
    subjects = sorted(message["Subject"] for message in mailbox.to("ann@example.com"))
    expected = ["2 new documents in My Account", "Overdue debt on contract EL-1"]
    assert subjects == (expected if told else [])


# --- an account of many contracts (a chain of shops) -------------------------------------

WINDOW_DAY = date(2026, 3, 16)  # the window of 15-25 March is open


def shops(app, account_id: int, count: int, in_debt=range(0)) -> list[str]:
    """``count`` contracts of the account, each with a meter and no reading for March; those
    numbered in ``in_debt`` owe an invoice of 10.01 due 1 March. Their numbers."""
    from decimal import Decimal

    from lkapp.models import Document

    numbers = [f"SHOP-{n:04}" for n in range(1, count + 1)]
    with app.app_context():
        contracts = [
            Contract(
                number=number,
                holder_name="Chain Kft.",
                tax_id="1",
                address="Szeged",
                account_id=account_id,
                attached_at=utcnow(),
            )
            for number in numbers
        ]
        db.session.add_all(contracts)
        db.session.flush()
        db.session.add_all(
            Meter(contract_id=c.id, serial=f"SN-{c.number}", installed_on=date(2020, 1, 1))
            for c in contracts
        )
        db.session.add_all(
            Document(
                contract_id=contracts[n - 1].id,
                kind="invoice",
                number=f"INV-{n}",
                issued_on=date(2026, 2, 10),
                period=date(2026, 2, 1),
                due_on=date(2026, 3, 1),
                net=Decimal("7.88"),
                vat_rate=Decimal("27"),
                vat=Decimal("2.13"),
                total=Decimal("10.01"),
            )
            for n in in_debt
        )
        db.session.commit()
    return numbers


@pytest.fixture
def portal_name(app_config):
    """Ask for it before ``app``: mail built by the daily job carries links."""
    app_config["SERVER_NAME"] = "my.utility.example"


@pytest.mark.parametrize(("locale", "total"), [("en", "€750.75"), ("hu", "750,75")])
def test_a_chains_debt_notice_says_what_is_overdue_in_all(app, runner, mailbox, ann, locale, total):
    """75 of 300 shops in debt: the mail listed 75 amounts and left the customer to add
    them up."""
    with app.app_context():
        db.session.get(User, ann).locale = locale
        db.session.commit()
    shops(app, ann, 300, in_debt=range(1, 76))
    assert "debt appeared on 75 contract(s)" in run(runner, DAY)
    [message] = mailbox.messages
    text, html = mailbox.text(message), mailbox.html(message)
    assert total in text and total in html
    if locale == "en":
        assert message["Subject"] == "Overdue debt on 75 contracts"
        assert "Overdue in all: €750.75 on 75 contracts." in text
        assert "<strong>Overdue in all: €750.75 on 75 contracts.</strong>" in html
        # Said before the list, not after 75 entries of it.
        assert text.index("Overdue in all") < text.index("SHOP-0001")
        assert "Contract SHOP-0075 (Chain Kft.)" in text and "SHOP-0076" not in text


def test_a_chains_reading_reminder_names_twenty_contracts_and_counts_the_rest(
    portal_name, app, runner, mailbox, ann
):
    """300 shops waiting: one paragraph of 3,600 characters named every contract."""
    shops(app, ann, 300)
    run(runner, WINDOW_DAY)
    [message] = mailbox.messages
    assert message["Subject"] == "Time to send your meter readings"
    text, html = mailbox.text(message), mailbox.html(message)
    listed = ", ".join(f"SHOP-{n:04}" for n in range(1, 21))
    waiting = f"Waiting for readings: contracts {listed} and 280 more contracts."
    assert waiting in text and waiting in html
    assert "SHOP-0021" not in text and "SHOP-0300" not in html
    assert "“Readings of all meters”" in text
    assert mailbox.links(message)[0] == "http://my.utility.example/readings"
    assert 'href="http://my.utility.example/readings"' in html


@pytest.mark.parametrize(("count", "more"), [(20, ""), (21, " and 1 more contract")])
def test_a_reminder_lists_up_to_twenty_contracts(app, runner, mailbox, ann, count, more):
    shops(app, ann, count)
    run(runner, WINDOW_DAY)
    [message] = mailbox.messages
    listed = ", ".join(f"SHOP-{n:04}" for n in range(1, 21))
    assert f"Waiting for readings: contracts {listed}{more}." in mailbox.text(message)


def test_one_contracts_notices_stay_as_they_were(portal_name, app, runner, mailbox, ann, ledger):
    """No total beside the one amount, and the reminder names the contract and links its
    Readings tab."""
    contract = ledger.contract("EL-1", account_id=ann)
    ledger.add(ledger.document(contract, "INV-77", date(2026, 2, 10), date(2026, 3, 1), "120.00"))
    with app.app_context():
        db.session.add(Meter(contract_id=contract, serial="SN-1", installed_on=date(2020, 1, 1)))
        db.session.commit()
    run(runner, WINDOW_DAY)
    debt, reminder = sorted(mailbox.messages, key=lambda m: m["Subject"])
    assert debt["Subject"] == "Overdue debt on contract EL-1"
    assert "Overdue debt: €120.00" in mailbox.text(debt)
    assert "in all" not in mailbox.text(debt) and "in all" not in mailbox.html(debt)
    text = mailbox.text(reminder)
    assert "Waiting for readings: contract EL-1." in text and "more contract" not in text
    assert "then the Readings tab" in text
    assert mailbox.links(reminder)[0] == "http://my.utility.example/electricity/EL-1/readings"


def test_a_chains_document_notice_says_what_was_invoiced_in_all(
    app, runner, mailbox, tmp_path, ann
):
    """600 documents of 300 shops: the mail listed 20 and counted the rest, so the customer
    could not tell from it what the month's invoices come to."""
    shops(app, ann, 300)
    rows = [DOCUMENTS_CSV.splitlines()[0]]
    for n in range(1, 301):
        for kind in ("invoice", "vat_invoice"):
            due = "2026-03-20" if kind == "invoice" else ""
            rows.append(
                f"SHOP-{n:04};{kind};{kind[0].upper()}-{n};2026-03-05;2026-02;{due};"
                "100.01;27;27.00;127.01"
            )
    import_documents(runner, tmp_path, "\n".join(rows) + "\n")
    run(runner, DAY)
    [message] = mailbox.messages
    assert message["Subject"] == "600 new documents in My Account"
    text, html = mailbox.text(message), mailbox.html(message)
    assert "300 new invoices, €38,103.00 in all." in text
    assert "<strong>300 new invoices, €38,103.00 in all.</strong>" in html
    assert "… and 580 more documents." in text and "… and 580 more documents." in html
