# SPDX-License-Identifier: Apache-2.0
"""CoinJoin detection over canonical ``inputs`` / ``outputs`` frames (shared design notes §5).

A CoinJoin is one transaction whose inputs belong to several people, so common-input-ownership
must not merge its input addresses. :func:`coinjoin_transactions` flags transactions of four
shapes, checked in this order (the first that matches names the row):

``whirlpool``
    Samourai Whirlpool mix, as GraphSense detects it [2]_ (``_whirlpool_coinjoin_heuristic``):
    5 to 8 inputs and as many outputs (addressed ones), every input address and every output
    address distinct, every output exactly one pool denomination ``d`` (100,000 / 1,000,000 /
    5,000,000 / 50,000,000 sat), every input in ``[d, d + 110,000]``, each input above ``d``
    (a new entrant paying the miner fee) at least ``d + 100``, and 1 to 4 such new entrants
    (the others are remixes of exactly ``d``).
``wasabi``
    Wasabi 1.0 (ZeroLink) or Wasabi 2.0 (WabiSabi), as GraphSense detects them [2]_, which follows
    Stockinger et al. [3]_ (addressed inputs/outputs only):

    * 1.0: at least 10 inputs, no input address holding more than 10 % of them; ``d`` = the most
      frequent output value within 0.1 BTC ± 0.005 BTC, occurring ``n >= 3`` times; ``2n >=
      outputs - 1`` (one coordinator fee output); ``n <= distinct input addresses <= 7n``; every
      output address distinct; and a round of fewer than 20 inputs is refused when the total
      output value is (within 1e-4) a whole multiple of the most frequent output value (an N-way
      split, not a mix).
    * 2.0: at least 20 inputs, no input address holding more than 10 % of them; every output at
      least 5,000 sat; every output address distinct; the denominations (values occurring at least
      twice) number at least 3, cover at least ``(outputs - 1) / 2`` outputs, and not all of them.
``joinmarket``
    JoinMarket, as GraphSense detects it [2]_: ``d`` = the most frequent output value above 2,730
    sat, occurring ``n`` times; ``2n >= outputs``; ``3 <= n <= distinct input addresses``; every
    output address distinct; at least one output not equal to ``d`` (change); with 50 inputs or
    more, also ``inputs <= 20n`` and ``10 * outputs >= 17n``.
``blocksci``
    BlockSci's generic rule [1]_ (``isCoinjoin`` in ``src/heuristics/tx_identification.cpp``),
    over *all* inputs and outputs: at least 2 inputs and 3 outputs; ``participants = (outputs + 1)
    // 2`` (each participant has a spend and a change output) is not more than the inputs nor the
    distinct input addresses; the most common output value occurs exactly ``participants`` times
    and is not one of the dust values 546 and 2,730 sat.

Ties: BlockSci takes "the most common output value" with ``std::max_element`` over an
``unordered_map``, so with two values equally common its answer depends on hash order. Here the
rule is deterministic: the top count must equal ``participants`` and *some* value with that count
must be non-dust. GraphSense's "most frequent" (``Counter.most_common``) picks the value seen first
in output order; so does this module (lowest output index of its first occurrence). GraphSense's
``round()`` (banker's rounding) in the Wasabi 1.0 split check is replaced by round-half-up in
integers: they differ only when the total is exactly half-way between two multiples.

Input addresses: ``distinct input addresses`` counts a missing address (nonstandard script) as
one more distinct value in the BlockSci rule (BlockSci gives each distinct nonstandard script its
own address); the GraphSense shapes ignore addressless inputs and outputs, as GraphSense does.
Not implemented: Wasabi 1.1 mixing levels, Whirlpool Tx0 and the BlockSci ``isCoinjoinExtra``
subset-sum check (a search per transaction; not vectorizable).

References
----------
.. [1] H. Kalodner, M. Möser, K. Lee, S. Goldfeder, M. Plattner, A. Chator, A. Narayanan,
   "BlockSci: Design and applications of a blockchain analysis platform", USENIX Security 2020;
   code: github.com/citp/BlockSci, ``src/heuristics/tx_identification.cpp``.
.. [2] GraphSense, github.com/graphsense/graphsense-lib,
   ``src/graphsenselib/db/asynchronous/services/heuristics_service.py``.
.. [3] M. Stockinger, R. Stütz, B. Haslhofer, et al., "Pinpointing and Measuring Wasabi and
   Samourai CoinJoins in the Bitcoin Ecosystem" (2024).
"""

from __future__ import annotations

import polars as pl

__all__ = [
    "COINJOIN_SHAPES",
    "COINJOIN_COLUMNS",
    "BLOCKSCI_DUST_VALUES",
    "WHIRLPOOL_DENOMINATIONS",
    "coinjoin_transactions",
]

