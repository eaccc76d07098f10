from datetime import date

import pytest

from lkapp.forms import parse_month


@pytest.mark.parametrize(
    "typed",
    [
        "2026-03",
        "2026-3",
        "202603",
        "2026.03",
        "2026. 03.",
        "2026/03",
        "03.2026",
        "3/2026",
        " 2026-03 ",
    ],
)
def test_a_month_as_people_type_it(typed):
    assert parse_month(typed) == date(2026, 3, 1)


@pytest.mark.parametrize("typed", ["2026-13", "2026-00", "1899-12", "2026-03-15", "March", "26-03"])
def test_what_is_not_a_month_is_refused(typed):
    with pytest.raises(ValueError):
        parse_month(typed)


def test_nothing_typed_is_no_month():
    assert parse_month("") is None and parse_month(None) is None
