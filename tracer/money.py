# SPDX-License-Identifier: Apache-2.0
"""Amounts for people: base units shown in the chain's coin or a token's units, exactly.

A token is shown with the symbol and decimals its contract reported at ingest (the token cache next
to the store); a token whose decimals are unknown is shown in base units and says so, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracer.chains import Chain
from tracer.units import format_units

__all__ = ["Money", "short_contract"]


def short_contract(contract: str) -> str:
    """``0x5FbD…0aa3`` for a long contract address (display only)."""
    return f"{contract[:6]}…{contract[-4:]}" if len(contract) > 12 else contract


class Money:
    """Formats ``(base units, asset)`` for one chain: ``"1.25 LTC"``, ``"1250 fUSD"``."""

    def __init__(self, chain: Chain, tokens: Mapping[str, Any]) -> None:
        self.chain = chain
        self.tokens = tokens

    def decimals(self, asset: str) -> int | None:
        """Decimals of ``asset`` (the chain's for ``native``), None when unknown."""
        if asset == "native":
            return self.chain.decimals
        info = self.tokens.get(asset) or {}
        decimals = info.get("decimals")
        return decimals if isinstance(decimals, int) and not isinstance(decimals, bool) else None

    def symbol(self, asset: str) -> str:
        """The symbol of ``asset``: the chain's coin, the token's symbol, or the contract's short form."""
        if asset == "native":
            return self.chain.symbol
        info = self.tokens.get(asset) or {}
        return str(info.get("symbol") or short_contract(asset))

    def __call__(self, value: str | int, asset: str) -> str:
        decimals = self.decimals(asset)
        if decimals is None:
            return f"{value} (base units)"
        return f"{format_units(int(value), decimals)} {self.symbol(asset)}"