#: shape names in the order they are checked (the first match names the transaction)
COINJOIN_SHAPES = ("whirlpool", "wasabi", "joinmarket", "blocksci")
COINJOIN_COLUMNS = {"chain": pl.String(), "txid": pl.String(), "shape": pl.String()}

#: BlockSci: a most-common output value of 546 or 2,730 sat is dust, not a CoinJoin denomination
BLOCKSCI_DUST_VALUES = (546, 2_730)

#: Whirlpool pool denominations (sat)
WHIRLPOOL_DENOMINATIONS = (100_000, 1_000_000, 5_000_000, 50_000_000)
WHIRLPOOL_MIN_INPUTS, WHIRLPOOL_MAX_INPUTS = 5, 8
WHIRLPOOL_EPSILON_MIN = 100  # sat a new entrant pays above d, at least
WHIRLPOOL_EPSILON_MAX = 110_000  # ... and at most
WHIRLPOOL_MAX_NEW_ENTRANTS = 4

WASABI_10_DENOM = 10_000_000  # 0.1 BTC
WASABI_10_EPSILON = 500_000  # ±5 %
WASABI_10_MAX_INPUTS_PER_PARTICIPANT = 7
WASABI_1X_MIN_INPUTS = 10
WASABI_1X_MIN_PARTICIPANTS = 3
WASABI_1X_SMALL_ROUND = 20  # below this many inputs, refuse exact N-way splits
WASABI_1X_SPLIT_RESIDUAL_DIVISOR = 10_000  # residual <= total / 10,000 is "exact"
WASABI_TOP_INPUT_SHARE_DIVISOR = 10  # one address may hold at most 1/10 of the inputs
WASABI_20_MIN_INPUTS = 20
WASABI_20_MIN_OUTPUT = 5_000
WASABI_20_MIN_DENOMINATIONS = 3

JOINMARKET_DUST = 2_730  # outputs at or below are not denomination candidates
JOINMARKET_MIN_PARTICIPANTS = 3
JOINMARKET_LARGE_ROUND = 50
JOINMARKET_MAX_INPUTS_PER_PARTICIPANT = 20
JOINMARKET_MIN_OUTPUTS_PER_PARTICIPANT_X10 = 17  # 1.7 outputs per participant

_TX = ["chain", "txid"]


def coinjoin_transactions(inputs: pl.DataFrame, outputs: pl.DataFrame) -> pl.DataFrame:
    """The transactions of ``inputs``/``outputs`` (canonical frames) that look like a CoinJoin.

    Parameters
    ----------
    inputs, outputs
        Canonical ``inputs`` and ``outputs`` frames (``tracer.schema``); only ``chain``, ``txid``,
        ``index``, ``address`` and ``value`` are read. A transaction needs both its inputs and its
        outputs in the frames to be judged.

    Returns
    -------
    polars.DataFrame
        ``chain``, ``txid``, ``shape`` (one of :data:`COINJOIN_SHAPES`), one row per CoinJoin,
        sorted by chain and txid.

    Examples
    --------
    Two people, two inputs each, two equal outputs and two change outputs:

    >>> ins = pl.DataFrame({"chain": ["btc"] * 4, "txid": ["t"] * 4, "index": [0, 1, 2, 3],
    ...                     "address": ["a1", "a2", "b1", "b2"], "value": [60, 60, 70, 70]})
    >>> outs = pl.DataFrame({"chain": ["btc"] * 4, "txid": ["t"] * 4, "index": [0, 1, 2, 3],
    ...                      "address": ["x", "y", "ca", "cb"], "value": [100, 100, 19, 39]})
    >>> coinjoin_transactions(ins, outs).rows()
    [('btc', 't', 'blocksci')]
    """
    ins = inputs.lazy().select(*_TX, "index", "address", pl.col("value").cast(pl.Int64))
    outs = outputs.lazy().select(*_TX, "index", "address", pl.col("value").cast(pl.Int64))
    found = pl.collect_all([
        _whirlpool(ins, outs).with_columns(pl.lit(0).alias("__rank")),
        _wasabi(ins, outs).with_columns(pl.lit(1).alias("__rank")),
        _joinmarket(ins, outs).with_columns(pl.lit(2).alias("__rank")),
        _blocksci(ins, outs).with_columns(pl.lit(3).alias("__rank")),
    ])
    flagged = (
        pl.concat([f.select(*_TX, pl.col("__rank").cast(pl.Int64)) for f in found], how="vertical")
        .group_by(_TX)
        .agg(pl.col("__rank").min())
        .select(*_TX, pl.col("__rank").replace_strict(dict(enumerate(COINJOIN_SHAPES)), return_dtype=pl.String)
                .alias("shape"))
    )
    return flagged.select(pl.col(c).cast(t) for c, t in COINJOIN_COLUMNS.items()).sort(_TX)


