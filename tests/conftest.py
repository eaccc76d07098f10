"""Shared fixtures: an app per test on a fresh database (SQLite, and PostgreSQL when it is
installed), a real SMTP server, a CSRF-aware test client, and a live server for Chromium.

Web tests run once per backend: ask for ``app`` (or ``client``) and you get both, unless the
test is marked ``sqlite_only``. ``LKAPP_REQUIRE_POSTGRES=1`` turns a missing PostgreSQL from a
skip into a failure, as ``LKAPP_REQUIRE_BROWSER=1`` does for Chromium (tests/browser).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import functools
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import jinja2
import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from werkzeug.routing import Rule

from lkapp import create_app
from lkapp.extensions import db

TEST_PASSWORD = "correct horse battery staple"
# Staff must use two-factor sign-in: make_user enrols staff with this TOTP secret, and
# AuthActions.login types its current code (see lkapp.auth.two_factor).
TEST_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
REQUIRE_POSTGRES = os.environ.get("LKAPP_REQUIRE_POSTGRES") == "1"


class CompiledTemplates(jinja2.BytecodeCache):
    """Each template compiled once per test process, not once per test.

    Every test builds its own app, and so its own Jinja environment, which would compile again
    every template the test renders: on a fresh app the sign-in page took 200 ms instead of
    10. All apps here come from ``create_app`` with the same Jinja settings, so their compiled
    code is the same; the key holds the source's checksum, so an edited template compiles anew.
    """

    def __init__(self):
        self.code = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        bucket.code = self.code.get((bucket.key, bucket.checksum))

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.code[bucket.key, bucket.checksum] = bucket.code


Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": CompiledTemplates()}


def _shared_url_builders(compile_builder):
    """Werkzeug compiles two URL builders per rule, per app, from Python source: a fifth of a
    test's time went to it. A builder is a function of the rule's text and parts alone (it
    reads the rule's converters through its ``self`` argument), so the tests' apps share them.
    """
    builders = {}

    def builder(rule: Rule, append_unknown: bool = True):
        defaults = repr(sorted((rule.defaults or {}).items()))
        key = (rule.rule, tuple(rule._trace), defaults, append_unknown)
        if key not in builders:
            builders[key] = compile_builder(rule, append_unknown)
        return builders[key]

    return builder


Rule._compile_builder = _shared_url_builders(Rule._compile_builder)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: run this test on SQLite alone")


# Seconds a test of each folder takes, roughly (a full run on two cores), and the file that
# holds a minute of load on both databases. ``make test`` hands out whole files to its two
# workers in the order below (``--no-loadscope-reorder``): the longest first, so that both end
# together.
SECONDS_PER_TEST = {"browser": 3.5, "system": 4.0, "web": 0.45, "unit": 0.05}
RUNS_FIRST = "tests/system/test_load.py"


def pytest_collection_modifyitems(items):
    def folder_and_file(item) -> tuple[str, str]:
        path = item.nodeid.split("::")[0]
        return path.split("/")[1], path

    tests_per_file = Counter(folder_and_file(item) for item in items)

    def longest_first(item) -> tuple[bool, float]:
        folder, path = folder_and_file(item)
        estimate = SECONDS_PER_TEST.get(folder, 1.0) * tests_per_file[folder, path]
        return path != RUNS_FIRST, -estimate

    items.sort(key=longest_first)


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        backends = ["sqlite"]
        if not metafunc.definition.get_closest_marker("sqlite_only"):
            backends.append("postgresql")
        metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request):
    return request.param


# --- mail -------------------------------------------------------------------------------


class Mailbox:
    """What the SMTP test server received, as parsed messages."""

    TRY_LATER = "451 4.3.0 Try again later (test server)"

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.refuse: bool | str = False  # True: TRY_LATER; or the server's answer to give
        self.delay = 0.0  # seconds the server takes to accept each message

    def clear(self):
        self.messages.clear()
        self.refuse = False
        self.delay = 0.0

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if address.lower() in m["To"].lower()]

    @staticmethod
    def text(message: email.message.EmailMessage) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()

    @staticmethod
    def html(message: email.message.EmailMessage) -> str:
        return message.get_body(preferencelist=("html",)).get_content()

    @classmethod
    def links(cls, message: email.message.EmailMessage) -> list[str]:
        return re.findall(r"https?://[^\s<>\"]+", cls.text(message))


@pytest.fixture(scope="session")
def smtp_server():
    from aiosmtpd.controller import Controller

    box = Mailbox()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            if box.delay:
                await asyncio.sleep(box.delay)
            if box.refuse:
                return box.TRY_LATER if box.refuse is True else box.refuse
            box.messages.append(
                email.message_from_bytes(envelope.content, policy=email.policy.default)
            )
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=free_port())
    controller.start()
    controller.mailbox = box
    yield controller
    controller.stop()


@pytest.fixture
def mailbox(smtp_server) -> Mailbox:
    smtp_server.mailbox.clear()
    return smtp_server.mailbox


# --- databases --------------------------------------------------------------------------


def _migrate(url: str) -> None:
    """Build the schema the way operators do: the Alembic migrations."""
    from flask_migrate import upgrade

    app = create_app(_test_config(url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    _migrate(f"sqlite:///{path}")
    return path


def _pg_bindir() -> Path | None:
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    return None


class PostgresCluster:
    """A throwaway PostgreSQL cluster in a temp dir, on its own port and socket dir."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="lkapp-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def start(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--locale=C.UTF-8",
        )  # fmt: skip
        options = f"-p {self.port} -k {self.root} -c listen_addresses='' -c fsync=off"
        options += " -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.root / "log"),
            "start",
        )

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.root}&port={self.port}"

    def connect(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(self.url(database).replace("+psycopg", ""), autocommit=True)

    def admin(self, sql: str) -> None:
        with self.connect() as conn:
            conn.execute(sql)


@pytest.fixture(scope="session")
def pg_cluster():
    bindir = _pg_bindir()
    if bindir is None:
        if REQUIRE_POSTGRES:
            pytest.fail(
                "PostgreSQL binaries (initdb, pg_ctl) not found and LKAPP_REQUIRE_POSTGRES=1"
            )
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found: install Debian's postgresql")
    cluster = PostgresCluster(bindir)
    cluster.start()
    cluster.admin("CREATE DATABASE lkapp_template")
    _migrate(cluster.url("lkapp_template"))
    yield cluster
    cluster.stop()


# What makes two databases of the cluster the same schema: tables, columns, indexes,
# sequences, constraints, triggers, functions and the Alembic revision.
_SCHEMA = """
SELECT md5(string_agg(part, ';' ORDER BY part)) FROM (
    SELECT c.relkind::text || ' ' || c.relname || ' ' || coalesce(string_agg(
        a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull
        || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''), ',' ORDER BY a.attnum), '') AS part
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    GROUP BY c.oid, c.relkind, c.relname
    UNION ALL SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL SELECT 'function ' || proname FROM pg_proc
        WHERE pronamespace = 'public'::regnamespace
    UNION ALL SELECT 'schema ' || nspname FROM pg_namespace
    UNION ALL SELECT 'revision ' || version_num FROM alembic_version
) AS parts
"""


def _names(conn, query: str) -> list:
    from psycopg import sql

    return [sql.Identifier(name) for (name,) in conn.execute(query)]


class PostgresDatabases:
    """Databases for the tests of one worker, each as the migrated template left it.

    Copying the template costs the server about 100 ms, and dropping a database more; a test
    that changed no schema leaves a database that a few DELETEs make as new (the template
    holds no rows but the Alembic revision), so it is emptied and handed to the next test.
    """

    def __init__(self, cluster: PostgresCluster):
        from psycopg import sql

        self.cluster = cluster
        self.free: list[str] = []
        self.names = (f"t{os.getpid()}_{n}" for n in range(1, 10**9))
        with cluster.connect("lkapp_template") as conn:
            self.schema = conn.execute(_SCHEMA).fetchone()[0]
            tables = _names(conn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            sequences = _names(
                conn, "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
            )
            data = [table for table in tables if table.as_string(conn) != '"alembic_version"']
            empty = sql.SQL(" UNION ALL ").join(
                sql.SQL("SELECT count(*) FROM {}").format(table) for table in data
            )
            assert {count for (count,) in conn.execute(empty)} == {0}
            self.emptying = (
                sql.SQL(";")
                .join(
                    [
                        sql.SQL("SET session_replication_role = replica"),  # no foreign-key order
                        *(sql.SQL("DELETE FROM {}").format(table) for table in data),
                        *(sql.SQL("ALTER SEQUENCE {} RESTART").format(seq) for seq in sequences),
                    ]
                )
                .as_string(conn)
            )

    def take(self) -> str:
        if self.free:
            return self.free.pop()
        name = next(self.names)
        self.cluster.admin(f"CREATE DATABASE {name} TEMPLATE lkapp_template")
        return name

    def give_back(self, name: str) -> None:
        import psycopg

        try:
            with self.cluster.connect(name) as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                if conn.execute(_SCHEMA).fetchone()[0] == self.schema:
                    conn.execute(self.emptying)
                    self.free.append(name)
                    return
        except psycopg.Error:
            pass  # a schema the test broke: the database goes
        self.cluster.admin(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def pg_databases(pg_cluster) -> PostgresDatabases:
    return PostgresDatabases(pg_cluster)


@pytest.fixture
def database_url(backend, request, tmp_path):
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "lkapp.sqlite3"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    databases = request.getfixturevalue("pg_databases")
    name = databases.take()
    yield databases.cluster.url(name)
    databases.give_back(name)


# --- the app ----------------------------------------------------------------------------


def _test_config(url: str, **overrides) -> dict:
    config = {
        "TESTING": True,
        "ENV": "development",
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": url,
        "MAIL_SERVER": "",
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": None,
    }
    config.update(overrides)
    return config


class Client(FlaskClient):
    """A test client that sends a valid CSRF token with every form, like a browser would.

    Pass ``csrf=False`` to ``post`` to send none (to test that it is refused).
    """

    def _csrf_token(self) -> str:
        with self.session_transaction() as session:
            raw = session.get("csrf_token")
            if raw is None:
                raw = session["csrf_token"] = secrets.token_hex(20)
        serializer = URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token")
        return serializer.dumps(raw)

    def post(self, *args, csrf: bool = True, **kwargs):
        if csrf:
            data = kwargs.setdefault("data", {})
            if isinstance(data, dict) and "csrf_token" not in data:
                data["csrf_token"] = self._csrf_token()
        return super().post(*args, **kwargs)

    def htmx(self, method: str, url: str, **kwargs):
        """An HTMX request: the headers htmx 2 sends (with the CSRF header for writes)."""
        headers = {"HX-Request": "true", "HX-Current-URL": "http://localhost/"}
        headers.update(kwargs.pop("headers", {}))
        if method.upper() != "GET":
            headers["X-CSRFToken"] = self._csrf_token()
            return self.open(url, method=method.upper(), headers=headers, **kwargs)
        return self.open(url, method="GET", headers=headers, **kwargs)

    def open(self, *args, buffered: bool = True, **kwargs):
        """Like a WSGI server, read the whole body and close the response before returning,
        so what the app does on close (mail sent after the answer, see lkapp.auth.mails) has
        happened when the test looks."""
        return super().open(*args, buffered=buffered, **kwargs)


@pytest.fixture
def app_config(database_url, smtp_server):
    """Settings of the test app; a test may change them before it asks for ``app``."""
    return _test_config(
        database_url,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp_server.port,
        MAIL_SUPPRESS_SEND=False,
        MAIL_DEFAULT_SENDER="My Account <no-reply@lkapp.test>",
    )


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    app.test_client_class = Client
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app) -> Client:
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@functools.cache
def hashed_test_password() -> str:
    """One argon2 hash of ``TEST_PASSWORD`` for every account the tests make (each hash costs
    20 ms of CPU on purpose)."""
    from lkapp.security import hash_password

    return hash_password(TEST_PASSWORD)


@pytest.fixture
def make_user(app):
    """Create an account directly in the database (confirmed unless told otherwise).

    Staff accounts get two-factor sign-in with ``TEST_TOTP_SECRET`` unless ``totp_secret`` is
    given (``totp_secret=None`` for a staff account that has not set it up yet).
    """
    from lkapp.models import User, utcnow

    password_hash = hashed_test_password()

    def make(email="ann@example.com", role="customer", confirmed=True, **fields):
        if role != "customer":
            fields.setdefault("totp_secret", TEST_TOTP_SECRET)
        with app.app_context():
            user = User(
                email=email,
                password_hash=password_hash,
                name=fields.pop("name", "Ann's Bakery Ltd"),
                tax_id=fields.pop("tax_id", "7701234567"),
                phone=fields.pop("phone", "+36 1 555 0101"),
                role=role,
                confirmed_at=utcnow() if confirmed else None,
                **fields,
            )
            db.session.add(user)
            db.session.commit()
            return user.id

    return make


class AuthActions:
    def __init__(self, client: Client):
        self.client = client

    def login(self, email="ann@example.com", password=TEST_PASSWORD, **extra):
        """Sign in; for an account with two-factor sign-in, also type the app's current code.

        Returns the last response: the redirect to where the user lands.
        """
        response = self.client.post("/login", data={"email": email, "password": password, **extra})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        if response.headers["Location"].startswith("/login/two-factor"):
            response = self.client.post(
                response.headers["Location"], data={"code": self.totp_code(email)}
            )
            assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response

    def totp_code(self, email: str) -> str:
        """The current code of the account's app; the account forgets the last code used,
        so that a test may sign in twice within 30 seconds."""
        import pyotp
        import sqlalchemy as sa

        from lkapp.models import User

        with self.client.application.app_context():
            user = db.session.scalar(
                sa.select(User).where(sa.func.lower(User.email) == email.lower())
            )
            user.totp_last_step = None
            db.session.commit()
            return pyotp.TOTP(user.totp_secret).now()

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


# Tags inside a line of text: a reader sees no gap where they open or close ("INV-2, due").
_INLINE_TAG = re.compile(r"</?(?:a|abbr|b|bdi|code|em|i|kbd|small|span|strong|time)\b[^>]*>")


def text_of(html: str) -> str:
    """A page as a reader sees it: tags out (a gap for each but those inside a line), spaces
    folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", _INLINE_TAG.sub("", html)))


# --- a live server and Chromium ---------------------------------------------------------


def move_events_back(app, action: str, minutes: int) -> None:
    """Move the audit trail's ``action`` events ``minutes`` into the past, as if they had
    happened that long ago."""
    import sqlalchemy as sa

    from lkapp.models import AuditEvent

    with app.app_context():
        for event in db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)):
            event.created_at -= timedelta(minutes=minutes)
        db.session.commit()


@pytest.fixture
def live_server(app):
    """The test app served over HTTP in a thread, for the browser."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        """No access log line per request: werkzeug's log handler writes to the stderr of
        the moment it was made, which pytest may have closed by the time a late asset
        (a favicon) is answered ("--- Logging error ---" in 2 of some 17 CI runs)."""

        def log_request(self, code="-", size="-"):
            pass

    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=QuietHandler)
    # Checked for shutdown every 50 ms, not every 500: each browser test waits for it.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{port}"
    yield server
    server.shutdown()
    thread.join(timeout=5)
    # Requests still in flight (an asset of the page just closed) finish before the test's
    # database and log capture go away.
    for request_thread in list(getattr(server, "_threads", [])):
        request_thread.join(timeout=5)
    server.socket.close()


def _chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    executable = _chromium_path()
    if executable is None:
        if os.environ.get("LKAPP_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium not found and LKAPP_REQUIRE_BROWSER=1: install Debian's chromium")
        pytest.skip("Chromium not found: install Debian's chromium to run browser tests")
    from playwright.sync_api import sync_playwright

    home = tmp_path_factory.mktemp("xdg")
    os.environ["XDG_CACHE_HOME"] = str(home / "cache")
    os.environ["XDG_CONFIG_HOME"] = str(home / "config")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_context_options():
    """Options of the browser context; a test overrides it for JavaScript off or a phone."""
    return {}


@pytest.fixture
def answered_statuses() -> tuple[int, ...]:
    """The 4xx statuses the pages under test answer on purpose: Chromium logs each as a
    console error. 422 is a form answered with its errors; a module that tests others (a 400
    to a stale form, a 413 to too large a file) overrides this."""
    return (422,)


@pytest.fixture
def page(chromium, live_server, browser_context_options, answered_statuses):
    """A fresh Chromium page; console errors and CSP violations fail the test."""
    context = chromium.new_context(base_url=live_server.url, **browser_context_options)
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    answers = tuple(f"status of {status}" for status in answered_statuses)

    def on_console(message):
        if message.type == "error" and not any(answer in message.text for answer in answers):
            problems.append(f"console {message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    yield page
    context.close()
    assert not problems, "\n".join(problems)


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy (for mail and background work)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    return predicate()


# --- tools no one here wrote: the W3C Nu HTML checker and axe-core ------------------------

NODE_MODULES = Path(__file__).resolve().parents[1] / "node_modules"


@pytest.fixture(scope="session")
def html_checker():
    """The Nu HTML checker (vnu.jar from the npm registry) as a local HTTP service.

    Returns a function that checks one HTML document and fails the test on any error.
    """
    import json
    import urllib.request

    jar = NODE_MODULES / "vnu-jar/build/dist/vnu.jar"
    java = shutil.which("java")
    if java is None or not jar.exists():
        if os.environ.get("LKAPP_REQUIRE_BROWSER") == "1":
            pytest.fail("java or node_modules/vnu-jar missing and LKAPP_REQUIRE_BROWSER=1")
        pytest.skip("java or node_modules/vnu-jar missing: the HTML checker cannot run")
    port = free_port()
    process = subprocess.Popen(
        [
            java,
            "-Xss8m",
            "-cp",
            str(jar),
            "-Dnu.validator.servlet.bind-address=127.0.0.1",
            "nu.validator.servlet.Main",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/?out=json"

    def check(html: str, name: str = "page") -> None:
        request = urllib.request.Request(
            url, data=html.encode(), headers={"Content-Type": "text/html; charset=utf-8"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - localhost
            messages = json.load(response)["messages"]
        errors = [m for m in messages if m["type"] == "error"]
        assert not errors, f"{name}: " + "\n".join(
            f"line {m.get('lastLine')}: {m['message']} [{m.get('extract', '')}]" for m in errors
        )

    def ready():
        try:
            check("<!doctype html><html lang=en><title>t</title></html>")
        except OSError:
            return False
        return True

    if not wait_for(ready, timeout=60, interval=0.5):
        process.kill()
        pytest.fail("the Nu HTML checker did not start")
    yield check
    process.terminate()
    process.wait(timeout=10)


@contextlib.contextmanager
def statements_run(app):
    """The SQL statements the app runs inside the block, each with its parameters."""
    from sqlalchemy import event

    seen = []
    with app.app_context():
        engine = db.engine

    def listener(_conn, _cursor, statement, parameters, *_args):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def swapped(text: str) -> str:
    """An htmx answer without the page title that leads it (htmx moves the title into the
    document's head): what is swapped into the page."""
    return re.sub(r"^\s*(<title>[^<]*</title>\s*)?", "", text)


def check_fragment(check, fragment: str, name: str = "fragment") -> None:
    """Check an HTMX partial by wrapping it in a minimal valid document: its leading
    ``<title>`` (which htmx moves to the document's head) in the head, the rest in the body."""
    title = re.match(r"<title>[^<]*</title>", fragment)
    head, body = (
        (title.group(0), fragment[title.end() :]) if title else ("<title>t</title>", fragment)
    )
    check(f"<!doctype html><html lang=en><head>{head}</head><body>{body}</body></html>", name)


def axe_violations(page, impacts=("serious", "critical")) -> list[str]:
    """Run axe-core (WCAG 2.x A/AA rules) in ``page``; the serious and critical violations."""
    # Evaluated through DevTools, not as a <script> tag, so the page's CSP stays as it is.
    page.evaluate((NODE_MODULES / "axe-core/axe.min.js").read_text())
    result = page.evaluate(
        """async () => await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in impacts
    ]


def card_cells(page, row: str) -> list[dict]:
    """The cells of the table row ``row`` (a CSS selector) as the page lays them out: text,
    the label a phone card shows above it (``::before``, "none" for none) and the box."""
    return page.evaluate(
        """row => [...document.querySelector(row).children].map(c => ({
            text: c.innerText.trim(), label: getComputedStyle(c, '::before').content,
            left: c.getBoundingClientRect().left, right: c.getBoundingClientRect().right,
            top: c.getBoundingClientRect().top}))""",
        row,
    )


def sideways_tables(page) -> list[str]:
    """The table regions of the page that need scrolling sideways to be read whole: their
    names, with the width of the table and of the region."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.table-wrap')]
            .filter(e => e.scrollWidth > e.clientWidth + 1)
            .map(e => `${e.getAttribute('aria-label') || e.getAttribute('aria-labelledby')}:`
                      + ` ${e.scrollWidth}/${e.clientWidth}`)"""
    )


# --- accounts: captcha and mail helpers -------------------------------------------------


@pytest.fixture
def captcha_solver(app):
    """Answer the captcha on a page as a person reading the picture would.

    The answer is derived from the challenge id with the secret key (lkapp.services.captcha),
    so a test can compute it; returns the form fields ``captcha_id`` and ``captcha``.
    """

    def solve(html: str) -> dict:
        from lkapp.services.captcha import answer_for

        match = re.search(r'name="captcha_id" value="([^"]+)"', html)
        assert match, "no captcha on the page"
        with app.app_context():
            return {"captcha_id": match.group(1), "captcha": answer_for(match.group(1))}

    return solve


# --- billing history: contracts, documents, payments (payments and debt tests) -----------


class Ledger:
    """Build a contract's billing history with the ORM, then allocate its payments the way
    an import does (``lkapp.services.billing.allocation.reallocate``)."""

    def __init__(self, app):
        self.app = app

    def contract(self, number="EL-0000042", account_id=None, **fields) -> int:
        from lkapp.models import Contract, utcnow

        with self.app.app_context():
            row = Contract(
                number=number,
                holder_name=fields.pop("holder_name", "Tisza Bakery Kft."),
                tax_id=fields.pop("tax_id", "12345678-2-42"),
                address=fields.pop("address", "Budapest, Fő utca 1."),
                account_id=account_id,
                attached_at=utcnow() if account_id else None,
                **fields,
            )
            db.session.add(row)
            db.session.commit()
            return row.id

    @staticmethod
    def document(contract_id, number, issued_on, due_on, total, kind="invoice", period=None):
        """An unsaved Document (for ``add``): net + VAT at 27 % make up ``total``."""
        from decimal import Decimal

        from lkapp.models import Document

        total = Decimal(total)
        net = (total / Decimal("1.27")).quantize(Decimal("0.01"))
        return Document(
            contract_id=contract_id,
            kind=kind,
            number=number,
            issued_on=issued_on,
            period=period or issued_on.replace(day=1),
            due_on=due_on if kind == "invoice" else None,
            net=net,
            vat_rate=Decimal("27"),
            vat=total - net,
            total=total,
        )

    @staticmethod
    def payment(contract_id, paid_on, amount, reference=""):
        from decimal import Decimal

        from lkapp.models import Payment

        return Payment(
            contract_id=contract_id, paid_on=paid_on, amount=Decimal(amount), reference=reference
        )

    def add(self, *rows, allocate=True) -> list[int]:
        """Save ``rows`` (documents, payments) and reallocate their contracts; their ids."""
        with self.app.app_context():
            db.session.add_all(rows)
            db.session.commit()
            ids = [row.id for row in rows]
            contract_ids = {row.contract_id for row in rows}
        if allocate:
            self.allocate(contract_ids)
        return ids

    def allocate(self, contract_ids) -> None:
        from lkapp.services.billing.allocation import reallocate
        from lkapp.services.billing.bulk import Bulk

        with self.app.app_context(), db.engine.begin() as conn:
            reallocate(Bulk(conn), contract_ids)


@pytest.fixture
def ledger(app) -> Ledger:
    return Ledger(app)
