# SPDX-License-Identifier: Apache-2.0
"""Run every heuristic and every taint model over one ground-truth economy and count its errors.

:func:`measure` applies exactly what ``tracer cluster run`` and ``tracer trace`` apply (CoinJoin
detection, multi-input links with CoinJoins skipped, one-time change, peel chains, the trace
engine over an in-memory :class:`~tracer.frontier.FrameFrontier`) and returns the counts of
:mod:`tracer.error_rates`, whose docstring defines every rate. Pure: frames in, counts out.
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from tracer.clustering import EVIDENCE_COLUMNS, multi_input_links, one_time_change_links
from tracer.coinjoin import coinjoin_transactions
from tracer.error_rates import (
    MODELS,
    Count,
    change_counts,
    clustering_counts,
    coinjoin_counts,
    peel_counts,
    trace_counts,
    true_destinations,
)
from tracer.frontier import Direction, FrameFrontier
from tracer.peel_chains import peel_chains
from tracer.schema import TAGS, FrameSet
from tracer.taint import parse_model
from tracer.trace import Seed, TraceSpec, trace

__all__ = ["measure", "measure_trace"]

#: endings that attribute value to the owner of the ending's address
_ATTRIBUTING = ("entity", "held", "unverified")


def measure(frames: FrameSet, owners: pl.DataFrame, truth: pl.DataFrame, chain: str,
            heights: tuple[int, int]) -> dict[str, Count]:
    """Every count of :data:`tracer.error_rates.METRICS` for one economy (``heights``: the block range
    the frames hold completely)."""
    tx, ins, outs = frames.transactions, frames.inputs, frames.outputs
    found = coinjoin_transactions(ins, outs)
    multi = multi_input_links(ins, found)
    change = one_time_change_links(tx, ins, outs, found)
    both = pl.concat([multi, change]).unique().sort(list(EVIDENCE_COLUMNS))
    counts: dict[str, Count] = {}
    counts |= clustering_counts(multi, owners, truth, chain, "multi_input")
    counts |= clustering_counts(both, owners, truth, chain, "multi_input+change")
    counts |= change_counts(change, ins, outs, owners, truth)
    counts |= coinjoin_counts(found, truth)
    counts |= peel_counts(peel_chains(tx, ins, outs), owners, truth)
    counts |= measure_trace(frames, owners, truth, chain, heights)
    return counts


def _tags(owners: pl.DataFrame, chain: str, suspect: str) -> pl.DataFrame:
    """Every known address but the suspect's, tagged with its true owner (its kind as the category)."""
    return owners.filter(pl.col("entity").is_not_null() & (pl.col("entity") != suspect)).select(
        pl.lit(chain).alias("chain"), "address", pl.col("entity").alias("label"), pl.col("kind").alias("category"),
        pl.lit(100, pl.Int64).alias("confidence"), pl.lit("economy truth").alias("tagpack"),
        pl.lit("testing/economy.py").alias("source"),
    ).select(pl.col(c).cast(t) for c, t in TAGS.columns.items())


def measure_trace(frames: FrameSet, owners: pl.DataFrame, truth: pl.DataFrame, chain: str,
                  heights: tuple[int, int], models: Collection[str] = MODELS) -> dict[str, Count]:
    """Trace each launderer's ransom receipts forward under every model, with perfect attribution of every
    other address, and compare the value attributed per entity with where it really went."""
    frontier = FrameFrontier(frames)
    owner = dict(owners.filter(pl.col("entity").is_not_null()).select("address", "entity").iter_rows())
    kinds = tuple(sorted(set(owners["kind"].drop_nulls().to_list())))
    counts: dict[str, Count] = {}
    launderers = sorted(set(truth.filter(pl.col("kind") == "ransom")["launderer"].drop_nulls().to_list()))
    for suspect in launderers:
        ransoms = truth.filter((pl.col("kind") == "ransom") & (pl.col("launderer") == suspect)).select("txid")
        received = frames.outputs.join(ransoms, on="txid", how="semi").filter(
            pl.col("address").replace_strict(owner, default=None) == suspect)
        if received.height == 0:
            continue
        seeds = tuple(Seed(txid=t, vout=int(i)) for t, i in received.select("txid", "index").sort("txid", "index")
                      .iter_rows())
        tags = _tags(owners, chain, suspect)

        def lookup(c: str, addresses: Collection[str], tags: pl.DataFrame = tags) -> pl.DataFrame:
            return tags.filter(pl.col("address").is_in(list(addresses)))

        dest = true_destinations(suspect, frames.inputs, frames.outputs, owners, truth)
        seed_value = int(received["value"].sum())
        for model in models:
            spec = TraceSpec(chain=chain, account_model=False, seeds=seeds, direction=Direction.FORWARD,
                             model=parse_model(model), hops=None, stop_categories=kinds, coverage=(heights,))
            endings = trace(spec, frontier, lookup).endings
            attributed: dict[str, int] = {}
            for address, amount in endings.filter(pl.col("ending").is_in(_ATTRIBUTING)).select(
                    "address", "amount").iter_rows():
                who = owner.get(address)
                if who is not None:
                    attributed[who] = attributed.get(who, 0) + int(amount)
            for key, count in trace_counts(model, attributed, dest, seed_value).items():
                before = counts.get(key, Count(0, 0))
                counts[key] = Count(before.k + count.k, before.n + count.n)
    return counts
