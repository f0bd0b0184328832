# SPDX-License-Identifier: Apache-2.0
"""Exposure of many wallets at once: how much of what each received came from, and of what it sent
went to, tagged categories within N hops (shared design notes §6).

This is the trace engine's **haircut** model applied at address level and in bulk (Möser,
Böhme and Breuker, "Towards Risk Scoring of Bitcoin Transactions", FC 2014, whose "haircut"
exposure this follows; the same definition as the BlockSci/Chainalysis-style "indirect
exposure"): every address is a pool, and value that passes through a pool carries each category's
share of the pool, rounded down to whole base units per edge. Tagged addresses are sources
(backward) or sinks (forward): value stops there. Time order is not used — screening answers "is
this wallet connected to a tagged entity, by how much", the trace answers "which coins, when" — and
the difference is stated in every report.

**The pool** of an address is what passed through it: the larger of what it received and what it
sent in the data (:attr:`ExposureGraph.totals` and :attr:`ExposureGraph.pools`, filled by the caller
from both directions of its history). Forward, of what an intermediate address received, only the share that reached the
tagged address passes on; what it kept (or paid in fees) did not go there. Dividing by what the
intermediate *sent* instead (the mistake this replaced) treats an address that forwarded 0.75 of
the 0.8 ETH it received as having forwarded all of it, and reported a buyer's 0.8 ETH as reaching an
exchange that only ever received 0.7 ETH. Backward, an address that sent more than the data shows it
received had value of unknown origin: the tagged share is diluted by that too.

**Cycles**: without time order a path may pass the same address twice (a wallet's value returning to
it and leaving again), which would count that value twice. So an exposure is capped at what the
category's tagged addresses received from (forward) or sent to (backward) the wallet's own
neighbourhood within the hop limit. With both rules, for every wallet and category, exposure is at
most the wallet's own total on that side and at most the tagged entity's total inflow (forward) or
outflow (backward) — the property ``tests/tracer/test_exposure.py`` checks on random graphs.

Inputs are plain frames; the screening job fetches them hop by hop for a whole batch of wallets (one
batched store query per hop, direction and chunk of addresses), so nothing here does I/O.

* ``edges``: ``src``, ``dst``, ``asset``, ``amount`` (exact integers as decimal text), ``txid`` (a
  transaction that carried it: the evidence), already aggregated per (src, dst, asset).
* ``tags``: ``address``, ``category``, ``label`` (one row per tag).

The edges of the last ring of a neighbourhood only ever contribute their tagged neighbours, so they
are reduced at once to direct exposure per address (:meth:`ExposureGraph.add_reduced`, in polars:
Int128 sums, exact below 10**30 per amount, else Python integers); the edges nearer the wallets are
kept as :class:`Edge` objects, and the one multiply-and-floor per edge runs on Python ``int`` (a
uint256 amount times another exceeds every polars integer type).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import polars as pl

__all__ = [
    "Side",
    "Edge",
    "ExposureGraph",
    "Exposure",
    "exposures",
    "direct_exposure",
    "side_totals",
    "utxo_address_edges",
    "EDGE_COLUMNS",
    "DIRECT_COLUMNS",
]

EDGE_COLUMNS: dict[str, pl.DataType] = {
    "src": pl.String(), "dst": pl.String(), "asset": pl.String(), "amount": pl.String(), "txid": pl.String(),
}
#: :func:`direct_exposure`: per address, category and asset, the value exchanged with tagged
#: neighbours and the largest such edge (the evidence: its amount, the tagged address, a txid)
DIRECT_COLUMNS: dict[str, pl.DataType] = {
    "near": pl.String(), "category": pl.String(), "asset": pl.String(), "amount": pl.String(),
    "best_amount": pl.String(), "far": pl.String(), "txid": pl.String(),
}
#: amounts with at most this many digits are summed as Int128 (10**30 times 10**8 rows < 2**127)
_INT128_DIGITS = 30


class Side(StrEnum):
    """Which value of a wallet is screened."""

    RECEIVED = "received_from"  # where the value it received came from (backward)
    SENT = "sent_to"  # where the value it sent went (forward)

    @property
    def ends(self) -> tuple[str, str]:
        """The (near, far) edge columns: the end nearer the wallets, and the next address out."""
        return ("dst", "src") if self is Side.RECEIVED else ("src", "dst")


@dataclass(frozen=True, slots=True)
class Edge:
    src: str
    dst: str
    asset: str
    amount: int
    txid: str


#: (category, asset) -> (amount, largest edge's amount, its far address, its txid)
_Direct = dict[tuple[str, str], tuple[int, int, str, str]]


@dataclass
class ExposureGraph:
    """The neighbourhood fetched for a batch, one direction.

    ``by_near`` holds the edges of addresses nearer the wallets (kept for the indirect levels),
    ``direct`` the reduced exposure of last-ring addresses, ``totals`` every expanded address's sum
    on this side, ``pools`` what addresses exchanged on the other side (the caller reads it): an
    address's pool is the larger of the two (:meth:`_Levels.pool`). The caller may share these dicts
    between the batches of a run (they describe addresses, not batches).
    """

    side: Side
    #: near -> list of edges whose far end is one hop further from the wallets
    by_near: dict[str, list[Edge]] = field(default_factory=lambda: defaultdict(list))
    #: addresses whose edges on this side were fetched (their totals are complete)
    expanded: set[str] = field(default_factory=set)
    #: last-ring addresses: their direct exposure only (see :meth:`add_reduced`)
    direct: dict[str, _Direct] = field(default_factory=dict)
    #: (address, asset) -> what the address received (RECEIVED) or sent (SENT), for expanded addresses
    totals: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (address, asset) -> what the address sent (RECEIVED) or received (SENT): the other half of its pool
    pools: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, edges: pl.DataFrame) -> set[str]:
        """Add fetched edges, kept whole; returns the far-end addresses (the next frontier candidates)."""
        far: set[str] = set()
        intern = sys.intern  # a batch's neighbourhood names each address many times: store it once
        near_column, _ = self.side.ends
        self.totals.update(side_totals(edges, near_column))
        for src, dst, asset, amount, txid in edges.select(list(EDGE_COLUMNS)).iter_rows():
            src, dst = intern(src), intern(dst)
            edge = Edge(src, dst, intern(asset), int(amount), txid)
            near, other = (dst, src) if self.side is Side.RECEIVED else (src, dst)
            self.by_near[near].append(edge)
            far.add(other)
        return far

    def add_reduced(self, edges: pl.DataFrame, tags: pl.DataFrame) -> set[str]:
        """Add the edges of last-ring addresses as their totals and direct exposure only (``tags``:
        the tags exposure is computed against; the same as :func:`exposures` gets). Returns the
        addresses with a tagged neighbour (the only ones whose pool matters)."""
        near_column, _ = self.side.ends
        self.totals.update(side_totals(edges, near_column))
        rows = direct_exposure(edges, self.side, tags)
        intern = sys.intern
        for near, category, asset, amount, best, far, txid in rows.iter_rows():
            self.direct.setdefault(intern(near), {})[(category, intern(asset))] = (int(amount), int(best),
                                                                                  intern(far), txid)
        return set(rows["near"].to_list())

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


def _int_column(frame: pl.DataFrame, column: str) -> pl.DataFrame | None:
    """``frame`` with ``column`` (decimal text) as Int128, or None when an amount is too long to sum
    safely in Int128 (the caller then sums Python integers)."""
    if frame.height == 0:
        return frame.with_columns(pl.col(column).cast(pl.Int128))
    longest = frame.select(pl.col(column).str.len_chars().max()).item()
    if longest is None or longest > _INT128_DIGITS:
        return None
    return frame.with_columns(pl.col(column).cast(pl.Int128))


def side_totals(edges: pl.DataFrame, by: str) -> dict[tuple[str, str], int]:
    """(address, asset) -> sum of ``amount`` of the edges grouped by column ``by``, exact.

    >>> side_totals(pl.DataFrame({"src": ["a", "a"], "asset": ["native"] * 2, "amount": ["2", "3"]}), "src")
    {('a', 'native'): 5}
    """
    numeric = _int_column(edges.select(by, "asset", "amount"), "amount")
    if numeric is not None:
        summed = numeric.group_by(by, "asset").agg(pl.col("amount").sum())
        return {(a, asset): int(v) for a, asset, v in summed.iter_rows()}
    out: dict[tuple[str, str], int] = defaultdict(int)
    for address, asset, amount in edges.select(by, "asset", "amount").iter_rows():
        out[(address, asset)] += int(amount)
    return dict(out)


def direct_exposure(edges: pl.DataFrame, side: Side, tags: pl.DataFrame) -> pl.DataFrame:
    """Per near address, category and asset: the value exchanged with tagged neighbours on ``side``,
    and the largest such edge (ties: the smaller address) as evidence. Columns :data:`DIRECT_COLUMNS`.

    >>> edges = pl.DataFrame({"src": ["X", "Y", "Z"], "dst": ["W"] * 3, "asset": ["native"] * 3,
    ...                       "amount": ["5", "7", "9"], "txid": ["t1", "t2", "t3"]})
    >>> tags = pl.DataFrame({"address": ["X", "Y"], "category": ["scam", "scam"], "label": ["x", "y"]})
    >>> direct_exposure(edges, Side.RECEIVED, tags).rows()
    [('W', 'scam', 'native', '12', '7', 'Y', 't2')]
    """
    near, far = side.ends
    tagged = (tags.filter(pl.col("category").is_not_null()).select(pl.col("address").alias(far), "category")
              .unique())
    hits = edges.select(near, far, "asset", "amount", "txid").join(tagged, on=far, how="inner")
    numeric = _int_column(hits, "amount")
    if numeric is None:
        return _direct_exposure_python(hits, near, far)
    return (
        numeric.sort(["amount", far], descending=[True, False])
        .group_by(near, "category", "asset", maintain_order=True)
        .agg(pl.col("amount").sum().alias("total"), pl.col("amount").first().alias("best_amount"),
             pl.col(far).first().alias("far"), pl.col("txid").first())
        .select(pl.col(near).alias("near"), "category", "asset", pl.col("total").cast(pl.String).alias("amount"),
                pl.col("best_amount").cast(pl.String), "far", "txid")
        .sort("near", "category", "asset")
    )


def _direct_exposure_python(hits: pl.DataFrame, near: str, far: str) -> pl.DataFrame:
    best: dict[tuple[str, str, str], list[Any]] = {}
    for n, f, asset, amount_text, txid, category in hits.select(near, far, "asset", "amount", "txid",
                                                                 "category").iter_rows():
        amount = int(amount_text)
        cell = best.get((n, category, asset))
        if cell is None:
            best[(n, category, asset)] = [amount, amount, f, txid]
            continue
        cell[0] += amount
        if amount > cell[1] or (amount == cell[1] and f < cell[2]):
            cell[1:] = [amount, f, txid]
    rows = [{"near": n, "category": c, "asset": a, "amount": str(v[0]), "best_amount": str(v[1]), "far": v[2],
             "txid": v[3]} for (n, c, a), v in sorted(best.items())]
    return pl.DataFrame(rows, schema=DIRECT_COLUMNS) if rows else pl.DataFrame(schema=DIRECT_COLUMNS)


def _tag_index(tags: pl.DataFrame, wanted: set[str] | None
               ) -> tuple[dict[str, set[str]], dict[tuple[str, str], set[str]]]:
    tagged: dict[str, set[str]] = defaultdict(set)
    labels: dict[tuple[str, str], set[str]] = defaultdict(set)
    for address, category, label in tags.select("address", "category", "label").iter_rows():
        if category is None or (wanted is not None and category not in wanted):
            continue
        tagged[address].add(category)
        labels[(address, category)].add(label)
    return tagged, labels


#: evidence pointer of one address at one level: (score, direct, far address, txid)
_Pointer = tuple[int, int, str, str]


def _better(candidate: _Pointer, best: _Pointer | None) -> bool:
    """The stronger contribution wins; a direct one beats an indirect one of equal amount; ties by address."""
    if best is None:
        return True
    if (candidate[0], candidate[1]) != (best[0], best[1]):
        return (candidate[0], candidate[1]) > (best[0], best[1])
    return candidate[2] < best[2]


class _Levels:
    """The level-by-level computation of :func:`exposures` over one graph (see its docstring)."""

    def __init__(self, graph: ExposureGraph, tagged: Mapping[str, set[str]], screened: set[str],
                 stop: Collection[str], wanted: set[str] | None) -> None:
        self.graph, self.tagged, self.screened, self.stop, self.wanted = graph, tagged, screened, stop, wanted
        self._direct: dict[str, _Direct] = {}
        self._x1: dict[str, dict[tuple[str, str], int]] = {}
        #: level -> address -> (category, asset) -> the edge that carried the most (levels >= 2)
        self.best: dict[int, dict[str, dict[tuple[str, str], _Pointer]]] = {}
        #: what the kept edges show each far address exchanged (a lower bound of its pool)
        self._far_totals: dict[tuple[str, str], int] = defaultdict(int)
        for edges in graph.by_near.values():
            for edge in edges:
                self._far_totals[(graph.far(edge), edge.asset)] += edge.amount

    def pool(self, address: str, asset: str) -> int:
        """The address's pool: the largest of what is known it received and sent."""
        key = (address, asset)
        return max(self.graph.pools.get(key, 0), self.graph.totals.get(key, 0), self._far_totals.get(key, 0))

    def direct(self, address: str) -> _Direct:
        """(category, asset) -> (amount, largest edge amount, its far end, txid) of tagged neighbours."""
        found = self._direct.get(address)
        if found is not None:
            return found
        reduced = self.graph.direct.get(address)
        if reduced is not None:
            found = {k: v for k, v in reduced.items() if self.wanted is None or k[0] in self.wanted}
        else:
            cells: dict[tuple[str, str], list[Any]] = {}
            for edge in self.graph.by_near.get(address, ()):
                other = self.graph.far(edge)
                for category in self.tagged.get(other, ()):
                    cell = cells.get((category, edge.asset))
                    if cell is None:
                        cells[(category, edge.asset)] = [edge.amount, edge.amount, other, edge.txid]
                        continue
                    cell[0] += edge.amount
                    if edge.amount > cell[1] or (edge.amount == cell[1] and other < cell[2]):
                        cell[1:] = [edge.amount, other, edge.txid]
            found = {k: (v[0], v[1], v[2], v[3]) for k, v in cells.items()}
        self._direct[address] = found
        return found

    def distances(self, start: Iterable[str], depth: int) -> dict[str, int]:
        """Addresses within ``depth`` hops of ``start`` through kept edges (not through tagged
        addresses, nor beyond large entities), with their distance."""
        dist = {a: 0 for a in start}
        ring = list(dist)
        for d in range(1, depth + 1):
            nxt = []
            for address in ring:
                if address in self.stop:
                    continue
                for edge in self.graph.by_near.get(address, ()):
                    other = self.graph.far(edge)
                    if other not in dist and other not in self.tagged:
                        dist[other] = d
                        nxt.append(other)
            ring = nxt
        return dist

    def x1(self, address: str) -> dict[tuple[str, str], int]:
        """X_1: the value exchanged with tagged neighbours, per (category, asset)."""
        found = self._x1.get(address)
        if found is None:
            found = self._x1[address] = {key: v[0] for key, v in self.direct(address).items() if v[0] > 0}
        return found

    def run(self, hops: int) -> list[dict[str, dict[tuple[str, str], int]]]:
        """``levels[k][x]`` = X_k(x) per (category, asset) for k >= 2 (X_1 is :meth:`x1`), with the
        evidence pointers in ``self.best[k][x]``. Only the addresses within ``hops - k`` of a wallet
        are computed at level ``k``: no one nearer needs the others."""
        dist = self.distances(self.screened, hops - 1)
        levels: list[dict[str, dict[tuple[str, str], int]]] = [{}, {}]
        for k in range(2, hops + 1):
            previous = levels[-1]
            current: dict[str, dict[tuple[str, str], int]] = {}
            pointers: dict[str, dict[tuple[str, str], _Pointer]] = {}
            for near, d in dist.items():
                if d > hops - k or (near in self.tagged and near not in self.screened):
                    continue  # not needed at this level; a tagged address is where value stops
                acc: dict[tuple[str, str], int] = {}
                mine: dict[tuple[str, str], _Pointer] = {}
                for key, (amount, top, far, txid) in self.direct(near).items():
                    acc[key] = amount
                    mine[key] = (top, 1, far, txid)
                if near not in self.stop:  # a large entity's untagged neighbours are not followed
                    for edge in self.graph.by_near.get(near, ()):
                        other = self.graph.far(edge)
                        if other in self.tagged:
                            continue
                        inner = self.x1(other) if k == 2 else previous.get(other)
                        if not inner:
                            continue
                        denominator = self.pool(other, edge.asset)
                        if denominator <= 0:
                            continue
                        for (category, asset), value in inner.items():
                            if asset != edge.asset:
                                continue
                            share = edge.amount * value // denominator
                            if share <= 0:
                                continue
                            key = (category, asset)
                            acc[key] = acc.get(key, 0) + share
                            candidate = (share, 0, other, edge.txid)
                            if _better(candidate, mine.get(key)):
                                mine[key] = candidate
                found = {key: v for key, v in acc.items() if v > 0}
                if found:
                    current[near] = found
                    pointers[near] = mine
            levels.append(current)
            self.best[k] = pointers
        return levels

    def pointer(self, level: int, address: str, key: tuple[str, str]) -> _Pointer | None:
        """The edge that carried the most of ``address``'s X_level for ``key``."""
        if level == 1:
            cell = self.direct(address).get(key)
            return (cell[1], 1, cell[2], cell[3]) if cell is not None else None
        return self.best.get(level, {}).get(address, {}).get(key)

    def cap(self, wallet: str, hops: int) -> dict[tuple[str, str], int]:
        """What the tagged addresses of each category exchanged with the wallet's own neighbourhood
        within ``hops`` (each address counted once): the most a wallet can be exposed to, cycles or not.

        Within 2 hops no path can pass an address twice and each edge passes on at most its own
        amount, so the cap cannot bind there: it is computed from 3 hops on."""
        if hops <= 2:
            return {}
        out: dict[tuple[str, str], int] = defaultdict(int)
        for address in self.distances([wallet], hops - 1):
            for key, (amount, *_rest) in self.direct(address).items():
                out[key] += amount
        return out


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
    ``floor(amount * X_{h-1}(y)[c] / pool(y))`` for each category ``c``, where ``pool(y)`` is the
    larger of what ``y`` received and sent. A wallet's exposure is ``X_hops(wallet)``, capped at
    what the category's tagged addresses exchanged with the wallet's neighbourhood within ``hops``
    (see the module notes on cycles). Direct exposure (the wallet's own tags) is reported by the caller.
    """
    wanted = set(categories) if categories is not None else None
    tagged, labels = _tag_index(tags, wanted)
    screened = set(wallets)
    levels_of = _Levels(graph, tagged, screened, set(large), wanted)
    levels = levels_of.run(hops)
    out: list[Exposure] = []
    for wallet in sorted(screened):
        found = levels[hops].get(wallet, {}) if hops > 1 else levels_of.x1(wallet)
        cap = levels_of.cap(wallet, hops) if found else {}
        for (category, asset), amount in sorted(found.items()):
            path, txids = [wallet], []
            current, level = wallet, hops
            while level > 0:
                pointer = levels_of.pointer(level, current, (category, asset))
                if pointer is None:
                    break
                _, direct, other, txid = pointer
                path.append(other)
                txids.append(txid)
                if direct:
                    break
                current, level = other, level - 1
            out.append(Exposure(
                wallet=wallet, side=graph.side, category=category, asset=asset,
                amount=min(amount, cap.get((category, asset), amount)),
                total=graph.totals.get((wallet, asset), 0), hops=len(path) - 1, path=tuple(path),
                txids=tuple(txids), labels=tuple(sorted(labels.get((path[-1], category), set()))),
            ))
    return out


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
