# SPDX-License-Identifier: Apache-2.0
"""Risk levels for screened wallets: the default rules, rules an organisation writes in TOML, which
tags count as sanctioned, and wallets the store knows nothing about."""

from __future__ import annotations

import polars as pl
import pytest

from tracer.errors import InputError
from tracer.risk import assess, level_at_least, parse_rules, severity, with_sanctions_category


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


def test_a_wallet_without_history_is_unknown_not_none() -> None:
    assert assess([], {}, has_history=False) == ("unknown", "no transactions in the store")
    assert assess([], {}) == ("none", "")  # history, and nothing tagged around it
    assert assess(["sanctioned"], {}, has_history=False)[0] == "severe"  # its own tags still rate it
    assert not level_at_least("unknown", "low")  # never a hit
    assert sorted(["none", "unknown", "low", "severe"], key=severity, reverse=True) == [
        "severe", "low", "unknown", "none"]


def test_only_a_declared_sanctions_list_makes_a_tag_sanctioned() -> None:
    tags = pl.DataFrame([
        {"address": "A", "category": "exchange", "label": "Kraken (KYC)", "tagpack": "Non-sanctioned exchanges (KYC)",
         "source": "https://kraken.example/sanctions-policy", "sanctions_list": None},
        {"address": "B", "category": "exchange", "label": "desk", "tagpack": "cleared.txt (eth: desk)",
         "source": "https://registry.example/unsanctioned", "sanctions_list": None},
        {"address": "C", "category": "user", "label": "SDN entry", "tagpack": "US Treasury OFAC Sanctions List",
         "source": "https://www.treasury.gov/ofac/downloads/sdnlist.txt", "sanctions_list": "OFAC SDN"},
    ])
    sanctioned = with_sanctions_category(tags).filter(pl.col("category") == "sanctioned")
    assert sanctioned["address"].to_list() == ["C"]
    assert with_sanctions_category(tags.drop("sanctions_list")).equals(tags.drop("sanctions_list"))
