# SPDX-License-Identifier: Apache-2.0
"""A synthetic account-model chain for the trace benchmark, built with vectorized polars.

Unlike the uniform graph of ``store_load.py`` (every address equally busy), this one has the
shape that makes tracing hard on real chains: a few hub addresses (exchange hot wallets) take a
fixed share of all receipts and payments, and the remaining addresses are picked with a
power-law skew (address ``k`` is chosen with probability roughly proportional to ``1/sqrt(k)``),
so some ordinary addresses are busy and most are nearly idle. Transactions are in increasing
block height and time (one per ``tx`` number, 100 per block, 12 s blocks). Every transaction
carries one native transfer; every fourth also moves a token.

Amounts are wei-scale integers and balances are consistent, as on a real chain: hubs pay out
any amount (up to 10 ETH; their reserves are older than the data), an ordinary address pays a
share (1-100%) of what it holds at that moment, and a transfer from an ordinary address that holds
nothing of the asset is not made. So a taint-model trace sees the flows a real one would, not
payments out of nothing. Endpoints and shares are vectorized (polars hashes); the balances
are one pass in Python (~1 s per million transfers). Deterministic for a given ``seed``.
"""

from __future__ import annotations

import polars as pl

from tracer.schema import TAGS, TRANSACTIONS, TRANSFERS, FrameSet, conform

__all__ = ["CHAIN", "TOKEN", "address_text", "skewed_transfers", "hub_tags"]

CHAIN = "eth"
TOKEN = "0x" + "a" * 40
_BLOCK_TXS = 100
_SECONDS_PER_BLOCK = 12
_SCALE = 1 << 32
_CANDIDATES = 3.5  # hash -> uniform float in [0, 1) via the low 32 bits


def address_text(n: pl.Expr) -> pl.Expr:
    """Address number ``n`` as a 0x-prefixed 40-digit lower-case hex-looking string."""
    return pl.lit("0x") + n.cast(pl.String).str.zfill(40)


def _uniform(i: pl.Expr, seed: int) -> pl.Expr:
    return (i.hash(seed) % _SCALE).cast(pl.Float64) / _SCALE


def _endpoint(i: pl.Expr, seed: int, n_addresses: int, n_hubs: int, hub_share: float) -> pl.Expr:
    """An address number: a hub (0 .. n_hubs-1) with probability ``hub_share``, else skewed."""
    u = _uniform(i, seed)
    skewed = (n_hubs + ((n_addresses - n_hubs) * _uniform(i, seed + 100).pow(2)).floor()).cast(pl.Int64)
    hub = (i.hash(seed + 200) % n_hubs).cast(pl.Int64)
    return pl.when(u < hub_share).then(hub).otherwise(skewed)


def _amounts(rows: pl.DataFrame, n_addresses: int, n_hubs: int) -> list[int]:
    """Each transfer's amount from the running balances (one list per asset slot)."""
    balances = [[0] * n_addresses, [0] * n_addresses]
    out: list[int] = []
    append = out.append
    columns = ["slot", "from_n", "to_n", "hub_amount", "percent"]
    for chunk in rows.select(columns).iter_slices(100_000):  # a chunk at a time: Python ints are large
        for slot, sender, recipient, hub_amount, percent in zip(
            *(chunk[c].to_list() for c in columns), strict=True
        ):
            balance = balances[slot]
            if sender < n_hubs:
                value = hub_amount
            else:
                value = balance[sender] * percent // 100
                balance[sender] -= value
            balance[recipient] += value
            append(value)
    return out


