"""Locale-aware formatting of money, numbers and dates for templates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask import current_app
from flask_babel import format_currency, format_date, format_datetime, format_decimal, get_locale


def money(amount: Decimal | None) -> str:
    if amount is None:
        return ""
    return format_currency(amount, current_app.config["CURRENCY"])


def number(value: Decimal | int | None, digits: int = 0) -> str:
    if value is None:
        return ""
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern)


def day(value: date | None, style: str = "medium") -> str:
    return format_date(value, style) if value else ""


def moment(value: datetime | None, style: str = "medium") -> str:
    """A UTC time shown in the deployment's time zone."""
    return format_datetime(value, style) if value else ""


def month(value: date | None) -> str:
    return format_date(value, "LLLL y") if value else ""


def register(app) -> None:
    app.jinja_env.add_extension("jinja2.ext.do")
    app.add_template_filter(money)
    app.add_template_filter(number)
    app.add_template_filter(day)
    app.add_template_filter(moment)
    app.add_template_filter(month)

    @app.context_processor
    def portal_context():
        return {
            "utility_name": current_app.config["UTILITY_NAME"],
            "languages": current_app.config["LANGUAGES"],
            "current_locale": str(get_locale()),
        }
