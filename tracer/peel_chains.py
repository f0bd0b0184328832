# SPDX-License-Identifier: Apache-2.0
"""Peel chains: runs of 1-input, 2-output transactions, each spending the previous one's larger part.

A peel chain moves a large amount in many small steps: each transaction spends one output,
pays a small amount out (the *peel*) and sends the rest to a fresh address (the *continuing*
output), which the next transaction spends the same way. Meiklejohn et al. [1]_ followed them
to exchanges; Kappos et al. [2]_ measure how common they are and how to follow them; BlockSci's
``looksLikePeelingChain`` [3]_ is the same one-input/two-output test.

Definition used here (over whatever transactions it is given, e.g. the ones a trace traversed):

* a **peel transaction** has exactly one input (not a coinbase) and exactly two outputs;
* peel transaction ``t`` **continues** into peel transaction ``u`` when ``u`` spends an output of
  ``t``; that output is ``t``'s continuing output and the other is its peel;
* if both outputs of ``t`` are spent by peel transactions, the chain continues through the larger
  output (ties: the lower index); the other spender starts a chain of its own;
* the last transaction of a chain has no spender to say which output continues: its larger output
  (ties: the lower index) is taken as the continuing one, its smaller as the peel;
* a chain is a maximal such run; runs shorter than ``min_length`` transactions are not reported.

References
----------
.. [1] S. Meiklejohn et al., "A Fistful of Bitcoins: Characterizing Payments Among Men with No
   Names", IMC 2013 (§4.3, peeling chains).
.. [2] G. Kappos, H. Yousaf, R. Stütz, S. Rollet, B. Haslhofer, S. Meiklejohn, "How to Peel a
   Million: Validating and Expanding Bitcoin Clusters", USENIX Security 2022.
.. [3] BlockSci, ``src/heuristics/tx_identification.cpp`` (``looksLikePeelingChain``).
"""

from __future__ import annotations

import polars as pl

__all__ = ["PEEL_CHAIN_COLUMNS", "peel_chains"]

PEEL_CHAIN_COLUMNS: dict[str, pl.DataType] = {
    "chain": pl.String(),
    "chain_id": pl.String(),
    "length": pl.Int64(),
    "txids": pl.List(pl.String()),
    "peeled": pl.List(pl.Int64()),
    "peeled_addresses": pl.List(pl.String()),
    "continuing": pl.List(pl.Int64()),
    "total_peeled": pl.Int64(),
    "start_height": pl.Int64(),
    "end_height": pl.Int64(),
}
_TX = ["chain", "txid"]


