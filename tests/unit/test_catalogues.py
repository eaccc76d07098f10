"""Every text of the source is translated in the Russian and Hungarian catalogues."""

from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None}


def _source_messages() -> set[str]:
    found = set()
    sources = [
        ("lkapp", [("**.py", "python")], {}),
        (
            "templates",
            [("**.html", "jinja2"), ("**.txt", "jinja2")],
            {"**.html": {"extensions": "jinja2.ext.do"}, "**.txt": {"extensions": "jinja2.ext.do"}},
        ),
    ]
    for folder, method_map, options in sources:
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map, options_map=options, keywords=KEYWORDS
        ):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


@pytest.mark.parametrize("locale", ["ru", "hu"])
def test_catalogue_translates_every_source_text(locale):
    with open(ROOT / f"lkapp/translations/{locale}/LC_MESSAGES/messages.po", "rb") as file:
        catalogue = read_po(file)
    translated = {
        (m.id[0] if isinstance(m.id, tuple) else m.id)
        for m in catalogue
        if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, tuple) else m.string)
    }
    missing = sorted(_source_messages() - translated)
    assert missing == [], f"{len(missing)} texts untranslated; run `make translations`"
