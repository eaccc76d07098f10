"""Captcha challenges: a picture (and its spoken variant) whose answer stays on the server.

A challenge is a row: a random id, the keyed hash of the answer, an expiry (10 minutes) and
the time it was used. The answer itself is derived from the id with the secret key, so the
picture and audio routes can draw it again without storing it in clear; neither the answer nor
anything it can be computed from reaches the client (the id alone is useless without the key).
A challenge is checked at most once: the check consumes it, right or wrong, and a wrong answer
deletes it (a used challenge left is one answered right: ``solved_moments_ago``).

For automated end-to-end tests, ``CAPTCHA_TEST_ANSWER`` (allowed only with ``TESTING``, see
config.py) is accepted as the answer of any live challenge.

The ``captcha`` package is imported only when a picture or a sound is drawn.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import CaptchaChallenge, utcnow
from ..security import keyed_digest

# Letters and digits that neither the picture nor the voice confuse: no 0/O/Q, 1/I/L, 2/Z,
# 5/S, 8/B, 6/G; DroidSansMono (the package's font) draws ASCII cleanly, the audio speaks
# 0-9 and A-Z in English.
ALPHABET = "ACDEFHJKMNPRTUVWXY3479"
LENGTH = 5
TTL = timedelta(minutes=10)
# A form sent twice (a double click) comes again with the picture its first copy used up.
SENT_AGAIN_WITHIN = timedelta(minutes=1)
IMAGE_SIZE = (200, 70)


def new_challenge() -> CaptchaChallenge:
    """Add a fresh challenge (flushes); expired ones older than a day are swept on the way."""
    now = utcnow()
    db.session.execute(
        sa.delete(CaptchaChallenge).where(CaptchaChallenge.expires_at < now - timedelta(days=1))
    )
    challenge_id = secrets.token_urlsafe(32)
    challenge = CaptchaChallenge(
        id=challenge_id,
        answer_hash=_answer_hash(answer_for(challenge_id)),
        created_at=now,
        expires_at=now + TTL,
    )
    db.session.add(challenge)
    db.session.flush()
    return challenge


def answer_for(challenge_id: str) -> str:
    """The characters of a challenge: derived from its id with the secret key."""
    digest = hmac.new(
        current_app.config["SECRET_KEY"].encode(),
        b"captcha-answer:" + challenge_id.encode(),
        hashlib.sha256,
    ).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(LENGTH):
        number, index = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[index])
    return "".join(chars)


def normalize(typed: str) -> str:
    """What the user typed, without spaces, upper-case (the code is not case-sensitive)."""
    return "".join(typed.split()).upper()


def live_challenge(challenge_id: str) -> CaptchaChallenge | None:
    """The challenge if it exists, is unused and has not expired."""
    if not challenge_id or len(challenge_id) > 43:
        return None
    challenge = db.session.get(CaptchaChallenge, challenge_id)
    if challenge is None or challenge.used_at is not None or challenge.expires_at <= utcnow():
        return None
    return challenge


def verify(challenge_id: str | None, typed: str | None) -> bool:
    """True when ``typed`` answers the live challenge ``challenge_id``; uses it up either way
    (a wrong answer deletes it).

    The challenge is taken with one conditional UPDATE, so two requests racing with the same
    id cannot both pass.
    """
    if not challenge_id or not typed or len(challenge_id) > 43:
        return False
    now = utcnow()
    taken = db.session.execute(
        sa.update(CaptchaChallenge)
        .where(
            CaptchaChallenge.id == challenge_id,
            CaptchaChallenge.used_at.is_(None),
            CaptchaChallenge.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        return False
    stored = db.session.scalar(
        sa.select(CaptchaChallenge.answer_hash).where(CaptchaChallenge.id == challenge_id)
    )
    if _answers(typed, stored or ""):
        return True
    db.session.execute(sa.delete(CaptchaChallenge).where(CaptchaChallenge.id == challenge_id))
    return False


def solved_moments_ago(challenge_id: str | None, typed: str | None) -> bool:
    """True when ``typed`` answers the challenge ``challenge_id`` used up within
    ``SENT_AGAIN_WITHIN`` (so answered right: a wrong answer deleted it): the same form sent a
    second time, after its first copy passed ``verify``. The caller answers as the first copy
    was answered, and does nothing again."""
    if not challenge_id or not typed or len(challenge_id) > 43:
        return False
    challenge = db.session.get(CaptchaChallenge, challenge_id)
    if (
        challenge is None
        or challenge.used_at is None
        or challenge.used_at < utcnow() - SENT_AGAIN_WITHIN
    ):
        return False
    return _answers(typed, challenge.answer_hash)


def _answers(typed: str, answer_hash: str) -> bool:
    answer = normalize(typed)
    test_answer = _test_answer()
    if test_answer and hmac.compare_digest(answer.encode(), normalize(test_answer).encode()):
        return True
    return hmac.compare_digest(_answer_hash(answer), answer_hash)


def image_png(challenge: CaptchaChallenge) -> bytes:
    """The picture of a live challenge (new noise each time, same characters)."""
    from captcha.image import ImageCaptcha

    width, height = IMAGE_SIZE
    picture = ImageCaptcha(width=width, height=height)
    return picture.generate(answer_for(challenge.id), format="png").getvalue()


def audio_wav(challenge: CaptchaChallenge) -> bytes:
    """The spoken variant: the same characters, read out one by one (English voice)."""
    from captcha.audio import AudioCaptcha

    sound = AudioCaptcha()
    return bytes(sound.generate(answer_for(challenge.id)))


def _answer_hash(answer: str) -> str:
    return keyed_digest(current_app.config["SECRET_KEY"], "captcha:" + normalize(answer))


def _test_answer() -> str:
    config = current_app.config
    # config.py refuses to start with the test answer but without TESTING; check again here
    # so that no other way of building the config can open this door in production.
    if config.get("TESTING") and config.get("CAPTCHA_TEST_ANSWER"):
        return str(config["CAPTCHA_TEST_ANSWER"])
    return ""


__all__ = ["ALPHABET", "LENGTH", "TTL", "answer_for", "live_challenge", "new_challenge", "verify"]