def peel_chains(
    transactions: pl.DataFrame, inputs: pl.DataFrame, outputs: pl.DataFrame, min_length: int = 3
) -> pl.DataFrame:
    """Every peel chain of at least ``min_length`` transactions among ``transactions``.

    Parameters
    ----------
    transactions, inputs, outputs
        Canonical frames (``tracer.schema``). Only transactions listed in ``transactions`` are
        considered; their inputs and outputs are taken from the other two frames.
    min_length
        Fewest peel transactions a reported chain has (at least 1).

    Returns
    -------
    polars.DataFrame
        :data:`PEEL_CHAIN_COLUMNS`, one row per chain, sorted by chain and ``chain_id``:
        ``chain_id`` is ``"{chain}:{first txid}"``; ``txids`` in chain order; ``peeled[i]`` and
        ``continuing[i]`` are the two output values of ``txids[i]`` (base units),
        ``peeled_addresses[i]`` the peel's address (null if it has none); ``start_height`` /
        ``end_height`` the block heights of the first and last transaction (null if unconfirmed).

    Examples
    --------
    >>> txs = pl.DataFrame({"chain": ["btc"] * 3, "txid": ["p1", "p2", "p3"], "block_height": [1, 2, 3]})
    >>> ins = pl.DataFrame({"chain": ["btc"] * 3, "txid": ["p1", "p2", "p3"],
    ...                     "prev_txid": ["fund", "p1", "p2"], "prev_index": [0, 1, 0]})
    >>> outs = pl.DataFrame({"chain": ["btc"] * 6, "txid": ["p1", "p1", "p2", "p2", "p3", "p3"],
    ...                      "index": [0, 1, 0, 1, 0, 1], "address": ["x", "c1", "c2", "y", "z", "c3"],
    ...                      "value": [10, 90, 75, 15, 5, 70]})
    >>> row = peel_chains(txs, ins, outs).row(0, named=True)
    >>> row["txids"], row["peeled"], row["continuing"], row["peeled_addresses"]
    (['p1', 'p2', 'p3'], [10, 15, 5], [90, 75, 70], ['x', 'y', 'z'])
    """
    if min_length < 1:
        raise ValueError("min_length must be at least 1")
    known = transactions.lazy().select(*_TX, pl.col("block_height").cast(pl.Int64)).unique(subset=_TX)
    ins = inputs.lazy().join(known.select(_TX), on=_TX, how="semi")
    outs = outputs.lazy().join(known.select(_TX), on=_TX, how="semi")
    one_input = ins.group_by(_TX).agg(
        pl.len().alias("n"), pl.col("prev_txid").first().alias("prev_txid"),
        pl.col("prev_index").first().cast(pl.Int64).alias("prev_index"),
    ).filter((pl.col("n") == 1) & pl.col("prev_txid").is_not_null())
    two_outputs = outs.group_by(_TX).agg(pl.len().alias("n")).filter(pl.col("n") == 2).select(_TX)
    peels = one_input.join(two_outputs, on=_TX, how="semi").select(*_TX, "prev_txid", "prev_index")
    # peel u spends output prev_index of peel t: candidate link t -> u
    links = peels.join(
        peels.select("chain", pl.col("txid").alias("prev_txid")), on=["chain", "prev_txid"], how="semi"
    ).join(
        outs.select("chain", pl.col("txid").alias("prev_txid"), pl.col("index").alias("prev_index"),
                    pl.col("value").cast(pl.Int64).alias("__value")),
        on=["chain", "prev_txid", "prev_index"], how="inner",
    )
    # one successor per t: the spender of its larger output (ties: lower index)
    successor = (
        links.sort(["chain", "prev_txid", "__value", "prev_index"], descending=[False, False, True, False])
        .group_by(["chain", "prev_txid"], maintain_order=True)
        .first()
        .select("chain", pl.col("prev_txid").alias("txid"), pl.col("txid").alias("next_txid"),
                pl.col("prev_index").alias("continuing_index"))
    )
    peel_rows, successors = pl.collect_all([peels.select(_TX), successor])
    chains = _walk(peel_rows, successors)  # chain, txid, head, step
    chains = chains.join(
        chains.group_by("chain", "head").agg(pl.len().alias("length")), on=["chain", "head"]
    ).filter(pl.col("length") >= min_length)
    if chains.height == 0:
        return pl.DataFrame(schema=PEEL_CHAIN_COLUMNS)
    # which output continues: the spent one, else (last hop) the larger, ties to the lower index
    two = outs.join(chains.lazy().select(_TX), on=_TX, how="semi").select(
        *_TX, "index", "address", pl.col("value").cast(pl.Int64)
    ).join(successors.lazy().select(*_TX, "continuing_index"), on=_TX, how="left")
    by_value = pl.col("index") == pl.col("index").sort_by(["value", "index"], descending=[True, False]).first()
    split = two.with_columns(
        pl.when(pl.col("continuing_index").is_not_null())
        .then(pl.col("index") == pl.col("continuing_index"))
        .otherwise(by_value.over(_TX))
        .alias("__continues")
    ).group_by(_TX).agg(
        pl.col("value").filter(~pl.col("__continues")).first().alias("peeled"),
        pl.col("address").filter(~pl.col("__continues")).first().alias("peeled_address"),
        pl.col("value").filter(pl.col("__continues")).first().alias("continuing"),
    )
    steps = chains.lazy().join(split, on=_TX, how="inner").join(known, on=_TX, how="left").sort(
        ["chain", "head", "step"]
    )
    result = steps.group_by("chain", "head", maintain_order=True).agg(
        pl.len().alias("length"),
        pl.col("txid").alias("txids"),
        pl.col("peeled"),
        pl.col("peeled_address").alias("peeled_addresses"),
        pl.col("continuing"),
        pl.col("peeled").sum().alias("total_peeled"),
        pl.col("block_height").first().alias("start_height"),
        pl.col("block_height").last().alias("end_height"),
    ).with_columns(pl.concat_str([pl.col("chain"), pl.col("head")], separator=":").alias("chain_id")).collect()
    return result.select(pl.col(c).cast(t) for c, t in PEEL_CHAIN_COLUMNS.items()).sort(["chain", "chain_id"])


def _walk(peels: pl.DataFrame, successors: pl.DataFrame) -> pl.DataFrame:
    """``chain``, ``txid``, ``head`` (first txid of its chain), ``step`` (0-based position), for every
    peel transaction: pointer jumping over predecessor links, O(log length) joins."""
    pred = successors.select("chain", pl.col("next_txid").alias("txid"), pl.col("txid").alias("pred"))
    state = peels.join(pred, on=_TX, how="left").with_columns(
        pl.when(pl.col("pred").is_null()).then(pl.col("txid")).otherwise(pl.col("pred")).alias("head"),
        pl.col("pred").is_not_null().cast(pl.Int64).alias("step"),
        pl.col("pred").is_null().alias("done"),
    )
    # invariant: head is `step` links before txid; done when head is a chain's first transaction
    while not state["done"].all():
        jump = state.select("chain", pl.col("txid").alias("head"), pl.col("head").alias("__head"),
                            pl.col("step").alias("__step"), pl.col("done").alias("__done"))
        state = state.join(jump, on=["chain", "head"], how="left").with_columns(
            pl.when(pl.col("done")).then(pl.col("head")).otherwise(pl.col("__head")).alias("head"),
            pl.when(pl.col("done")).then(pl.col("step")).otherwise(pl.col("step") + pl.col("__step")).alias("step"),
            pl.when(pl.col("done")).then(True).otherwise(pl.col("__done")).alias("done"),
        ).drop("__head", "__step", "__done")
    return state.select("chain", "txid", "head", "step")
