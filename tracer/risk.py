# SPDX-License-Identifier: Apache-2.0
"""Risk levels for screened wallets, from documented and configurable rules.

A rule says: exposure to any of these categories — directly (the wallet itself is tagged) and/or
indirectly (a share of its received or sent value within the screened hops) at or above a
minimum share — puts the wallet at this level. The highest matching level wins; the matching rule
is reported as the reason, so an analyst can see why a wallet was rated as it was.

Shares are integer basis points (1/100 of a percent), computed exactly from integer amounts.

The default rules (README "Screening") follow the usual compliance practice of treating any
sanctions or terrorism-financing exposure as severe whatever its size (OFAC's strict-liability
approach to sanctions), and direct or substantial exposure to criminal services as high.

Two rules come before the configurable ones:

* **sanctions**: a tag counts as category ``sanctioned`` when the list it was imported from was
  declared a sanctions list at import (``tracer tags import --sanctions-list NAME``; the tag
  library records the list's name and date, column ``sanctions_list``), or when its category is
  ``sanctioned`` itself. Nothing is inferred from a title, label or URL: "Non-sanctioned exchanges"
  or a ``.../sanctions-policy`` page are not sanctions lists (:func:`with_sanctions_category`).
* **no data**: a wallet the store holds no transaction of is ``unknown`` ("no transactions in the
  store"), not ``none``: absence of data is not absence of risk. Its own tags still rate it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from tracer.errors import InputError

__all__ = ["LEVELS", "UNKNOWN", "NO_HISTORY", "RiskRule", "DEFAULT_RULES", "SANCTIONED", "SANCTIONS_COLUMN",
           "assess", "parse_rules", "level_at_least", "with_sanctions_category", "severity"]

LEVELS: tuple[str, ...] = ("none", "low", "medium", "high", "severe")
#: the level of a wallet without any transaction in the store (not ordered with ``LEVELS``: never a hit)
UNKNOWN = "unknown"
#: the reason given with :data:`UNKNOWN`
NO_HISTORY = "no transactions in the store"
#: the category tags from declared sanctions lists get (as well as their own), and a category an
#: import may state itself (``--category sanctioned``)
SANCTIONED = "sanctioned"
#: the tag library column naming the sanctions list (and its date) a tag was imported from; null
#: for every other import
SANCTIONS_COLUMN = "sanctions_list"


@dataclass(frozen=True)
class RiskRule:
    level: str
    categories: frozenset[str]  # empty = any category
    direct: bool = True  # applies when the wallet itself carries the tag
    indirect: bool = True  # applies to exposure through counterparties
    min_share_bp: int = 0  # indirect exposure must be at least this share (basis points); 0 = any amount
    name: str = ""

    def __post_init__(self) -> None:
        if self.level not in LEVELS[1:]:
            raise InputError(f"risk rule {self.name or self.level!r}: level must be one of {', '.join(LEVELS[1:])}")
        if not 0 <= self.min_share_bp <= 10_000:
            raise InputError(f"risk rule {self.name!r}: min_share must be between 0 and 100 (percent)")


_SEVERE = frozenset({SANCTIONED, "terrorist_financing", "ransomware", "child_abuse", "csam"})
_CRIMINAL = frozenset({"mixing_service", "market", "darknet_market", "scam", "hack", "stolen_funds", "fraud",
                       "fraud_shop", "malware", "extortion", "ponzi_scheme", "phishing"})

DEFAULT_RULES: tuple[RiskRule, ...] = (
    RiskRule("severe", _SEVERE, name="sanctions, terrorism, ransomware, child abuse: any exposure"),
    RiskRule("high", _CRIMINAL, indirect=False, name="the wallet itself is a criminal service"),
    RiskRule("high", _CRIMINAL, direct=False, min_share_bp=1_000, name="10% or more from/to criminal services"),
    RiskRule("medium", _CRIMINAL | {"gambling"}, direct=False, name="some exposure to criminal services or gambling"),
    RiskRule("low", frozenset(), name="any other tagged counterparty"),
)


def level_at_least(level: str, threshold: str) -> bool:
    """Whether ``level`` is a hit at ``threshold``; :data:`UNKNOWN` never is.

    >>> level_at_least("high", "medium"), level_at_least("low", "medium"), level_at_least("unknown", "low")
    (True, False, False)
    """
    return level != UNKNOWN and LEVELS.index(level) >= LEVELS.index(threshold)


def severity(level: str) -> int:
    """Sort key, highest risk first when sorted descending: severe 5 ... low 2, unknown 1, none 0.

    >>> sorted(["none", "unknown", "severe", "low"], key=severity, reverse=True)
    ['severe', 'low', 'unknown', 'none']
    """
    return 1 if level == UNKNOWN else LEVELS.index(level) + (1 if level != "none" else 0)


def with_sanctions_category(tags: pl.DataFrame) -> pl.DataFrame:
    """Tags plus a ``sanctioned`` row for every tag imported from a declared sanctions list.

    Keyed on :data:`SANCTIONS_COLUMN` (set by the tag library for imports made with
    ``--sanctions-list``), never on free text: a TagPack titled "Non-sanctioned exchanges (KYC)" or a
    source URL ending in ``/sanctions-policy`` states nothing about sanctions. A frame without the
    column has no sanctions list.

    >>> tags = pl.DataFrame({"address": ["A", "B"], "category": ["user", "exchange"],
    ...                      "sanctions_list": ["OFAC SDN (2024-09-27)", None]})
    >>> with_sanctions_category(tags).rows()
    [('A', 'user', 'OFAC SDN (2024-09-27)'), ('B', 'exchange', None), ('A', 'sanctioned', 'OFAC SDN (2024-09-27)')]
    """
    if SANCTIONS_COLUMN not in tags.columns:
        return tags
    listed = pl.col(SANCTIONS_COLUMN).is_not_null() & (pl.col("category").fill_null("") != SANCTIONED)
    extra = tags.filter(listed).with_columns(pl.lit(SANCTIONED).alias("category"))
    return pl.concat([tags, extra], how="vertical").unique(keep="first", maintain_order=True)


def assess(direct: Iterable[str], indirect: Mapping[str, int], rules: Sequence[RiskRule] = DEFAULT_RULES,
           *, has_history: bool = True) -> tuple[str, str]:
    """The level and the reason (rule name and category) for a wallet with ``direct`` tag categories
    and ``indirect`` exposure shares (category -> largest share in basis points, either side).

    A wallet with no transaction in the store (``has_history=False``) that no rule rates is
    :data:`UNKNOWN`, reason :data:`NO_HISTORY`.

    >>> assess([], {}), assess([], {}, has_history=False)
    (('none', ''), ('unknown', 'no transactions in the store'))
    """
    direct_set = set(direct)
    best = ("none", "")
    for rule in rules:
        hit: str | None = None
        if rule.direct:
            hit = next((c for c in sorted(direct_set) if not rule.categories or c in rule.categories), None)
            hit = f"{hit} (direct)" if hit else None
        if hit is None and rule.indirect:
            hit = next((f"{c} ({share / 100:.2f}%)" for c, share in sorted(indirect.items())
                        if (not rule.categories or c in rule.categories) and share >= rule.min_share_bp
                        and share > 0), None)
        if hit and LEVELS.index(rule.level) > LEVELS.index(best[0]):
            best = (rule.level, f"{rule.name or rule.level}: {hit}")
    if best[0] == "none" and not has_history:
        return UNKNOWN, NO_HISTORY
    return best


def parse_rules(text: str, path: str) -> tuple[RiskRule, ...]:
    """Rules from TOML text (``path`` names it in errors): ``[[rule]]`` tables with ``level``,
    ``categories`` (list; empty = any), ``direct``, ``indirect`` (booleans), ``min_share`` (percent)
    and ``name``."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"risk rules {path}: {exc}") from None
    rules = []
    for number, item in enumerate(data.get("rule", []), start=1):
        unknown = set(item) - {"level", "categories", "direct", "indirect", "min_share", "name"}
        if unknown:
            raise InputError(f"risk rules {path}, rule {number}: unknown key(s) {', '.join(sorted(unknown))}")
        try:
            share = item.get("min_share", 0)
            rules.append(RiskRule(
                level=str(item["level"]), categories=frozenset(str(c) for c in item.get("categories", [])),
                direct=bool(item.get("direct", True)), indirect=bool(item.get("indirect", True)),
                min_share_bp=round(float(share) * 100), name=str(item.get("name", f"rule {number}")),
            ))
        except KeyError:
            raise InputError(f"risk rules {path}, rule {number}: 'level' is required") from None
        except (TypeError, ValueError, InputError) as exc:
            raise InputError(f"risk rules {path}, rule {number}: {exc}") from None
    if not rules:
        raise InputError(f"risk rules {path} define no [[rule]]")
    return tuple(rules)
