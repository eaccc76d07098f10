"""gunicorn settings for one VPS: sync workers, two per core (DESIGN.md, "Performance budget").

gthread pins keep-alive connections to one worker and measured slower here; nginx in front
buffers slow clients, so sync workers are not held by them.
"""

import gc
import multiprocessing
import os
import re

from gunicorn.glogging import Logger

bind = os.environ.get("LKAPP_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("LKAPP_WORKERS", multiprocessing.cpu_count() * 2))
worker_class = "sync"
timeout = 60  # room to store a 200 MB billing upload (its import runs in a thread after)
graceful_timeout = 30
max_requests = 5000  # recycle workers now and then: bounded memory whatever happens
max_requests_jitter = 500
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = "127.0.0.1"
# No control socket (gunicornc): systemd manages the server, and the default one goes to the
# service user's home ($HOME/.gunicorn/), which lkapp.service's ProtectHome hides; every
# gunicorn of the machine (the bench starts two) would also share that one path.
control_socket_disable = True

# The token of a mailed link (itsdangerous: payload.timestamp.signature, the payload "."-led
# when compressed), wherever it stands: after "/", "=", a %XX escape (?next=%2Freset-password%2F…)
# or a "." of its own. It starts only where a run of its characters starts, so a long run that
# is no token is read once, not again from each of its characters. deploy/nginx-lkapp.conf
# keeps the same out of its log.
LINK_TOKEN = re.compile(
    r"(?:(?<=%[0-9A-Fa-f]{2})|(?<![A-Za-z0-9_%-]))"
    r"\.?[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{16,}"
)


def without_tokens(value):
    """``value`` with each token of a mailed link written as ``[token]``."""
    if isinstance(value, str) and "." in value:
        return LINK_TOKEN.sub("[token]", value)
    return value


class AccessLogWithoutTokens(Logger):
    """The access log with each token of a mailed link written as ``[token]``. A password link
    lets whoever holds it set the password for an hour; an access log is read by more people,
    and kept far longer, than that.

    Every text atom goes through the filter, not only the request line (``r``), path (``U``),
    query (``q``) and Referer (``f``): a format may name any header (``{referer}i``,
    ``{hx-current-url}i``, ``{location}o``) or WSGI variable (``{raw_uri}e``,
    ``{http_referer}e``), and gunicorn looks those up in the same dictionary."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: without_tokens(value) for key, value in atoms.items()}


logger_class = AccessLogWithoutTokens


def post_worker_init(worker):
    """Move what the worker loaded at start (the app, its modules, templates and catalogues:
    about 130,000 objects) to the permanent generation of the garbage collector. A full
    collection then looks only at what requests create: 0.3 ms instead of 60 ms, once every few
    hundred requests, which was the p99 of the table pages."""
    gc.freeze()
