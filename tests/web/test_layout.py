"""The shell every page shares: layout, security headers, error pages, HTMX fragments."""

import re

import pytest
import sqlalchemy as sa
from flask import Blueprint, flash

from lkapp.extensions import db
from lkapp.htmx import render
from tests.conftest import TEST_PASSWORD


def test_landing_page_explains_the_portal(client):
    page = client.get("/").get_data(as_text=True)
    assert "City Power Supply" in page
    assert "invoices and VAT invoices" in page
    assert "power of attorney" in page
    assert 'href="/login"' in page
    assert "/static/vendor/htmx.min.js" in page


def test_every_response_carries_security_headers(client):
    for url in ("/", "/login", "/healthz", "/no-such-page"):
        headers = client.get(url).headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


def test_pages_have_no_inline_script(client):
    page = client.get("/").get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert not re.search(r"<[^>]+\son[a-z]+=", page), "inline event handler"


def test_csrf_token_travels_in_the_htmx_header(client):
    page = client.get("/").get_data(as_text=True)
    assert re.search(r"hx-headers='\{\"X-CSRFToken\": \"[^\"]+\"\}'", page)
    assert '"allowEval": false' in page and '"includeIndicatorStyles": false' in page


def test_unknown_page_is_a_404_in_the_layout(client):
    response = client.get("/no-such-page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Page not found" in page and "<header" in page


def test_htmx_error_lands_in_the_main_area(client):
    response = client.htmx("GET", "/no-such-page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert response.headers["HX-Retarget"] == "#main"
    assert "Page not found" in page and "<header" not in page
    assert "HX-Request" in response.headers["Vary"]
    # The tab's title changes with it, and the main area keeps its live region for messages.
    assert page.startswith("<title>Page not found · ")
    assert '<div id="flashes" class="flashes" role="status" aria-live="polite">' in page


def test_post_without_csrf_token_is_refused(client):
    response = client.post("/language", data={"locale": "ru"}, csrf=False)
    assert response.status_code == 400
    assert "The form has expired" in response.get_data(as_text=True)


def test_unexpected_error_is_a_500_page_without_traceback(app, caplog):
    broken = Blueprint("broken", __name__)

    @broken.get("/broken")
    @broken.get("/broken/<token>")
    def boom(token=None):
        raise RuntimeError("secret internals")

    app.register_blueprint(broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/broken?token=abc123")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in page
    assert "secret internals" not in page and "Traceback" not in page
    # The log says where, for whoever looks into it; the query may carry a token.
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.getMessage() == "Unhandled error in GET /broken"
    assert "secret internals" in caplog.text and "abc123" not in caplog.text

    caplog.clear()  # a mailed link's token sets a password: its route is logged instead
    assert app.test_client().get("/broken/eyJ1IjoxfQ.aSc9Xw.c2lnbmF0dXJl").status_code == 500
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.getMessage() == "Unhandled error in GET /broken/<token>"
    assert "eyJ1IjoxfQ" not in caplog.text


@pytest.mark.sqlite_only
def test_render_gives_page_or_fragment_with_flashes(app):
    demo = Blueprint("demo_render", __name__)

    @demo.get("/render-demo")
    def show():
        flash("Saved.", "success")
        return render("errors/error.html", "errors/_error.html", code=200, title="T", text="X")

    app.register_blueprint(demo)
    client = app.test_client()
    full = client.get("/render-demo")
    assert "<header" in full.get_data(as_text=True)
    assert "HX-Request" in full.headers["Vary"]
    fragment = client.htmx("GET", "/render-demo").get_data(as_text=True)
    assert "<header" not in fragment
    assert (
        'id="flashes" class="flashes" role="status" aria-live="polite" data-hx-swap-oob="innerHTML"'
        in fragment
    )
    assert "Saved." in fragment
    boosted = client.get("/render-demo", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<header" in boosted.get_data(as_text=True)
    restore = client.get(
        "/render-demo", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<header" in restore.get_data(as_text=True)


def test_every_form_field_has_a_visible_label(client):
    page = client.get("/login").get_data(as_text=True)
    fields = re.findall(
        r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', page
    )
    assert len(fields) >= 4
    for field_id in fields:
        assert f'for="{field_id}"' in page, field_id


def test_healthz_answers_with_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


@pytest.mark.sqlite_only
def test_healthz_is_503_without_database(app_config, tmp_path):
    from lkapp import create_app

    app_config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path}/missing/dir/db.sqlite3"
    response = create_app(app_config).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


@pytest.mark.sqlite_only
def test_production_cookies_are_secure_host_only_and_hsts_is_sent(app_config):
    from lkapp import create_app

    app_config.update(ENV="production", SERVER_NAME="localhost")
    client = create_app(app_config).test_client()
    response = client.get("/login", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Domain" not in cookie and "Path=/" in cookie


def test_development_cookies_are_httponly_and_lax(client):
    cookie = client.get("/login").headers["Set-Cookie"]
    assert cookie.startswith("session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_templates_use_valid_data_hx_attributes():
    """The Nu HTML checker refuses bare ``hx-*`` attributes; htmx reads ``data-hx-*`` too."""
    from pathlib import Path

    offenders = []
    for template in Path(__file__).resolve().parents[2].joinpath("templates").rglob("*.html"):
        for number, line in enumerate(template.read_text().splitlines(), 1):
            if re.search(r"(?<![-\w])hx-[a-z]+=", line):
                offenders.append(f"{template.name}:{number}")
    assert offenders == []


def test_language_choice_is_kept_in_the_session_and_on_the_account(app, client, make_user, auth):
    from lkapp.models import User

    response = client.post("/language", data={"locale": "ru", "next": "/login"})
    assert response.headers["Location"] == "/login"
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="ru">' in page and "Личный кабинет" in page

    user_id = make_user(email="ann@example.com")
    auth.login()
    client.post("/language", data={"locale": "hu"})
    with app.app_context():
        assert db.session.get(User, user_id).locale == "hu"
    auth.logout()
    other = app.test_client()  # a new browser: the account's language follows the sign-in
    other.post("/login", data={"email": "ann@example.com", "password": TEST_PASSWORD})
    assert "Fiókom" in other.get("/profile").get_data(as_text=True)


def test_amounts_and_dates_are_formatted_for_the_locale(app):
    from datetime import date
    from decimal import Decimal

    from flask_babel import force_locale

    from lkapp.formatting import day, money

    with app.test_request_context():
        with force_locale("en"):
            assert money(Decimal("1234.5")) == "€1,234.50"
            assert day(date(2026, 11, 25)) == "Nov 25, 2026"
        with force_locale("hu"):
            assert money(Decimal("1234.5")).replace("\xa0", " ").startswith("1 234,50")
        with force_locale("ru"):
            assert money(Decimal("1234.5")).replace("\xa0", " ").startswith("1 234,50")


def test_static_files_are_linked_by_content_so_they_can_be_cached_for_good(client):
    """nginx caches /static/ for a year: each link carries a hash of the file's content, so a
    changed stylesheet gets a new address at the next deploy."""
    import hashlib
    import re
    from pathlib import Path

    page = client.get("/login").get_data(as_text=True)
    links = re.findall(r'(?:href|src)="(/static/[^"?]+)\?v=([0-9a-f]{12})"', page)
    assert {path for path, _ in links} >= {"/static/css/app.css", "/static/js/app.js"}
    for path, version in links:
        content = Path(client.application.root_path).parent.joinpath(path.lstrip("/")).read_bytes()
        assert version == hashlib.sha256(content).hexdigest()[:12]
        assert client.get(f"{path}?v={version}").status_code == 200


def test_a_nul_character_anywhere_in_a_request_is_refused_not_a_500(app, client, make_user, auth):
    """No stored text holds a NUL, and PostgreSQL refuses a query that compares with one: in
    a contract number, a document number, a captcha id, a search or a form it was a 500 on
    PostgreSQL. An address with one is found nowhere (404); a query string or a form with
    one is a bad request (400), and nothing is written."""
    from lkapp.models import AuditEvent, Contract

    make_user()
    make_user(email="op@example.org", role="staff")
    with app.app_context():
        db.session.add(Contract(number="EL-1", holder_name="Ann", tax_id="1", address="x"))
        db.session.commit()
    assert client.get("/captcha/ab%00cd.png").status_code == 404
    refused = client.post("/forgot-password", data={"email": "ann@example.com\x00"})
    assert refused.status_code == 400 and "Bad request" in refused.text
    assert client.post("/login", data={"email": "a\x00", "password": "x"}).status_code == 400
    auth.login()
    for url in ("/electricity/EL-1%00", "/electricity/%00/readings",
                "/electricity/EL-1/documents/invoice/INV-1%00/pdf"):  # fmt: skip
        assert client.get(url).status_code == 404, url
    added = client.post("/electricity/add", data={"number": "EL-1\x00", "code": "AAAA-AAAA"})
    assert added.status_code == 400
    auth.logout()
    auth.login(email="op@example.org")
    for url, query in (
        ("/staff/customers", {"q": "ann\x00"}),
        ("/staff/contracts", {"q": "EL\x00"}),
        ("/staff/readings/", {"q": "SN\x002Z"}),
        ("/staff/audit", {"contract": "EL\x001"}),
        ("/staff/audit", {"user\x00": "ann@example.com"}),
    ):
        assert client.get(url, query_string=query).status_code == 400, (url, query)
    with app.app_context():
        assert db.session.get(Contract, 1).account_id is None
        assert not db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action.like("contract.%"))
        )
