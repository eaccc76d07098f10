"""The portal as operators run it: gunicorn in its own process group, spoken to over HTTP.

``gunicorn_server`` starts ``gunicorn -c deploy/gunicorn.conf.py`` on a free port against the
test's database (``database_url``: SQLite and PostgreSQL) and the test SMTP server, waits for
``/healthz`` and stops it at the end of the test. ``WebClient`` is a small browser: its own
cookies, forms sent with the CSRF token of the page they came from, no redirects followed
unless asked, so every status the server answers is seen.

The server runs ``tests.system.served:app`` (the real app; the readings clock is held inside
the readings window when today is outside it, so the tests run on any day of the month).
"""

from __future__ import annotations

import html
import http.client
import http.cookies
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET_KEY = "system-test-secret-key-not-for-production"


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def location(self) -> str | None:
        return self.headers.get("Location") or self.headers.get("HX-Redirect")


@dataclass
class WebClient:
    """One browser: a cookie jar and the last CSRF token seen, over plain HTTP/1.1."""

    host: str
    port: int
    timeout: float = 60.0
    cookies: dict[str, str] = field(default_factory=dict)
    csrf_token: str | None = None

    def request(
        self, method: str, path: str, form: dict | None = None, headers: dict | None = None
    ) -> Response:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        sent = {"Accept-Language": "en", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            form = dict(form)
            if "csrf_token" not in form and self.csrf_token:
                form["csrf_token"] = self.csrf_token
            body = urllib.parse.urlencode(form, doseq=True).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=sent)
            raw = conn.getresponse()
            response = Response(raw.status, raw.headers, raw.read())
        finally:
            conn.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = http.cookies.SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or "1970" in morsel["expires"]:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', response.text)
        if token:
            self.csrf_token = html.unescape(token.group(1))
        return response

    def get(self, path: str, **kwargs) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, form: dict, **kwargs) -> Response:
        return self.request("POST", path, form=form, **kwargs)

    def follow(self, response: Response, limit: int = 5) -> Response:
        """Follow redirects (Location, or HX-Redirect) with GETs, as a browser would."""
        while response.location and limit:
            target = urllib.parse.urlsplit(response.location)
            response = self.get(target.path + (f"?{target.query}" if target.query else ""))
            limit -= 1
        return response


def stop_process(process: subprocess.Popen | None) -> None:
    """SIGTERM, then after 30 s SIGKILL to the whole process group (servers started with
    ``start_new_session=True``, so their workers go too)."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class Gunicorn:
    """A gunicorn master with ``workers`` sync workers on 127.0.0.1."""

    def __init__(self, env: dict, workers: int, log_path: Path, extra_args: tuple[str, ...] = ()):
        self.port = free_port()
        self.env = env
        self.workers = workers
        self.log_path = log_path
        self.extra_args = tuple(extra_args)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs) -> WebClient:
        return WebClient("127.0.0.1", self.port, **kwargs)

    def start(self) -> Gunicorn:
        command = [
            str(BIN / "gunicorn"),
            "--config",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            *self.extra_args,
            "tests.system.served:app",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log()}")
            try:
                if self.client(timeout=5).get("/healthz").status == 200 and (
                    len(self.worker_pids()) == self.workers
                ):
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer in 60 s: {self.log()}")

    def worker_pids(self) -> list[int]:
        """The pids of the master's children (its workers), from /proc."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                pids.append(int(stat.parent.name))
        return sorted(pids)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        stop_process(self.process)


def server_env(database_url: str, smtp_port: int | None, **settings: str) -> dict:
    """The environment of a served portal: ``LKAPP_*`` settings as an operator sets them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LKAPP_")}
    env.update(
        {
            "LKAPP_ENV": "development",  # plain HTTP: production cookies are HTTPS-only
            "LKAPP_SECRET_KEY": SECRET_KEY,
            "LKAPP_DATABASE_URL": database_url,
            "LKAPP_MAIL_SERVER": "127.0.0.1" if smtp_port else "",
            "LKAPP_MAIL_PORT": str(smtp_port or 25),
            "LKAPP_MAIL_DEFAULT_SENDER": "My Account <no-reply@lkapp.test>",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(settings)
    return env


@pytest.fixture
def gunicorn_server(tmp_path):
    """``start(database_url, workers=2, smtp_port=None, extra_args=(), **LKAPP_settings)`` → a
    running Gunicorn (``extra_args``: more gunicorn options); every server started is stopped at
    the end of the test."""
    started: list[Gunicorn] = []

    def start(
        database_url: str,
        workers: int = 2,
        smtp_port: int | None = None,
        extra_args: tuple[str, ...] = (),
        **settings,
    ):
        env = server_env(database_url, smtp_port, **settings)
        server = Gunicorn(env, workers, tmp_path / f"gunicorn-{len(started)}.log", extra_args)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


# --- Redis: the rate-limit storage the workers share ------------------------------------


class RedisServer:
    """A throwaway ``redis-server`` on a free port of 127.0.0.1, keeping nothing on disk."""

    def __init__(self, executable: str, directory: Path):
        self.executable = executable
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        import redis

        command = [
            self.executable,
            *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)),
            *("--save", "", "--appendonly", "no"),
        ]
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log()}")
            try:
                with self.client() as client:
                    client.ping()
                return self
            except redis.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer in 30 s: {self.log()}")

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10)

    def flush(self) -> None:
        """Forget every counter, so a test starts with no attempts on record."""
        with self.client() as client:
            client.flushall()

    def log(self) -> str:
        return (self.directory / "redis.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        stop_process(self.process)


def start_redis(directory: Path) -> RedisServer:
    """A running RedisServer in ``directory``; skips (fails with ``LKAPP_REQUIRE_REDIS=1``)
    when Debian's ``redis-server`` is not installed."""
    executable = shutil.which("redis-server")
    if executable is None:
        if os.environ.get("LKAPP_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server not found and LKAPP_REQUIRE_REDIS=1")
        pytest.skip("redis-server not found: install Debian's redis-server")
    return RedisServer(executable, directory).start()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """One Redis for the session; ``.url`` for ``LKAPP_RATELIMIT_STORAGE_URI``, ``.flush()``."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()
