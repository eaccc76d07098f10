"""HTML → PDF with xhtml2pdf, in a font that has Cyrillic and Hungarian letters.

reportlab's bundled fonts lack Cyrillic and ő/ű, and xhtml2pdf silently falls back to
Helvetica when it cannot find a font (the text then comes out blank with ``err == 0``). So the
DejaVu faces of ``FONT_DIR`` are registered with reportlab once per process and named as the
families "DejaVu Sans" (regular and bold) and "DejaVu Sans Mono" in xhtml2pdf's font table,
which every document starts from; a missing font file or an unembedded font raises ``PdfError``.
Declaring them with ``@font-face`` instead would make xhtml2pdf read and hash the 1.8 MB of font
files for every document (4 of an invoice's 40 ms); the PDFs come out the same byte for byte.
Documents fetch nothing: any URL a template names resolves to nothing (images are ``data:``).

Templates need nothing special: the default family is "DejaVu Sans", and
``code``/``pre`` use "DejaVu Sans Mono".
xhtml2pdf is imported on first use (about 0.3 s) and renders one document at a time per
process, hence the lock.

Page totals ("Page 2 / 3"): xhtml2pdf's ``<pdf:pagecount>`` lays every document out twice.
``render_paged_pdf`` instead writes the total into the HTML itself: it renders once with a
total of 1 (what almost every invoice is) and again only when the PDF has more pages.

Two caches: ``render_pdf(html, cache=True)`` keeps recent results keyed by the HTML; and
``cached_pdf(content, make_html, cache_dir=...)`` is keyed by the *data* the PDF shows (plus
what it is rendered with: templates, catalogues, formats), so a hit costs neither the
template, nor the QR code, nor xhtml2pdf. It looks in this process's LRU first, then in
``cache_dir`` (files shared by every worker and kept across restarts; the folder is a pure
cache, safe to delete at any time), and renders only on a miss. Use it only for content that
is the same for whoever may see it (a document), never for secrets (a code slip).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
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
# reportlab's name of each face, by the file it is read from.
_FACES = {
    "DejaVuSans": FONT_FILES["regular"],
    "DejaVuSans-Bold": FONT_FILES["bold"],
    "DejaVuSansMono": FONT_FILES["mono"],
}

_FONT_CSS = f"""
html, body, p, div, span, td, th, h1, h2, h3, h4, h5, h6, li, dt, dd, b, strong, em, i {{
  font-family: "{FONT_FAMILY}"; }}
code, pre, tt, kbd, samp {{ font-family: "{MONO_FAMILY}"; }}
"""

_lock = threading.Lock()
_CACHE_SIZE = 32
_cache: OrderedDict[str, bytes] = OrderedDict()
_reportlab_fonts: Path | None = None  # the folder the registered faces were read from


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

    policy = ResourceAccessPolicy.server(base_dir=font_dir, allow_remote=False)
    out = io.BytesIO()
    with _lock:
        _prepare_reportlab(font_dir)
        result = pisa.pisaDocument(
            html,
            dest=out,
            link_callback=_fetch_nothing,
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


def _fetch_nothing(_uri: str, _relative: str) -> str:
    return ""


def _prepare_reportlab(font_dir: Path) -> None:
    """Once per process and font folder (under ``_lock``): register the fonts (see the
    module's docstring) and write streams in binary; ASCII85 only makes them a quarter larger,
    for 7-bit channels no PDF travels over now, and costs 1.5 ms a document."""
    global _reportlab_fonts
    if _reportlab_fonts == font_dir:
        return
    from reportlab import rl_config
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from xhtml2pdf import default

    for name, file in _FACES.items():
        pdfmetrics.registerFont(TTFont(name, str(font_dir / file)))
    for bold in (0, 1):
        for italic in (0, 1):  # no oblique faces: italics are drawn upright, as before
            addMapping("DejaVuSans", bold, italic, "DejaVuSans-Bold" if bold else "DejaVuSans")
            addMapping("DejaVuSansMono", bold, italic, "DejaVuSansMono")
    default.DEFAULT_FONT[FONT_FAMILY.lower()] = "DejaVuSans"
    default.DEFAULT_FONT[MONO_FAMILY.lower()] = "DejaVuSansMono"
    rl_config.useA85 = 0
    _reportlab_fonts = font_dir


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
    templates, catalogues and formats it is rendered with): the key is its hash, so the cache
    never serves a stale PDF and needs no invalidation. Order of lookup: this process's LRU,
    then ``cache_dir/<key>.pdf``. A file's modification time is when it was last served from
    there (see ``prune_cache``).
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
        elif data is not None:
            _mark_used(path)
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


def instance_cache_dir() -> Path:
    """The app's shared PDF cache: ``instance/pdf-cache``."""
    from flask import current_app

    return Path(current_app.instance_path) / "pdf-cache"


def _mark_used(path: Path) -> None:
    with contextlib.suppress(OSError):  # read-only, or just pruned: the PDF is still served
        os.utime(path)


def prune_cache(cache_dir: Path, unused_for: timedelta) -> tuple[int, int]:
    """Delete the cached PDFs not served from ``cache_dir`` for ``unused_for`` (and temp files
    a killed worker left): the cache keeps every version of every document ever downloaded,
    about 50 KB each. Returns (files deleted, bytes freed); a deleted PDF is rendered again
    when it is next asked for."""
    cutoff = time.time() - unused_for.total_seconds()
    removed = freed = 0
    for path in cache_dir.glob("*.pdf") if cache_dir.is_dir() else ():
        try:
            stat = path.stat()
            if stat.st_mtime < cutoff:
                path.unlink()
                removed += 1
                freed += stat.st_size
        except FileNotFoundError:
            continue  # another worker or prune got there first
    return removed, freed


def clear_cache() -> None:
    """Forget the in-process cache (tests; the files of a ``cache_dir`` stay)."""
    with _lock:
        _cache.clear()
