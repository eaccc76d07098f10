"""The pure rules of the question service (lkapp.domain.questions): no app, no database."""

from __future__ import annotations

import itertools

import pytest

from lkapp.domain import questions as rules
from lkapp.domain.codes import ALPHABET


def test_references_are_q_and_eight_unambiguous_characters_and_differ():
    references = {rules.new_reference() for _ in range(2000)}
    assert len(references) == 2000
    for reference in references:
        assert reference.startswith("Q-") and len(reference) == 10
        assert set(reference[2:]) <= set(ALPHABET)
        assert rules.normalize_reference(f"  {reference.lower()} ") == reference


def test_a_taken_reference_is_drawn_again_and_endless_collisions_stop():
    drawn = iter(["Q-AAAAAAAA", "Q-AAAAAAAA", "Q-CCCCCCCC"])
    taken = {"Q-AAAAAAAA"}
    assert rules.unique_reference(taken.__contains__, lambda: next(drawn)) == "Q-CCCCCCCC"
    with pytest.raises(RuntimeError):
        rules.unique_reference(lambda _: True, lambda: "Q-AAAAAAAA", attempts=3)


@pytest.mark.parametrize(
    "typed", ["", "Q-", "Q-AAAAAAA", "Q-AAAAAAAAA", "Q-OOOOOOOO", "X-AAAAAAAA"]
)
def test_malformed_references_are_refused(typed):
    assert rules.normalize_reference(typed) is None


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"%PDF-1.7\n", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"MZ\x90\x00", None),  # a Windows executable
        (b"\x7fELF\x02\x01", None),  # a Linux one
        (b"<html><script>", None),
        (b"PK\x03\x04", None),  # a zip (or an office document)
        (b"", None),
    ],
)
def test_the_type_comes_from_the_first_bytes(head, expected):
    assert rules.sniff_type(head) == expected


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        ("scan.pdf", "application/pdf", "scan.pdf"),
        ("Photo.JPG", "image/jpeg", "Photo.JPG"),
        ("setup.exe", "application/pdf", "setup.exe.pdf"),
        ("no-extension", "image/png", "no-extension.png"),
        ("C:\\Users\\ann\\számla.pdf", "application/pdf", "számla.pdf"),
        ("../../etc/passwd", "application/pdf", "passwd.pdf"),
        ('a<b>"c".pdf', "application/pdf", "abc.pdf"),
        ("...", "image/png", "file.png"),
        ("x" * 300 + ".pdf", "application/pdf", "x" * 96 + ".pdf"),
    ],
)
def test_download_names_are_harmless_and_end_in_the_checked_type(name, content_type, expected):
    assert rules.safe_filename(name, content_type) == expected


def test_a_reply_opens_an_answered_thread_and_a_closed_one_takes_none():
    assert rules.status_after_customer_reply("answered") == "new"
    assert rules.status_after_customer_reply("new") == "new"
    assert rules.status_after_customer_reply("closed") is None
    # Written on the page of the open thread, before the office closed it: taken.
    assert rules.status_after_customer_reply("closed", page_showed_open=True) == "new"


def test_per_email_limit():
    counts = itertools.count()
    allowed = [not rules.too_many_from_email(next(counts)) for _ in range(7)]
    assert allowed == [True] * rules.QUESTIONS_PER_EMAIL + [False] * (7 - rules.QUESTIONS_PER_EMAIL)
