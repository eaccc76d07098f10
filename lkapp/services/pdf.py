"""HTML → PDF with xhtml2pdf, in a font that has Cyrillic and Hungarian letters.

reportlab's bundled fonts lack Cyrillic and ő/ű, and xhtml2pdf silently falls back to
Helvetica when it cannot read a font (the text then comes out blank with ``err == 0``). So:
the DejaVu fonts are declared here for every document, fetched through a ``link_callback`` that
maps ``font:NAME`` to a file of ``FONT_DIR`` under a resource policy confined to that directory
(no network, no other files), and a missing or unembedded font raises ``PdfError``.

Templates need nothing special: the default family is "DejaVu Sans" (regular and bold), and
``code``/``pre`` use "DejaVu Sans Mono".
xhtml2pdf is imported on first use (about 0.3 s) and renders one document at a time per
process, hence the lock.

Page totals ("Page 2 / 3"): xhtml2pdf's ``<pdf:pagecount>`` lays every document out twice.
``render_paged_pdf`` instead writes the total into the HTML itself: it renders once with a
total of 1 (what almost every invoice is) and again only when the PDF has more pages.

Two caches: ``render_pdf(html, cache=True)`` keeps recent results keyed by the HTML; and
``cached_pdf(content, make_html, cache_dir=...)`` is keyed by the *data* the PDF shows (plus
the template version), so a hit costs neither the template, nor the QR code, nor xhtml2pdf. It
looks in this process's LRU first, then in ``cache_dir`` (files shared by every worker and kept
across restarts; the folder is a pure cache, safe to delete at any time), and renders only on a
miss. Use it only for content that is the same for whoever may see it (a document), never for
secrets (a code slip).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

# Debian's fonts-dejavu-core.
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = {
    "regular": "DejaVuSans.ttf",
    "bold": "DejaVuSans-Bold.ttf",
    "mono": "DejaVuSansMono.ttf",
}
FONT_FAMILY = "DejaVu Sans"
MONO_FAMILY = "DejaVu Sans Mono"
_FONT_SCHEME = "font:"

_FONT_CSS = f"""
@font-face {{ font-family: "{FONT_FAMILY}"; src: url("{_FONT_SCHEME}{FONT_FILES["regular"]}"); }}
@font-face {{ font-family: "{FONT_FAMILY}"; src: url("{_FONT_SCHEME}{FONT_FILES["bold"]}");
              font-weight: bold; }}
@font-face {{ font-family: "{MONO_FAMILY}"; src: url("{_FONT_SCHEME}{FONT_FILES["mono"]}"); }}
html, body, p, div, span, td, th, h1, h2, h3, h4, h5, h6, li, dt, dd, b, strong, em, i {{
  font-family: "{FONT_FAMILY}"; }}
code, pre, tt, kbd, samp {{ font-family: "{MONO_FAMILY}"; }}
"""

_lock = threading.Lock()
_CACHE_SIZE = 32
_cache: OrderedDict[str, bytes] = OrderedDict()


class PdfError(RuntimeError):
    """The PDF could not be made properly (a missing font counts: no blank text)."""


def check_fonts(font_dir: Path | None = None) -> None:
    """Raise PdfError unless every font file is present and readable."""
    font_dir = font_dir or FONT_DIR
    for name in FONT_FILES.values():
        path = font_dir / name
        if not path.is_file():
            raise PdfError(f"font {path} is missing: install Debian's fonts-dejavu-core")


def render_pdf(html: str, *, cache: bool = False, font_dir: Path | None = None) -> bytes:
    """The PDF of ``html`` (a full XHTML document). ``cache`` keeps recent results by content:
    use it for documents that are rendered again unchanged, never for ones holding secrets."""
    key = hashlib.sha256(html.encode()).hexdigest() if cache else ""
    if cache:
        with _lock:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key]
    font_dir = font_dir or FONT_DIR
    check_fonts(font_dir)

    from xhtml2pdf import pisa
    from xhtml2pdf.config.resources import ResourceAccessPolicy
    from xhtml2pdf.default import DEFAULT_CSS

    def link_callback(uri: str, _relative: str) -> str:
        # Only our fonts; anything else a template names resolves to nothing.
        if uri.startswith(_FONT_SCHEME):
            name = uri[len(_FONT_SCHEME) :]
            if name in FONT_FILES.values():
                return str(font_dir / name)
        return ""

    policy = ResourceAccessPolicy.server(base_dir=font_dir, allow_remote=False)
    out = io.BytesIO()
    with _lock:
        result = pisa.pisaDocument(
            html,
            dest=out,
            link_callback=link_callback,
            default_css=DEFAULT_CSS + _FONT_CSS,
            resource_policy=policy,
            encoding="utf-8",
        )
    data = out.getvalue()
    if result.err:
        raise PdfError(f"the PDF could not be rendered ({result.err} errors)")
    font_problems = [entry for entry in result.log if "font" in str(entry[2]).lower()]
    if font_problems or b"DejaVuSans" not in data:
        raise PdfError("the PDF font could not be embedded; its text would come out blank")
    if cache:
        with _lock:
            _cache[key] = data
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return data


def page_count(data: bytes) -> int:
    """The pages of a PDF that reportlab wrote (its page objects are never compressed)."""
    return len(re.findall(rb"/Type /Page\b(?!s)", data))


def render_paged_pdf(make_html: Callable[[int], str]) -> bytes:
    """The PDF of ``make_html(page_total)``: laid out once when the document has one page,
    twice otherwise (the second time with the real total)."""
    data = render_pdf(make_html(1))
    pages = page_count(data)
    return data if pages == 1 else render_pdf(make_html(pages))


def content_key(content) -> str:
    """A stable hash of plain data (dicts, lists, str, Decimal, dates) and of this module's
    font CSS: equal data, equal key; any change of figure, text or layout, a new key."""
    blob = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256((blob + _FONT_CSS).encode()).hexdigest()


def cached_pdf(content, make_html: Callable[[int], str], *, cache_dir: Path | None = None) -> bytes:
    """The PDF of ``make_html(page_total)`` (see ``render_paged_pdf``), rendered only when no
    PDF of the same ``content`` exists.

    ``content`` must hold everything the PDF shows (the document's data, the locale, the
    template version): the key is its hash, so the cache never serves a stale PDF and needs no
    invalidation. Order of lookup: this process's LRU, then ``cache_dir/<key>.pdf``.
    """
    key = "c:" + content_key(content)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    path = cache_dir / f"{key[2:]}.pdf" if cache_dir else None
    data = None
    if path is not None:
        try:
            data = path.read_bytes()
        except OSError:
            data = None
        if data is not None and not data.startswith(b"%PDF-"):
            data = None  # a damaged file: render again and replace it
    if data is None:
        data = render_paged_pdf(make_html)
        if path is not None:
            _write_atomically(path, data)
    with _lock:
        _cache[key] = data
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return data


def _write_atomically(path: Path, data: bytes) -> None:
    """Write through a temp file and rename, so another worker never reads half a PDF. A
    cache that cannot be written is no error: the PDF is still served."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pdf")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except OSError:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def clear_cache() -> None:
    """Forget the in-process cache (tests; the files of a ``cache_dir`` stay)."""
    with _lock:
        _cache.clear()
