# SPDX-License-Identifier: Apache-2.0
"""One batch of screened wallets: fetch their neighbourhood from the store, hop by hop, in batched
queries for the whole batch, and compute direct and indirect exposure (``tracer.exposure``) and a
risk level (``tracer.risk``) for each.

Each hop reads its ring in the side's direction (received side: what the ring received; sent side:
what it sent), in chunks of addresses, then the other half of the pool of the ring addresses whose
exposure can pass on (``tracer.exposure``: an address's pool is the larger of what it received and
sent, so what an intermediate address kept is not counted as passed on). Account chains read
``transfers``; UTXO chains read the outputs of the addresses and the transactions that created
(received) or spent (sent) them, turned into address edges by haircut within each transaction. A
tagged address stops the expansion (value ends there); an untagged address with more than
``max_edges`` edges on one side is a large entity: its edges count, but it is not expanded further,
and the report says so. The last ring's edges are reduced at once to their tagged neighbours (all
the exposure computation needs of them). A run's batches share a :class:`ReadCache`, so an address
in the rings of several batches is read once.

A wallet that appears in no transaction of the store has no history: its level is ``unknown``
(``tracer.risk``), not ``none``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tracer.exposure import EDGE_COLUMNS, Exposure, ExposureGraph, Side, exposures, side_totals, utxo_address_edges
from tracer.frontier import Direction, Frontier
from tracer.report import share_text
from tracer.risk import DEFAULT_RULES, RiskRule, assess
from tracer.schema import TAGS

__all__ = ["ScreenParams", "ReadCache", "CACHE_ENTRIES", "screen_batch", "WALLET_COLUMNS", "EXPOSURE_COLUMNS"]

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


@dataclass
class _Neighbourhood:
    graphs: dict[Side, ExposureGraph] = field(default_factory=dict)
    large: set[str] = field(default_factory=set)
    #: wallets that appear in at least one transaction of the store
    with_history: set[str] = field(default_factory=set)
    queries: int = 0


#: addresses per store query: a hop's ring can hold tens of thousands of addresses, and the rows of
#: one query for all of them (every column of ``transfers``) are the batch's largest transient
#: memory (measured: 225k rows ~ 250 MB); each chunk is reduced to aggregated edges at once
QUERY_ADDRESSES = 8_000


def _direction(side: Side, *, other: bool = False) -> Direction:
    """The direction that reads a side's edges (or, ``other``, the rest of the pool)."""
    backward = (side is Side.RECEIVED) != other
    return Direction.BACKWARD if backward else Direction.FORWARD


@dataclass
class ReadCache:
    """What a screening run has read of one chain, kept across its batches so that an address
    in the rings of several batches is read once: per direction, each address's totals per asset
    (complete for the addresses in ``done``); per side, the reduced form of last-ring addresses
    (direct exposure, and whether they are large entities). Pure memoization of a read-only store
    for one set of tags and options: a wallet's result does not depend on it. Not for ``--fetch``
    (the store grows during the run)."""

    totals: dict[Direction, dict[tuple[str, str], int]] = field(
        default_factory=lambda: {d: {} for d in Direction})
    done: dict[Direction, set[str]] = field(default_factory=lambda: {d: set() for d in Direction})
    direct: dict[Side, dict[str, Any]] = field(default_factory=lambda: {s: {} for s in Side})
    reduced: dict[Side, set[str]] = field(default_factory=lambda: {s: set() for s in Side})
    large: dict[Side, set[str]] = field(default_factory=lambda: {s: set() for s in Side})

    def entries(self) -> int:
        return sum(len(t) for t in self.totals.values()) + sum(len(d) for d in self.direct.values())

    def graph(self, side: Side) -> ExposureGraph:
        """A batch's graph for ``side``, sharing this cache's totals, pools and reduced addresses."""
        return ExposureGraph(side, totals=self.totals[_direction(side)],
                             pools=self.totals[_direction(side, other=True)], direct=self.direct[side])


