# SPDX-License-Identifier: Apache-2.0
"""Exposure of many wallets at once: how much of what each received came from, and of what it sent
went to, tagged categories within N hops (shared design notes §6).

This is the trace engine's **haircut** model applied at address level and in bulk (Möser,
Böhme and Breuker, "Towards Risk Scoring of Bitcoin Transactions", FC 2014, whose "haircut"
exposure this follows; the same definition as the BlockSci/Chainalysis-style "indirect
exposure"): every address is a pool, and value that leaves a pool carries each category's share
of what the pool received (backward) or of where the pool's payments went (forward), rounded
down to whole base units per edge. Tagged addresses are sources (backward) or sinks (forward):
value stops there. Time order is not used — screening answers "is this wallet connected to a
tagged entity, by how much", the trace answers "which coins, when" — and the difference is stated
in every report.

Inputs are plain frames; the screening command fetches them hop by hop for a whole batch of
wallets (one batched store query per hop and direction), so nothing here does I/O.

* ``edges``: ``src``, ``dst``, ``asset``, ``amount`` (exact integers as decimal text or ints),
  ``txid`` (a transaction that carried it: the evidence), already aggregated per (src, dst, asset).
* ``tags``: ``address``, ``category``, ``label`` (one row per tag).

Amounts are Python ``int``: a uint256 amount times another exceeds every polars integer type, so
the one multiply-and-floor per edge runs on Python integers over the (sparse) set of exposed edges.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

import polars as pl

__all__ = [
    "Side",
    "Edge",
    "ExposureGraph",
    "Exposure",
    "exposures",
    "utxo_address_edges",
    "EDGE_COLUMNS",
]

EDGE_COLUMNS: dict[str, pl.DataType] = {
    "src": pl.String(), "dst": pl.String(), "asset": pl.String(), "amount": pl.String(), "txid": pl.String(),
}


class Side(StrEnum):
    """Which value of a wallet is screened."""

    RECEIVED = "received_from"  # where the value it received came from (backward)
    SENT = "sent_to"  # where the value it sent went (forward)


@dataclass(frozen=True, slots=True)
class Edge:
    src: str
    dst: str
    asset: str
    amount: int
    txid: str


@dataclass
class ExposureGraph:
    """The neighbourhood fetched for a batch, one direction: edges keyed by the end nearer the wallets."""

    side: Side
    #: near -> list of edges whose far end is one hop further from the wallets
    by_near: dict[str, list[Edge]] = field(default_factory=lambda: defaultdict(list))
    #: addresses whose edges on this side were fetched (their totals are complete)
    expanded: set[str] = field(default_factory=set)

    def add(self, edges: pl.DataFrame) -> set[str]:
        """Add fetched edges; returns the far-end addresses (the next frontier candidates)."""
        far: set[str] = set()
        intern = sys.intern  # a batch's neighbourhood names each address many times: store it once
        for src, dst, asset, amount, txid in edges.select(list(EDGE_COLUMNS)).iter_rows():
            src, dst = intern(src), intern(dst)
            edge = Edge(src, dst, intern(asset), int(amount), txid)
            near, other = (dst, src) if self.side is Side.RECEIVED else (src, dst)
            self.by_near[near].append(edge)
            far.add(other)
        return far

    def far(self, edge: Edge) -> str:
        return edge.src if self.side is Side.RECEIVED else edge.dst


@dataclass(frozen=True)
class Exposure:
    """One wallet's exposure to one category in one asset, with the path that justifies it."""

    wallet: str
    side: Side
    category: str
    asset: str
    amount: int
    total: int  # everything the wallet received (or sent) in this asset, in the data
    hops: int  # length of the evidence path
    path: tuple[str, ...]  # wallet first, the tagged address last
    txids: tuple[str, ...]  # one transaction per hop of the path
    labels: tuple[str, ...]  # labels of the tagged address at the end of the path


def _totals(graph: ExposureGraph) -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for near, edges in graph.by_near.items():
        for edge in edges:
            totals[(near, edge.asset)] += edge.amount
    return totals


