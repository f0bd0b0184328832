"""Amounts are exact integers of base units; floats are refused."""

from decimal import Decimal

import pytest

from tracer.errors import InputError
from tracer.units import (
    FRAME_DECIMAL_LIMIT,
    MAX_UINT256,
    amount_from_text,
    format_units,
    join_from_frame,
    split_for_frame,
    to_base_units,
)


def test_decimal_text_converts_exactly_to_satoshi() -> None:
    assert to_base_units("0.00000001", 8) == 1
    assert to_base_units("20999999.9769", 8) == 2_099_999_997_690_000
    assert to_base_units(Decimal("50.00000000"), 8) == 5_000_000_000


def test_exponent_notation_from_node_json_is_exact() -> None:
    # Bitcoin-family nodes can print tiny amounts as 1E-8 when decoded as Decimal
    assert to_base_units(Decimal("1E-8"), 8) == 1


def test_dogecoin_sized_value_that_a_float_would_corrupt() -> None:
    # 10000000000.12345678 DOGE: a binary float cannot hold these 19 significant digits
    assert float("10000000000.12345678") * 10**8 != 1_000_000_000_012_345_678
    assert to_base_units("10000000000.12345678", 8) == 1_000_000_000_012_345_678


def test_wei_and_token_decimals() -> None:
    assert to_base_units("1", 18) == 10**18
    assert to_base_units("1.5", 6) == 1_500_000


def test_float_is_refused() -> None:
    with pytest.raises(InputError, match="float"):
        to_base_units(0.1, 8)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["1.123456789", "abc", "-1", "NaN", "Infinity"])
def test_bad_amounts_are_refused(text: str) -> None:
    with pytest.raises(InputError):
        to_base_units(text, 8)


def test_format_units_round_trips() -> None:
    for value in (0, 1, 12345, 5_000_000_000, 2_099_999_997_690_000):
        assert to_base_units(format_units(value, 8), 8) == value
    assert format_units(1, 18) == "0.000000000000000001"


def test_uint256_amounts_survive_the_frame_encoding() -> None:
    for value in (0, 1, FRAME_DECIMAL_LIMIT - 1, FRAME_DECIMAL_LIMIT, MAX_UINT256):
        assert join_from_frame(*split_for_frame(value)) == value
    assert split_for_frame(FRAME_DECIMAL_LIMIT - 1) == (Decimal(FRAME_DECIMAL_LIMIT - 1), None)
    assert split_for_frame(MAX_UINT256) == (None, str(MAX_UINT256))
    with pytest.raises(ValueError):
        split_for_frame(MAX_UINT256 + 1)


def test_amount_text_from_people_and_files_converts_exactly() -> None:
    assert amount_from_text("1.5", 6) == 1_500_000
    assert amount_from_text("0.000000000000000001", 18) == 1
    assert amount_from_text(".5", 1) == 5 and amount_from_text("5.", 0) == 5
    assert amount_from_text("1.50", 1) == 15  # trailing zeros drop no value
    assert amount_from_text(" 1500 ", 0) == 1500
    assert amount_from_text(str(MAX_UINT256), 0) == MAX_UINT256
    assert amount_from_text("0." + "0" * 254 + "1", 255) == 1


@pytest.mark.parametrize(("text", "decimals", "reason"), [
    ("1E+3", 18, "is not a plain decimal number (ASCII digits and at most one '.')"),
    ("1e-8", 8, "is not a plain decimal number (ASCII digits and at most one '.')"),
    ("١٢", 0, "is not a plain decimal number (ASCII digits and at most one '.')"),
    ("²", 0, "is not a plain decimal number (ASCII digits and at most one '.')"),
    ("1,500.25", 18, "is not a plain decimal number (ASCII digits and at most one '.')"),
    ("1.2.3", 18, "is not a plain decimal number (ASCII digits and at most one '.')"),
    (".", 18, "is not a plain decimal number (ASCII digits and at most one '.')"),
    ("NaN", 18, "is not a plain decimal number (ASCII digits and at most one '.')"),
    ("-1", 18, "is negative"),
    ("1.0000001", 6, "has more than 6 decimal places"),
    (str(MAX_UINT256 + 1), 0, "is larger than the largest amount (2**256 - 1 base units)"),
    ("1" + "0" * 60, 18, "is larger than the largest amount (2**256 - 1 base units)"),
])
def test_amount_text_that_is_not_a_plain_exact_amount_is_refused(text: str, decimals: int, reason: str) -> None:
    with pytest.raises(InputError) as refused:
        amount_from_text(text, decimals, what="--min-value")
    assert str(refused.value) == f"--min-value {text!r} {reason}"


def test_a_huge_amount_text_is_refused_before_any_big_number_is_built() -> None:
    with pytest.raises(InputError, match="is larger than the largest amount"):
        amount_from_text("9" * 100_000, 18)  # int() of this would raise ValueError (digit limit)
