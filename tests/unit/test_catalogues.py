"""Every text of the source is translated in the Russian and Hungarian catalogues."""

import gettext
import re
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


def _catalogue(locale: str):
    with open(ROOT / f"lkapp/translations/{locale}/LC_MESSAGES/messages.po", "rb") as file:
        return read_po(file)


def _translations(locale: str) -> list[str]:
    return [
        text
        for message in _catalogue(locale)
        if message.id
        for text in (message.string if isinstance(message.string, tuple) else (message.string,))
    ]


@pytest.mark.parametrize(
    ("singular", "plural", "singular_only"),
    [
        ("A new document is in My Account:", "New documents are in My Account:", "появился"),
        (
            "An invoice of your contract has passed its due date and is not paid in full:",
            "Invoices of your contracts have passed their due date and are not paid in full:",
            "вашему договору",
        ),
        (
            "The overdue debt of your contract is paid. Thank you.",
            "The overdue debt of your contracts is paid. Thank you.",
            "вашему договору",
        ),
        (
            "Waiting for readings: contract %(numbers)s.",
            "Waiting for readings: contracts %(numbers)s.",
            "по договору ",
        ),
        (
            "Contract %(numbers)s leaves the account.",
            "Contracts %(numbers)s leave the account.",
            "будет убран ",
        ),
        (
            "Contract %(numbers)s left the account.",
            "Contracts %(numbers)s left the account.",
            "убран ",
        ),
    ],
)
def test_the_russian_one_form_also_reads_right_for_21_31_and_so_on(singular, plural, singular_only):
    """Russian takes its first plural form for 1 and for 21, 31, 101...: where the English
    singular names no number, that form must not speak of one thing ("21 contracts in debt"
    read "the invoice of your contract")."""
    catalogue = _catalogue("ru")
    form = gettext.c2py(catalogue.plural_expr)
    assert {form(count) for count in (1, 21, 31, 101)} == {0}
    message = catalogue.get(singular)
    assert message.id == (singular, plural)
    assert singular_only not in message.string[0], message.string[0]


# A number and its unit, or "№" and its number, do not part at the end of a line.
_BROKEN_UNIT = re.compile(
    r"(?:%\([a-z_]+\)[sd]|\d) (?:кВт·ч|КБ|МБ|мин\b|ч\b|дн\.|мес\.|kWh|kB|MB)|№ "
)


@pytest.mark.parametrize("locale", ["ru", "hu"])
def test_a_number_keeps_its_unit_on_the_same_line(locale):
    broken = [text for text in _translations(locale) if _BROKEN_UNIT.search(text)]
    assert broken == []


# One word for each thing across the portal, and the register of a utility's office.
TERMINOLOGY = {
    "ru": [
        # the account is "личный кабинет" (where the contracts are) or "учётная запись"
        # (what signs in); a bare "кабинет" is neither
        (r"(?<![Лл]ичн\w\w )(?<![Лл]ичн\w\w\w )(?<![Лл]ичн\w )кабинет", "bare кабинет"),
        # the act that accompanies an invoice is not the reconciliation statement (акт сверки)
        (r"\b[Аа]кт(?!ы? (?:сверки|приёма-передачи))\b", "bare акт"),
        (r"долг(?!о)", "долг for задолженность"),
        (r"\bдо %\(date\)s", "a last day is “по … включительно”"),
    ],
    "hu": [
        # "My Account" (Fiókom) is a name: "a Fiókom portálon", never "a Fiókomban"
        (r"Fiókom(?:ba|ban|at|ból)\b", "inflected Fiókom"),
        # the office is "ügyfélszolgálat" (its office: "ügyfélszolgálati iroda")
        (r"(?<!ügyfélszolgálati )\b[Ii]rod", "bare iroda"),
        (r"\b[Dd]iktál", "bejelentés, not diktálás"),
        (r"#%\(", "# as a number sign"),
    ],
}


@pytest.mark.parametrize("locale", ["ru", "hu"])
def test_the_same_word_for_the_same_thing(locale):
    found = [
        (why, text)
        for text in _translations(locale)
        for pattern, why in TERMINOLOGY[locale]
        if re.search(pattern, text)
    ]
    assert found == []


def test_an_account_is_feminine_in_russian():
    """pgettext("account", ...) labels an "учётная запись": "Активна", "Заблокирована",
    and so "Закрыта" (it said "Закрыт")."""
    labels = {m.id: m.string for m in _catalogue("ru") if m.context == "account"}
    assert labels and all(label.endswith("а") for label in labels.values()), labels
