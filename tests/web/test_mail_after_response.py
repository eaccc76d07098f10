"""Mail sent after the answer (password recovery, registration, questions) goes out even when
the client hangs up the moment it has the answer, as browsers do after a redirect.

Served by Werkzeug's server, as ``flask run`` and the browser tests serve the app: it skips the
response's ``close()`` when the client's reset reaches it first, and the mail waited for that.
"""

from __future__ import annotations

import http.client
import re
import socket
import struct
import urllib.parse

import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.sqlite_only


def _read_answer(sock: socket.socket) -> bytes:
    """The whole HTTP answer: headers and a body of its Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_recovery_mail_goes_out_when_the_browser_hangs_up_at_once(
    live_server, make_user, mailbox, captcha_solver
):
    make_user(email="ann@example.com")
    host, port = live_server.server_address[:2]
    for attempt in range(1, 4):  # each a new request for a link, each answered by mail
        connection = http.client.HTTPConnection(host, port, timeout=10)
        connection.request("GET", "/forgot-password")
        form = connection.getresponse()
        html = form.read().decode()
        cookie = form.getheader("Set-Cookie").split(";", 1)[0]
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
        body = urllib.parse.urlencode(
            {"csrf_token": token, "email": "ann@example.com", "tax_id": "7701234567"}
            | captcha_solver(html)
        ).encode()

        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(
            b"POST /forgot-password HTTP/1.1\r\nHost: %s:%d\r\n" % (host.encode(), port)
            + b"Content-Type: application/x-www-form-urlencoded\r\n"
            + b"Content-Length: %d\r\nCookie: %s\r\n\r\n" % (len(body), cookie.encode())
            + body
        )
        assert _read_answer(sock).startswith(b"HTTP/1.1 302")
        # Hang up with a reset (SO_LINGER 0), not a polite close.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        assert wait_for(lambda n=attempt: len(mailbox.to("ann@example.com")) == n, timeout=5), (
            f"request {attempt}: no mail"
        )
