# SPDX-License-Identifier: Apache-2.0
"""Captions an analyst reads in Neo4j Browser: addresses by their tag label or a short form,
amounts in coin units with the chain's symbol (exact, from base units). Pure functions; the Neo4j
store writes them as a ``caption`` property and ``graph/browser/tracer.grass`` shows it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tracer.chains import ChainRegistry, default_registry  # noqa: F401 - default_registry: doctests
from tracer.errors import UnknownChainError
from tracer.schema import NATIVE_ASSET
from tracer.units import format_units

__all__ = ["caption", "short_text", "amount_caption", "Units", "Tokens", "asset_units", "readable_amount",
           "coins_text", "utc_text", "cluster_caption"]

#: token metadata per chain: ``{chain: {contract: {"symbol": ..., "decimals": ...}}}`` (the token cache)
Tokens = Mapping[str, Mapping[str, Mapping[str, Any]]]


def short_text(text: str, head: int = 6, tail: int = 4) -> str:
    """``bc1qxy…0wlh``: the start and end of a long identifier (unchanged when already short)."""
    if len(text) <= head + tail + 1:
        return text
    return f"{text[:head]}…{text[-tail:]}"


def amount_caption(value: int, chain: str, registry: ChainRegistry) -> str:
    """``0.5 LTC``: base units in coin units with the chain's symbol, exactly; base units on an unknown chain."""
    try:
        info = registry.get(chain)
    except UnknownChainError:
        return f"{value} base units"
    return f"{format_units(value, info.decimals)} {info.symbol}"


@dataclass(frozen=True)
class Units:
    """How an asset's base units read: ``symbol`` and ``decimals`` (10**decimals base units per coin)."""

    symbol: str
    decimals: int


def asset_units(chain: str, asset: str | None, registry: ChainRegistry, tokens: Tokens | None = None) -> Units | None:
    """The units of ``asset`` on ``chain``: the chain registry's for the native coin, the token
    cache's for a token contract; None when unknown (then only base units can be shown).

    >>> asset_units("ltc", "native", default_registry())
    Units(symbol='LTC', decimals=8)
    >>> asset_units("eth", "0xT", default_registry(), {"eth": {"0xT": {"symbol": "fUSD", "decimals": 6}}})
    Units(symbol='fUSD', decimals=6)
    """
    if asset in (None, NATIVE_ASSET):
        try:
            info = registry.get(chain)
        except UnknownChainError:
            return None
        return Units(info.symbol, info.decimals)
    known = ((tokens or {}).get(chain) or {}).get(str(asset)) or {}
    decimals, symbol = known.get("decimals"), known.get("symbol")
    if isinstance(decimals, int) and not isinstance(decimals, bool) and 0 <= decimals <= 255:
        return Units(str(symbol) if symbol else short_text(str(asset)), decimals)
    return None


def readable_amount(value: int, chain: str, asset: str | None, registry: ChainRegistry, tokens: Tokens | None = None,
                    name: str = "value") -> dict[str, Any]:
    """Properties beside an exact amount ``name`` (base units): ``<name>_coins`` (exact decimal text in
    coin units), ``symbol``, ``decimals``; only ``<name>_coins`` = null when the asset's units are unknown.

    >>> readable_amount(125_000_000, "ltc", "native", default_registry())
    {'value_coins': '1.25', 'symbol': 'LTC', 'decimals': 8}
    """
    units = asset_units(chain, asset, registry, tokens)
    if units is None:
        return {f"{name}_coins": None, "symbol": None, "decimals": None}
    return {f"{name}_coins": format_units(int(value), units.decimals), "symbol": units.symbol,
            "decimals": units.decimals}


def coins_text(value: int, chain: str, asset: str | None, registry: ChainRegistry, tokens: Tokens | None = None) -> str:
    """``1.25 LTC``, ``1250 fUSD``, or ``<n> base units of <asset>`` when the units are unknown."""
    units = asset_units(chain, asset, registry, tokens)
    if units is None:
        return f"{value} base units" + ("" if asset in (None, NATIVE_ASSET) else f" of {short_text(str(asset))}")
    return f"{format_units(int(value), units.decimals)} {units.symbol}"


def utc_text(epoch: int | None) -> str | None:
    """``2026-03-05 09:00 UTC`` for epoch seconds (None stays None).

    >>> utc_text(1772701200)
    '2026-03-05 09:00 UTC'
    """
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def cluster_caption(chain: str, cluster_id: str, members: int | None = None) -> str:
    """``cluster mnoQJP…Es1z (2)``: the cluster's smallest address (its id without the chain) and
    its number of members.

    >>> cluster_caption("ltc", "ltc:mnoQJPmTb2LNbk71F8pZRXiCsiCFhKEs1z", 2)
    'cluster mnoQJP…Es1z (2)'
    """
    name = cluster_id[len(chain) + 1:] if cluster_id.startswith(f"{chain}:") else cluster_id
    return f"cluster {short_text(name)}" + ("" if members is None else f" ({members})")


def caption(kind: str, row: Mapping[str, Any], registry: ChainRegistry) -> str:
    """The Browser caption of a node (label ``kind``) or relationship (type ``kind``) built from ``row``.

    ``row`` holds the canonical columns of the node or relationship; a Transaction row may carry
    ``total`` (sum of its outputs, or of its native transfers, in base units) and an Address row
    ``tag_label`` (its tag, which wins over the short address).

    >>> caption("Output", {"chain": "ltc", "value": 10_000_000}, default_registry())
    '0.1 LTC'
    >>> caption("TRANSFER", {"chain": "eth", "kind": "native", "asset": "native", "value": 15 * 10**17},
    ...         default_registry())
    '1.5 ETH'
    """
    if kind == "Address":
        label = row.get("tag_label")
        return str(label) if label else short_text(str(row["address"]))
    if kind == "Transaction":
        total = row.get("total")
        if total is None:
            return short_text(str(row["txid"]))
        return amount_caption(int(total), str(row["chain"]), registry)
    if kind == "Output":
        value = row.get("value")
        return "?" if value is None else amount_caption(int(value), str(row["chain"]), registry)
    if kind == "TRANSFER":
        value = int(row["value"])
        if row.get("kind") == "token" or row.get("asset") not in (None, NATIVE_ASSET):
            token = f" #{short_text(str(row['token_id']))}" if row.get("token_id") is not None else ""
            return f"{value} {short_text(str(row['asset']))}{token}"
        return amount_caption(value, str(row["chain"]), registry)
    if kind == "Tag":
        return str(row["label"])
    if kind == "Cluster":
        return cluster_caption(str(row["chain"]), str(row["cluster_id"]), row.get("members"))
    if kind == "Case":
        return str(row["name"])
    return kind
