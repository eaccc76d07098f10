"""The WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

from lkapp import create_app

app = create_app()
