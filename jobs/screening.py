# SPDX-License-Identifier: Apache-2.0
"""One batch of screened wallets: fetch their neighbourhood from the store, hop by hop, in batched
queries for the whole batch, and compute direct and indirect exposure (``tracer.exposure``) and a
risk level (``tracer.risk``) for each.

Account chains read ``transfers`` of the frontier (one query per hop and side); UTXO chains read
the outputs of the frontier and the transactions that created or spent them (two queries per hop
and side) and turn them into address edges by haircut within each transaction. A tagged address
stops the expansion (value ends there); an untagged address with more than ``max_edges`` edges on
one side is a large entity: its edges count, but it is not expanded further, and the report says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tracer.exposure import EDGE_COLUMNS, Exposure, ExposureGraph, Side, exposures, utxo_address_edges
from tracer.frontier import Direction, Frontier
from tracer.report import share_text
from tracer.risk import DEFAULT_RULES, SANCTIONED, RiskRule, assess
from tracer.schema import TAGS

__all__ = ["ScreenParams", "screen_batch", "WALLET_COLUMNS", "EXPOSURE_COLUMNS", "with_sanctions_category"]

#: tags from sanctions lists get the category ``sanctioned`` (as well as their own) for the rules
_SANCTIONS = re.compile(r"(?i)\bofac\b|sanction")

WALLET_COLUMNS: dict[str, pl.DataType] = {
    "chain": pl.String(), "wallet": pl.String(), "line": pl.Int64(), "risk": pl.String(), "reason": pl.String(),
    "direct_categories": pl.String(), "direct_labels": pl.String(), "direct_sources": pl.String(),
    "direct_confidence": pl.Int64(), "received": pl.String(), "sent": pl.String(), "exposures": pl.Int64(),
}
EXPOSURE_COLUMNS: dict[str, pl.DataType] = {
    "chain": pl.String(), "wallet": pl.String(), "side": pl.String(), "category": pl.String(), "asset": pl.String(),
    "amount": pl.String(), "total": pl.String(), "share": pl.String(), "share_bp": pl.Int64(), "hops": pl.Int64(),
    "path": pl.String(), "txids": pl.String(), "labels": pl.String(),
}


@dataclass(frozen=True)
class ScreenParams:
    chain: str
    account_model: bool
    hops: int = 2
    categories: tuple[str, ...] | None = None
    rules: tuple[RiskRule, ...] = DEFAULT_RULES
    max_edges: int = 10_000

    def as_dict(self) -> dict[str, Any]:
        return {"chain": self.chain, "hops": self.hops,
                "categories": sorted(self.categories) if self.categories is not None else None,
                "rules": [{"level": r.level, "categories": sorted(r.categories), "direct": r.direct,
                           "indirect": r.indirect, "min_share_bp": r.min_share_bp, "name": r.name}
                          for r in self.rules],
                "max_edges": self.max_edges}


def with_sanctions_category(tags: pl.DataFrame) -> pl.DataFrame:
    """Tags plus a ``sanctioned`` row for every tag from a sanctions source (OFAC TagPacks and lists)."""
    # the list or TagPack and its stated source only: a free-text label ("non-sanctioned") proves nothing
    hit = (pl.col("tagpack").fill_null("").str.contains(_SANCTIONS.pattern)
           | pl.col("source").fill_null("").str.contains(_SANCTIONS.pattern))
    extra = tags.filter(hit & (pl.col("category").fill_null("") != SANCTIONED)).with_columns(
        pl.lit(SANCTIONED).alias("category"))
    return pl.concat([tags, extra], how="vertical").unique(keep="first", maintain_order=True)


@dataclass
class _Neighbourhood:
    graphs: dict[Side, ExposureGraph] = field(default_factory=dict)
    large: set[str] = field(default_factory=set)
    queries: int = 0


#: addresses per store query: a hop's ring can hold tens of thousands of addresses, and the rows of
#: one query for all of them (every column of ``transfers``) are the batch's largest transient
#: memory (measured: 225k rows ~ 250 MB); each chunk is reduced to aggregated edges at once
QUERY_ADDRESSES = 8_000


def _account_edges(frontier: Frontier, chain: str, addresses: list[str], side: Side) -> tuple[pl.DataFrame, int]:
    """Aggregated edges of ``addresses`` on ``side`` and the number of store queries made. An edge
    has exactly one end among the queried addresses on a side, so chunking never splits a group."""
    chunks = [_account_chunk(frontier, chain, addresses[i:i + QUERY_ADDRESSES], side)
              for i in range(0, len(addresses), QUERY_ADDRESSES)]
    edges = [c for c in chunks if c.height]
    if not edges:
        return pl.DataFrame(schema=EDGE_COLUMNS), len(chunks)
    return pl.concat(edges, how="vertical").sort("src", "dst", "asset"), len(chunks)


def _account_chunk(frontier: Frontier, chain: str, addresses: list[str], side: Side) -> pl.DataFrame:
    direction = Direction.BACKWARD if side is Side.RECEIVED else Direction.FORWARD
    rows = frontier.transfers(chain, addresses, direction)
    rows = rows.filter((pl.col("kind") != "fee") & pl.col("to_address").is_not_null()
                       & (pl.col("from_address") != pl.col("to_address")))
    if rows.height == 0:
        return pl.DataFrame(schema=EDGE_COLUMNS)
    exact = rows.with_columns(
        pl.when(pl.col("value").is_not_null()).then(pl.col("value").cast(pl.String))
        .otherwise(pl.col("value_overflow")).alias("amount"))
    if exact["value_overflow"].is_null().all():
        grouped = rows.group_by("from_address", "to_address", "asset").agg(
            pl.col("value").sum().cast(pl.String).alias("amount"), pl.col("txid").min())
    else:  # amounts beyond DECIMAL(38): sum as Python integers
        sums: dict[tuple[str, str, str], list[Any]] = {}
        for src, dst, asset, amount, txid in exact.select(
                "from_address", "to_address", "asset", "amount", "txid").iter_rows():
            cell = sums.setdefault((src, dst, asset), [0, txid])
            cell[0] += int(amount)
            cell[1] = min(cell[1], txid)
        grouped = pl.DataFrame([{"from_address": k[0], "to_address": k[1], "asset": k[2], "amount": str(v[0]),
                                 "txid": v[1]} for k, v in sums.items()])
    return grouped.select(pl.col("from_address").alias("src"), pl.col("to_address").alias("dst"), "asset",
                          "amount", "txid").sort("src", "dst", "asset")


def _utxo_edges(frontier: Frontier, chain: str, addresses: list[str], side: Side) -> pl.DataFrame:
    outputs = frontier.address_outputs(chain, addresses)
    if side is Side.RECEIVED:
        txids = outputs["txid"].unique().to_list()
    else:
        txids = outputs["spent_txid"].drop_nulls().unique().to_list()
    if not txids:
        return pl.DataFrame(schema=EDGE_COLUMNS)
    frames = frontier.transactions(chain, sorted(txids))
    edges = utxo_address_edges(frames.inputs, frames.outputs)
    near = "dst" if side is Side.RECEIVED else "src"
    return edges.filter(pl.col(near).is_in(addresses))


def _fetch(frontier: Frontier, params: ScreenParams, wallets: list[str], tagged: set[str]) -> _Neighbourhood:
    hood = _Neighbourhood()
    for side in (Side.RECEIVED, Side.SENT):
        graph = ExposureGraph(side)
        ring = sorted(set(wallets))
        for _ in range(params.hops):
            todo = [a for a in ring if a not in graph.expanded]
            if not todo:
                break
            if params.account_model:
                edges, queries = _account_edges(frontier, params.chain, todo, side)
            else:
                edges, queries = _utxo_edges(frontier, params.chain, todo, side), 2
            hood.queries += queries
            graph.expanded.update(todo)
            near = "dst" if side is Side.RECEIVED else "src"
            degree = edges.group_by(near).len()
            large = set(degree.filter(pl.col("len") > params.max_edges)[near].to_list())
            hood.large |= large
            graph.add(edges)
            far_column = "src" if side is Side.RECEIVED else "dst"
            far = set(edges.filter(~pl.col(near).is_in(list(large)))[far_column].to_list())
            ring = sorted(a for a in far if a not in tagged and a not in large and a not in graph.expanded)
        hood.graphs[side] = graph
    return hood


def screen_batch(frontier: Frontier, params: ScreenParams, wallets: Sequence[tuple[str, int]],
                 tags: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """Screen ``wallets`` ((address, input line) pairs, one chain) against ``tags`` (TAGS rows of the
    chain, sanctions category added). Returns the wallet rows, the exposure rows and run facts (queries,
    large entities whose neighbours were not expanded)."""
    addresses = [w for w, _ in wallets]
    tag_rows = tags.filter(pl.col("chain") == params.chain)
    if params.categories is not None:
        tag_rows = tag_rows.filter(pl.col("category").is_in(list(params.categories)))
    tagged = set(tag_rows["address"].to_list())
    hood = _fetch(frontier, params, addresses, tagged)
    found: list[Exposure] = []
    for graph in hood.graphs.values():
        found += exposures(graph, addresses, params.hops, tag_rows, params.categories, large=hood.large)
    by_wallet: dict[str, list[Exposure]] = {}
    for item in found:
        by_wallet.setdefault(item.wallet, []).append(item)
    direct = tag_rows.filter(pl.col("address").is_in(addresses)).sort(list(TAGS.key), nulls_last=True)
    direct_by: dict[str, list[dict[str, Any]]] = {}
    for row in direct.iter_rows(named=True):
        direct_by.setdefault(row["address"], []).append(row)
    totals: dict[tuple[Side, str], int] = {}
    for side, graph in hood.graphs.items():
        for wallet in addresses:
            totals[(side, wallet)] = sum(e.amount for e in graph.by_near.get(wallet, []) if e.asset == "native")
    wallet_rows, exposure_rows = [], []
    for wallet, line in wallets:
        mine = by_wallet.get(wallet, [])
        shares: dict[str, int] = {}
        for e in mine:
            bp = e.amount * 10_000 // e.total if e.total else 0
            shares[e.category] = max(shares.get(e.category, 0), bp)
            exposure_rows.append({
                "chain": params.chain, "wallet": wallet, "side": str(e.side), "category": e.category,
                "asset": e.asset, "amount": str(e.amount), "total": str(e.total),
                "share": share_text(e.amount, e.total),
                "share_bp": bp, "hops": e.hops, "path": " -> ".join(e.path), "txids": " ".join(e.txids),
                "labels": "; ".join(e.labels),
            })
        tags_here = direct_by.get(wallet, [])
        categories = sorted({t["category"] for t in tags_here if t["category"]})
        level, reason = assess(categories, shares, params.rules)
        confidences = [t["confidence"] for t in tags_here if t["confidence"] is not None]
        wallet_rows.append({
            "chain": params.chain, "wallet": wallet, "line": line, "risk": level, "reason": reason,
            "direct_categories": ", ".join(categories) or None,
            "direct_labels": "; ".join(sorted({t["label"] for t in tags_here})) or None,
            "direct_sources": "; ".join(sorted({t["source"] for t in tags_here})) or None,
            "direct_confidence": max(confidences) if confidences else None,
            "received": str(totals.get((Side.RECEIVED, wallet), 0)), "sent": str(totals.get((Side.SENT, wallet), 0)),
            "exposures": len(mine),
        })
    wallets_frame = pl.DataFrame(wallet_rows, schema=WALLET_COLUMNS) if wallet_rows else pl.DataFrame(
        schema=WALLET_COLUMNS)
    exposure_frame = pl.DataFrame(exposure_rows, schema=EXPOSURE_COLUMNS) if exposure_rows else pl.DataFrame(
        schema=EXPOSURE_COLUMNS)
    return wallets_frame, exposure_frame, {"queries": hood.queries, "large_entities": sorted(hood.large)}
