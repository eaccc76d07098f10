"""Load: 50 customers at once against gunicorn on SQLite and 50 more against gunicorn on
PostgreSQL, both in the same minute, with the mail server down the whole time.

Each customer is a thread with its own browser (``WebClient``) and its own address (the
``X-Forwarded-For`` of the nginx in front: per-IP sign-in limits stay as deployed). For
``LKAPP_LOAD_SECONDS`` (default 60; set it lower for a quick local run) it goes round: the
dashboard, the Documents tab (the page, then the table as htmx asks for it), a document's page
and its PDF, the Readings tab, a month's readings of one meter (each time a little higher, so
they are accepted; half of the customers submit as htmx does, half as a plain form) and the
receipt; every few rounds it signs out and in again.

Every request counts; a failure is a transport error (a timeout included), a 5xx, or any other
status than the step expects (a 503 too). Afterwards: no failed request, nothing in the
server's log but the mail server's absence; every reading the server confirmed is in the
database and, per meter and zone, the live one is the last the customer sent; every receipt is
in the outbox, unsent; with the mail server back, ``flask outbox send`` delivers each exactly
once and a second run sends nothing.

The data are the demo generator's (``lkapp.services.demo``: contracts with meters, a year of
readings, invoices with their lines), with each of 50 active contracts attached to its own
customer account: a second or so on either backend.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import statistics
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
import sqlalchemy as sa

from lkapp import create_app
from lkapp.extensions import db
from lkapp.models import Contract, Document, Meter, OutboxMail, Reading, User, utcnow
from lkapp.readings import clock
from lkapp.security import hash_password
from lkapp.services import demo
from tests.conftest import TEST_PASSWORD, _test_config, free_port
from tests.system.conftest import Response

LOAD_SECONDS = float(os.environ.get("LKAPP_LOAD_SECONDS", "60"))
CUSTOMERS = 50
WORKERS = 4  # deploy/gunicorn.conf.py: two per core, on the two-core VPS the portal is sized for
SIGN_IN_AGAIN_EVERY = 5  # rounds
DOCUMENTS_EACH = 3  # the latest invoices a customer looks at (and downloads)
STEP = Decimal("0.01")  # how much higher each submission is: far from the "3x average" check
TIMEOUT = 60.0  # the other xdist worker runs tests meanwhile: slow is not failed


# --- data -------------------------------------------------------------------------------


@dataclass
class LoadMeter:
    id: int
    serial: str
    zones: list[str]
    base: dict[str, Decimal]  # the last month's live readings
    sent: int = 0  # submissions so far

    def next_values(self) -> dict[str, Decimal]:
        self.sent += 1
        return {zone: self.base[zone] + STEP * self.sent for zone in self.zones}


@dataclass
class Account:
    index: int
    email: str
    number: str
    meters: list[LoadMeter]
    invoices: list[str]

    @property
    def ip(self) -> str:
        return f"10.0.{self.index // 250}.{self.index % 250 + 1}"


def build_accounts(app) -> list[Account]:
    """Demo data, then each of ``CUSTOMERS`` active contracts attached to an account of its own
    (one password hash for all: hashing is what sign-in costs, not what setup should)."""
    with app.app_context():
        demo.generate(CUSTOMERS + 15, 1, seed=11, today=clock.local_today())
        removed = sa.select(Meter.contract_id).where(Meter.removed_on.is_not(None))
        contracts = db.session.scalars(
            sa.select(Contract)
            .where(Contract.status == "active", Contract.id.not_in(removed))
            .order_by(Contract.id)
            .limit(CUSTOMERS)
        ).all()
        assert len(contracts) == CUSTOMERS
        password_hash = hash_password(TEST_PASSWORD)
        now = utcnow()
        accounts = []
        for index, contract in enumerate(contracts):
            user = User(
                email=f"load{index:02d}@example.com",
                password_hash=password_hash,
                name=contract.holder_name,
                tax_id=contract.tax_id,
                role="customer",
                confirmed_at=now,
            )
            db.session.add(user)
            contract.account = user
            contract.attached_at = now
            accounts.append(Account(index, user.email, contract.number, [], []))
        db.session.flush()

        by_number = {account.number: account for account in accounts}
        ids = [contract.id for contract in contracts]
        live = defaultdict(dict)
        for meter_id, zone, value in db.session.execute(
            sa.select(Reading.meter_id, Reading.zone, Reading.value)
            .join(Meter, Meter.id == Reading.meter_id)
            .where(Meter.contract_id.in_(ids), Reading.status != "superseded")
            .order_by(Reading.period)
        ):
            live[meter_id][zone] = value
        for meter, number in db.session.execute(
            sa.select(Meter, Contract.number)
            .join(Contract, Contract.id == Meter.contract_id)
            .where(Contract.id.in_(ids))
            .order_by(Meter.id)
        ):
            by_number[number].meters.append(
                LoadMeter(meter.id, meter.serial, meter.zone_list, live[meter.id])
            )
        for contract in contracts:
            by_number[contract.number].invoices = list(
                db.session.scalars(
                    sa.select(Document.number)
                    .where(Document.contract_id == contract.id, Document.kind == "invoice")
                    .order_by(Document.issued_on.desc())
                    .limit(DOCUMENTS_EACH)
                )
            )
        db.session.commit()
    assert all(a.meters and len(a.invoices) == DOCUMENTS_EACH for a in accounts)
    return accounts


# --- the load ---------------------------------------------------------------------------


class StepFailed(Exception):
    pass


@dataclass
class Tally:
    """What every customer saw: latencies and failures per step, the readings accepted."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    submissions: list[tuple[str, int, dict[str, Decimal]]] = field(default_factory=list)

    def record(self, step: str, seconds: float, problem: str | None) -> None:
        with self.lock:
            self.seconds[step].append(seconds)
            if problem:
                self.failures[step] += 1
                self.problems.append(f"{step}: {problem}")

    def accept(self, email: str, meter_id: int, values: dict[str, Decimal]) -> None:
        with self.lock:
            self.submissions.append((email, meter_id, values))

    @property
    def readings(self) -> list[tuple[int, str, Decimal]]:
        """(meter, zone, value) of every reading the server confirmed, in the order sent."""
        return [(m, zone, v) for _e, m, values in self.submissions for zone, v in values.items()]

    def summary(self, label: str, elapsed: float) -> str:
        def ms(values: list[float], p: float) -> float:
            ordered = sorted(values)
            return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

        total = sum(len(v) for v in self.seconds.values())
        lines = [
            f"{label}: {total} requests in {elapsed:.0f} s ({total / elapsed:.0f}/s), "
            f"{sum(self.failures.values())} failed",
            f"{'step':<22}{'requests':>9}{'failed':>8}{'p50 ms':>9}{'p99 ms':>9}",
        ]
        for step, values in self.seconds.items():
            lines.append(
                f"{step:<22}{len(values):>9}{self.failures[step]:>8}"
                f"{statistics.median(values) * 1000:>9.0f}{ms(values, 99):>9.0f}"
            )
        return "\n".join(lines)


