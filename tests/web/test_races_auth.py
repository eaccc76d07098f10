"""Links that work once, used by two requests at the same moment.

Each request runs in its own thread with its own test client, session and connection, like a
request in its own worker. ``one_after_other`` makes the race happen every time: the first
request is held after its writes (flushed, not committed: it holds what it locked), the
second runs until it reaches its check (or the lock that guards the check), and only then
the first commits. A second request that checked what the first was changing meanwhile
would act on a link that the first had used already.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from lkapp.auth import services, tokens
from lkapp.extensions import db
from lkapp.models import AuditEvent, User
from lkapp.security import verify_password
from tests.conftest import TEST_PASSWORD, AuthActions

FIRST = "first password 1 of the race"
SECOND = "second password 2 of the race"


def one_after_other(monkeypatch, first, second, *, hold_after, second_reaches):
    """Run ``first()`` in a thread, held right after its call of ``hold_after`` (an (object,
    name) pair) with its writes flushed; then ``second()`` in another thread until it calls
    one of ``second_reaches``; then let the first go on. Returns both results."""
    written, reached, release = threading.Event(), threading.Event(), threading.Event()
    threads: dict[str, threading.Thread] = {}

    def wrap(obj, name, after):
        real = getattr(obj, name, None)

        def wrapper(*args, **kwargs):
            if threading.current_thread() is threads.get("second"):
                reached.set()
            result = real(*args, **kwargs)
            if after and threading.current_thread() is threads["first"] and not written.is_set():
                db.session.flush()
                written.set()
                release.wait(30)
            return result

        monkeypatch.setattr(obj, name, wrapper, raising=False)

    wrap(*hold_after, after=True)
    for obj, name in second_reaches:
        if (obj, name) != tuple(hold_after):
            wrap(obj, name, after=False)

    results: dict[str, object] = {}

    def run(key, work):
        try:
            results[key] = work()
        except Exception as error:  # noqa: BLE001 - reported by the caller's assertions
            results[key] = error

    threads["first"] = threading.Thread(target=run, args=("first", first))
    threads["first"].start()
    assert written.wait(30), results
    threads["second"] = threading.Thread(target=run, args=("second", second))
    threads["second"].start()
    reached.wait(30)
    release.set()
    for thread in threads.values():
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads.values())
    return results["first"], results["second"]


def _token(app, purpose, user_id, new_email=""):
    with app.test_request_context():
        return tokens.make_token(purpose, db.session.get(User, user_id), new_email)


def _user(app, user_id) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def test_a_reset_link_used_twice_at_once_sets_one_password(app, make_user, monkeypatch):
    """Two tabs (or the customer and whoever else has the mail) submit the same reset link at
    the same moment: one sets the password, the other is told the link was used."""
    user_id = make_user()
    url = f"/reset-password/{_token(app, 'reset', user_id)}"
    tab1, tab2 = app.test_client(), app.test_client()

    first, second = one_after_other(
        monkeypatch,
        lambda: tab1.post(url, data={"password": FIRST, "password2": FIRST}),
        lambda: tab2.post(url, data={"password": SECOND, "password2": SECOND}),
        hold_after=(services, "reset_password"),
        second_reaches=[(services, "reset_password"), (tokens, "lock_row")],
    )

    assert first.status_code == 302, first
    assert second.status_code == 400, second
    assert "expired or has already been used" in second.get_data(as_text=True)
    assert verify_password(_user(app, user_id).password_hash, FIRST)
    with app.app_context():
        resets = sa.select(sa.func.count()).where(AuditEvent.action == "auth.password_reset")
        assert db.session.scalar(resets) == 1
    assert tab1.get("/profile").status_code == 200  # the winner is signed in


def test_an_email_change_link_dies_with_a_password_changed_at_the_same_moment(
    app, make_user, monkeypatch
):
    """The owner changes the password (to shut out whoever knew it) while someone confirms an
    email change asked for before: a change of password kills the link, also at the same
    moment, or the other could take the account over through the new address."""
    user_id = make_user()
    url = f"/profile/email/confirm/{_token(app, 'email', user_id, 'other@example.net')}"
    owner, other = app.test_client(), app.test_client()
    AuthActions(owner).login()

    changed, confirmed = one_after_other(
        monkeypatch,
        lambda: owner.post(
            "/profile/password",
            data={"current_password": TEST_PASSWORD, "password": FIRST, "password2": FIRST},
        ),
        lambda: other.post(url),
        hold_after=(services, "change_password"),
        second_reaches=[(services, "change_email"), (tokens, "lock_row")],
    )

    assert changed.status_code == 302, changed
    assert confirmed.status_code == 400, confirmed
    user = _user(app, user_id)
    assert user.email == "ann@example.com"
    assert verify_password(user.password_hash, FIRST)


@pytest.mark.parametrize("purpose", ["reset", "email"])
def test_a_link_checked_after_the_change_was_committed_still_fails(app, make_user, purpose):
    """The lock changes nothing for a link used after the other change ended."""
    user_id = make_user()
    token = _token(app, purpose, user_id, "new@example.net")
    with app.test_request_context(method="POST"):
        services.change_password(db.session.get(User, user_id), FIRST, keep_session=None)
        db.session.commit()
        assert tokens.read_token(purpose, token) is None


@pytest.mark.parametrize("first_one", ["owner", "squatter"])
def test_the_owners_reset_and_the_squatters_email_change_at_once_one_wins(
    app, make_user, monkeypatch, first_one
):
    """Whoever registered a business's address with a wrong tax ID moves the account to an
    address of theirs at the moment its owner uses the reset link that gives it the true
    one: either the owner gets the account on its address, or the link is dead; never the
    owner's tax ID on the squatter's address, nor the squatter's on the owner's."""
    user_id = make_user(confirmed=False, tax_id="7709999999")
    with app.test_request_context():
        user = db.session.get(User, user_id)
        reset = f"/reset-password/{tokens.make_token('reset', user, tax_id='7701234567')}"
        move = tokens.make_token("email", user, "squatter@example.net")
    owner, squatter = app.test_client(), app.test_client()
    steps = {
        "owner": (
            lambda: owner.post(reset, data={"password": FIRST, "password2": FIRST}),
            (services, "reset_password"),
        ),
        "squatter": (
            lambda: squatter.post(f"/profile/email/confirm/{move}"),
            (services, "change_email"),
        ),
    }
    second_one = "squatter" if first_one == "owner" else "owner"
    first, second = one_after_other(
        monkeypatch,
        steps[first_one][0],
        steps[second_one][0],
        hold_after=steps[first_one][1],
        second_reaches=[steps[second_one][1], (tokens, "lock_row")],
    )

    assert first.status_code in (200, 302), first
    assert second.status_code == 400, second
    user = _user(app, user_id)
    if first_one == "owner":
        assert (user.email, user.tax_id) == ("ann@example.com", "7701234567")
        assert verify_password(user.password_hash, FIRST)
    else:
        assert (user.email, user.tax_id) == ("squatter@example.net", "7709999999")
        assert verify_password(user.password_hash, TEST_PASSWORD)
