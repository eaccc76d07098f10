"""The nginx site of the deployment kit, run by Debian's nginx in front of gunicorn.

The test reads ``deploy/nginx-lkapp.conf`` itself and changes only what a test machine must:
the listening ports (no root-only ones; IPv4 loopback alone), the certificate (a throwaway
self-signed one), the upstream's address, the static folder (this checkout's) and the body
limits (1 MB for the pages instead of 16 MB, 2 MB for the billing upload instead of 200 MB, so
as not to send that much). Each change must match exactly, so an
edit of the kit that the test no longer understands fails here instead of testing something
else. The portal's name stays ``my.utility.example``: requests name it in their ``Host`` header
and TLS server name.
"""

from __future__ import annotations

import gzip
import http.client
import http.cookies
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import url_for

from lkapp.config import DEFAULTS
from lkapp.support.views import MAX_REQUEST_SIZE
from tests.conftest import TEST_PASSWORD, free_port, wait_for
from tests.system.conftest import ROOT, SECRET_KEY, Response, stop_process

pytestmark = pytest.mark.sqlite_only  # the proxy is under test, not the database

SITE = ROOT / "deploy" / "nginx-lkapp.conf"
NAME = "my.utility.example"
TEST_PAGE_LIMIT = "1m"  # the test's client_max_body_size for every page
TEST_BODY_LIMIT = "2m"  # and for the billing upload


def _bytes(size: str) -> int:
    """An nginx size in megabytes (``200m``) in bytes."""
    assert size.endswith("m"), size
    return int(size[:-1]) * 1024 * 1024


def site_for_test(
    http_port: int, https_port: int, upstream_port: int, certificate: Path, logs: Path
) -> str:
    """``deploy/nginx-lkapp.conf`` with the test's ports, certificate, upstream, static folder,
    upload limit and access log (in ``logs``)."""
    site = SITE.read_text()
    upload = re.search(r"location /staff/imports/new/ \{\s*client_max_body_size (\w+);", site)
    assert _bytes(upload.group(1)) == DEFAULTS["MAX_CONTENT_LENGTH"]  # "keep in step", it says
    pages = re.search(r"^    client_max_body_size (\w+);", site, re.MULTILINE).group(1)
    assert _bytes(pages) == MAX_REQUEST_SIZE  # a question with its attachments
    assert site.count(f"server_name {NAME};") == 2
    live = re.escape(f"/etc/letsencrypt/live/{NAME}")
    rewrites = [
        # (pattern, replacement, how many times the kit must have it)
        (r"^(\s*)listen 80\b", rf"\g<1>listen 127.0.0.1:{http_port}", 2),
        (r"^(\s*)listen 443\b", rf"\g<1>listen 127.0.0.1:{https_port}", 2),
        (r"^\s*listen \[::\]:(80|443)\b[^;]*;\n", "", 4),  # not every test machine has IPv6
        (r"^(\s*)server 127\.0\.0\.1:8000\b", rf"\g<1>server 127.0.0.1:{upstream_port}", 1),
        (rf"^(\s*ssl_certificate\s+){live}/fullchain\.pem;", rf"\g<1>{certificate}.crt;", 1),
        (rf"^(\s*ssl_certificate_key\s+){live}/privkey\.pem;", rf"\g<1>{certificate}.key;", 1),
        (r"^(\s*)alias /srv/lkapp/static/;", rf"\g<1>alias {ROOT}/static/;", 1),
        (
            r"^(\s*access_log )/var/log/nginx/access\.log( lkapp;)",
            rf"\g<1>{logs}/access.log\g<2>",
            2,
        ),
        (r"^(    )client_max_body_size \w+;", rf"\g<1>client_max_body_size {TEST_PAGE_LIMIT};", 1),
        (
            r"^(        )client_max_body_size \w+;",
            rf"\g<1>client_max_body_size {TEST_BODY_LIMIT};",
            1,
        ),
    ]
    for pattern, replacement, expected in rewrites:
        site, made = re.subn(pattern, replacement, site, flags=re.MULTILINE)
        assert made == expected, f"{SITE.name}: {made} × {pattern!r}, expected {expected}"
    return site


