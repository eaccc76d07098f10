"""Close each response as soon as its body has gone out, instead of waiting for the server.

What a response does on close (``call_on_close``: the mail sent after the answer, see
``lkapp.auth.mails.send_after_response``) must happen once the client has the answer. PEP 3333
asks servers to call ``close()`` in every case, and gunicorn (``make run``, the deployment)
does. Werkzeug's server (``flask run``, the browser tests' live server) does not when the
client resets the connection right after reading the answer, as Chromium sometimes does after
a redirect: the mail then waited in the outbox for the next ``outbox send``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class CloseWhenSent:
    """WSGI middleware: close the app's response once the server has asked for the chunk after
    its last one, that is, once the whole body has been written; the server's own ``close()``
    then does nothing more."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        body = self.app(environ, start_response)
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(file_wrapper, type) and isinstance(body, file_wrapper):
            return body  # the server may send this file itself (sendfile)
        return _ClosedWhenSent(body)


class _ClosedWhenSent:
    def __init__(self, body: Iterable[bytes]):
        self._body = body
        self._chunks = iter(body)
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
