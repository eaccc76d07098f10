"""`make bench`: throughput, latency, SQL statements and memory of the portal's pages, measured
against a floor in the same gunicorn configuration and the same run.

    .venv/bin/python -m tests.load.bench

Steps: build (or reuse, from ``.bench/``) SQLite databases of demo data with the demo
generator: ``BENCH_CONTRACTS`` x ``BENCH_YEARS`` (default 100,000 x 5) and a small one of
``BENCH_SMALL_CONTRACTS`` (default 1,000) for the size comparison; start a gunicorn for each
(``deploy/gunicorn.conf.py`` with ``-w 2``, 127.0.0.1 on a free port) serving
``tests.load.floor_app`` (the app plus the floor route and the ``X-SQL-Count`` header, neither
of which ships), sign in as the demo customer and drive every scenario with 16 concurrent
connections for ``BENCH_SECONDS`` (default 6) after a one-second warm-up: every scenario on
the large database, and each HTML page on the small one right after (in turns, which goes
first), one server at a time. Prints the table and writes it into ``docs/benchmarks.md``
(between the ``bench:start``/``bench:end`` markers; the notes around them stay).

The bench's writes (readings submitted, their receipt mails and audit events, sign-in
sessions) are deleted from the cached database after the run, so every run starts from the
same data. ``BENCH_SKIP_SMALL=1`` skips the 1,000-contract run.
"""

from __future__ import annotations

import html
import http.cookiejar
import json
import os
import platform
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from . import driver
from .driver import Request, Result

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".bench"
BIN = Path(sys.executable).parent
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