class Nginx:
    """Debian's nginx in the foreground, with its prefix, temp, pid and logs under ``directory``."""

    def __init__(self, executable: str, directory: Path, site: str, ports: tuple[int, int]):
        self.executable = executable
        self.directory = directory
        self.ports = ports
        user = "user root;\n" if os.geteuid() == 0 else ""  # workers as nobody could not write
        temp = "".join(
            f"    {kind}_temp_path {directory}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (directory / "nginx.conf").write_text(
            f"{user}worker_processes 1;\n"
            f"error_log {directory}/error.log;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            "    include /etc/nginx/mime.types;\n"
            "    default_type application/octet-stream;\n"
            f"    access_log {directory}/access.log;\n"
            f"{temp}"
            f"{site}\n"
            "}\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> Nginx:
        command = [
            self.executable,
            *("-p", f"{self.directory}/", "-c", str(self.directory / "nginx.conf")),
            *("-e", str(self.directory / "error.log")),
            *("-g", f"daemon off; pid {self.directory}/nginx.pid;"),
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.log()}")
            try:
                for port in self.ports:
                    socket.create_connection(("127.0.0.1", port), timeout=5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen in 30 s: {self.log()}")

    def log(self) -> str:
        return (self.directory / "error.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        stop_process(self.process)


def _executables() -> tuple[str, str]:
    """nginx and openssl; skips (fails with ``LKAPP_REQUIRE_REDIS=1``, the flag of the tests
    that start Debian's servers) when one is missing."""
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    found = (nginx, shutil.which("openssl"))
    if None in found:
        if os.environ.get("LKAPP_REQUIRE_REDIS") == "1":
            pytest.fail("nginx or openssl not found and LKAPP_REQUIRE_REDIS=1")
        pytest.skip("nginx or openssl not found: install Debian's nginx")
    return found


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> Path:
    """A self-signed certificate for the portal's name: ``<path>.crt`` and ``<path>.key``."""
    _nginx, openssl = _executables()
    path = tmp_path_factory.mktemp("tls") / NAME
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", f"/CN={NAME}", "-addext", f"subjectAltName=DNS:{NAME}"),
            *("-keyout", f"{path}.key", "-out", f"{path}.crt"),
        ],
        check=True,
        capture_output=True,
    )
    return path


@dataclass
class Portal:
    """gunicorn behind nginx; requests go to nginx from the address ``client_address``."""

    http_port: int
    https_port: int
    certificate: Path
    gunicorn_log: Path
    nginx_log: Path
    client_address: str = "127.0.0.2"  # not nginx's own, so the app can tell them apart

    def tls(self, server_name: str | None = NAME) -> ssl.SSLSocket:
        """A TLS connection to nginx, trusting the test certificate, naming ``server_name``."""
        context = ssl.create_default_context(cafile=f"{self.certificate}.crt")
        context.check_hostname = server_name is not None
        raw = socket.create_connection(
            ("127.0.0.1", self.https_port), timeout=30, source_address=(self.client_address, 0)
        )
        try:
            return context.wrap_socket(raw, server_hostname=server_name)
        except BaseException:
            raw.close()
            raise

    def request(
        self,
        method: str,
        path: str,
        *,
        host: str = NAME,
        https: bool = True,
        body: bytes | None = None,
        headers: dict | None = None,
    ) -> Response:
        """One request over a new connection, ``host`` in its Host header."""
        if https:
            conn = http.client.HTTPSConnection(host, self.https_port, timeout=30)
            conn.sock = self.tls()
        else:
            conn = http.client.HTTPConnection(
                "127.0.0.1", self.http_port, timeout=30, source_address=(self.client_address, 0)
            )
        try:
            conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
            raw = conn.getresponse()
            return Response(raw.status, raw.headers, raw.read())
        finally:
            conn.close()

    def gunicorn_saw(self, marker: str) -> bool:
        """Whether gunicorn's access log has a request line with ``marker``."""
        return marker in self.gunicorn_log.read_text(errors="replace")


@pytest.fixture
def portal(database_url, gunicorn_server, certificate, tmp_path) -> Portal:
    executable, _openssl = _executables()
    app = gunicorn_server(
        database_url, workers=2, LKAPP_TRUSTED_PROXIES="1", LKAPP_SERVER_NAME=NAME
    )
    http_port, https_port = free_port(), free_port()
    directory = tmp_path / "nginx"
    directory.mkdir()
    site = site_for_test(http_port, https_port, app.port, certificate, directory)
    nginx = Nginx(executable, directory, site, (http_port, https_port)).start()
    yield Portal(http_port, https_port, certificate, app.log_path, directory / "access.log")
    nginx.stop()


def test_plain_http_redirects_to_https_and_other_names_get_no_answer(portal):
    redirect = portal.request("GET", "/login?next=%2F", https=False)
    assert (redirect.status, redirect.location) == (301, f"https://{NAME}/login?next=%2F")

    for https in (False, True):  # Host names the portal does not have: the connection closes
        for host in ("evil.example", "127.0.0.1"):
            with pytest.raises(http.client.RemoteDisconnected):
                portal.request("GET", f"/login?probe={host}", host=host, https=https)
    for server_name in ("evil.example", None):  # TLS for another name, or the bare address
        with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
            portal.tls(server_name).close()

    control = portal.request("GET", "/login?probe=control")
    assert control.status == 200
    assert control.headers["Server"] == "nginx"  # no version to look up known holes by
    assert wait_for(lambda: portal.gunicorn_saw("probe=control"))
    assert not portal.gunicorn_saw("probe=evil") and not portal.gunicorn_saw("probe=127")


SECURITY_HEADERS = (  # what the app adds to all it serves (lkapp/__init__.py)
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Permissions-Policy",
    "Cross-Origin-Opener-Policy",
)


def test_static_files_are_served_by_nginx_and_cached_for_a_year(portal):
    """With the security headers of the pages: they went out with nosniff alone."""
    page = portal.request("GET", "/login?probe=page")
    linked = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
    linked.append("/static/img/logo.svg")  # an SVG opened on its own is a page
    stylesheet = re.search(r'<link rel="stylesheet" href="(/static/css/app\.css[^"]*)"', page.text)
    assert stylesheet and stylesheet.group(1) in linked

    year = 365 * 24 * 3600
    for url in linked:
        served = portal.request("GET", url)
        cache = ", ".join(served.headers.get_all("Cache-Control"))
        assert served.status == 200, url
        assert served.headers["Server"].startswith("nginx")
        assert {"public", "immutable", f"max-age={year}"} <= set(cache.split(", ")), cache
        for name in SECURITY_HEADERS:
            assert served.headers.get_all(name) == [page.headers[name]], (url, name)
        assert served.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    missing = portal.request("GET", "/static/css/none.css")
    assert missing.status == 404 and "Content-Security-Policy" in missing.headers
    css = portal.request("GET", stylesheet.group(1))
    assert css.headers["Content-Type"] == "text/css"
    assert css.body == (ROOT / "static" / "css" / "app.css").read_bytes()

    assert wait_for(lambda: portal.gunicorn_saw("probe=page"))
    assert not portal.gunicorn_saw("/static/")


def test_tls_takes_forward_secret_key_exchanges_alone(portal):
    """A recorded session cannot be decrypted later with the certificate's key: nginx's
    default list also took the plain RSA key exchange (AES128-GCM-SHA256 and the like)."""
    for ciphers, accepted in (("AES128-GCM-SHA256:AES256-SHA", False), ("ECDHE+AESGCM", True)):
        context = ssl.create_default_context(cafile=f"{portal.certificate}.crt")
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(ciphers)
        raw = socket.create_connection(("127.0.0.1", portal.https_port), timeout=30)
        try:
            if accepted:
                with context.wrap_socket(raw, server_hostname=NAME) as tls:
                    assert tls.version() == "TLSv1.2" and tls.cipher()[0].startswith("ECDHE")
            else:
                with pytest.raises(ssl.SSLError):
                    context.wrap_socket(raw, server_hostname=NAME)
        finally:
            raw.close()


def test_text_goes_compressed_to_a_browser_that_takes_it(portal):
    """htmx and the stylesheet (served by nginx) and the pages (from the app) travel gzipped,
    a fraction of their size; a client that does not ask gets them plain."""
    page = portal.request("GET", "/login")
    linked = re.findall(r'(?:href|src)="(/static/(?:vendor|css)/[^"]+)"', page.text)
    assert len(linked) == 2, linked
    for url in [*linked, "/login"]:
        packed = portal.request("GET", url, headers={"Accept-Encoding": "gzip"})
        plain = portal.request("GET", url)
        assert packed.headers["Content-Encoding"] == "gzip", url
        assert "Accept-Encoding" in packed.headers["Vary"], url
        assert "Content-Encoding" not in plain.headers, url
        assert len(packed.body) < len(plain.body) / 2, url
        if url.startswith("/static/"):
            assert gzip.decompress(packed.body) == plain.body


def _session_cookie(response: Response) -> str:
    cookies = http.cookies.SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        cookies.load(header)
    return cookies["session"].value


def test_the_app_sees_the_client_address_nginx_saw(portal, make_user):
    """ProxyFix trusts one proxy: the address nginx saw, not one the client claims."""
    make_user(email="ann@example.com")
    forged = {"X-Forwarded-For": "203.0.113.9"}
    form = portal.request("GET", "/login", headers=forged)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form.text).group(1)
    body = urllib.parse.urlencode(
        {"csrf_token": token, "email": "ann@example.com", "password": TEST_PASSWORD}
    )
    signed_in = portal.request(
        "POST",
        "/login",
        body=body.encode(),
        headers={
            **forged,
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"session={_session_cookie(form)}",
            "Referer": f"https://{NAME}/login",  # CSRF protection over HTTPS asks for it
        },
    )
    assert signed_in.status == 302, signed_in.text[:500]
    cookie = {"Cookie": f"session={_session_cookie(signed_in)}"}

    sessions = portal.request("GET", "/profile/sessions", headers=cookie)
    assert re.findall(r"<td[^>]*>([0-9.]+)</td>", sessions.text) == [portal.client_address]


