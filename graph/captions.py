# SPDX-License-Identifier: Apache-2.0
"""Captions an analyst reads in Neo4j Browser: addresses by their tag label or a short form,
amounts in coin units with the chain's symbol (exact, from base units). Pure functions; the Neo4j
store writes them as a ``caption`` property and ``graph/browser/tracer.grass`` shows it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracer.chains import ChainRegistry, default_registry  # noqa: F401 - default_registry: doctests
from tracer.errors import UnknownChainError
from tracer.schema import NATIVE_ASSET
from tracer.units import format_units

__all__ = ["caption", "short_text", "amount_caption"]


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
        return short_text(str(row["cluster_id"]), head=8, tail=4)
    if kind == "Case":
        return str(row["name"])
    return kind
