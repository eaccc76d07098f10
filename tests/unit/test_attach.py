"""The attach rules on plain values: outcomes, code states, the hourly limit, code format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lkapp.domain.attach import (
    ACCOUNT_WINDOW,
    MAX_ACCOUNT_FAILURES,
    MAX_CODE_FAILURES,
    CodeFacts,
    Outcome,
    characters_not_in_codes,
    check_attempt,
    code_is_well_formed,
    code_state,
    counts_against_code,
    format_code,
    minutes_to_wait,
    retry_after,
)
from lkapp.domain.codes import generate_code, normalize_code

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
ME, OTHER = 1, 2
LIVE = CodeFacts(expires_at=NOW + timedelta(days=30))


def verdict(code=LIVE, matches=True, account=None):
    return check_attempt(code=code, matches=matches, contract_account_id=account, me=ME, now=NOW)


def test_a_live_matching_code_on_a_free_contract_goes_ahead():
    assert verdict() is Outcome.ATTACHED


@pytest.mark.parametrize(
    "code",
    [
        None,
        LIVE,
        CodeFacts(NOW - timedelta(seconds=1)),
        CodeFacts(NOW + timedelta(days=1), used_at=NOW),
        CodeFacts(NOW + timedelta(days=1), revoked_at=NOW),
        CodeFacts(NOW + timedelta(days=1), failed_attempts=MAX_CODE_FAILURES),
    ],
)
@pytest.mark.parametrize("account", [None, ME, OTHER])
def test_without_the_right_code_nothing_is_revealed(code, account):
    """Unknown contract, or a wrong code whatever the contract's state: one answer."""
    assert verdict(code=code, matches=False, account=account) is Outcome.NO_MATCH
    if code is None:
        assert verdict(code=None, matches=True, account=account) is Outcome.NO_MATCH


@pytest.mark.parametrize(
    ("code", "account", "expected"),
    [
        (LIVE, ME, Outcome.ALREADY_YOURS),
        (CodeFacts(NOW + timedelta(days=1), used_at=NOW), ME, Outcome.ALREADY_YOURS),
        (CodeFacts(NOW + timedelta(days=1), used_at=NOW), None, Outcome.USED),
        (CodeFacts(NOW + timedelta(days=1), used_at=NOW), OTHER, Outcome.USED),
        (LIVE, OTHER, Outcome.TAKEN),
        (CodeFacts(NOW + timedelta(days=1), revoked_at=NOW), None, Outcome.REVOKED),
        (CodeFacts(NOW + timedelta(days=1), failed_attempts=5), None, Outcome.LOCKED),
        (CodeFacts(NOW), None, Outcome.EXPIRED),
        (CodeFacts(NOW - timedelta(days=1), failed_attempts=5), None, Outcome.LOCKED),
    ],
)
def test_the_right_code_learns_what_is_wrong(code, account, expected):
    assert verdict(code=code, account=account) is expected


def test_code_states():
    assert code_state(LIVE, NOW) == "live"
    assert code_state(CodeFacts(NOW), NOW) == "expired", "expiry is exclusive"
    assert code_state(CodeFacts(NOW + timedelta(1), failed_attempts=4), NOW) == "live"
    assert code_state(CodeFacts(NOW + timedelta(1), failed_attempts=5), NOW) == "locked"
    used_and_revoked = CodeFacts(NOW + timedelta(1), used_at=NOW, revoked_at=NOW)
    assert code_state(used_and_revoked, NOW) == "used"


def test_only_wrong_guesses_at_a_live_code_count_against_it():
    assert counts_against_code(Outcome.NO_MATCH, LIVE, NOW)
    assert not counts_against_code(Outcome.NO_MATCH, None, NOW)
    assert not counts_against_code(Outcome.NO_MATCH, CodeFacts(NOW, used_at=NOW), NOW)
    assert not counts_against_code(Outcome.EXPIRED, CodeFacts(NOW), NOW)


