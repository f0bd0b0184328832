# SPDX-License-Identifier: Apache-2.0
"""The address-level flow graph of a trace run: who passed traced value to whom, for a picture.

A trace's hops are movements of taint (one row per output or transfer that received traced value;
``previous_hop`` names the hop that carried most of it in). For people, the hops are folded to
**address → address edges** per asset: the taint summed over the hops between the two addresses,
with the transactions, the first block and the UTC time range of the movements.

On UTXO chains a transaction spends several outputs at once and the trace records, per output it
funded, only the input that carried most taint in. Folding such hops to address pairs would credit
the whole amount to one sender, so UTXO flows go **through a transaction node**: each tainted output
spent by the transaction is an edge ``address → tx`` carrying that output's taint (read from the
transaction's inputs, ``spends``), and each output that received taint an edge ``tx → address``. An
account-chain transfer is one movement between two addresses and stays one edge.

Large traces are **collapsed to the paths that carry at least a share of the value** (a cut in basis
points of the seed value of the asset): a hop is shown when its taint reaches the cut, together with
every hop on its evidence path back to a seed (so no shown edge floats free of the seeds); what
leaves a shown address along hops below the cut is summed into one "smaller flows" edge per address
and asset, and the cut is stated with how many hops and how much of the ended value the picture
covers. Fee movements are not edges (they are a sink, shown in the totals), as in the trace itself.

Exact integers throughout: taint is summed as ``Decimal(38, 0)`` (wei fits; see shared design notes
§3) and returned as decimal strings.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import polars as pl

__all__ = ["FlowGraph", "build_flow_graph", "DEFAULT_MIN_SHARE_BP"]

#: the default cut: paths carrying at least 1% of the seed value
DEFAULT_MIN_SHARE_BP = 100
_AMOUNT = pl.Decimal(38, 0)


@dataclass(frozen=True)
class FlowGraph:
    """A trace run's flow graph, collapsed at ``min_share_bp``.

    * ``nodes``: id (the address, or ``tx:<txid>``), kind (``address`` | ``transaction``), address,
      txid, seed (bool), label, category, cluster, endings (e.g. ``"held"``), block_height,
      timestamp, coinjoin (shape of a CoinJoin transaction, else null).
    * ``edges``: source, target (node ids), asset, amount (decimal string), transactions (count),
      txids (sorted list), first_block, first_time, last_time, coinjoin (shape or null).
    * ``smaller``: source (node id), asset, amount, hops: value leaving a shown node below the cut.
    * ``cut``: per asset the threshold in base units, hops shown/total, ended value shown/total.
    """

    nodes: pl.DataFrame
    edges: pl.DataFrame
    smaller: pl.DataFrame
    min_share_bp: int
    cut: dict[str, dict[str, int]] = field(default_factory=dict)


def _thresholds(seeds: pl.DataFrame, min_share_bp: int) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in seeds.select("asset", "value").iter_rows():
        totals[row[0]] = totals.get(row[0], 0) + int(row[1] or 0)
    return {asset: total * min_share_bp // 10_000 for asset, total in totals.items()}


def _value_hops(hops: pl.DataFrame) -> pl.DataFrame:
    """Hops that move value to an address (fee movements and null recipients dropped)."""
    return hops.filter((pl.col("kind") != "fee") & pl.col("to_address").is_not_null()).with_columns(
        pl.col("taint").cast(_AMOUNT).alias("taint_n"))


def _kept_ids(moves: pl.DataFrame, thresholds: Mapping[str, int]) -> pl.DataFrame:
    """hop_ids at or above their asset's cut, closed under ``previous_hop`` (the evidence path)."""
    cut = pl.DataFrame({"asset": list(thresholds), "cut": [str(v) for v in thresholds.values()]},
                       schema={"asset": pl.String, "cut": pl.String}).with_columns(pl.col("cut").cast(_AMOUNT))
    kept = (moves.join(cut, on="asset", how="left")
            .filter(pl.col("cut").is_null() | (pl.col("taint_n") >= pl.col("cut")))
            .select("hop_id"))
    parents = moves.select("hop_id", "previous_hop")
    frontier = kept
    while frontier.height:
        up = (frontier.join(parents, on="hop_id").select(pl.col("previous_hop").alias("hop_id"))
              .drop_nulls().unique().join(kept, on="hop_id", how="anti"))
        kept = pl.concat([kept, up])
        frontier = up
    return kept.unique()


_COLUMNS = ["source", "target", "asset", "taint_n", "txid", "block_height", "timestamp"]


