"""Account rules on plain values: passwords, failed sign-ins, tax ids, phones, codes."""

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lkapp.domain import accounts
from lkapp.domain.passwords import MAX_LENGTH, common_passwords, password_problems
from lkapp.security import hash_password, verify_password

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


# --- passwords ----------------------------------------------------------------------------


def test_blocklist_is_large_enough():
    assert len(common_passwords()) >= 10_000


@pytest.mark.parametrize(
    "password",
    [
        "a" * 12,
        "x" * 64,
        "y" * MAX_LENGTH,
        "  leading and trailing  ",
        "тихий вечер над рекой",
        "árvíztűrő tükörfúrógép",
        "emoji 🔌⚡ are fine too",
    ],
)
def test_long_passwords_of_any_characters_are_accepted(password):
    assert password_problems(password) == []


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("a" * 11, "too_short"),
        ("z" * (MAX_LENGTH + 1), "too_long"),
        ("qwertyuiop123", "common"),
        ("Password1234", "common"),
        ("iloveyou1234", "common"),
        ("!!Sunshine2026!!", "common"),
        ("1234567890qwerty", "common"),
    ],
)
def test_refused_passwords(password, problem):
    assert problem in password_problems(password)


def test_no_composition_rules():
    assert password_problems("all lower case words here") == []
    assert password_problems("ONLY CAPITALS AND SPACES") == []
    assert password_problems("demo-portal-2026") == []


def test_context_words_are_refused_in_any_spelling():
    email, name = "orders@sunflower-bakery.example", "Sunflower Bakery Ltd"
    assert "contains_email" in password_problems("my orders go here", email=email)
    assert "contains_email" in password_problems("orders@sunflower-bakery.example!", email=email)
    assert "contains_name" in password_problems("sunflowerbakeryltd!!", email=email, name=name)
    assert "contains_name" in password_problems("I love Sunflower Bakery Ltd", name=name)
    assert password_problems("a field of sunflowers", email=email, name=name) == []
    assert password_problems("anything long enough", email="", name="") == []


def test_passwords_are_hashed_with_argon2id_and_checked_exactly():
    digest = hash_password("пароль с пробелом ")
    assert digest.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(digest, "пароль с пробелом ")
    assert not verify_password(digest, "пароль с пробелом")
    assert not verify_password("not a hash", "x")


# --- failed sign-ins ----------------------------------------------------------------------


def test_failures_count_while_they_come_less_than_a_day_apart():
    assert accounts.failures_now(7, None, NOW) == 0
    assert accounts.failures_now(7, NOW - timedelta(hours=23), NOW) == 7
    assert accounts.failures_now(7, NOW - timedelta(days=1), NOW) == 0
    assert accounts.failures_after_one_more(7, NOW - timedelta(hours=1), NOW) == 8
    assert accounts.failures_after_one_more(7, NOW - timedelta(days=2), NOW) == 1


def test_thresholds():
    assert not accounts.needs_captcha(accounts.SLOW_AFTER - 1)
    assert accounts.needs_captcha(accounts.SLOW_AFTER)
    assert accounts.SLOW_AFTER == 5 and accounts.LOCK_AFTER == 20
    assert not accounts.blocked(19) and accounts.blocked(20)


@given(st.lists(st.integers(min_value=0, max_value=3 * 24 * 60), max_size=30))
def test_counting_from_times_equals_the_running_counter(gaps_in_minutes):
    """The count for emails without an account (from times) equals the account counter."""
    moments, moment = [], NOW - timedelta(days=40)
    for gap in gaps_in_minutes:
        moment += timedelta(minutes=gap)
        moments.append(moment)
    count, last = 0, None
    for moment in moments:
        count = accounts.failures_after_one_more(count, last, moment)
        last = moment
    for now in (moment, moment + timedelta(hours=5), moment + timedelta(days=1, seconds=1)):
        if moments:
            assert accounts.failures_from_times(reversed(moments), now) == accounts.failures_now(
                count, last, now
            )
    assert accounts.failures_from_times([], NOW) == 0


# --- registration data --------------------------------------------------------------------


@pytest.mark.parametrize(
    "tax_id", ["7701234567", "12345678-2-42", "GB123456782", "hu 1234 5678", "770123456789"]
)
def test_valid_tax_ids(tax_id):
    assert accounts.tax_id_is_valid(tax_id)


@pytest.mark.parametrize(
    "tax_id",
    # The last: 18 letters and digits, but 22 characters as typed, more than an account keeps.
    ["", "12345", "ABCDEFGH", "12345678901234567890123", "1234567$", "1234-5678-9012-3456-78"],
)
def test_invalid_tax_ids(tax_id):
    assert not accounts.tax_id_is_valid(tax_id)


def test_tax_ids_compare_without_separators():
    assert accounts.normalize_tax_id(" 12345678-2-42 ") == accounts.normalize_tax_id("12345678242")
    assert accounts.normalize_tax_id("hu12.345/678") == "HU12345678"


@pytest.mark.parametrize("phone", ["+36 1 555 0101", "(06) 30-123-4567", "+7 495 123.45.67"])
def test_valid_phones(phone):
    assert accounts.phone_is_valid(phone)


@pytest.mark.parametrize("phone", ["", "123", "call me", "+36 1 555 0101 +1", "1" * 16])
def test_invalid_phones(phone):
    assert not accounts.phone_is_valid(phone)


# --- second factor ------------------------------------------------------------------------


def test_recovery_codes_are_long_distinct_and_hashed():
    codes = accounts.new_recovery_codes()
    assert len(codes) == accounts.RECOVERY_CODES == len(set(codes))
    for code in codes:
        assert accounts.looks_like_recovery_code(code)
        assert accounts.looks_like_recovery_code(code.lower().replace("-", " "))
        digest = accounts.recovery_code_digest(code)
        assert len(digest) == 64 and code not in digest
        assert digest == accounts.recovery_code_digest(code.lower().replace("-", ""))


def test_totp_codes_are_recognised():
    assert accounts.looks_like_totp("123 456")
    assert accounts.normalize_totp("123-456") == "123456"
    assert not accounts.looks_like_totp("12345")
    assert not accounts.looks_like_totp("١٢٣٤٥٦")  # digits, but not ASCII ones
    assert not accounts.looks_like_recovery_code("123456")


def test_totp_matches_rfc_6238_steps():
    from lkapp.auth.two_factor import _matching_step

    secret = pyotp.random_base32(32)
    totp = pyotp.TOTP(secret)
    step = totp.timecode(NOW)
    assert _matching_step(secret, totp.at(NOW), None, NOW) == step
    assert _matching_step(secret, totp.at(NOW - timedelta(seconds=30)), None, NOW) == step - 1
    assert _matching_step(secret, totp.at(NOW + timedelta(seconds=30)), None, NOW) == step + 1
    assert _matching_step(secret, totp.at(NOW - timedelta(seconds=90)), None, NOW) is None
    assert _matching_step(secret, totp.at(NOW), step, NOW) is None  # used already
    assert _matching_step(secret, "abcdef", None, NOW) is None