def test_an_upload_over_the_limit_is_refused_by_nginx(portal):
    path = "/staff/imports/new/payments"
    headers = {"Content-Type": "text/csv"}
    under = portal.request(
        "POST", f"{path}?probe=under", body=b"x" * (_bytes(TEST_BODY_LIMIT) - 1024), headers=headers
    )
    over = portal.request(
        "POST", f"{path}?probe=over", body=b"x" * (_bytes(TEST_BODY_LIMIT) + 1), headers=headers
    )

    # Under nginx's limit it reaches the app (which refuses a visitor's 1 MB and more itself).
    assert "413 Request Entity Too Large" not in under.text
    assert over.status == 413
    assert "413 Request Entity Too Large" in over.text
    assert wait_for(lambda: portal.gunicorn_saw("probe=under"))
    assert not portal.gunicorn_saw("probe=over")


def test_a_page_refuses_what_only_the_billing_upload_takes(portal):
    """Every other page takes a form's worth or a question's attachments: nginx refuses a
    larger body before it buffers it to disk, and gunicorn never sees the request."""
    body = b"x" * (_bytes(TEST_PAGE_LIMIT) + 1024)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    refused = portal.request("POST", "/login?probe=page", body=body, headers=headers)
    assert refused.status == 413
    upload = portal.request(
        "POST", "/staff/imports/new/payments?probe=upload", body=body, headers=headers
    )
    assert "413 Request Entity Too Large" not in upload.text  # nginx let it through
    assert wait_for(lambda: portal.gunicorn_saw("probe=upload"))
    assert not portal.gunicorn_saw("probe=page")