CONTRACTS = int(os.environ.get("BENCH_CONTRACTS", "100000"))
YEARS = int(os.environ.get("BENCH_YEARS", "5"))
SMALL_CONTRACTS = int(os.environ.get("BENCH_SMALL_CONTRACTS", "1000"))
SEED = int(os.environ.get("BENCH_SEED", "1"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "6"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
FIRST_PDFS = int(os.environ.get("BENCH_FIRST_PDFS", "30"))
WORKERS = 2

CUSTOMER_EMAIL = "demo@example.com"
CUSTOMER_PASSWORD = "demo-portal-2026"  # noqa: S105 - the published demo login

# Targets (issue 10).
HTML_FLOOR_RATIO = 0.5
MAX_SQL = 8
MAX_P99_MS = 100.0
PDF_FLOOR_RATIO = 0.5
FIRST_PDF_MS = 50.0
MAX_RSS_MB = 150.0
SIZE_SPREAD = 0.20
SERVICE_REPEAT = 15  # tests/load/service_times.py


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- databases -----------------------------------------------------------------------------


def app_env(database: Path, instance: Path, **extra: str) -> dict:
    env = dict(os.environ)
    for name in list(env):
        if name.startswith("LKAPP_"):
            del env[name]  # only what the bench sets
    env.update(
        LKAPP_ENV="development",
        LKAPP_INSTANCE_PATH=str(instance),
        LKAPP_DATABASE_URL=f"sqlite:///{database}",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def database_for(contracts: int, years: int) -> Path:
    """The cached database of this size, built with the demo generator when missing."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"lkapp-{contracts}x{years}-s{SEED}.sqlite3"
    flask = [str(BIN / "flask"), "--app", "lkapp"]
    if path.exists():
        log(f"reusing {path.relative_to(ROOT)} (brought to the current schema)")
        env = app_env(path, CACHE / "instance")
        subprocess.run([*flask, "db", "upgrade"], env=env, cwd=ROOT, check=True)
        return path
    building = CACHE / f"building-{contracts}x{years}-s{SEED}.sqlite3"
    for leftover in CACHE.glob(building.name + "*"):
        leftover.unlink()
    env = app_env(building, CACHE / "instance")
    log(f"building {path.name} with the demo generator (this takes a while for 100k)")
    began = time.monotonic()
    nice = ["nice", "-n", "10"]
    subprocess.run([*nice, *flask, "db", "upgrade"], env=env, cwd=ROOT, check=True)
    subprocess.run(
        [*nice, *flask, "demo", "--contracts", str(contracts), "--years", str(years)]
        + ["--seed", str(SEED)],
        env=env,
        cwd=ROOT,
        check=True,
    )
    with sqlite3.connect(building) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode = DELETE")  # one file, safe to rename
    building.rename(path)
    log(f"built in {time.monotonic() - began:.0f} s")
    return path


@dataclass
class Fixture:
    """What the scenarios need from the database: the demo customer's contracts and data."""

    user_id: int
    contracts: list[str]
    meters: list[tuple[int, str, str, dict]]  # id, contract number, zones, last value per zone
    documents: list[tuple[str, str, str]]  # contract number, kind, number (newest first)


def read_fixture(database: Path) -> Fixture:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        (user_id,) = db.execute(
            "SELECT id FROM users WHERE email = ?", (CUSTOMER_EMAIL,)
        ).fetchone()
        contracts = [
            number
            for (number,) in db.execute(
                "SELECT number FROM contracts WHERE account_id = ? ORDER BY id", (user_id,)
            )
        ]
        meters = []
        for meter_id, number, zones in db.execute(
            "SELECT m.id, c.number, m.zones FROM meters m JOIN contracts c ON c.id = m.contract_id"
            " WHERE c.account_id = ? AND m.removed_on IS NULL ORDER BY m.id",
            (user_id,),
        ):
            last = {}
            for zone, value in db.execute(
                "SELECT zone, value FROM readings WHERE meter_id = ? AND status != 'superseded'"
                " AND id IN (SELECT max(id) FROM readings WHERE meter_id = ?"
                " AND status != 'superseded' GROUP BY zone)",
                (meter_id, meter_id),
            ):
                last[zone] = value
            meters.append((meter_id, number, zones, last))
        documents = list(
            db.execute(
                "SELECT c.number, d.kind, d.number FROM documents d"
                " JOIN contracts c ON c.id = d.contract_id WHERE c.account_id = ?"
                " ORDER BY d.issued_on DESC, d.id DESC",
                (user_id,),
            )
        )
    return Fixture(user_id, contracts, meters, documents)


WRITTEN_TABLES = ("readings", "outbox_mail", "audit_events")


def snapshot(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as db:
        return {
            table: db.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]  # noqa: S608
            for table in WRITTEN_TABLES
        }


def undo_writes(database: Path, before: dict[str, int], user_id: int) -> dict[str, int]:
    """Delete what the run wrote, so the cached database stays as the generator made it."""
    removed = {}
    with sqlite3.connect(database) as db:
        for table, last_id in before.items():
            cursor = db.execute(f"DELETE FROM {table} WHERE id > ?", (last_id,))  # noqa: S608
            removed[table] = cursor.rowcount
        cursor = db.execute("DELETE FROM user_sessions WHERE user_id = ?", (user_id,))
        removed["user_sessions"] = cursor.rowcount
    return removed


# --- the server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def window_setting() -> dict:
    """Open the readings window for the bench server when today is outside the default one."""
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Budapest")).date()
    if 15 <= today.day <= 25:
        return {}
    return {"LKAPP_READINGS_WINDOW": "1-28"}


class Server:
    def __init__(self, database: Path, label: str):
        self.port = free_port()
        self.instance = CACHE / f"run-{label}"
        self.instance.mkdir(parents=True, exist_ok=True)
        cache = self.instance / "pdf-cache"
        if cache.exists():
            for path in cache.iterdir():
                path.unlink()
        self.log = CACHE / f"gunicorn-{label}.log"
        self.access_log = self.instance / "access.log"
        self.access_log.unlink(missing_ok=True)
        self.extra = {"LKAPP_BENCH_SQL_COUNT": "1", **window_setting()}
        env = app_env(database, self.instance, **self.extra)
        # The shipped configuration (deploy/gunicorn.conf.py), with two workers, no worker
        # recycling in the middle of a scenario, and the logs in the bench's file.
        command = [
            str(BIN / "gunicorn"),
            "--config", str(ROOT / "deploy" / "gunicorn.conf.py"),
            "--workers", str(WORKERS),
            "--max-requests", "0",
            "--bind", f"127.0.0.1:{self.port}",
            "--access-logfile", str(self.access_log),
            "--error-logfile", str(self.log),
            "--log-level", "warning",
            "tests.load.floor_app:create_app()",
        ]  # fmt: skip
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited; see {self.log}")
            try:
                with urllib.request.urlopen(  # noqa: S310 - our own local server
                    f"http://127.0.0.1:{self.port}/healthz", timeout=5
                ) as response:
                    if response.status == 200 and len(self.workers()) == WORKERS:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"gunicorn did not answer in {timeout:.0f} s; see {self.log}")

    def drain(self, timeout: float = 300.0) -> None:
        """Wait until requests left over from the last scenario are done (a client that gave
        up does not stop the server's work): two quick answers in a row from /healthz."""
        deadline = time.monotonic() + timeout
        quick = 0
        while quick < 2 and time.monotonic() < deadline:
            began = time.monotonic()
            try:
                with urllib.request.urlopen(  # noqa: S310 - our own local server
                    f"http://127.0.0.1:{self.port}/healthz", timeout=timeout
                ):
                    pass
            except OSError:
                quick = 0
                time.sleep(1)
                continue
            quick = quick + 1 if time.monotonic() - began < 0.05 else 0

    def workers(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def rss_mb(self, field_name: str = "VmRSS") -> float:
        """The largest worker's resident memory (or peak, with ``VmHWM``), in MB."""
        sizes = []
        for pid in self.workers():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith(field_name + ":"):
                        sizes.append(int(line.split()[1]) / 1024)
            except OSError:
                continue
        return max(sizes) if sizes else float("nan")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- signing in ----------------------------------------------------------------------------


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    if not match:
        raise SystemExit("no CSRF token found on the page")
    return html.unescape(match.group(1))


@dataclass
class Session:
    cookie: str
    csrf: str


def sign_in(port: int, readings_path: str) -> Session:
    """Sign in as the demo customer; return the cookie and a CSRF token bound to it."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    page = opener.open(base + "/login").read().decode()
    form = urllib.parse.urlencode(
        {"csrf_token": _csrf(page), "email": CUSTOMER_EMAIL, "password": CUSTOMER_PASSWORD}
    ).encode()
    landing = opener.open(base + "/login", data=form)
    if urllib.parse.urlsplit(landing.geturl()).path == "/login":
        raise SystemExit("signing in as the demo customer failed")
    page = opener.open(base + readings_path).read().decode()
    token = _csrf(page)
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return Session(cookie, token)


# --- scenarios -----------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    kind: str  # floor, html, pdf-first, pdf-cached, post
    result: Result
    rss_mb: float
    note: str = ""
    ratio: float | None = None
    checks: dict[str, bool] = field(default_factory=dict)


def quote(path: str) -> str:
    return urllib.parse.quote(path, safe="/")


def reading_value(last: float | None, turn: int = 0) -> str:
    return f"{(last or 0) + 1500 + turn:.3f}".rstrip("0").rstrip(".")


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_for_quiet(label: str) -> None:
    """Wait (up to ``BENCH_WAIT_QUIET`` seconds, default 180) until the 1-minute load average
    is below the number of CPUs: a benchmark on a busy machine measures the other processes,
    and competing with them slows their work down too."""
    cpus = os.cpu_count() or 1
    deadline = time.monotonic() + float(os.environ.get("BENCH_WAIT_QUIET", "180"))
    while load_average() >= cpus and time.monotonic() < deadline:
        log(f"{label}: load average {load_average():.1f} on {cpus} CPUs, waiting")
        time.sleep(15)


@dataclass
class Target:
    """One database under test: its server, the demo customer's session and the rows measured."""

    label: str
    database: Path
    fixture: Fixture
    before: dict[str, int]
    server: Server
    session: Session
    contract: str  # the demo customer's contract with the most meters (the heavier Readings tab)
    rows: list[Row] = field(default_factory=list)

    @property
    def signed(self) -> dict[str, str]:
        return {"Cookie": self.session.cookie}


def open_target(database: Path, label: str) -> Target:
    fixture = read_fixture(database)
    before = snapshot(database)
    number = min(fixture.contracts, key=lambda n: -sum(1 for m in fixture.meters if m[1] == n))
    log(f"{label}: starting gunicorn")
    server = Server(database, label)
    try:
        session = sign_in(server.port, f"/electricity/{quote(number)}/readings")
    except BaseException:
        server.stop()
        raise
    return Target(label, database, fixture, before, server, session, number)


def close_target(target: Target) -> None:
    target.server.stop()
    removed = undo_writes(target.database, target.before, target.fixture.user_id)
    log(f"{target.label}: undid the run's writes {removed}")


def measure(target: Target, name: str, kind: str, request: Request, note: str = "") -> Row:
    target.server.drain()
    log(f"{target.label}: {name}")
    result = driver.run(
        "127.0.0.1", target.server.port, request, connections=CONNECTIONS, seconds=SECONDS
    )
    row = Row(name, kind, result, target.server.rss_mb(), note)
    target.rows.append(row)
    return row


def html_pages(contract: str) -> list[tuple[str, str, bool, bool]]:
    """The HTML pages measured: (name, path, signed in, htmx) for the demo customer's
    ``contract``."""
    base = f"/electricity/{quote(contract)}"
    pages = [("sign-in page", "/login", False, False), ("dashboard /", "/", True, False)]
    for tab, suffix in (
        ("Overview", ""),
        ("Documents", "/documents"),
        ("Readings", "/readings"),
        ("Payments", "/payments"),
    ):
        pages.append((f"{tab} tab", base + suffix, True, False))
        pages.append((f"{tab} tab (htmx)", base + suffix, True, True))
    return pages


def page_scenarios(target: Target) -> list[tuple[str, Request]]:
    """The HTML pages as (name, request) on ``target``."""
    scenarios = []
    for name, path, signed, htmx in html_pages(target.contract):
        headers = {**(target.signed if signed else {}), **({"HX-Request": "true"} if htmx else {})}
        scenarios.append((name, Request("GET", path, headers)))
    return scenarios


def service_times(target: Target) -> dict[str, tuple[float, int]]:
    """Per page, the in-process service time (ms) and size (bytes): see ``service_times.py``."""
    env = app_env(target.database, target.server.instance, **target.server.extra)
    out = subprocess.run(
        [sys.executable, "-m", "tests.load.service_times", target.contract],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {name: (ms, size) for name, (ms, size) in json.loads(out).items()}


def run_all(large_db: Path, small_db: Path | None) -> tuple[Target, Target | None, dict]:
    """Every scenario against the large database; each HTML page also against the small one,
    right after it (in turns, which goes first), so that both figures of a page see the
    machine in the same state and the size comparison needs no correction."""
    wait_for_quiet("bench")
    window = window_setting().get("LKAPP_READINGS_WINDOW", "15-25")
    info = {"load_before": load_average(), "window": window}
    large = open_target(large_db, f"{CONTRACTS}x{YEARS}")
    info["contract"] = large.contract
    small = None
    try:
        if small_db is not None:
            small = open_target(small_db, f"{SMALL_CONTRACTS}x{YEARS}")
        measure(large, "floor (start)", "floor", Request("GET", "/_bench/floor"))
        measure(
            large,
            "reference: floor with formatted cells",
            "reference",
            Request("GET", "/_bench/floor-formatted"),
            "the floor's table through the app's money/date cell macros (Babel)",
        )
        small_pages = dict(page_scenarios(small)) if small else {}
        for turn, (name, request) in enumerate(page_scenarios(large)):
            runs = [(large, request)] + ([(small, small_pages[name])] if small else [])
            if turn % 2:
                runs.reverse()
            for target, each in runs:
                measure(target, name, "html", each)
        # Before the POSTs below, which add readings to the history of the Readings tab.
        for target in (large, small) if small else (large,):
            log(f"{target.label}: in-process service times")
            info.setdefault("service", []).append(service_times(target))
        run_pdfs_and_post(large)
        measure(large, "floor (end)", "floor", Request("GET", "/_bench/floor"))
        info["rss_peak_mb"] = large.server.rss_mb("VmHWM")
        info["load"] = f"{info['load_before']:.1f} before, {load_average():.1f} after"
    finally:
        close_target(large)
        if small is not None:
            close_target(small)
    return large, small, info


def run_pdfs_and_post(target: Target) -> None:
    signed = target.signed
    pdfs = [
        Request("GET", f"/electricity/{quote(n)}/documents/{kind}/{quote(doc)}/pdf", signed)
        for n, kind, doc in target.fixture.documents[:FIRST_PDFS]
    ]
    log(f"{target.label}: first render of {len(pdfs)} distinct PDFs, one at a time")
    target.server.drain()
    first = driver.run_each("127.0.0.1", target.server.port, pdfs)
    target.rows.append(
        Row(
            "document PDF, first render",
            "pdf-first",
            first,
            target.server.rss_mb(),
            f"{len(pdfs)} distinct documents one after another; req/s = 1 / mean",
        )
    )
    measure(target, "document PDF, cached", "pdf-cached", pdfs[0], "the same document again")
    meter_id, meter_contract, zones, last = next(
        (m for m in target.fixture.meters if m[1] == target.contract), target.fixture.meters[0]
    )
    # Sixteen sets of values in turn: the same values as the live ones are a form sent again,
    # stored once; each of these differs from the one before it.
    bodies = tuple(
        urllib.parse.urlencode(
            {
                "csrf_token": target.session.csrf,
                **{zone: reading_value(last.get(zone), turn) for zone in zones.split(",")},
                "confirm": "y",
            }
        ).encode()
        for turn in range(16)
    )
    post = Request(
        "POST",
        f"/electricity/{quote(meter_contract)}/readings/meters/{meter_id}",
        {**signed, "Content-Type": "application/x-www-form-urlencoded"},
        bodies=bodies,
    )
    measure(
        target,
        "reading submission (POST)",
        "post",
        post,
        f"meter {meter_id}, 16 sets of values in turn: each POST after the first is a "
        "correction that supersedes the previous one; answer 302 to the receipt",
    )


# --- evaluation and report -----------------------------------------------------------------


def evaluate(rows: list[Row], floor: float | None = None) -> float:
    """Ratios to the floor (the mean of ``rows``' floor runs unless given) and the verdicts."""
    if floor is None:
        floor = statistics.mean(r.result.rps for r in rows if r.kind == "floor")
    for row in rows:
        res = row.result
        if row.kind in ("html", "pdf-cached", "post", "floor", "reference"):
            row.ratio = res.rps / floor if floor else None
        ok_status = all(200 <= s < 400 for s in res.statuses) and not res.errors
        row.checks["status"] = ok_status
        if row.kind == "html":
            row.checks["ratio"] = row.ratio >= HTML_FLOOR_RATIO
            row.checks["sql"] = (res.sql_max or 0) <= MAX_SQL
            row.checks["p99"] = res.p99 < MAX_P99_MS
        elif row.kind == "pdf-cached":
            row.checks["ratio"] = row.ratio >= PDF_FLOOR_RATIO
        elif row.kind == "pdf-first":
            row.checks["p50"] = res.p50 < FIRST_PDF_MS
        row.checks["rss"] = row.rss_mb < MAX_RSS_MB
    return floor


def mark(ok: bool | None) -> str:
    return "" if ok is None else ("✅" if ok else "❌")


def table(rows: list[Row]) -> str:
    lines = [
        "| Scenario | req/s | × floor | p50 ms | p99 ms | SQL/req | worker RSS MB | status | "
        "targets |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        res = row.result
        sql = "–" if res.sql is None else str(res.sql)
        if res.sql_max is not None and res.sql_max != res.sql:
            sql += f" (max {res.sql_max})"
        statuses = ", ".join(f"{code}×{n}" for code, n in sorted(res.statuses.items()))
        if res.errors:
            statuses += ", " + ", ".join(f"{name}×{n}" for name, n in res.errors.items())
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
        failed = [name for name, ok in row.checks.items() if not ok]
        checked = [name for name in row.checks if name not in ("status", "rss")]
        verdict = (
            "❌ " + ", ".join(failed)
            if failed
            else ("✅" if checked or row.kind == "floor" else "✅ (rss)")
        )
        lines.append(
            f"| {row.name} | {res.rps:,.0f} | {ratio} | {res.p50:.1f} | {res.p99:.1f} | {sql} | "
            f"{row.rss_mb:.0f} | {statuses} | {verdict} |"
        )
    notes = [f"- {row.name}: {row.note}" for row in rows if row.note]
    return "\n".join(lines + ([""] + notes if notes else []))


def size_table(small: list[Row], large: list[Row]) -> tuple[str, list[bool]]:
    lines = [
        f"| Page | req/s {SMALL_CONTRACTS:,} | req/s {CONTRACTS:,} | difference | "
        f"p99 ms {SMALL_CONTRACTS:,} / {CONTRACTS:,} | SQL | within {SIZE_SPREAD:.0%} |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    verdicts = []
    by_name = {r.name: r for r in small}
    for row in large:
        if row.kind != "html" or row.name not in by_name:
            continue
        other = by_name[row.name]
        difference = row.result.rps / other.result.rps - 1
        ok = abs(difference) < SIZE_SPREAD
        verdicts.append(ok)
        lines.append(
            f"| {row.name} | {other.result.rps:,.0f} | {row.result.rps:,.0f} | "
            f"{difference:+.0%} | {other.result.p99:.1f} / {row.result.p99:.1f} | "
            f"{other.result.sql} / {row.result.sql} | {mark(ok)} |"
        )
    return "\n".join(lines), verdicts


def service_table(large: dict, small: dict) -> tuple[str, list[bool]]:
    lines = [
        f"| Page | ms {SMALL_CONTRACTS:,} | ms {CONTRACTS:,} | difference | KB | "
        f"within {SIZE_SPREAD:.0%} |",
        "|---|---:|---:|---:|---:|---|",
    ]
    verdicts = []
    for name, (ms, size) in large.items():
        small_ms, small_size = small[name]
        difference = small_ms / ms - 1  # in throughput terms: 1/ms
        ok = abs(difference) < SIZE_SPREAD
        verdicts.append(ok)
        kilobytes = f"{size / 1024:.1f}" + (
            "" if size == small_size else f" / {small_size / 1024:.1f}"
        )
        lines.append(
            f"| {name} | {small_ms:.1f} | {ms:.1f} | {difference:+.0%} | {kilobytes} | {mark(ok)} |"
        )
    return "\n".join(lines), verdicts


def machine() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return {
        "nproc": nproc,
        "cpu": cpu,
        "ram": f"{int(mem) / 1024 / 1024:.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "load": load,
    }


def report(large: list[Row], small: list[Row], info: dict) -> str:
    host = machine()
    large_floor = evaluate(large)
    out = [
        f"Measured {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} on {host['nproc']} CPUs "
        f"({host['cpu']}), {host['ram']} RAM, {host['os']}, Python {host['python']}; load "
        f"average before the run: {host['load']}.",
        "",
        "Command: `make bench` (= `.venv/bin/python -m tests.load.bench`), "
        f"BENCH_CONTRACTS={CONTRACTS} BENCH_YEARS={YEARS} BENCH_SECONDS={SECONDS:g}, "
        f"{CONNECTIONS} connections, gunicorn with `deploy/gunicorn.conf.py` (sync workers, "
        f"access log, GC frozen after start) and `--workers {WORKERS} --max-requests 0` on "
        f"127.0.0.1, SQLite, LKAPP_ENV=development, readings window {info['window']}. "
        "The load driver (Python threads, tests/load/driver.py) runs on the same machine.",
        "",
        f"### {CONTRACTS:,} contracts × {YEARS} years "
        f"(demo customer's contract {info['contract']})",
        "",
        table(large),
        "",
        f"Floor: {large_floor:,.0f} req/s (mean of the start and end runs). "
        f"1-minute load average: {info['load']}. "
        f"Peak worker RSS (VmHWM) over the run: {info['rss_peak_mb']:.0f} MB.",
    ]
    size_verdicts = service_verdicts = []
    if small:
        evaluate(small, large_floor)
        sizes, size_verdicts = size_table(small, large)
        service_sizes, service_verdicts = service_table(*info["service"])
        out += [
            "",
            f"### {SMALL_CONTRACTS:,} contracts × {YEARS} years against {CONTRACTS:,}",
            "",
            "Both servers run side by side; each page is measured on one database and at once "
            "on the other (in turns, which goes first), so that both figures see the machine in "
            "the same state. Throughput under load still moves by 10-20 % from run to run on 2 "
            "CPUs shared with the load driver, so the in-process service time below is the "
            "steadier evidence.",
            "",
            sizes,
            "",
            f"In-process service time (`tests/load/service_times.py`: one request at a time "
            f"through the Flask test client, the fastest of {SERVICE_REPEAT}, the pages in turns):",
            "",
            service_sizes,
        ]
    out += ["", "### Targets", ""]
    html_rows = [r for r in large if r.kind == "html"]

    def summary(text, rows, check):
        failed = [r for r in rows if not r.checks.get(check, True)]
        verdict = "✅ met" if not failed else "❌ missed by " + ", ".join(r.name for r in failed)
        return f"- {text}: {verdict}"

    out += [
        summary(f"every HTML page ≥ {HTML_FLOOR_RATIO} × floor", html_rows, "ratio"),
        summary(f"≤ {MAX_SQL} SQL statements per page", html_rows, "sql"),
        summary(f"p99 < {MAX_P99_MS:.0f} ms at {CONNECTIONS} connections", html_rows, "p99"),
        summary(
            f"cached PDF ≥ {PDF_FLOOR_RATIO} × floor",
            [r for r in large if r.kind == "pdf-cached"],
            "ratio",
        ),
        summary(
            f"first PDF render < {FIRST_PDF_MS:.0f} ms median",
            [r for r in large if r.kind == "pdf-first"],
            "p50",
        ),
        summary(f"worker RSS < {MAX_RSS_MB:.0f} MB", large, "rss"),
    ]
    if small:
        out.append(
            f"- {SMALL_CONTRACTS:,} vs {CONTRACTS:,} contracts within "
            f"{SIZE_SPREAD:.0%}: "
            + ("✅ met" if all(size_verdicts) else f"❌ {size_verdicts.count(False)} pages outside")
        )
        out.append(
            "- the same in in-process service time: "
            + (
                "✅ met"
                if all(service_verdicts)
                else f"❌ {service_verdicts.count(False)} pages outside"
            )
        )
    return "\n".join(out)


def write_doc(section: str) -> None:
    block = f"{START}\n{section}\n{END}"
    if DOC.exists():
        text = DOC.read_text()
        if START in text and END in text:
            head, rest = text.split(START, 1)
            tail = rest.split(END, 1)[1]
            DOC.write_text(head + block + tail)
            return
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(
        "# Benchmarks\n\n`make bench` writes the section between the markers; notes outside "
        f"them are kept.\n\n{block}\n"
    )


def main() -> None:
    large_db = database_for(CONTRACTS, YEARS)
    small_db = None
    if os.environ.get("BENCH_SKIP_SMALL") != "1":
        small_db = database_for(SMALL_CONTRACTS, YEARS)
    large, small, info = run_all(large_db, small_db)
    section = report(large.rows, small.rows if small else [], info)
    print(section)
    write_doc(section)
    log(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
