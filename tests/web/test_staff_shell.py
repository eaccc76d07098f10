"""Sign-in basics and the staff area that only staff reach."""

import sqlalchemy as sa

from lkapp.extensions import db
from lkapp.models import AuditEvent, UserSession


def test_staff_area_needs_sign_in(client):
    response = client.get("/staff/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_customer_gets_403_in_staff_area(client, make_user, auth):
    make_user()
    auth.login()
    response = client.get("/staff/")
    assert response.status_code == 403
    assert "Access denied" in response.get_data(as_text=True)


def test_staff_sees_back_office_with_its_navigation(client, make_user, auth):
    make_user(email="op@example.org", role="staff")
    response = auth.login(email="op@example.org")
    assert response.headers["Location"] == "/staff/"
    page = client.get("/staff/").get_data(as_text=True)
    assert "Back office" in page
    assert 'aria-label="Back office"' in page
    assert "Mail waiting in the outbox" in page
    # The header's link says where the operator is, as the customer's "Electricity" does.
    for url in ("/staff/", "/staff/questions", "/staff/readings/"):
        html = client.get(url).text
        assert '<a href="/staff/" aria-current="page">Back office</a>' in html, url


def test_wrong_password_keeps_email_and_says_nothing_about_accounts(client, make_user):
    make_user()
    for email in ("ann@example.com", "nobody@example.com"):
        response = client.post("/login", data={"email": email, "password": "wrong password 123"})
        page = response.get_data(as_text=True)
        assert response.status_code == 422
        assert "Wrong email or password." in page
        assert f'value="{email}"' in page
        assert "wrong password 123" not in page


def test_empty_form_says_what_is_missing(client):
    response = client.htmx("POST", "/login", data={"email": "", "password": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Enter your email." in page and "Enter your password." in page
    assert "<header" not in page


def test_sign_in_is_case_insensitive_and_ignores_foreign_next(client, make_user, auth):
    make_user()
    response = client.post(
        "/login?next=//evil.example/steal",
        data={"email": "ANN@Example.com", "password": "correct horse battery staple"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_sign_out_revokes_the_server_side_session(app, client, make_user, auth):
    make_user(email="op@example.org", role="staff")
    auth.login(email="op@example.org")
    stolen_cookie = client.get_cookie("session").value
    auth.logout()
    with app.app_context():
        [record] = db.session.scalars(sa.select(UserSession)).all()
        assert record.revoked_at is not None
    client.set_cookie("session", stolen_cookie)
    assert client.get("/staff/").status_code == 302


def test_sign_in_and_failures_are_audited(app, client, make_user, auth):
    make_user()
    client.post("/login", data={"email": "ann@example.com", "password": "not the password"})
    auth.login()
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()
        ips = set(db.session.scalars(sa.select(AuditEvent.ip)).all())
    assert actions == ["auth.login_failed", "auth.login"]
    assert ips == {"127.0.0.1"}