#: a run's read cache is dropped when it holds more entries than this (~200 bytes each)
CACHE_ENTRIES = 2_000_000


def _account_edges(rows: pl.DataFrame) -> pl.DataFrame:
    """``transfers`` rows as edges aggregated per (src, dst, asset): fees, burns and self-transfers
    are not edges."""
    rows = rows.filter((pl.col("kind") != "fee") & pl.col("to_address").is_not_null()
                       & (pl.col("from_address") != pl.col("to_address")))
    if rows.height == 0:
        return pl.DataFrame(schema=EDGE_COLUMNS)
    if rows["value_overflow"].is_null().all():
        grouped = rows.group_by("from_address", "to_address", "asset").agg(
            pl.col("value").sum().cast(pl.String).alias("amount"), pl.col("txid").min())
    else:  # amounts beyond DECIMAL(38): sum as Python integers
        exact = rows.with_columns(
            pl.when(pl.col("value").is_not_null()).then(pl.col("value").cast(pl.String))
            .otherwise(pl.col("value_overflow")).alias("amount"))
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


#: reads the edges of addresses in one direction (BACKWARD: what they received; FORWARD: what they
#: sent), complete for each address read; returns them, the addresses read that have any history
#: that way, and the number of store queries made
Reader = Callable[[list[str], Direction], tuple[pl.DataFrame, set[str], int]]


def _account_reader(frontier: Frontier, chain: str) -> Reader:
    """Account chains: ``transfers`` of the addresses, chunked; fees count as history, not as edges."""

    def read(addresses: list[str], direction: Direction) -> tuple[pl.DataFrame, set[str], int]:
        near = "to_address" if direction is Direction.BACKWARD else "from_address"
        parts, seen, queries = [], set(), 0
        for i in range(0, len(addresses), QUERY_ADDRESSES):
            chunk = addresses[i:i + QUERY_ADDRESSES]
            rows = frontier.transfers(chain, chunk, direction)
            queries += 1
            seen.update(rows[near].drop_nulls().unique().to_list())
            edges = _account_edges(rows)
            if edges.height:
                parts.append(edges)
        return (pl.concat(parts, how="vertical") if parts else pl.DataFrame(schema=EDGE_COLUMNS)), seen, queries

    return read


def _utxo_reader(frontier: Frontier, chain: str) -> Reader:
    """UTXO chains: the outputs locked to the addresses, then the transactions that created them
    (BACKWARD) or spent them (FORWARD), as address edges by haircut within each transaction."""

    def read(addresses: list[str], direction: Direction) -> tuple[pl.DataFrame, set[str], int]:
        near = "dst" if direction is Direction.BACKWARD else "src"
        parts, seen, queries = [], set(), 0
        for i in range(0, len(addresses), QUERY_ADDRESSES):
            chunk = addresses[i:i + QUERY_ADDRESSES]
            outputs = frontier.address_outputs(chain, chunk)
            queries += 1
            seen.update(outputs["address"].drop_nulls().unique().to_list())
            column = outputs["txid"] if direction is Direction.BACKWARD else outputs["spent_txid"]
            txids = sorted(set(column.drop_nulls().to_list()))
            if not txids:
                continue
            frames = frontier.transactions(chain, txids)
            queries += 1
            edges = utxo_address_edges(frames.inputs, frames.outputs).filter(pl.col(near).is_in(chunk))
            if edges.height:
                parts.append(edges)
        return (pl.concat(parts, how="vertical") if parts else pl.DataFrame(schema=EDGE_COLUMNS)), seen, queries

    return read