def _backward_movements(shown: pl.DataFrame, seeds: pl.DataFrame) -> pl.DataFrame:
    """Backward UTXO hops are spends: hop (T, position ``P:i``, from_address A) says T spent A's output
    ``P:i``: an edge A → T, and P → A when P is drawn too; each seed output S → seed address."""
    spent = shown.with_columns(pl.col("position").str.split(":").list.first().alias("funder"))
    into = spent.select(pl.col("from_address").alias("source"), pl.concat_str([pl.lit("tx:"), pl.col("txid")])
                        .alias("target"), "asset", "taint_n", "txid", "block_height", "timestamp")
    times = shown.select("txid", "block_height", "timestamp").unique(subset=["txid"], keep="first")
    funded = (spent.drop("txid", "block_height", "timestamp").join(times, left_on="funder", right_on="txid")
              .select(pl.concat_str([pl.lit("tx:"), pl.col("funder")]).alias("source"),
                      pl.col("from_address").alias("target"), "asset", "taint_n", pl.col("funder").alias("txid"),
                      "block_height", "timestamp"))
    to_seeds = (seeds.filter(pl.col("txid").is_not_null()).join(times, on="txid", how="semi")
                .select(pl.concat_str([pl.lit("tx:"), pl.col("txid")]).alias("source"),
                        pl.col("address").alias("target"), "asset", pl.col("value").cast(_AMOUNT).alias("taint_n"),
                        "txid", "block_height", "timestamp"))
    return pl.concat([into.filter(pl.col("source").is_not_null()), funded, to_seeds]).select(_COLUMNS)


def _movements(shown: pl.DataFrame, seeds: pl.DataFrame, spends: pl.DataFrame | None,
               direction: str) -> pl.DataFrame:
    """One row per drawn movement: source, target (node ids), asset, amount, txid, block, time."""
    columns = _COLUMNS
    if spends is None:
        return (shown.filter(pl.col("from_address").is_not_null())
                .select(pl.col("from_address").alias("source"), pl.col("to_address").alias("target"),
                        *columns[2:]))
    if direction == "backward":
        return _backward_movements(shown, seeds)
    tx_id = pl.concat_str([pl.lit("tx:"), pl.col("txid")])
    funded = shown.select(tx_id.alias("source"), pl.col("to_address").alias("target"), "asset", "taint_n",
                          "txid", "block_height", "timestamp")
    spent_outputs = pl.concat([
        shown.select("txid", pl.col("position").cast(pl.Int64, strict=False).alias("index"),
                     pl.col("to_address").alias("address"), "asset", "taint_n"),
        seeds.filter(pl.col("txid").is_not_null()).select(
            "txid", pl.col("position").cast(pl.Int64, strict=False).alias("index"), "address", "asset",
            pl.col("value").cast(_AMOUNT).alias("taint_n")),
    ]).unique(subset=["txid", "index"], keep="first")
    times = shown.select("txid", "block_height", "timestamp").unique(subset=["txid"], keep="first")
    spending = (spends.rename({"txid": "spender"})
                .join(spent_outputs, left_on=["prev_txid", "prev_index"], right_on=["txid", "index"])
                .join(times, left_on="spender", right_on="txid"))
    into = spending.select(pl.col("address").alias("source"), pl.concat_str([pl.lit("tx:"), pl.col("spender")])
                           .alias("target"), "asset", "taint_n", pl.col("spender").alias("txid"),
                           "block_height", "timestamp")
    return pl.concat([into, funded]).select(columns)


def _edges(movements: pl.DataFrame, coinjoins: Mapping[str, str]) -> pl.DataFrame:
    marks = pl.DataFrame({"txid": list(coinjoins), "shape": list(coinjoins.values())},
                         schema={"txid": pl.String, "shape": pl.String})
    return (movements.join(marks, on="txid", how="left")
            .group_by("source", "target", "asset")
            .agg(pl.col("taint_n").sum().alias("amount_n"),
                 pl.col("txid").n_unique().alias("transactions"),
                 pl.col("txid").unique().sort().alias("txids"),
                 pl.col("block_height").min().alias("first_block"),
                 pl.col("timestamp").min().alias("first_time"),
                 pl.col("timestamp").max().alias("last_time"),
                 pl.col("shape").drop_nulls().first().alias("coinjoin"))
            .sort("first_block", "first_time", "source", "target", "asset")
            .with_columns(pl.col("amount_n").cast(pl.String).alias("amount")).drop("amount_n"))


