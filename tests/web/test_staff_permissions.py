"""Every /staff route, found by walking the URL map: anonymous → sign-in, customer → 403,
staff → the page (admin-only pages → 403), admin → everything.

A new route under /staff is checked without anyone adding it here; a route with a URL
parameter this file does not know still gets the anonymous/customer/admin-only checks (its
staff answer may then be a 404 for the made-up value, never a 403 or a sign-in redirect).
"""

from __future__ import annotations

from datetime import date

import pytest
from flask import url_for
from werkzeug.routing import IntegerConverter

from lkapp.domain.questions import new_reference
from lkapp.extensions import db
from lkapp.models import Contract, ImportJob, Meter, Question

pytestmark = pytest.mark.sqlite_only

# The pages only administrators reach.
ADMIN_ONLY = {
    "staff.team",
    "staff.disable_member",
    "staff.enable_member",
    "staff.member_password_link",
}


@pytest.fixture
def world(app, make_user):
    """One of everything a /staff URL can name, and the four kinds of visitor."""
    customer = make_user(email="cust@example.com")
    make_user(email="op@example.org", role="staff")
    make_user(email="boss@example.org", role="admin")
    colleague = make_user(email="colleague@example.org", role="staff")
    with app.app_context():
        contract = Contract(
            number="EL-PERM-1", holder_name="Perm Kft.", tax_id="1", address="Pécs", account_id=None
        )
        db.session.add(contract)
        db.session.flush()
        meter = Meter(contract_id=contract.id, serial="M-PERM-1", installed_on=date(2020, 1, 1))
        question = Question(
            reference=new_reference(),
            contact_email="cust@example.com",
            contact_name="Cust",
            subject="other",
        )
        job = ImportJob(kind="contracts", filename="c.csv", file_sha256="0" * 64, status="done")
        db.session.add_all([meter, question, job])
        db.session.commit()
        values = {
            "number": contract.number,
            "kind": "contracts",
            "job_id": job.id,
            "meter_id": meter.id,
            "reference": question.reference,
        }
    per_endpoint = {
        "staff.customer": {"user_id": customer},
        "staff.lock": {"user_id": customer},
        "staff.unlock": {"user_id": customer},
        "staff.correct_tax_id": {"user_id": customer},
        "staff.resend_confirmation": {"user_id": customer},
        "staff.disable_member": {"user_id": colleague},
        "staff.enable_member": {"user_id": colleague},
        "staff.member_password_link": {"user_id": colleague},
    }
    return values, per_endpoint


def staff_requests(app, world):
    """(endpoint, method, url, known) for every /staff rule; ``known``: all its parameters
    were filled with real values."""
    values, per_endpoint = world
    found = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.rule.startswith("/staff"):
                continue
            given = {**values, **per_endpoint.get(rule.endpoint, {})}
            known = all(name in given for name in rule.arguments)
            arguments = {
                name: given.get(name, 999_999 if _is_int(rule, name) else "unknown")
                for name in rule.arguments
            }
            url = url_for(rule.endpoint, **arguments)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                found.append((rule.endpoint, method, url, known))
    return found


def _is_int(rule, name) -> bool:
    return isinstance(rule._converters[name], IntegerConverter)


def send(client, method, url):
    if method == "GET":
        return client.get(url)
    return client.post(url, data={})


def test_the_walk_finds_the_back_office_routes(app, world):
    endpoints = {endpoint for endpoint, *_ in staff_requests(app, world)}
    for expected in (
        "staff.index",
        "staff.imports",
        "staff.upload",
        "staff.import_job",
        "staff.customers",
        "staff.customer",
        "staff.lock",
        "staff.audit_log",
        "staff.audit_csv",
        *ADMIN_ONLY,
    ):
        assert expected in endpoints


def test_anonymous_visitors_are_sent_to_sign_in(app, client, world):
    for endpoint, method, url, _known in staff_requests(app, world):
        response = send(client, method, url)
        assert response.status_code == 302, (endpoint, method, url, response.status_code)
        assert response.headers["Location"].startswith("/login"), (endpoint, url)


def test_customers_get_403_everywhere(app, client, auth, world):
    auth.login(email="cust@example.com")
    for endpoint, method, url, _known in staff_requests(app, world):
        response = send(client, method, url)
        assert response.status_code == 403, (endpoint, method, url, response.status_code)
        assert "Access denied" in response.text


def test_staff_reach_every_page_but_the_admin_ones(app, client, auth, world):
    auth.login(email="op@example.org")
    for endpoint, method, url, known in staff_requests(app, world):
        response = send(client, method, url)
        where = (endpoint, method, url, response.status_code)
        if endpoint in ADMIN_ONLY:
            assert response.status_code == 403, where
        elif method == "GET" and known:
            assert response.status_code == 200, where
        else:
            # A POST with an empty form: refused as bad input or done, never forbidden.
            assert response.status_code not in (401, 403), where
            assert response.status_code < 500, where
            assert not response.headers.get("Location", "").startswith("/login"), where


def test_admins_reach_the_admin_pages(app, client, auth, world):
    auth.login(email="boss@example.org")
    for endpoint, method, url, _known in staff_requests(app, world):
        if endpoint not in ADMIN_ONLY and endpoint != "staff.index":
            continue
        response = send(client, method, url)
        where = (endpoint, method, url, response.status_code)
        if method == "GET":
            assert response.status_code == 200, where
        else:
            assert response.status_code not in (401, 403) and response.status_code < 500, where


def test_only_admins_see_the_staff_accounts_link(client, auth, world):
    auth.login(email="op@example.org")
    assert "Staff accounts" not in client.get("/staff/").text
    auth.logout()
    auth.login(email="boss@example.org")
    page = client.get("/staff/").text
    assert "Staff accounts" in page and 'href="/staff/team"' in page