def test_account_may_fail_nine_times_an_hour_and_waits_after_the_tenth():
    failures = [NOW - timedelta(minutes=m) for m in range(1, MAX_ACCOUNT_FAILURES)]
    assert retry_after(failures, NOW) is None
    failures.append(NOW - timedelta(minutes=50))
    wait = retry_after(failures, NOW)
    assert wait == timedelta(minutes=10), "until the oldest of the ten is an hour old"
    assert minutes_to_wait(wait) == 10


def test_old_failures_do_not_count():
    failures = [NOW - ACCOUNT_WINDOW - timedelta(seconds=1)] * 50
    assert retry_after(failures, NOW) is None


@given(
    st.lists(st.integers(min_value=0, max_value=7200), max_size=40),
)
def test_waiting_the_given_time_always_frees_a_try(ages):
    failures = [NOW - timedelta(seconds=s) for s in ages]
    wait = retry_after(failures, NOW)
    if wait is None:
        return
    assert timedelta(0) < wait <= ACCOUNT_WINDOW
    assert retry_after(failures, NOW + wait) is None
    assert retry_after(failures, NOW + wait - timedelta(seconds=1)) is not None


def test_minutes_to_wait_rounds_up_to_at_least_one():
    assert minutes_to_wait(timedelta(seconds=1)) == 1
    assert minutes_to_wait(timedelta(seconds=61)) == 2
    assert minutes_to_wait(timedelta(minutes=60)) == 60
    assert minutes_to_wait(timedelta(seconds=-5)) == 1


def test_code_format():
    for _ in range(50):
        code = generate_code()
        assert code_is_well_formed(code)
        assert code_is_well_formed(code.lower().replace("-", " "))
        assert format_code(code.lower().replace("-", "")) == code
    assert not code_is_well_formed("KQ7M-3XTA")  # too short
    assert not code_is_well_formed("KQ7M-3XTA-P9C0")  # 0 is never in a code
    assert not code_is_well_formed("KQ7M-3XTA-P9CO")  # nor O
    assert not code_is_well_formed("")


@pytest.mark.parametrize(
    "separator",
    ["\u00a0", "\u202f", "\u2007", "\u2009", "\u200b", "\u00ad"]
    + [chr(c) for c in range(0x2010, 0x2016)]
    + ["\u2212"],
)
def test_a_code_copied_with_a_unicode_space_or_dash_is_the_code(separator):
    """A mail, a PDF or a messenger puts no-break or thin spaces and typographic dashes between
    the groups: they separate as a space or a hyphen does."""
    code = "KQ7M-3XTA-P9CW"
    pasted = code.replace("-", separator)
    assert code_is_well_formed(pasted)
    assert format_code(pasted) == code
    assert normalize_code(f"\u00a0{pasted.lower()}\u00a0") == "KQ7M3XTAP9CW"
    assert characters_not_in_codes(pasted) == ""


def test_full_width_letters_and_digits_read_as_plain_ones():
    assert format_code("ＫＱ７Ｍ－３ＸＴＡ－Ｐ９ＣＷ") == "KQ7M-3XTA-P9CW"


def test_cyrillic_and_greek_look_alikes_read_as_the_letters_on_the_slip():
    """On a Cyrillic (or Greek) keyboard, "KM3XTA" from the slip is typed "КМЗХТА", which looks
    the same: it was refused as "A confirmation code has no К, М, З, Х, Т, А"."""
    cyrillic = "\u043a" + "Q7\u041c-\u0417\u0425\u0422\u0410-\u04209\u0421W"  # кQ7М-ЗХТА-Р9СW
    assert not cyrillic.isascii()
    assert normalize_code(cyrillic) == "KQ7M3XTAP9CW"
    assert characters_not_in_codes(cyrillic) == ""
    assert code_is_well_formed(cyrillic)
    greek = "\u039aQ7\u039c-3\u03a7\u03a4\u0391-\u03a19CW"  # ΚQ7Μ-3ΧΤΑ-Ρ9CW
    assert format_code(greek) == "KQ7M-3XTA-P9CW"
    # Letters that look like none of a code's still say so (Cyrillic Ve looks like a B).
    assert characters_not_in_codes("\u0412Q7M-3XTA-P9CW") == "\u0412"
