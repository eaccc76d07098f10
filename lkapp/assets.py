"""Static files under versioned URLs: ``/static/css/app.css?v=3f2a9c1b7e4d``.

nginx serves ``/static/`` with a one-year, immutable cache (deploy/nginx-lkapp.conf). The
version is a hash of the file's content, so it changes exactly when the file does: after a
deploy browsers fetch the new stylesheet at once, and never a stale one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask

_versions: dict[tuple[str, int], str | None] = {}


def version_of(path: Path) -> str | None:
    """The first 12 hex digits of the file's SHA-256, or None when there is no such file.
    Cached by path and modification time, so an edited file gets a new version at once."""
    try:
        key = (str(path), path.stat().st_mtime_ns)
        if key not in _versions:
            _versions[key] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:  # no such file (or a folder): the URL stays as it is
        return None
    return _versions[key]


def register(app: Flask) -> None:
    static = Path(app.static_folder)

    @app.url_defaults
    def versioned_static(endpoint: str, values: dict) -> None:
        if endpoint != "static" or "v" in values:
            return
        version = version_of(static / values.get("filename", ""))
        if version:
            values["v"] = version