def skewed_transfers(
    n_transfers: int, n_addresses: int, *, n_hubs: int = 20, hub_share: float = 0.08, seed: int = 7,
    shard: int = 0,
) -> FrameSet:
    """``n_transfers`` transfers (1 native + 1 token every 4th transaction) between at most
    ``n_addresses`` addresses, of which the first ``n_hubs`` are hubs. About two in three candidate
    transfers come from an address holding nothing and are not made, so 3.5 times as many
    candidates are drawn and the first ``n_transfers`` made are kept.

    ``shard`` > 0 gives another segment of the same chain, drawn by the same rules from other
    random numbers: it follows shard ``shard - 1`` in time (its transactions come after), shares
    its hubs (the exchanges) and has its own ordinary addresses. Shard 0 is the chain this function
    always made. So shards 0..k-1 are a chain k times as long in which the neighbourhood of shard 0's
    addresses is exactly the one-shard chain's (``benchmarks/trace.py --scale``)."""
    n_tx = max(1, round(n_transfers * _CANDIDATES / 1.25))
    if shard:
        seed += 1000 * shard
    txs = pl.DataFrame({"tx": pl.int_range(0, n_tx, eager=True)})
    slots = pl.concat([
        txs.with_columns(pl.lit(0, pl.Int64).alias("slot")),
        txs.filter(pl.col("tx") % 4 == 3).with_columns(pl.lit(1, pl.Int64).alias("slot")),
    ]).sort("tx", "slot")
    i = pl.col("tx") * 2 + pl.col("slot")
    rows = slots.with_columns(
        _endpoint(i, seed, n_addresses, n_hubs, hub_share).alias("from_n"),
        _endpoint(i, seed + 1, n_addresses, n_hubs, hub_share).alias("to_n"),
        # wei: up to 10 ETH, log-uniform-ish (a random number of leading digits)
        (i.hash(seed + 2) % 10**19 // pl.lit(10).pow(i.hash(seed + 3) % 6)).alias("hub_amount"),
        # share of the balance an ordinary sender pays: 1..100 %, a sweep (100 %) one time in five
        pl.when(i.hash(seed + 4) % 5 == 0).then(100).otherwise(1 + i.hash(seed + 5) % 99).alias("percent"),
    ).filter(pl.col("from_n") != pl.col("to_n"))
    amounts = pl.Series("amount", _amounts(rows, n_addresses, n_hubs), pl.Int128).cast(pl.Decimal(38, 0))
    rows = rows.with_columns(amounts).filter(pl.col("amount") > 0).head(n_transfers)
    if shard:  # later in time, own ordinary addresses, the same hubs
        offset = shard * (n_addresses - n_hubs)
        rows = rows.with_columns(
            pl.col("tx") + shard * n_tx,
            *(pl.when(pl.col(c) < n_hubs).then(pl.col(c)).otherwise(pl.col(c) + offset).alias(c)
              for c in ("from_n", "to_n")),
        )
    block = pl.col("tx") // _BLOCK_TXS
    transfers = rows.select(
        pl.lit(CHAIN).alias("chain"),
        (pl.lit("0x") + pl.col("tx").cast(pl.String).str.zfill(64)).alias("txid"),
        block.alias("block_height"),
        (pl.lit("0xb") + block.cast(pl.String).str.zfill(63)).alias("block_hash"),
        (pl.col("tx") % _BLOCK_TXS).alias("tx_index"),
        (1_600_000_000 + block * _SECONDS_PER_BLOCK).alias("timestamp"),
        pl.when(pl.col("slot") == 0).then(pl.lit("native")).otherwise(pl.lit("token")).alias("kind"),
        pl.when(pl.col("slot") == 0).then(None).otherwise(pl.lit(0, pl.Int64)).alias("log_index"),
        pl.lit(None, pl.String).alias("trace_path"),
        pl.when(pl.col("slot") == 0).then(pl.lit("native")).otherwise(pl.lit(TOKEN)).alias("asset"),
        pl.lit(None, pl.String).alias("token_id"),
        address_text(pl.col("from_n")).alias("from_address"),
        address_text(pl.col("to_n")).alias("to_address"),
        pl.col("amount").cast(pl.Decimal(38, 0)).alias("value"),
        pl.lit(None, pl.String).alias("value_overflow"),
        pl.lit("benchmark").alias("source"),
    )
    transactions = transactions_of(transfers)
    return FrameSet(transactions=conform(transactions, TRANSACTIONS), transfers=conform(transfers, TRANSFERS))


def transactions_of(transfers: pl.DataFrame) -> pl.DataFrame:
    """One ``transactions`` row per txid of synthetic ``transfers`` (block fields from its first
    transfer, a fixed fee): shared by the benchmarks' generators."""
    return (
        transfers.group_by("txid", maintain_order=True)
        .agg(pl.col("block_height").first(), pl.col("block_hash").first(), pl.col("tx_index").first(),
             pl.col("timestamp").first())
        .select(
            pl.lit(CHAIN).alias("chain"), "txid", "block_height", "block_hash",
            pl.col("tx_index").alias("position"), "timestamp",
            pl.lit(21_000 * 10**9).cast(pl.Decimal(38, 0)).alias("fee"), pl.lit(False).alias("is_coinbase"),
            pl.lit("benchmark").alias("source"),
        )
    )


def hub_tags(n_hubs: int) -> pl.DataFrame:
    """``tags`` rows marking the hubs as exchanges (a trace stops there: legal process can be served)."""
    hubs = pl.DataFrame({"n": pl.int_range(0, n_hubs, eager=True)})
    tags = hubs.select(
        pl.lit(CHAIN).alias("chain"),
        address_text(pl.col("n")).alias("address"),
        (pl.lit("Exchange ") + pl.col("n").cast(pl.String)).alias("label"),
        pl.lit("exchange").alias("category"),
        pl.lit(100, pl.Int64).alias("confidence"),
        pl.lit("benchmark").alias("tagpack"),
        pl.lit("benchmark").alias("source"),
    )
    return conform(tags, TAGS)
