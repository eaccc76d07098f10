"""The captcha: answers stay on the server, hashed, single use, ten minutes; picture and audio."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lkapp import ConfigError, create_app
from lkapp.extensions import db
from lkapp.models import CaptchaChallenge, utcnow
from lkapp.services import captcha
from tests.conftest import AuthActions, Client, swapped


def _new(app) -> tuple[str, str]:
    with app.test_request_context():
        challenge = captcha.new_challenge()
        db.session.commit()
        return challenge.id, captcha.answer_for(challenge.id)


def _verify(app, challenge_id, typed) -> bool:
    with app.test_request_context():
        ok = captcha.verify(challenge_id, typed)
        db.session.commit()
        return ok


def test_answer_is_stored_hashed_and_never_sent(app, client):
    response = client.get("/forgot-password")
    page = response.get_data(as_text=True)
    challenge_id = re.search(r'name="captcha_id" value="([^"]+)"', page).group(1)
    with app.app_context():
        answer = captcha.answer_for(challenge_id)
        row = db.session.get(CaptchaChallenge, challenge_id)
        assert row.answer_hash != answer and len(row.answer_hash) == 64
        assert answer not in row.answer_hash
        assert timedelta(minutes=9) < row.expires_at - utcnow() <= timedelta(minutes=10)
    assert len(answer) == captcha.LENGTH and set(answer) <= set(captcha.ALPHABET)
    assert answer not in page
    for cookie in response.headers.getlist("Set-Cookie"):
        assert answer not in cookie
    with client.session_transaction() as session:
        assert answer not in repr(dict(session))


def test_alphabet_has_no_look_alikes_and_only_what_the_voice_speaks():
    assert not set(captcha.ALPHABET) & set("0O1IL2Z5S8B6GQ")
    assert set(captcha.ALPHABET) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def test_right_answer_passes_once_and_ignores_case_and_spaces(app):
    challenge_id, answer = _new(app)
    assert _verify(app, challenge_id, f" {answer[:2].lower()} {answer[2:]} ")
    assert not _verify(app, challenge_id, answer)


def test_wrong_answer_uses_the_challenge_up(app):
    challenge_id, answer = _new(app)
    assert not _verify(app, challenge_id, "WRONG")
    assert not _verify(app, challenge_id, answer)


def test_expired_or_unknown_challenges_fail(app):
    challenge_id, answer = _new(app)
    with app.app_context():
        db.session.execute(
            sa.update(CaptchaChallenge).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    assert not _verify(app, challenge_id, answer)
    assert not _verify(app, "no-such-id", answer)
    assert not _verify(app, None, answer)
    assert not _verify(app, "x" * 500, answer)


def test_old_challenges_are_swept(app):
    old_id, _answer = _new(app)
    with app.app_context():
        db.session.execute(
            sa.update(CaptchaChallenge).values(expires_at=utcnow() - timedelta(days=2))
        )
        db.session.commit()
    _new(app)
    with app.app_context():
        assert db.session.get(CaptchaChallenge, old_id) is None


def test_picture_and_audio_are_served_without_caching(app, client):
    challenge_id, _answer = _new(app)
    image = client.get(f"/captcha/{challenge_id}.png")
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.data.startswith(b"\x89PNG")
    assert image.headers["Cache-Control"] == "no-store"
    audio = client.get(f"/captcha/{challenge_id}.wav")
    assert audio.status_code == 200 and audio.mimetype == "audio/wav"
    assert audio.data[:4] == b"RIFF" and audio.data[8:12] == b"WAVE"
    assert audio.headers["Cache-Control"] == "no-store"


def test_used_expired_and_unknown_pictures_are_404(app, client):
    challenge_id, answer = _new(app)
    _verify(app, challenge_id, answer)
    assert client.get(f"/captcha/{challenge_id}.png").status_code == 404
    assert client.get(f"/captcha/{challenge_id}.wav").status_code == 404
    assert client.get("/captcha/nothing.png").status_code == 404


def test_new_picture_is_a_fragment_never_pushed_to_history(client):
    first = client.get("/forgot-password").get_data(as_text=True)
    response = client.htmx("GET", "/captcha/new")
    fragment = response.get_data(as_text=True)
    assert response.status_code == 200
    assert swapped(fragment).startswith('<div id="captcha-picture"')
    assert "<header" not in fragment
    assert "HX-Push-Url" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert "HX-Request" in response.headers["Vary"]
    new_id = re.search(r'name="captcha_id" value="([^"]+)"', fragment).group(1)
    assert new_id not in first


def test_test_answer_is_accepted_only_in_testing(app_config):
    app_config.update(CAPTCHA_TEST_ANSWER="e2e-pass")
    app = create_app(app_config)
    challenge_id, _answer = _new(app)
    assert _verify(app, challenge_id, "E2E-PASS")
    challenge_id, _answer = _new(app)
    assert not _verify(app, challenge_id, "something else")
    # Without it, that word is just a wrong answer.
    app_config.pop("CAPTCHA_TEST_ANSWER")
    plain = create_app(app_config)
    challenge_id, _answer = _new(plain)
    assert not _verify(plain, challenge_id, "e2e-pass")
    with app.app_context():
        db.engine.dispose()
    with plain.app_context():
        db.engine.dispose()


def test_app_refuses_to_start_with_a_test_answer_outside_testing(app_config):
    app_config.update(CAPTCHA_TEST_ANSWER="e2e-pass", TESTING=False)
    with pytest.raises(ConfigError, match="LKAPP_TESTING"):
        create_app(app_config)


@pytest.mark.sqlite_only
def test_environment_switches_for_end_to_end_tests(monkeypatch, tmp_path, database_url):
    monkeypatch.setenv("LKAPP_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("LKAPP_DATABASE_URL", database_url)
    monkeypatch.setenv("LKAPP_CAPTCHA_TEST_ANSWER", "e2e-pass")
    monkeypatch.delenv("LKAPP_TESTING", raising=False)
    with pytest.raises(ConfigError, match="only allowed together with LKAPP_TESTING=1"):
        create_app()
    monkeypatch.setenv("LKAPP_TESTING", "1")
    app = create_app()
    assert app.config["TESTING"] is True
    challenge_id, _answer = _new(app)
    assert _verify(app, challenge_id, "e2e-pass")
    with app.app_context():
        db.engine.dispose()


def test_new_picture_is_rate_limited(app_config):
    app_config.update(RATELIMIT_ENABLED=True, RATELIMIT_CAPTCHA="2 per minute")
    app = create_app(app_config)
    app.test_client_class = Client
    client = app.test_client()
    statuses = [client.get("/captcha/new").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("url", ["/forgot-password", "/support/ask"])
def test_a_page_that_draws_a_picture_is_limited_as_a_new_picture_is(app_config, url):
    """Each view of these pages writes a challenge, kept a day: reloading them was a way
    round the limit of ``/captcha/new`` to fill the table (and hold SQLite's one writer)."""
    app_config.update(RATELIMIT_ENABLED=True, RATELIMIT_CAPTCHA="2 per minute")
    app = create_app(app_config)
    app.test_client_class = Client
    client = app.test_client()
    statuses = [client.get(url).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(CaptchaChallenge.id))) == 2
        db.engine.dispose()


def test_asking_from_the_account_draws_no_picture_and_has_no_such_limit(app_config, make_user):
    make_user()
    app_config.update(RATELIMIT_ENABLED=True, RATELIMIT_CAPTCHA="2 per minute")
    app = create_app(app_config)
    app.test_client_class = Client
    client = app.test_client()
    AuthActions(client).login()
    assert [client.get("/support/ask").status_code for _ in range(3)] == [200, 200, 200]
    with app.app_context():
        db.engine.dispose()
