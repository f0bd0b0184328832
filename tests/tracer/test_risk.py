# SPDX-License-Identifier: Apache-2.0
"""Risk levels for screened wallets: the default rules, and rules an organisation writes in TOML."""

from __future__ import annotations

import pytest

from tracer.errors import InputError
from tracer.risk import assess, parse_rules


def test_default_rules() -> None:
    assert assess(["sanctioned"], {})[0] == "severe"  # a sanctioned wallet itself
    assert assess([], {"sanctioned": 1})[0] == "severe"  # any share at all (0.01%)
    assert assess(["mixing_service"], {})[0] == "high"  # the wallet is a criminal service
    assert assess([], {"market": 1_000})[0] == "high"  # 10% from a darknet market
    assert assess([], {"market": 999})[0] == "medium"  # 9.99%
    assert assess([], {"gambling": 5_000})[0] == "medium"
    assert assess([], {"exchange": 10_000})[0] == "low"
    assert assess([], {}) == ("none", "")
    level, reason = assess([], {"scam": 2_500})
    assert level == "high" and "scam (25.00%)" in reason


def test_rules_from_toml() -> None:
    rules = parse_rules(
        '[[rule]]\nlevel = "severe"\ncategories = ["gambling"]\nmin_share = 50\nname = "mostly gambling"\n'
        '[[rule]]\nlevel = "low"\ncategories = []\n', "unit.toml")
    assert assess([], {"gambling": 5_000})[0] == "medium"  # the defaults are untouched
    assert assess([], {"gambling": 5_000}, rules) == ("severe", "mostly gambling: gambling (50.00%)")
    assert assess([], {"gambling": 4_999}, rules)[0] == "low"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[rule]]\nlevel = "purple"\n', "level must be one of"),
        ('[[rule]]\nlevel = "high"\nthreshold = 3\n', "unknown key(s) threshold"),
        ('[[rule]]\ncategories = ["x"]\n', "'level' is required"),
        ('level = "high"\n', "define no [[rule]]"),
        ("[[rule]\n", "unit.toml"),
    ],
)
def test_bad_rules_are_refused_with_the_file_named(text: str, message: str) -> None:
    with pytest.raises(InputError, match="unit.toml") as caught:
        parse_rules(text, "unit.toml")
    assert message in str(caught.value)
