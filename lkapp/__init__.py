"""lkapp: the customer portal ("My Account") of an electricity retail utility."""

from __future__ import annotations

import logging
import os
from functools import cache

from babel.core import Locale
from flask import Flask, g, request, session
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from .closing import CloseWhenSent
from .config import ConfigError, load_config
from .extensions import babel, csrf, db, limiter, login_manager, mail, migrate


class DatabaseIdConverter(IntegerConverter):
    """The app's ``<int:…>``: at most what a database integer holds, so that a longer number
    in a URL is a missing page (404), not an overflow in the database driver (500)."""

    def __init__(self, map, fixed_digits=0, min=None, max=2**63 - 1, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application; raises ConfigError (one line, for an operator) on bad settings."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    app = Flask(
        __name__,
        instance_path=os.environ.get("LKAPP_INSTANCE_PATH") or os.path.join(root, "instance"),
        instance_relative_config=True,
        template_folder=os.path.join(root, "templates"),
        static_folder=os.path.join(root, "static"),
    )
    app.url_map.converters["int"] = DatabaseIdConverter
    os.makedirs(app.instance_path, exist_ok=True)
    load_config(app, test_config)
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO)
    app.wsgi_app = CloseWhenSent(app.wsgi_app)
    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    elif app.config["ENV"] == "production":
        warn_of_an_untrusted_proxy(app)

    register_extensions(app)
    from .security import limit_request_body, refuse_nul_characters

    app.url_value_preprocessor(limit_request_body)  # before the blueprints' own
    app.url_value_preprocessor(refuse_nul_characters)
    register_blueprints(app)
    register_errorhandlers(app)
    register_security_headers(app)
    register_template_helpers(app)
    from . import cli

    cli.register(app)
    return app


def warn_of_an_untrusted_proxy(app: Flask) -> None:
    """Production behind nginx with ``LKAPP_TRUSTED_PROXIES`` left at 0: every client is the
    proxy's address, so one client's failed sign-ins use up everybody's per-IP limits and the
    audit log names no one. Said once per worker, at the first request a proxy forwarded."""
    warned = False

    @app.before_request
    def _warn():
        nonlocal warned
        if not warned and "X-Forwarded-For" in request.headers:
            warned = True
            app.logger.warning(
                "A request came through a proxy (X-Forwarded-For) but LKAPP_TRUSTED_PROXIES "
                "is 0: every client counts as %s for rate limits and the audit log. Set "
                "LKAPP_TRUSTED_PROXIES=1 behind nginx.",
                request.remote_addr,
            )


def register_extensions(app: Flask) -> None:
    from .forms import use_faster_html_params

    use_faster_html_params()
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(app.root_path, os.pardir, "migrations"))
    csrf.init_app(app)
    mail.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale)

    from .auth import sessions

    login_manager.init_app(app)
    login_manager.user_loader(sessions.load_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = None  # our server-side sessions do this job

    from .database import configure_engine

    with app.app_context():
        configure_engine(db.engine, lock_timeout=app.config["DATABASE_LOCK_TIMEOUT"])

    from .services import mail as outbox

    app.after_request(outbox.deliver_queued)

    from .services import notify

    notify.install()  # "new document" notices queued by every billing import


def register_blueprints(app: Flask) -> None:
    from .auth.views import bp as auth_bp
    from .documents.views import bp as documents_bp
    from .electricity.views import bp as electricity_bp
    from .main.views import bp as main_bp
    from .payments.views import bp as payments_bp
    from .readings.all_meters import bp as readings_all_bp
    from .readings.staff import bp as readings_staff_bp
    from .readings.views import bp as readings_bp
    from .staff.views import bp as staff_bp
    from .support.staff import bp as support_staff_bp
    from .support.views import bp as support_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(electricity_bp, url_prefix="/electricity")
    app.register_blueprint(documents_bp, url_prefix="/electricity")
    app.register_blueprint(payments_bp, url_prefix="/electricity")
    app.register_blueprint(readings_bp, url_prefix="/electricity")
    app.register_blueprint(readings_all_bp, url_prefix="/readings")
    app.register_blueprint(staff_bp, url_prefix="/staff")
    app.register_blueprint(readings_staff_bp, url_prefix="/staff/readings")
    app.register_blueprint(support_bp, url_prefix="/support")
    app.register_blueprint(support_staff_bp, url_prefix="/staff/questions")


def select_locale() -> Locale:
    """The signed-in user's language, else the session's choice, else the browser's."""
    return locale_object(_select_language())


@cache
def locale_object(code: str) -> Locale:
    """One Locale object per language, so that the formatting caches keyed by the locale hit
    on identity (``Locale.__eq__`` is slow, and Flask-Babel would parse a new one each request)."""
    return Locale.parse(code)


def _select_language() -> str:
    languages = g.get("languages_override") or _languages()
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    if session.get("locale") in languages:
        return session["locale"]
    return request.accept_languages.best_match(languages) or languages[0]


def _languages() -> list[str]:
    from flask import current_app

    return current_app.config["LANGUAGES"]


def register_errorhandlers(app: Flask) -> None:
    from flask_wtf.csrf import CSRFError
    from sqlalchemy.exc import SQLAlchemyError
    from werkzeug.exceptions import HTTPException

    from .main.errors import (
        handle_csrf_error,
        handle_database_error,
        handle_http_error,
        handle_unexpected_error,
    )

    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(SQLAlchemyError, handle_database_error)  # 503 when unavailable
    app.register_error_handler(Exception, handle_unexpected_error)


CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def register_security_headers(app: Flask) -> None:
    production = app.config["ENV"] == "production"

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if production:
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if session.get("_user_id"):
            # Pages of an account must not stay in shared caches or the back-forward cache.
            # The session's claim is enough: loading the user here would cost a query on
            # every response (static files too) and fail them all when the database is away.
            headers.setdefault("Cache-Control", "no-store")
        return response


def register_template_helpers(app: Flask) -> None:
    from . import assets, formatting

    formatting.register(app)
    assets.register(app)


__all__ = ["ConfigError", "create_app"]