LINK_PURPOSES = {  # the routes of mailed links, and the kind of token each takes
    "auth.confirm": "confirm",
    "auth.reset_password": "reset",
    "auth.confirm_email_change": "email",
    "auth.stop_notices": "notices",
}


def test_the_access_logs_keep_no_token_of_a_mailed_link(portal, app, make_user):
    """Whoever reads the logs of nginx or gunicorn finds ``[token]`` where a mailed link's
    token was: in the path, in the query (plain or URL-encoded, as the login page's ``next``
    carries it) and in the Referer of the page's own form, with a compressed token's leading
    "." gone with it."""
    from lkapp.auth import tokens
    from lkapp.extensions import db
    from lkapp.models import User

    routes = {rule.endpoint: rule for rule in app.url_map.iter_rules() if "token" in rule.arguments}
    assert routes.keys() == LINK_PURPOSES.keys()  # a new kind of link: add it above
    user_id = make_user(email="ann@example.com", confirmed=False)
    app.config["SECRET_KEY"] = SECRET_KEY  # the servers', so that the links are live
    with app.test_request_context():
        user = db.session.get(User, user_id)
        made = {
            endpoint: tokens.notice_token(user.id, user.email, "debt")
            if purpose == "notices"
            else tokens.make_token(purpose, user, "ann.new@example.net")
            for endpoint, purpose in LINK_PURPOSES.items()
        }
        paths = {endpoint: url_for(endpoint, token=token) for endpoint, token in made.items()}
    for endpoint, path in paths.items():
        token = made[endpoint]
        opened = portal.request("GET", f"{path}?probe={endpoint}")
        assert opened.status == 200, endpoint  # the page with its button
        pressed = portal.request(
            "POST",
            f"/login?probe=referer-{endpoint}&next=/confirm/{token}",
            headers={"Referer": f"https://{NAME}{path}"},
        )
        assert pressed.status == 400  # no CSRF token: refused, but logged
        encoded = urllib.parse.quote(path, safe="")  # %2Freset-password%2F<token>
        sent_back = portal.request(
            "GET",
            f"/login?probe=encoded-{endpoint}&next={encoded}",
            headers={"Referer": f"https://{NAME}/login?next={encoded}"},
        )
        assert sent_back.status == 200, endpoint
    packed = f".{made['auth.confirm']}"  # the shape of a compressed one: not a live link
    assert portal.request("GET", f"/confirm/{packed}?probe=packed").status == 400
    assert wait_for(lambda: portal.gunicorn_saw("probe=packed"))
    assert wait_for(lambda: "probe=packed" in portal.nginx_log.read_text())
    for log in (portal.gunicorn_log.read_text(), portal.nginx_log.read_text()):
        for endpoint, token in made.items():
            assert token not in log and token[-20:] not in log, endpoint
            prefix = paths[endpoint].removesuffix(token)
            assert f"{prefix}[token]?probe={endpoint}" in log
            assert f"https://{NAME}{prefix}[token]" in log
            encoded_prefix = urllib.parse.quote(prefix, safe="")
            assert log.count(f"/login?next={encoded_prefix}[token]") == 1, endpoint  # Referer
            assert f"probe=encoded-{endpoint}&next={encoded_prefix}[token] " in log, endpoint
        assert log.count("next=/confirm/[token]") == len(made)
        assert "/confirm/[token]?probe=packed" in log