class Customer:
    """One customer in one browser, going round the portal until ``deadline``."""

    def __init__(self, server, account: Account, tally: Tally, deadline: float):
        self.server = server
        self.account = account
        self.tally = tally
        self.deadline = deadline
        self.htmx = account.index % 2 == 1
        self.web = server.client(timeout=TIMEOUT)
        self.contract = f"/electricity/{account.number}"

    def call(self, step: str, method: str, path: str, expect: int, check=None, **kwargs):
        headers = {"X-Forwarded-For": self.account.ip, **kwargs.pop("headers", {})}
        began = time.perf_counter()
        try:
            response = self.web.request(method, path, headers=headers, **kwargs)
        except (OSError, http.client.HTTPException) as error:
            problem = f"{method} {path}: {type(error).__name__}: {error}"
            self.tally.record(step, time.perf_counter() - began, problem)
            raise StepFailed from error
        seconds = time.perf_counter() - began
        problem = None
        if response.status != expect:
            problem = f"{response.status}, expected {expect}: {excerpt(response)}"
        elif check is not None:
            problem = check(response)
        self.tally.record(step, seconds, problem and f"{method} {path}: {problem}")
        if problem:
            raise StepFailed
        return response

    def sign_in(self) -> None:
        self.call("sign-in form", "GET", "/login", 200, has('name="csrf_token"'))
        form = {"email": self.account.email, "password": TEST_PASSWORD}
        self.call("sign-in", "POST", "/login", 302, goes_to("/"), form=form)

    def sign_out(self) -> None:
        self.call("sign-out", "POST", "/logout", 302, goes_to("/"), form={})

    def browse(self, round_: int) -> None:
        number, contract = self.account.number, self.contract
        self.call("dashboard", "GET", "/", 200, has(number))
        invoice = self.account.invoices[round_ % DOCUMENTS_EACH]
        documents = f"{contract}/documents"
        self.call("documents", "GET", documents, 200, has(invoice, "<html"))
        htmx = {"HX-Request": "true", "HX-Target": "document-results"}
        self.call(
            "documents (htmx)",
            "GET",
            f"{documents}?kind=invoice",
            200,
            fragment_with(invoice),
            headers={**htmx, "HX-Current-URL": self.server.url + documents},
        )
        page = f"{documents}/invoice/{urllib.parse.quote(invoice)}"
        self.call("document", "GET", page, 200, has(invoice))
        self.call("document PDF", "GET", f"{page}/pdf", 200, is_pdf)

    def submit_reading(self, round_: int) -> None:
        meter = self.account.meters[round_ % len(self.account.meters)]
        tab = f"{self.contract}/readings"
        self.call("readings", "GET", tab, 200, has(f'id="reading-form-{meter.id}"'))
        values = meter.next_values()
        form = {zone: str(value) for zone, value in values.items()}
        receipt = re.compile(rf"{re.escape(tab)}/meters/{meter.id}/\d{{4}}-\d{{2}}")
        if self.htmx:
            headers = {"HX-Request": "true", "HX-Current-URL": self.server.url + tab}
            step, status = "submit reading (htmx)", 204
        else:
            headers, step, status = {}, "submit reading", 302
        answer = self.call(
            step,
            "POST",
            f"{tab}/meters/{meter.id}",
            status,
            lambda r: redirects(r, receipt),
            form=form,
            headers=headers,
        )
        self.tally.accept(self.account.email, meter.id, values)
        self.call(
            "receipt",
            "GET",
            urllib.parse.urlsplit(answer.location).path,
            200,
            has(f"Receipt: meter {meter.serial}", "Readings received."),
        )

    def run(self) -> None:
        signed_in = False
        round_ = 0
        while time.perf_counter() < self.deadline:
            try:
                if not signed_in:
                    self.sign_in()
                    signed_in = True
                elif round_ % SIGN_IN_AGAIN_EVERY == self.account.index % SIGN_IN_AGAIN_EVERY:
                    signed_in = False
                    self.sign_out()
                    self.sign_in()
                    signed_in = True
                self.browse(round_)
                self.submit_reading(round_)
            except StepFailed:
                # Counted already; start again from a fresh browser, as a person would.
                self.web = self.server.client(timeout=TIMEOUT)
                signed_in = False
            round_ += 1


