"""Configuration: defaults, then ``instance/config.py``, then ``LKAPP_*`` environment variables.

Every setting an operator may change has an ``LKAPP_`` variable of the same name
(``LKAPP_DATABASE_URL`` is the one exception in naming: it feeds ``SQLALCHEMY_DATABASE_URI``).
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import timedelta
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.utils import getaddresses, parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from limits import parse_many
from limits.errors import ConfigurationError
from limits.storage import storage_from_string
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .domain.accounts import ascii_domain


class ConfigError(click.ClickException):
    """A setting is missing or malformed; the message is one line for an operator.

    A ClickException, so the ``flask`` command prints ``Error: ...`` and exits 1, no traceback.
    """


DEFAULTS = {
    "ENV": "development",
    "UTILITY_NAME": "City Power Supply",
    "UTILITY_DETAILS": "Tax ID 7700000000 · 1 Energy Street · +1 555 0100",
    "UTILITY_BANK_ACCOUNT": "HU42 1177 3016 1111 1018 0000 0000",
    "UTILITY_BANK_BIC": "OTPVHUHB",
    "CURRENCY": "EUR",
    "TIMEZONE": "Europe/Budapest",
    "READINGS_WINDOW": "15-25",
    "CODE_TTL_DAYS": 30,
    "LANGUAGES": ["en", "ru", "hu"],
    "BABEL_DEFAULT_LOCALE": "en",
    "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
    "MAIL_SERVER": "",
    "MAIL_PORT": 25,
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_USE_TLS": False,
    "MAIL_USE_SSL": False,
    "MAIL_DEFAULT_SENDER": "My Account <no-reply@localhost>",
    # Where a customer's Reply goes (the sender is a no-reply address); empty: no Reply-To.
    "MAIL_REPLY_TO": "",
    "MAIL_TIMEOUT": 10,
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_HEADERS_ENABLED": True,
    # Redis down: each worker counts in its own memory until Redis answers again (checked at
    # growing intervals), and any other error of the limiter is logged instead of a 500.
    "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
    "RATELIMIT_SWALLOW_ERRORS": True,
    # Per-IP limits of the account forms (POSTs) and captcha media; the per-account brute-force
    # rule is separate and kept in the database (lkapp.domain.accounts).
    "RATELIMIT_SIGNIN": "20 per minute",
    "RATELIMIT_REGISTER": "10 per hour",
    "RATELIMIT_RECOVERY": "10 per hour",
    "RATELIMIT_CAPTCHA": "30 per minute",
    "RATELIMIT_CAPTCHA_AUDIO": "10 per minute",
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    # Seconds a statement waits for a lock another transaction holds before the request is
    # answered 503 (SQLite busy_timeout, PostgreSQL lock_timeout); see lkapp.database.
    "DATABASE_LOCK_TIMEOUT": 5.0,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_DURATION": timedelta(days=30),
    # A browser's random id, to tell a sign-in from a new device (lkapp.auth.sessions).
    "DEVICE_COOKIE_NAME": "lkapp_device",
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
    # The cookie only names a server-side session, whose idle and absolute limits are kept in
    # the database (lkapp.auth.sessions): signing it anew for every answer cost 0.13 ms and a
    # Set-Cookie header each time, and bought nothing.
    "SESSION_REFRESH_EACH_REQUEST": False,
    "WTF_CSRF_TIME_LIMIT": None,
    "MAX_CONTENT_LENGTH": 200 * 1024 * 1024,
    # How many reverse proxies (nginx) stand in front and set X-Forwarded-*; 0 trusts none.
    "TRUSTED_PROXIES": 0,
    # The portal's public host name: links in mail sent outside a request (notify, imports)
    # carry it, and requests naming another host are refused (see _check).
    "SERVER_NAME": None,
    "TRUSTED_HOSTS": None,
    "TESTING": False,
}

# Settings read from the environment and how to parse them.
_BOOL = {"1", "true", "yes", "on"}
ENV_SETTINGS = {
    "ENV": str,
    "SECRET_KEY": str,
    "DATABASE_URL": str,
    "UTILITY_NAME": str,
    "UTILITY_DETAILS": str,
    "UTILITY_BANK_ACCOUNT": str,
    "UTILITY_BANK_BIC": str,
    "CURRENCY": str,
    "TIMEZONE": str,
    "READINGS_WINDOW": str,
    "MAIL_SERVER": str,
    "MAIL_PORT": int,
    "MAIL_USERNAME": str,
    "MAIL_PASSWORD": str,
    "MAIL_USE_TLS": lambda v: v.lower() in _BOOL,
    "MAIL_USE_SSL": lambda v: v.lower() in _BOOL,
    "MAIL_DEFAULT_SENDER": str,
    "MAIL_REPLY_TO": str,
    "MAIL_TIMEOUT": float,
    "RATELIMIT_STORAGE_URI": str,
    "RATELIMIT_SIGNIN": str,
    "RATELIMIT_REGISTER": str,
    "RATELIMIT_RECOVERY": str,
    "MAX_CONTENT_LENGTH": int,
    "DATABASE_LOCK_TIMEOUT": float,
    "TRUSTED_PROXIES": int,
    "SERVER_NAME": str,
    "TRUSTED_HOSTS": lambda v: [host.strip() for host in v.split(",") if host.strip()],
    "TESTING": lambda v: v.lower() in _BOOL,
    "CAPTCHA_TEST_ANSWER": str,
}


def load_config(app, test_config: dict | None) -> None:
    """Fill ``app.config`` and check it; raises ConfigError with a one-line reason."""
    app.config.update(DEFAULTS)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(
        app.instance_path, "lkapp.sqlite3"
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        if app.config.get("DATABASE_URL"):  # as its environment twin, LKAPP_DATABASE_URL
            app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
        for name, parse in ENV_SETTINGS.items():
            raw = os.environ.get("LKAPP_" + name)
            if raw is None or raw == "":
                continue
            try:
                value = parse(raw)
            except ValueError:
                raise ConfigError(f"LKAPP_{name}={raw!r} is not a valid value") from None
            app.config["SQLALCHEMY_DATABASE_URI" if name == "DATABASE_URL" else name] = value
        if app.config["ENV"] == "production" and app.config["TESTING"]:
            raise ConfigError("LKAPP_TESTING is not allowed in production (it holds back mail)")
    else:
        app.config.update(test_config)

    _check(app)


def _check(app) -> None:
    config = app.config
    if config["ENV"] not in ("development", "production"):
        raise ConfigError("LKAPP_ENV must be 'development' or 'production'")
    try:
        url = make_url(config["SQLALCHEMY_DATABASE_URI"])
    except ArgumentError:
        # Shown without what may be its password (``user:secret@host``).
        shown = re.sub(r"//([^/:@]*):[^@/]*@", r"//\1:***@", str(config["SQLALCHEMY_DATABASE_URI"]))
        raise ConfigError(f"LKAPP_DATABASE_URL is not a database URL: {shown!r}") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError("LKAPP_DATABASE_URL must point to SQLite or PostgreSQL")
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        # psycopg 3 is the driver we ship; plain postgresql:// would look for psycopg2.
        config["SQLALCHEMY_DATABASE_URI"] = url.set(drivername="postgresql+psycopg")
    _parse_window(config["READINGS_WINDOW"])
    if config.get("CAPTCHA_TEST_ANSWER") and not config["TESTING"]:
        raise ConfigError("LKAPP_CAPTCHA_TEST_ANSWER is only allowed together with LKAPP_TESTING=1")
    try:
        ZoneInfo(config["TIMEZONE"])
    except (ValueError, ZoneInfoNotFoundError):
        raise ConfigError(
            f"LKAPP_TIMEZONE={config['TIMEZONE']!r} is not a time zone (e.g. Europe/Budapest)"
        ) from None
    _check_rate_limits(config)

    config["BABEL_DEFAULT_TIMEZONE"] = config["TIMEZONE"]
    production = config["ENV"] == "production"
    if production and config["MAIL_SERVER"]:
        sender = parseaddr(config["MAIL_DEFAULT_SENDER"])[1]
        if sender.rpartition("@")[2] in ("", "localhost"):
            raise ConfigError(
                "LKAPP_MAIL_DEFAULT_SENDER must be set in production, an address of the "
                'utility\'s domain (e.g. "City Power <no-reply@utility.example>"): mail from '
                f"{sender or 'no address'} is refused or taken for spam"
            )
        if not _is_address(config["MAIL_DEFAULT_SENDER"]):
            raise ConfigError(
                f"LKAPP_MAIL_DEFAULT_SENDER={config['MAIL_DEFAULT_SENDER']!r} is not a mail "
                'address (e.g. "City Power <no-reply@utility.example>"): no mail could be sent '
                "from it"
            )
    if production and config["MAIL_REPLY_TO"] and not _is_address(config["MAIL_REPLY_TO"]):
        raise ConfigError(
            f"LKAPP_MAIL_REPLY_TO={config['MAIL_REPLY_TO']!r} is not a mail address (e.g. "
            '"City Power Support <support@utility.example>"): no mail could be sent with it; '
            "leave it empty for no Reply-To"
        )
    if not config.get("SECRET_KEY"):
        if production:
            raise ConfigError("LKAPP_SECRET_KEY must be set in production")
        config["SECRET_KEY"] = _development_secret(app.instance_path)
    elif production and len(config["SECRET_KEY"]) < MIN_SECRET_KEY:
        # It signs the session cookies and every link mailed: a short one can be guessed.
        raise ConfigError(
            f"LKAPP_SECRET_KEY must have at least {MIN_SECRET_KEY} characters in production "
            "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    _check_hosts(config, production)
    config["SESSION_COOKIE_SECURE"] = production
    config["REMEMBER_COOKIE_SECURE"] = production
    if production:
        config["SESSION_COOKIE_NAME"] = "__Host-session"
        config["REMEMBER_COOKIE_NAME"] = "__Host-remember"
        config["DEVICE_COOKIE_NAME"] = "__Host-device"
        config["PREFERRED_URL_SCHEME"] = "https"


def _check_rate_limits(config) -> None:
    """A limit Flask-Limiter cannot read is skipped at each request (a line in the log, and no
    limit at all); a storage it cannot use fails every command. Say so at start instead."""
    for name in ("RATELIMIT_SIGNIN", "RATELIMIT_REGISTER", "RATELIMIT_RECOVERY"):
        try:
            parse_many(config[name])
        except ValueError:
            raise ConfigError(
                f'LKAPP_{name}={config[name]!r} is not a rate limit (e.g. "20 per minute")'
            ) from None
    try:
        storage_from_string(config["RATELIMIT_STORAGE_URI"])
    except ConfigurationError as error:
        raise ConfigError(f"LKAPP_RATELIMIT_STORAGE_URI cannot be used: {error}") from None


MIN_SECRET_KEY = 32

# Names a request may always use: health checks and monitoring on the machine itself.
LOCAL_HOSTS = ["localhost", "127.0.0.1"]


def _check_hosts(config, production: bool) -> None:
    """Links in password-reset and confirmation mail are built from the request's host; a
    forged ``Host`` header would make them point elsewhere. So with ``SERVER_NAME`` set, only
    that name (and the machine's own) is accepted, unless ``TRUSTED_HOSTS`` says otherwise;
    production needs it."""
    server_name = config.get("SERVER_NAME")
    if not server_name:
        if production:
            raise ConfigError(
                "LKAPP_SERVER_NAME must be set in production (the portal's host name, "
                "e.g. my.utility.example)"
            )
        return
    if config.get("TRUSTED_HOSTS") is None:
        config["TRUSTED_HOSTS"] = [server_name.split(":")[0], *LOCAL_HOSTS]


def _is_address(value: str) -> bool:
    """One address customers can write to, with or without a display name, as the outbox
    writes it in a header (lkapp.services.mail): an ASCII local part, the domain in punycode."""
    addresses = getaddresses([value])
    if len(addresses) != 1:
        return False
    name, address = addresses[0]
    local, _, domain = address.rpartition("@")
    if not local or "." not in domain:
        return False
    try:  # the domain as the outbox writes it
        Address(name, addr_spec=f"{local}@{ascii_domain(domain)}")
    except (ValueError, HeaderParseError):  # IDNAError (the domain) is a ValueError
        return False
    return True


def _parse_window(window: str) -> tuple[int, int]:
    try:
        first, last = (int(part) for part in window.split("-"))
    except ValueError:
        raise ConfigError(f"LKAPP_READINGS_WINDOW must look like 15-25, not {window!r}") from None
    if not 1 <= first <= last <= 28:
        raise ConfigError("LKAPP_READINGS_WINDOW days must be within 1-28, first before last")
    return first, last


def _development_secret(instance_path: str) -> str:
    """A per-checkout random key, so development never runs on a well-known secret."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