def _nodes(edges: pl.DataFrame, movements: pl.DataFrame, seeds: Collection[str], tags: pl.DataFrame,
           endings: pl.DataFrame, clusters: Mapping[str, str], coinjoins: Mapping[str, str]) -> pl.DataFrame:
    ids = sorted(set(edges["source"]) | set(edges["target"]) | set(seeds))
    times = {t: (b, s) for t, b, s in movements.select("txid", "block_height", "timestamp").unique(
        subset=["txid"], keep="first").iter_rows()}
    tag_rows = {r["address"]: r for r in tags.sort("address", "label").iter_rows(named=True)}
    ended: dict[str, list[str]] = {}
    for row in endings.filter(pl.col("address").is_not_null()).sort("ending").iter_rows(named=True):
        kinds = ended.setdefault(row["address"], [])
        if row["ending"] not in kinds:
            kinds.append(row["ending"])
    seed_set = set(seeds)
    rows = []
    for node in ids:
        txid = node[3:] if node.startswith("tx:") else None
        address = None if txid else node
        tag = tag_rows.get(address or "") or {}
        block, stamp = times.get(txid or "", (None, None))
        rows.append({"id": node, "kind": "transaction" if txid else "address", "address": address, "txid": txid,
                     "seed": node in seed_set, "label": tag.get("label"), "category": tag.get("category"),
                     "cluster": clusters.get(address or ""), "endings": ",".join(ended.get(address or "", [])) or None,
                     "block_height": block, "timestamp": stamp, "coinjoin": coinjoins.get(txid or "")})
    return pl.DataFrame(rows, schema=_NODE_SCHEMA)


_NODE_SCHEMA = {"id": pl.String, "kind": pl.String, "address": pl.String, "txid": pl.String, "seed": pl.Boolean,
                "label": pl.String, "category": pl.String, "cluster": pl.String, "endings": pl.String,
                "block_height": pl.Int64, "timestamp": pl.Int64, "coinjoin": pl.String}


def _cut_report(moves: pl.DataFrame, shown: pl.DataFrame, endings: pl.DataFrame, node_ids: Collection[str],
                thresholds: Mapping[str, int]) -> dict[str, dict[str, int]]:
    shown_addresses = set(node_ids)
    report: dict[str, dict[str, int]] = {}
    for asset, threshold in sorted(thresholds.items()):
        ended = endings.filter((pl.col("asset") == asset) & (pl.col("ending") != "fee"))
        ended_total = sum(int(v) for v in ended["amount"])
        ended_shown = sum(int(v) for a, v in zip(ended["address"], ended["amount"], strict=True)
                          if a in shown_addresses)
        report[asset] = {"threshold": threshold,
                         "hops_total": moves.filter(pl.col("asset") == asset).height,
                         "hops_shown": shown.filter(pl.col("asset") == asset).height,
                         "ended_total": ended_total, "ended_shown": ended_shown}
    return report


def build_flow_graph(hops: pl.DataFrame, endings: pl.DataFrame, seeds: pl.DataFrame, tags: pl.DataFrame, *,
                     min_share_bp: int = DEFAULT_MIN_SHARE_BP, direction: str = "forward",
                     spends: pl.DataFrame | None = None,
                     clusters: Mapping[str, str] | None = None,
                     coinjoins: Mapping[str, str] | None = None) -> FlowGraph:
    """Fold a run's ``hops`` into a flow graph, keeping the paths that carry at least ``min_share_bp``
    basis points of the seed value of their asset (0 keeps every hop).

    ``seeds``, ``endings`` and ``tags`` are the run's result frames. ``spends`` (UTXO chains: txid,
    prev_txid, prev_index of the inputs of the traced transactions; an empty frame for a backward
    trace, whose hops name the outputs they spend) routes flows through transaction nodes; without
    it (account chains) edges join addresses. ``direction`` is the run's. ``clusters`` maps an address to its
    cluster id and ``coinjoins`` a txid to its CoinJoin shape (both optional, for labels)."""
    if not 0 <= min_share_bp <= 10_000:
        raise ValueError(f"min_share_bp must be within 0..10000, got {min_share_bp}")
    thresholds = _thresholds(seeds, min_share_bp)
    moves = _value_hops(hops)
    kept = _kept_ids(moves, thresholds)
    shown = moves.join(kept, on="hop_id", how="semi")
    movements = _movements(shown, seeds, spends, direction)
    edges = _edges(movements, coinjoins or {})
    seed_addresses = sorted({a for a in seeds["address"] if a is not None})
    nodes = _nodes(edges, movements, seed_addresses, tags, endings, clusters or {}, coinjoins or {})
    forward_utxo = spends is not None and direction != "backward"
    source = pl.concat_str([pl.lit("tx:"), pl.col("txid")]) if forward_utxo else pl.col("from_address")
    smaller = (moves.join(kept, on="hop_id", how="anti").with_columns(source.alias("source"))
               .filter(pl.col("source").is_in(nodes["id"].implode()))
               .group_by("source", "asset")
               .agg(pl.col("taint_n").sum().cast(pl.String).alias("amount"), pl.len().alias("hops"))
               .sort("source", "asset"))
    return FlowGraph(nodes=nodes, edges=edges, smaller=smaller, min_share_bp=min_share_bp,
                     cut=_cut_report(moves, shown, endings, nodes["id"].to_list(), thresholds))
