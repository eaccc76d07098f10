"""One gunicorn master, two sync workers: what one worker did, the other knows.

Rate-limit counters live in Redis, sessions and captchas in the database. ``take_turns`` runs
steps alternately on the two workers; the access log of the rate-limit test (the pid of the
worker that served each request, requests told apart by their User-Agent) shows it does.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import AuditEvent, OutboxMail
from lkapp.services import captcha
from tests.conftest import TEST_PASSWORD
from tests.system.conftest import SECRET_KEY, start_redis

# The pid of the worker (``<1234>``), the request line and the User-Agent.
ACCESS_LOG = ("--access-logformat", '%(p)s "%(r)s" "%(a)s"')
ACCESS_LINE = re.compile(r'^<(\d+)> "[^"]*" "([^"]*)"$', re.MULTILINE)


@pytest.fixture
def app_config(app_config):
    """The test app (for make_user and the captcha answers) signs with the server's key."""
    return {**app_config, "SECRET_KEY": SECRET_KEY}


@pytest.fixture
def redis_url(redis_server) -> str:
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def doomed_redis(tmp_path):
    """A Redis of this test's own, so that the test may stop it."""
    server = start_redis(tmp_path)
    yield server
    server.stop()


# --- two workers, one after the other -------------------------------------------------


def _accept_queue(port: int) -> int:
    """Connections waiting to be accepted on the listening socket of ``port`` (Linux)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            return int(fields[4].split(":")[1], 16)
    raise AssertionError(f"nothing listens on port {port}")


class HalfSentRequest:
    """A request without its end: the sync worker that accepts it waits for the rest and
    serves nobody else until ``finish``."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        deadline = time.monotonic() + 60
        while _accept_queue(port):
            if time.monotonic() > deadline:
                self.sock.close()
                raise AssertionError("no worker accepted the connection in 60 s")
            time.sleep(0.01)

    def finish(self) -> None:
        with self.sock:
            self.sock.sendall(b"Connection: close\r\n\r\n")
            while self.sock.recv(65536):
                pass


def take_turns(server, *steps):
    """Run ``steps`` in order, alternately on each of the two workers; their results.

    The worker not serving a step holds a half-sent request; the next one is taken by the
    worker that just served (the only free one) before the first is finished.
    """
    assert server.workers == 2
    results = []
    held = [HalfSentRequest(server.port)]
    try:
        for step in steps:
            results.append(step())
            held.append(HalfSentRequest(server.port))
            held[-2].finish()
        held[-1].finish()
    finally:
        for request in held:  # after a failure: free the workers, so the server can stop
            request.sock.close()
    return results


def worker_of(server, agent: str) -> int:
    """The pid of the worker that served the request sent with User-Agent ``agent``, from the
    access log; a worker writes its line just after the answer, so wait for it."""
    deadline = time.monotonic() + 30
    while True:
        text = server.log_path.read_text(errors="replace")
        for pid, seen in ACCESS_LINE.findall(text):
            if seen == agent:
                return int(pid)
        assert time.monotonic() < deadline, f"no access log line for {agent}: {server.log()}"
        time.sleep(0.05)


def attempts(browser, *agents: str):
    """A step: one wrong sign-in per User-Agent; their statuses."""

    def step():
        return [
            browser.post(
                "/login",
                {"email": "nobody@example.com", "password": "not the password"},
                headers={"User-Agent": agent},
            ).status
            for agent in agents
        ]

    return step


# --- rate limits ----------------------------------------------------------------------


def test_sign_in_limit_counts_attempts_on_both_workers(database_url, redis_url, gunicorn_server):
    server = gunicorn_server(
        database_url,
        extra_args=ACCESS_LOG,
        LKAPP_RATELIMIT_STORAGE_URI=redis_url,
        LKAPP_RATELIMIT_SIGNIN="4 per hour",
    )
    browser = server.client()
    assert browser.get("/login").status == 200

    two_here, two_there, fifth, sixth = take_turns(
        server,
        attempts(browser, "try-1", "try-2"),
        attempts(browser, "try-3", "try-4"),
        attempts(browser, "try-5"),
        attempts(browser, "try-6"),
    )

    assert two_here + two_there == [422, 422, 422, 422]  # wrong password, not yet limited
    assert fifth == sixth == [429]
    refused = browser.post("/login", {"email": "nobody@example.com", "password": "x"})
    assert refused.status == 429
    assert "Too many attempts" in refused.text
    first_worker = {worker_of(server, f"try-{n}") for n in (1, 2, 5)}
    second_worker = {worker_of(server, f"try-{n}") for n in (3, 4, 6)}
    assert len(first_worker) == len(second_worker) == 1
    assert first_worker | second_worker == set(server.worker_pids())


@pytest.mark.sqlite_only  # the limiter's storage alone is under test
def test_memory_storage_counts_per_worker(database_url, gunicorn_server):
    """The control: the same attempts, counted in each worker's memory, are not refused."""
    server = gunicorn_server(
        database_url,
        LKAPP_RATELIMIT_STORAGE_URI="memory://",
        LKAPP_RATELIMIT_SIGNIN="4 per hour",
    )
    browser = server.client()
    browser.get("/login")

    statuses = take_turns(
        server,
        attempts(browser, "try-1", "try-2"),
        attempts(browser, "try-3", "try-4"),
        attempts(browser, "try-5"),
        attempts(browser, "try-6"),
    )

    assert statuses == [[422, 422], [422, 422], [422], [422]]