def _expand(hood: _Neighbourhood, graph: ExposureGraph, edges: pl.DataFrame, ring: set[str], tagged: set[str],
            tags: pl.DataFrame, params: ScreenParams, last: bool) -> tuple[set[str], set[str]]:
    """Add one ring's edges to ``graph``: kept, or (``last``) reduced to direct exposure. Returns the
    next ring and the ring addresses whose exposure can pass on (whose pool matters)."""
    near, far_column = graph.side.ends
    graph.expanded.update(ring)
    degree = edges.group_by(near).len()
    large = set(degree.filter(pl.col("len") > params.max_edges)[near].to_list())
    hood.large |= large
    if last:
        return set(), graph.add_reduced(edges, tags)
    graph.add(edges)
    far = set(edges.filter(~pl.col(near).is_in(list(large)))[far_column].to_list())
    return {a for a in far if a not in tagged and a not in large and a not in graph.expanded}, set(ring)


def _fetch(read: Reader, params: ScreenParams, wallets: list[str], tags: pl.DataFrame,
           cache: ReadCache) -> _Neighbourhood:
    """The batch's neighbourhood on both sides within ``params.hops``, ring by ring.

    Each ring is read in its side's direction (received side: what the ring received; sent side:
    what it sent); then the other half of the pool of the ring addresses whose exposure can pass on
    (every one nearer than the last ring; in the last ring, those with a tagged neighbour). The
    wallets are read both ways. What an earlier batch of the run read is taken from ``cache``."""
    hood = _Neighbourhood()
    tagged = set(tags["address"].to_list())
    graphs = {side: cache.graph(side) for side in Side}
    rings: dict[Side, set[str]] = {side: set(wallets) for side in graphs}
    for hop in range(params.hops):
        last = hop == params.hops - 1
        passing: dict[Side, set[str]] = {}
        for side, graph in graphs.items():
            direction = _direction(side)
            known = rings[side] & cache.reduced[side] if last else set()
            todo = sorted(rings[side] - known)
            edges, seen, queries = read(todo, direction)
            hood.queries += queries
            if hop == 0:
                hood.with_history |= seen
            rings[side], passing[side] = _expand(hood, graph, edges, set(todo), tagged, tags, params, last)
            cache.done[direction].update(todo)
            if last:
                cache.reduced[side].update(todo)
                cache.large[side].update(hood.large & set(todo))
                hood.large |= cache.large[side] & known
                passing[side] |= {a for a in known if a in graph.direct}
                graph.expanded.update(known)
        if hop > 0:  # the wallets' pools are complete: both of their directions were read at hop 0
            for side in graphs:
                other = _direction(side, other=True)
                todo = sorted(passing[side] - cache.done[other])
                edges, _, queries = read(todo, other)
                hood.queries += queries
                cache.totals[other].update(side_totals(edges, "dst" if other is Direction.BACKWARD else "src"))
                cache.done[other].update(todo)
        if not any(rings.values()):
            break
    hood.graphs = graphs
    return hood


def screen_batch(frontier: Frontier, params: ScreenParams, wallets: Sequence[tuple[str, int]], tags: pl.DataFrame,
                 cache: ReadCache | None = None) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """Screen ``wallets`` ((address, input line) pairs, one chain) against ``tags`` (TAGS rows of the
    chain, sanctions category added: ``tracer.risk.with_sanctions_category``). Returns the wallet rows,
    the exposure rows and run facts (queries, large entities whose neighbours were not expanded,
    wallets without history). ``cache``: what earlier batches of the run read of the same store.
    """
    addresses = [w for w, _ in wallets]
    tag_rows = tags.filter(pl.col("chain") == params.chain)
    if params.categories is not None:
        tag_rows = tag_rows.filter(pl.col("category").is_in(list(params.categories)))
    read = (_account_reader if params.account_model else _utxo_reader)(frontier, params.chain)
    hood = _fetch(read, params, addresses, tag_rows, cache if cache is not None else ReadCache())
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
    totals = {(side, wallet): graph.totals.get((wallet, "native"), 0) for side, graph in hood.graphs.items()
              for wallet in addresses}
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
        level, reason = assess(categories, shares, params.rules, has_history=wallet in hood.with_history)
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
    return wallets_frame, exposure_frame, {"queries": hood.queries, "large_entities": sorted(hood.large),
                                           "without_history": len(set(addresses) - hood.with_history)}