def excerpt(response: Response) -> str:
    """The messages a page shows for an error, else the start of the body."""
    messages = re.findall(r'class="(?:form-)?error"[^>]*>\s*(.*?)\s*<', response.text, re.S)
    return "; ".join(messages) if messages else repr(response.text[:300])


def has(*texts: str):
    def check(response: Response) -> str | None:
        missing = [text for text in texts if text not in response.text]
        return f"missing {missing}" if missing else None

    return check


def fragment_with(text: str):
    def check(response: Response) -> str | None:
        if "<html" in response.text:
            return "a whole page, not the fragment htmx asked for"
        return has(text)(response)

    return check


def goes_to(path: str):
    def check(response: Response) -> str | None:
        target = urllib.parse.urlsplit(response.location or "").path
        return None if target == path else f"redirects to {response.location!r}, not {path}"

    return check


def redirects(response: Response, pattern: re.Pattern) -> str | None:
    target = urllib.parse.urlsplit(response.location or "").path
    return None if pattern.fullmatch(target) else f"redirects to {response.location!r}"


def is_pdf(response: Response) -> str | None:
    if response.headers.get("Content-Type") != "application/pdf":
        return f"Content-Type {response.headers.get('Content-Type')}"
    return None if response.body.startswith(b"%PDF-") else "no %PDF- header"


