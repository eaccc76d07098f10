"""Captcha pictures, their spoken variant, and the "New picture" fragment.

Any form can ask for a captcha: render ``_captcha.html`` with ``challenge`` (from
``lkapp.services.captcha.new_challenge``) inside the form, next to a "Code from the picture"
field, and check it with ``captcha.verify(request.form.get("captcha_id"), typed)``.
"""

from __future__ import annotations

from flask import abort, current_app, make_response, render_template

from ..extensions import db, limiter
from ..services import captcha as captchas
from .views import bp


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/captcha/new")
@limiter.limit(lambda: current_app.config["RATELIMIT_CAPTCHA"])
def captcha_new():
    """A fresh picture for the form (htmx swaps it in; never pushed to history)."""
    challenge = captchas.new_challenge()
    db.session.commit()
    response = make_response(render_template("_captcha.html", challenge=challenge, fresh=True))
    response.vary.add("HX-Request")
    return _no_store(response)


@bp.get("/captcha/<challenge_id>.png")
@limiter.limit(lambda: current_app.config["RATELIMIT_CAPTCHA"])
def captcha_image(challenge_id: str):
    challenge = captchas.live_challenge(challenge_id)
    if challenge is None:
        abort(404)
    response = make_response(captchas.image_png(challenge))
    response.mimetype = "image/png"
    return _no_store(response)


@bp.get("/captcha/<challenge_id>.wav")
@limiter.limit(lambda: current_app.config["RATELIMIT_CAPTCHA_AUDIO"])
def captcha_audio(challenge_id: str):
    challenge = captchas.live_challenge(challenge_id)
    if challenge is None:
        abort(404)
    response = make_response(captchas.audio_wav(challenge))
    response.mimetype = "audio/wav"
    return _no_store(response)
