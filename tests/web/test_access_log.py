"""gunicorn's access log (``deploy/gunicorn.conf.py``) writes the token of a mailed link as
``[token]`` in whatever its format names: the request line, the path, the query, the Referer,
any request or response header and any WSGI variable."""

import importlib.util
import urllib.parse
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from itsdangerous import URLSafeTimedSerializer

ROOT = Path(__file__).resolve().parents[2]
NAME = "my.utility.example"


@pytest.fixture(scope="module")
def settings():
    spec = importlib.util.spec_from_file_location(
        "lkapp_gunicorn_conf", ROOT / "deploy" / "gunicorn.conf.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tokens() -> dict[str, str]:
    serializer = URLSafeTimedSerializer("not-the-portal's-key", salt="reset")
    plain = serializer.dumps({"u": 1, "f": "4cfea3d7b2a902c91a54953d8cf5e731"})
    packed = serializer.dumps({"u": 1, "e": "ann." * 40 + "@example.net"})  # zlib'd: "."-led
    assert not plain.startswith(".") and packed.startswith(".")
    return {"plain": plain, "packed": packed}


def access_line(settings, fmt: str, path: str, query: str, referer: str, location: str) -> str:
    """The line gunicorn writes for a request of ``path?query`` in the format ``fmt``."""
    logger = settings.logger_class(Config())
    raw_uri = f"{path}?{query}"
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": raw_uri,
        "PATH_INFO": urllib.parse.unquote(path),
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": referer,
        "HTTP_HX_CURRENT_URL": referer,
        "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    }
    request = SimpleNamespace(
        headers=[("REFERER", referer), ("HX-CURRENT-URL", referer), ("HOST", NAME)]
    )
    response = SimpleNamespace(status="302 FOUND", sent=0, headers=[("Location", location)])
    atoms = logger.atoms(response, request, environ, timedelta(milliseconds=12))
    return fmt % logger.atoms_wrapper_class(atoms)  # as Logger.access() writes it


FORMAT = " | ".join(
    f"%({atom})s"
    for atom in (
        "r",
        "U",
        "q",
        "f",
        "{referer}i",
        "{Referer}i",
        "{hx-current-url}i",
        "{raw_uri}e",
        "{path_info}e",
        "{query_string}e",
        "{http_referer}e",
        "{location}o",
        "a",
    )
)


@pytest.mark.parametrize("kind", ["plain", "packed"])
def test_gunicorn_writes_no_token_of_a_mailed_link_in_any_atom(settings, kind):
    token = _tokens()[kind]
    encoded = f"%2Freset-password%2F{token}"  # ?next= as the login page's links carry it
    line = access_line(
        settings,
        FORMAT,
        path=f"/reset-password/{token}",
        query=f"probe=1&next={encoded}",
        referer=f"https://{NAME}/login?next={encoded}",
        location=f"/login?next={encoded}",
    )

    assert token not in line and token.lstrip(".")[-20:] not in line
    fields = line.split(" | ")
    assert fields[:4] == [
        "GET /reset-password/[token]?probe=1&next=%2Freset-password%2F[token] HTTP/1.1",
        "/reset-password/[token]",
        "probe=1&next=%2Freset-password%2F[token]",
        f"https://{NAME}/login?next=%2Freset-password%2F[token]",
    ]
    assert fields[4:7] == [fields[3]] * 3  # the Referer and HX-Current-URL headers
    assert fields[7:11] == [fields[0].split()[1], fields[1], fields[2], fields[3]]
    assert fields[11] == "/login?next=%2Freset-password%2F[token]"
    assert "[token]" not in fields[12]  # the rest stays as it was


def test_a_token_is_found_wherever_a_run_of_its_characters_starts(settings):
    token = _tokens()["plain"]
    redact = settings.without_tokens
    assert redact(f"/confirm/.{token}") == "/confirm/[token]"  # a compressed one's "."
    assert redact(f"next=%252Fconfirm%252F{token}") == "next=%252Fconfirm%25[token]"
    assert redact(f"a={token}&b=/x/{token}") == "a=[token]&b=/x/[token]"
    assert redact(f"v.{token}") == "v.[token]"
    for untouched in ("app.css?v=0123456789abcdef", "x" * 5000 + "." + "y" * 5000, None, 200):
        assert redact(untouched) == untouched