def run_load(server, accounts: list[Account]) -> tuple[Tally, float]:
    tally = Tally()
    crashed: list[BaseException] = []
    began = time.perf_counter()
    deadline = began + LOAD_SECONDS

    def customer(account: Account) -> None:
        try:
            Customer(server, account, tally, deadline).run()
        except Exception as error:  # noqa: BLE001 - a bug of this test: fail, do not hide it
            crashed.append(error)

    threads = [threading.Thread(target=customer, args=(a,), daemon=True) for a in accounts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=LOAD_SECONDS + 10 * TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a customer never finished"
    assert not crashed, crashed
    return tally, time.perf_counter() - began


# --- the test ---------------------------------------------------------------------------


@dataclass
class Stand:
    """One backend under load: its database, the app that checks it, its server, its tally."""

    backend: str
    app: object
    accounts: list[Account] = field(default_factory=list)
    server: object = None
    tally: Tally | None = None
    elapsed: float = 0.0


def postgres_url(request) -> str | None:
    """A database of the test cluster; None where PostgreSQL is not installed (a failure
    instead with ``LKAPP_REQUIRE_POSTGRES=1``, as for every other test)."""
    try:
        databases = request.getfixturevalue("pg_databases")
    except pytest.skip.Exception as skipped:
        print(f"\nPostgreSQL left out: {skipped}")
        return None
    name = databases.take()
    request.addfinalizer(lambda: databases.give_back(name))
    return databases.cluster.url(name)


def test_fifty_customers_on_each_backend_lose_nothing_while_the_mail_server_is_down(
    request, sqlite_template, smtp_server, mailbox, gunicorn_server, tmp_path
):
    """SQLite and PostgreSQL under load in the same minute: 100 customers on two cores."""
    sqlite_path = tmp_path / "lkapp.sqlite3"
    shutil.copyfile(sqlite_template, sqlite_path)
    urls = {"sqlite": f"sqlite:///{sqlite_path}", "postgresql": postgres_url(request)}
    stands = []
    for backend, url in urls.items():
        if url is None:
            continue
        app = create_app(
            _test_config(
                url,
                MAIL_SERVER="127.0.0.1",
                MAIL_PORT=smtp_server.port,
                MAIL_SUPPRESS_SEND=False,
                MAIL_DEFAULT_SENDER="My Account <no-reply@lkapp.test>",
            )
        )
        request.addfinalizer(lambda app=app: dispose(app))
        stand = Stand(backend, app, build_accounts(app))
        stand.server = gunicorn_server(
            url,
            workers=WORKERS,
            smtp_port=free_port(),  # nothing listens there: the mail server is down
            LKAPP_TRUSTED_PROXIES="1",
            LKAPP_INSTANCE_PATH=str(tmp_path / f"instance-{backend}"),  # an empty PDF cache
        )
        stands.append(stand)

    def load(stand: Stand) -> None:
        stand.tally, stand.elapsed = run_load(stand.server, stand.accounts)

    runs = [threading.Thread(target=load, args=(stand,)) for stand in stands]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    for stand in stands:
        stand.server.stop()
        label = f"{stand.backend}, {CUSTOMERS} customers, {WORKERS} workers"
        print("\n" + stand.tally.summary(label, stand.elapsed))
    for stand in stands:
        mailbox.clear()
        lost_nothing(stand, mailbox)


def lost_nothing(stand: Stand, mailbox) -> None:
    """No failed request, every confirmed reading stored, every receipt sent once, later."""
    tally, app, accounts = stand.tally, stand.app, stand.accounts
    assert not tally.failures, f"{stand.backend}: " + "\n".join(tally.problems[:20])
    # The server's log: no traceback, no worker timeout; only the mail server's absence.
    noted = [
        line
        for line in stand.server.log_path.read_text(errors="replace").splitlines()
        if any(word in line for word in ("Traceback", "ERROR", "CRITICAL", "WARNING"))
    ]
    assert all("Mail server unavailable" in line for line in noted), noted[:10]
    assert {email for email, *_ in tally.submissions} == {a.email for a in accounts}

    # Every reading the server confirmed is stored; the live one is the last one sent.
    readings = tally.readings
    last = {(meter_id, zone): value for meter_id, zone, value in readings}
    with app.app_context():
        rows = db.session.execute(
            sa.select(Reading.meter_id, Reading.zone, Reading.value, Reading.status).where(
                Reading.source == "portal"
            )
        ).all()
        assert len(rows) == len(readings)
        assert Counter((m, zone, value) for m, zone, value, _ in rows) == Counter(readings)
        live = {(m, zone): value for m, zone, value, status in rows if status != "superseded"}
        assert live == last

        # Each confirmed submission queued one receipt; none could be sent.
        outbox = db.session.scalars(sa.select(OutboxMail).order_by(OutboxMail.id)).all()
        assert Counter(mail.recipient for mail in outbox) == Counter(
            email for email, *_ in tally.submissions
        )
        # The first tried and failed; later requests left theirs to the timer instead of
        # trying a server that had just failed (each would wait for its timeout).
        assert all(mail.sent_at is None and mail.given_up_at is None for mail in outbox)
        tried = [mail for mail in outbox if mail.attempts]
        assert tried and all(mail.attempts == 1 for mail in tried)
        assert all("Connection refused" in mail.last_error for mail in tried)
        assert all(mail.last_error == "" for mail in outbox if not mail.attempts)
        queued = {mail.id for mail in outbox}

    # The mail server is back: the outbox goes out, each message once.
    runner = app.test_cli_runner()
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    assert f"Sent {len(queued)} message(s); 0 failed" in result.output, result.output
    delivered = [int(message["X-Lkapp-Outbox-Id"]) for message in mailbox.messages]
    assert sorted(delivered) == sorted(queued)
    again = runner.invoke(args=["outbox", "send"])
    assert again.exit_code == 0 and "Sent 0 message(s)" in again.output
    assert len(mailbox.messages) == len(queued)
    with app.app_context():
        unsent = sa.select(sa.func.count()).where(OutboxMail.sent_at.is_(None))
        assert db.session.scalar(unsent) == 0
    print(
        f"{stand.backend}: {len(tally.submissions)} submissions ({len(readings)} values), "
        f"{len(queued)} mails"
    )


def dispose(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