# --- sessions and captchas (rows in the database) -------------------------------------


def test_sessions_and_captchas_are_shared_by_the_workers(
    database_url, redis_url, gunicorn_server, app, make_user
):
    """A captcha made on one worker is drawn and checked on the other, once; a session
    started on one worker is known on the other, and ended there when it ends here."""
    make_user(email="ann@example.com")
    server = gunicorn_server(database_url, LKAPP_RATELIMIT_STORAGE_URI=redis_url)
    browser = server.client()
    challenge = {}
    old_cookies = {}

    def picture():
        drawn = browser.get(f"/captcha/{challenge['id']}.png")
        return drawn.status, drawn.headers["Content-Type"], drawn.body[:8] == b"\x89PNG\r\n\x1a\n"

    def show_form():
        page = browser.get("/forgot-password")
        challenge["id"] = re.search(r'name="captcha_id" value="([^"]+)"', page.text).group(1)
        with app.app_context():
            challenge["answer"] = captcha.answer_for(challenge["id"])
        return page.status, picture()

    def answer(email):
        form = {"email": email, "tax_id": "7701234567"}
        sent = browser.post(
            "/forgot-password",
            {**form, "captcha_id": challenge["id"], "captcha": challenge["answer"]},
        )
        return sent.status, sent.location

    def picture_and_answer():
        return picture(), answer("nobody@example.com")

    def reuse():
        """The used answer again, for Ann's account this time: answered as the first copy of
        a form sent twice (a double click), and nothing asked for."""
        return answer("ann@example.com"), picture()[0]

    def sign_in():
        browser.get("/login")
        signed_in = browser.post("/login", {"email": "ann@example.com", "password": TEST_PASSWORD})
        assert signed_in.status == 302, signed_in.text[:500]
        old_cookies.update(browser.cookies)
        return pages()

    def pages():
        loaded = [browser.get(path) for path in ("/", "/electricity")]
        return [(page.status, "ann@example.com" in page.text) for page in loaded]

    def sign_out():
        browser.get("/electricity")  # a page with the sign-out form (and its CSRF token)
        return browser.post("/logout", {}).status

    def protected_pages():
        replayed = server.client(cookies=dict(old_cookies))
        loaded = [client.get("/electricity") for client in (browser, replayed)]
        return [(page.status, page.location) for page in loaded]

    shown, accepted, reused, here, there, signed_out, after = take_turns(
        server, show_form, picture_and_answer, reuse, sign_in, pages, sign_out, protected_pages
    )

    assert shown == (200, (200, "image/png", True))
    assert accepted == ((200, "image/png", True), (302, "/forgot-password/sent"))
    assert reused == ((302, "/forgot-password/sent"), 404)  # its picture is gone
    with app.app_context():
        asked = db.session.scalars(
            sa.select(AuditEvent.details).where(AuditEvent.action == "auth.reset_requested")
        ).all()
        assert [details["email"] for details in asked] == ["nobody@example.com"]
        assert db.session.scalar(sa.select(sa.func.count(OutboxMail.id))) == 0
    assert here == there == [(200, True), (200, True)]
    assert signed_out == 302
    assert after == [(302, "/login?next=/electricity")] * 2  # the old cookie too


# --- Redis down -----------------------------------------------------------------------


@pytest.mark.sqlite_only  # the limiter's storage alone is under test
def test_redis_outage_falls_back_to_limits_per_worker(database_url, doomed_redis, gunicorn_server):
    server = gunicorn_server(
        database_url,
        LKAPP_RATELIMIT_STORAGE_URI=doomed_redis.url,
        LKAPP_RATELIMIT_SIGNIN="2 per hour",
    )
    browser = server.client()
    browser.get("/login")
    assert attempts(browser, "with Redis")() == [422]
    doomed_redis.stop()

    def step():
        pages = [browser.get(path) for path in ("/", "/login", "/forgot-password")]
        challenge_id = re.search(r'name="captcha_id" value="([^"]+)"', pages[-1].text).group(1)
        pages.append(browser.get(f"/captcha/{challenge_id}.png"))
        return [page.status for page in pages], attempts(browser, "a", "b", "c")()

    here, there = take_turns(server, step, step)

    # Every page still served; each worker now counts on its own, two attempts an hour.
    assert here == there == ([200, 200, 200, 200], [422, 422, 429])


# --- the server itself ------------------------------------------------------------------


@pytest.mark.sqlite_only  # gunicorn's settings are under test
def test_servers_of_one_machine_keep_out_of_the_home_directory(
    database_url, gunicorn_server, tmp_path
):
    """deploy/gunicorn.conf.py opens no control socket: gunicorn's default one lives in the
    service user's home, which lkapp.service hides, and every server of the machine would
    take the same path."""
    home = tmp_path / "home"
    home.mkdir()
    servers = [gunicorn_server(database_url, HOME=str(home), XDG_RUNTIME_DIR="") for _ in "ab"]
    for server in servers:
        assert server.client().get("/healthz").status == 200
    assert list(home.iterdir()) == []
    for server in servers:
        assert "Control socket" not in server.log()