# -- BlockSci ---------------------------------------------------------------------------------------
def _blocksci(ins: pl.LazyFrame, outs: pl.LazyFrame) -> pl.LazyFrame:
    in_stats = ins.group_by(_TX).agg(pl.len().alias("n_in"), pl.col("address").n_unique().alias("n_in_addr"))
    counts = outs.group_by(*_TX, "value").agg(pl.len().alias("count"))
    out_stats = counts.group_by(_TX).agg(
        pl.col("count").sum().alias("n_out"),
        pl.col("count").max().alias("top"),
        # some value with the top count is not dust (see the module notes on ties)
        (
            (pl.col("count") == pl.col("count").max()) & ~pl.col("value").is_in(list(BLOCKSCI_DUST_VALUES))
        ).any().alias("top_not_dust"),
    )
    participants = (pl.col("n_out") + 1) // 2
    return in_stats.join(out_stats, on=_TX, how="inner").filter(
        (pl.col("n_in") >= 2)
        & (pl.col("n_out") >= 3)
        & (participants <= pl.col("n_in"))
        & (participants <= pl.col("n_in_addr"))
        & (pl.col("top") == participants)
        & pl.col("top_not_dust")
    ).select(_TX)


# -- shared pieces of the GraphSense shapes -------------------------------------------------------------
def _addressed(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.filter(pl.col("address").is_not_null())


def _input_stats(ins: pl.LazyFrame) -> pl.LazyFrame:
    """Per transaction, over addressed inputs: count, distinct addresses, the busiest address's count."""
    per_address = _addressed(ins).group_by(*_TX, "address").agg(pl.len().alias("uses"))
    return per_address.group_by(_TX).agg(
        pl.col("uses").sum().alias("n_in"),
        pl.len().alias("n_in_addr"),
        pl.col("uses").max().alias("top_uses"),
    )


def _output_stats(outs: pl.LazyFrame) -> pl.LazyFrame:
    """Per transaction, over addressed outputs: count, distinct addresses, total, min and max value."""
    return _addressed(outs).group_by(_TX).agg(
        pl.len().alias("n_out"),
        pl.col("address").n_unique().alias("n_out_addr"),
        pl.col("value").sum().alias("total_out"),
        pl.col("value").min().alias("min_out"),
        pl.col("value").max().alias("max_out"),
    )


def _most_frequent(outs: pl.LazyFrame, keep: pl.Expr | None = None) -> pl.LazyFrame:
    """Per transaction, the most frequent output value (among rows matching ``keep``) and its count;
    ties go to the value that occurs first in output order (``collections.Counter.most_common``)."""
    rows = _addressed(outs) if keep is None else _addressed(outs).filter(keep)
    counts = rows.group_by(*_TX, "value").agg(pl.len().alias("count"), pl.col("index").min().alias("first"))
    return (
        counts.sort([*_TX, "count", "first"], descending=[False, False, True, False])
        .group_by(_TX, maintain_order=True)
        .first()
        .select(*_TX, pl.col("value").alias("denom"), pl.col("count").alias("n"))
    )


# -- Whirlpool --------------------------------------------------------------------------------------------
def _whirlpool(ins: pl.LazyFrame, outs: pl.LazyFrame) -> pl.LazyFrame:
    stats = _input_stats(ins).join(_output_stats(outs), on=_TX, how="inner").filter(
        pl.col("n_in").is_between(WHIRLPOOL_MIN_INPUTS, WHIRLPOOL_MAX_INPUTS)
        & (pl.col("n_out") == pl.col("n_in"))
        & (pl.col("n_in_addr") == pl.col("n_in"))
        & (pl.col("n_out_addr") == pl.col("n_out"))
        & (pl.col("min_out") == pl.col("max_out"))
        & pl.col("min_out").is_in(list(WHIRLPOOL_DENOMINATIONS))
    )
    epsilon = pl.col("value") - pl.col("min_out")
    entrants = (
        _addressed(ins).join(stats.select(*_TX, "min_out"), on=_TX, how="inner")
        .group_by(_TX)
        .agg(
            (epsilon >= 0).all().alias("none_below"),
            (epsilon <= WHIRLPOOL_EPSILON_MAX).all().alias("none_above"),
            ((epsilon > 0) & (epsilon < WHIRLPOOL_EPSILON_MIN)).any().alias("fee_too_small"),
            (epsilon > 0).sum().alias("new_entrants"),
        )
    )
    return entrants.filter(
        pl.col("none_below")
        & pl.col("none_above")
        & ~pl.col("fee_too_small")
        & pl.col("new_entrants").is_between(1, WHIRLPOOL_MAX_NEW_ENTRANTS)
    ).select(_TX)


# -- Wasabi -------------------------------------------------------------------------------------------------
def _wasabi(ins: pl.LazyFrame, outs: pl.LazyFrame) -> pl.LazyFrame:
    stats = _input_stats(ins).join(_output_stats(outs), on=_TX, how="inner").filter(
        (pl.col("top_uses") * WASABI_TOP_INPUT_SHARE_DIVISOR <= pl.col("n_in"))
        & (pl.col("n_out_addr") == pl.col("n_out"))
    )
    return pl.concat([_wasabi_10(stats, outs), _wasabi_20(stats, outs)], how="vertical").unique()


def _wasabi_10(stats: pl.LazyFrame, outs: pl.LazyFrame) -> pl.LazyFrame:
    window = (pl.col("value") - WASABI_10_DENOM).abs() <= WASABI_10_EPSILON
    denom = _most_frequent(outs, window)
    overall = _most_frequent(outs).select(*_TX, pl.col("denom").alias("top_value"))
    n = pl.col("n")
    # round(total / top_value), half up, in integers; then the residual relative to the total
    n_hat = (2 * pl.col("total_out") + pl.col("top_value")) // (2 * pl.col("top_value"))
    residual = (pl.col("total_out") - n_hat * pl.col("top_value")).abs()
    exact_split = (
        (pl.col("top_value") > 0) & (n_hat > 0)
        & (residual * WASABI_1X_SPLIT_RESIDUAL_DIVISOR <= pl.col("total_out"))
    )
    return (
        stats.filter(pl.col("n_in") >= WASABI_1X_MIN_INPUTS)
        .join(denom, on=_TX, how="inner")
        .join(overall, on=_TX, how="left")
        .filter(
            (n >= WASABI_1X_MIN_PARTICIPANTS)
            & (2 * n >= pl.col("n_out") - 1)
            & (n <= pl.col("n_in_addr"))
            & (pl.col("n_in_addr") <= WASABI_10_MAX_INPUTS_PER_PARTICIPANT * n)
            & ~((pl.col("n_in") < WASABI_1X_SMALL_ROUND) & (pl.col("total_out") > 0) & exact_split)
        )
        .select(_TX)
    )


def _wasabi_20(stats: pl.LazyFrame, outs: pl.LazyFrame) -> pl.LazyFrame:
    counts = _addressed(outs).group_by(*_TX, "value").agg(pl.len().alias("count"))
    denominations = counts.group_by(_TX).agg(
        (pl.col("count") >= 2).sum().alias("n_denoms"),
        pl.col("count").filter(pl.col("count") >= 2).sum().alias("n_denom_outputs"),
    )
    return (
        stats.filter((pl.col("n_in") >= WASABI_20_MIN_INPUTS) & (pl.col("min_out") >= WASABI_20_MIN_OUTPUT))
        .join(denominations, on=_TX, how="inner")
        .filter(
            (pl.col("n_denoms") >= WASABI_20_MIN_DENOMINATIONS)
            & (2 * pl.col("n_denom_outputs") >= pl.col("n_out") - 1)
            & (pl.col("n_denom_outputs") < pl.col("n_out"))
        )
        .select(_TX)
    )


# -- JoinMarket ---------------------------------------------------------------------------------------------
def _joinmarket(ins: pl.LazyFrame, outs: pl.LazyFrame) -> pl.LazyFrame:
    denom = _most_frequent(outs, pl.col("value") > JOINMARKET_DUST)
    n = pl.col("n")
    large = pl.col("n_in") >= JOINMARKET_LARGE_ROUND
    return (
        _input_stats(ins).join(_output_stats(outs), on=_TX, how="inner")
        .join(denom, on=_TX, how="inner")
        .filter(
            (2 * n >= pl.col("n_out"))
            & (n >= JOINMARKET_MIN_PARTICIPANTS)
            & (n <= pl.col("n_in_addr"))
            & (pl.col("n_out_addr") == pl.col("n_out"))
            & (n < pl.col("n_out"))  # some output is not the denomination (change)
            & ~(large & (pl.col("n_in") > JOINMARKET_MAX_INPUTS_PER_PARTICIPANT * n))
            & ~(large & (10 * pl.col("n_out") < JOINMARKET_MIN_OUTPUTS_PER_PARTICIPANT_X10 * n))
        )
        .select(_TX)
    )