def exposures(
    graph: ExposureGraph,
    wallets: Iterable[str],
    hops: int,
    tags: pl.DataFrame,
    categories: Collection[str] | None = None,
    large: Collection[str] = (),
) -> list[Exposure]:
    """Indirect (and one-hop) exposure of ``wallets`` within ``hops`` hops on ``graph.side``.

    ``large`` are addresses not expanded beyond their own edges (large entities): only their tagged
    neighbours count through them, whatever else the graph holds, so a wallet's result does not
    depend on which other wallets were screened with it.

    ``X_h(x)`` is the exposure of ``x``'s value looking ``h`` hops out: over every edge between
    ``x`` and a neighbour ``y``, the whole amount if ``y`` is tagged with a category, else
    ``floor(amount * X_{h-1}(y)[c] / total(y))`` for each category ``c``. A wallet's exposure is
    ``X_hops(wallet)``. Direct exposure (the wallet's own tags) is reported by the caller.
    """
    wanted = set(categories) if categories is not None else None
    tagged: dict[str, set[str]] = defaultdict(set)
    labels: dict[tuple[str, str], set[str]] = defaultdict(set)
    for address, category, label in tags.select("address", "category", "label").iter_rows():
        if category is None or (wanted is not None and category not in wanted):
            continue
        tagged[address].add(category)
        labels[(address, category)].add(label)
    totals = _totals(graph)
    screened = set(wallets) if not isinstance(wallets, set) else wallets
    stop = set(large)
    # levels[h][x] = {(category, asset): amount}; only nodes whose edges were fetched have one
    levels: list[dict[str, dict[tuple[str, str], int]]] = [{}]
    for _ in range(hops):
        previous = levels[-1]
        current: dict[str, dict[tuple[str, str], int]] = {}
        for near, edges in graph.by_near.items():
            if near in tagged and near not in screened:
                continue  # a tagged address is where value stops: it is not itself screened through
            acc: dict[tuple[str, str], int] = defaultdict(int)
            for edge in edges:
                other = graph.far(edge)
                if other in tagged:
                    for category in tagged[other]:
                        acc[(category, edge.asset)] += edge.amount
                    continue
                if near in stop:
                    continue  # a large entity's untagged neighbours are not followed
                inner = previous.get(other)
                if not inner:
                    continue
                denominator = totals.get((other, edge.asset), 0)
                if denominator <= 0:
                    continue
                for (category, asset), value in inner.items():
                    if asset == edge.asset:
                        acc[(category, asset)] += edge.amount * value // denominator
            if acc:
                current[near] = {k: v for k, v in acc.items() if v > 0}
        levels.append(current)
    out: list[Exposure] = []
    for wallet in sorted(screened):
        found = levels[hops].get(wallet, {})
        for (category, asset), amount in sorted(found.items()):
            path, txids = _evidence(graph, levels, tagged, totals, wallet, category, asset, hops, stop)
            end = path[-1]
            out.append(Exposure(
                wallet=wallet, side=graph.side, category=category, asset=asset, amount=amount,
                total=totals.get((wallet, asset), 0), hops=len(path) - 1, path=tuple(path), txids=tuple(txids),
                labels=tuple(sorted(labels.get((end, category), set()))),
            ))
    return out


def _evidence(graph: ExposureGraph, levels: list[dict[str, dict[tuple[str, str], int]]],
              tagged: dict[str, set[str]], totals: dict[tuple[str, str], int], wallet: str, category: str,
              asset: str, hops: int, stop: Collection[str] = ()) -> tuple[list[str], list[str]]:
    """The path that carried the most exposure: at each address, the edge contributing most
    (a direct tagged neighbour beats an indirect one of equal amount; ties by address)."""
    path, txids = [wallet], []
    current, remaining = wallet, hops
    while remaining > 0:
        best: tuple[int, int, str, Edge] | None = None
        for edge in graph.by_near.get(current, []):
            if edge.asset != asset:
                continue
            other = graph.far(edge)
            if category in tagged.get(other, ()):
                score, direct = edge.amount, 1
            elif other in tagged or current in stop:
                continue
            else:
                inner = levels[remaining - 1].get(other, {}).get((category, asset), 0)
                denominator = totals.get((other, asset), 0)
                score, direct = (edge.amount * inner // denominator if denominator else 0), 0
            if score <= 0:
                continue
            key = (score, direct, other, edge)
            if best is None or (score, direct) > (best[0], best[1]) or (
                    (score, direct) == (best[0], best[1]) and other < best[2]):
                best = key
        if best is None:
            break
        _, direct, other, edge = best
        path.append(other)
        txids.append(edge.txid)
        if direct:
            break
        current, remaining = other, remaining - 1
    return path, txids


def utxo_address_edges(inputs: pl.DataFrame, outputs: pl.DataFrame) -> pl.DataFrame:
    """Address-to-address value of UTXO transactions, by haircut within each transaction.

    Input address ``a`` (``in_a`` of the transaction's ``total_in``) to output address ``b``:
    ``floor(in_a * out_b / total_in)`` base units (Int128 products: exact for any UTXO amount),
    then summed per (src, dst) over transactions, keeping the smallest txid as evidence.
    Coinbase inputs and outputs without an address carry no address edge.
    """
    ins = (inputs.filter(pl.col("address").is_not_null() & pl.col("value").is_not_null())
           .group_by("txid", "address").agg(pl.col("value").sum().alias("in_value")))
    totals = inputs.group_by("txid").agg(pl.col("value").fill_null(0).sum().alias("total_in"))
    outs = (outputs.filter(pl.col("address").is_not_null())
            .group_by("txid", "address").agg(pl.col("value").sum().alias("out_value")))
    pairs = (
        ins.join(outs, on="txid", suffix="_out").join(totals, on="txid")
        .filter(pl.col("total_in") > 0)
        .select(
            pl.col("address").alias("src"), pl.col("address_out").alias("dst"), "txid",
            ((pl.col("in_value").cast(pl.Int128) * pl.col("out_value").cast(pl.Int128))
             // pl.col("total_in").cast(pl.Int128)).alias("amount"),
        )
        .filter((pl.col("amount") > 0) & (pl.col("src") != pl.col("dst")))
    )
    return (
        pairs.group_by("src", "dst")
        .agg(pl.col("amount").sum(), pl.col("txid").min())
        .select("src", "dst", pl.lit("native").alias("asset"), pl.col("amount").cast(pl.String), "txid")
        .sort("src", "dst")
    )
