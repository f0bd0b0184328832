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
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tracer.errors import InputError

__all__ = ["LEVELS", "RiskRule", "DEFAULT_RULES", "SANCTIONED", "assess", "parse_rules", "level_at_least"]

LEVELS: tuple[str, ...] = ("none", "low", "medium", "high", "severe")
#: the category screening gives tags from sanctions lists (see cli/screen.py: OFAC TagPacks and
#: address lists imported with ``--category sanctioned``)
SANCTIONED = "sanctioned"


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
    return LEVELS.index(level) >= LEVELS.index(threshold)


def assess(direct: Iterable[str], indirect: Mapping[str, int], rules: Sequence[RiskRule] = DEFAULT_RULES
           ) -> tuple[str, str]:
    """The level and the reason (rule name and category) for a wallet with ``direct`` tag categories
    and ``indirect`` exposure shares (category -> largest share in basis points, either side)."""
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
