# SPDX-License-Identifier: Apache-2.0
"""The frontier: what a trace asks of a graph store, hop by hop.

Shared design notes §2: ``tracer/`` stays free of I/O, so it declares the small protocol it
needs and ``graph/`` implements it (one batched query per hop, never one query per address).
:class:`FrameFrontier` is the reference implementation over in-memory canonical frames: the
algorithm tests use it, and the store contract tests check every backend against it, so the
backends and the reference cannot drift apart.

Every method returns canonical frames (``tracer.schema``) sorted by their natural key, so two
implementations can be compared with ``DataFrame.equals``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

import polars as pl

from tracer.errors import InputError
from tracer.schema import CONVERSIONS, INPUTS, OUTPUTS, TAGS, TRANSACTIONS, TRANSFERS, FrameSet

__all__ = [
    "Direction",
    "TransferFilter",
    "ADDRESS_OUTPUTS_COLUMNS",
    "ADDRESS_FLOWS_COLUMNS",
    "Frontier",
    "TransferLookup",
    "ConversionLookup",
    "FrameFrontier",
    "apply_transfer_filter",
    "at_least",
]


class Direction(StrEnum):
    """Which way value is followed: forward (where did it go) or backward (where did it come from)."""

    FORWARD = "forward"
    BACKWARD = "backward"


@dataclass(frozen=True)
class TransferFilter:
    """Filters a trace applies to each hop.

    ``since`` and ``until`` are inclusive UTC seconds on the block time; ``min_value`` is in base
    units (rows whose amount only fits ``value_overflow`` are always above it); ``assets`` keeps
    only those assets (``"native"`` or token contract addresses). ``None`` means no limit.
    """

    since: int | None = None
    until: int | None = None
    min_value: int | None = None
    assets: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.min_value is not None and not 0 <= self.min_value < 2**256:
            raise InputError(f"minimum value {self.min_value} is not an amount in base units (0 to 2**256 - 1)")


#: ``address_outputs``: the outputs locked to an address and, when the store knows it, what spent them.
ADDRESS_OUTPUTS_COLUMNS: dict[str, pl.DataType] = {
    **dict(OUTPUTS.columns),
    "spent_txid": pl.String(),
    "spent_index": pl.Int64(),
}

#: ``address_flows``: every movement into or out of an address, one row per input, output or transfer.
ADDRESS_FLOWS_COLUMNS: dict[str, pl.DataType] = {
    "chain": pl.String(),
    "address": pl.String(),
    "txid": pl.String(),
    "block_height": pl.Int64(),
    "timestamp": pl.Int64(),
    "flow": pl.String(),  # "in" (received) or "out" (sent)
    "asset": pl.String(),
    "value": TRANSFERS.columns["value"],
    "value_overflow": pl.String(),
}
_FLOWS_KEY = ["chain", "address", "txid", "flow", "asset", "value", "value_overflow"]


class Frontier(Protocol):
    """Adjacent value movements of a set of addresses or outputs, one batched query per call."""

    def transfers(
        self,
        chain: str,
        addresses: Collection[str],
        direction: Direction,
        where: TransferFilter = TransferFilter(),
    ) -> pl.DataFrame:
        """Account model: ``transfers`` rows leaving (forward) or entering (backward) ``addresses``."""
        ...

    def spending(self, chain: str, outpoints: pl.DataFrame, where: TransferFilter = TransferFilter()) -> FrameSet:
        """UTXO forward hop: the complete transactions (transactions, inputs, outputs) that spend any
        of ``outpoints`` (columns ``txid``, ``index``); ``where`` filters on the spending block time."""
        ...

    def transactions(self, chain: str, txids: Collection[str]) -> FrameSet:
        """UTXO backward hop (and evidence): the complete transactions with these ids."""
        ...

    def address_outputs(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        """Outputs locked to ``addresses`` (columns :data:`ADDRESS_OUTPUTS_COLUMNS`)."""
        ...

    def address_flows(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        """Transactions of ``addresses``: every receipt and spend (columns :data:`ADDRESS_FLOWS_COLUMNS`)."""
        ...

    def tags(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        """``tags`` rows for ``addresses``."""
        ...

    def cluster(self, chain: str, address: str) -> pl.DataFrame:
        """``clusters`` rows of every member of the cluster(s) ``address`` belongs to."""
        ...


@runtime_checkable
class TransferLookup(Protocol):
    """A frontier that can also read transfers by transaction (account-model transfer seeds).

    Every graph store has it (``GraphStore.transfers_of``); a trace checks for it at run time so
    that frontiers without it (UTXO-only wrappers) still satisfy :class:`Frontier`.
    """

    def transfers_of(self, chain: str, txids: Collection[str]) -> pl.DataFrame:
        """Every ``transfers`` row of these transactions (all kinds), sorted by key."""
        ...


@runtime_checkable
class ConversionLookup(Protocol):
    """A frontier that can also read conversions (swaps, wrapping; :data:`tracer.schema.CONVERSIONS`).

    Every graph store has it; the account engine checks for it at run time, so frontiers without
    it still trace plain transfers (every conversion leg then stays a plain transfer into its pool).
    """

    def conversions_of(self, chain: str, txids: Collection[str]) -> pl.DataFrame:
        """Every ``conversions`` row of these transactions, sorted by key."""
        ...


def apply_transfer_filter(transfers: pl.DataFrame, where: TransferFilter) -> pl.DataFrame:
    """Apply ``where`` to a ``transfers`` frame (the reference semantics every store must match)."""
    condition = pl.lit(True)
    if where.since is not None:
        condition &= pl.col("timestamp") >= where.since
    if where.until is not None:
        condition &= pl.col("timestamp") <= where.until
    if where.min_value is not None:
        condition &= at_least(where.min_value)
    if where.assets is not None:
        condition &= pl.col("asset").is_in(list(where.assets))
    return transfers.filter(condition)


def at_least(min_value: int) -> pl.Expr:
    """``transfers`` rows whose exact amount is >= ``min_value`` (``value`` or ``value_overflow``).

    Overflow digits have no leading zeros, so a longer digit string is a larger number and equal
    lengths compare as text; ``value`` (< 10**38) is compared as a decimal when ``min_value`` fits.
    """
    digits = str(min_value)
    overflow = pl.col("value_overflow")
    big = overflow.is_not_null() & (
        (overflow.str.len_chars() > len(digits)) | ((overflow.str.len_chars() == len(digits)) & (overflow >= digits))
    )
    if min_value >= 10**38:
        return big
    return big | (pl.col("value") >= pl.lit(min_value).cast(TRANSFERS.columns["value"]))


def _sorted(frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    return frame.sort(key, nulls_last=True)


class FrameFrontier:
    """:class:`Frontier` over in-memory canonical frames (reference semantics; no I/O)."""

    def __init__(self, frames: FrameSet) -> None:
        self.frames = frames.validate()

    def transfers(
        self,
        chain: str,
        addresses: Collection[str],
        direction: Direction,
        where: TransferFilter = TransferFilter(),
    ) -> pl.DataFrame:
        side = "from_address" if direction is Direction.FORWARD else "to_address"
        rows = self.frames.transfers.filter((pl.col("chain") == chain) & pl.col(side).is_in(list(addresses)))
        return _sorted(apply_transfer_filter(rows, where), list(TRANSFERS.key))

    def transfers_of(self, chain: str, txids: Collection[str]) -> pl.DataFrame:
        rows = self.frames.transfers.filter((pl.col("chain") == chain) & pl.col("txid").is_in(list(txids)))
        return _sorted(rows, list(TRANSFERS.key))

    def conversions_of(self, chain: str, txids: Collection[str]) -> pl.DataFrame:
        rows = self.frames.conversions.filter((pl.col("chain") == chain) & pl.col("txid").is_in(list(txids)))
        return _sorted(rows, list(CONVERSIONS.key))

    def spending(self, chain: str, outpoints: pl.DataFrame, where: TransferFilter = TransferFilter()) -> FrameSet:
        wanted = outpoints.select(
            pl.col("txid").cast(pl.String).alias("prev_txid"), pl.col("index").cast(pl.Int64).alias("prev_index")
        )
        spenders = (
            self.frames.inputs.filter(pl.col("chain") == chain)
            .join(wanted, on=["prev_txid", "prev_index"], how="semi")
            .select("txid")
            .unique()
        )
        txs = self.frames.transactions.filter(pl.col("chain") == chain).join(spenders, on="txid", how="semi")
        if where.since is not None:
            txs = txs.filter(pl.col("timestamp") >= where.since)
        if where.until is not None:
            txs = txs.filter(pl.col("timestamp") <= where.until)
        return self.transactions(chain, txs["txid"].to_list())

    def transactions(self, chain: str, txids: Collection[str]) -> FrameSet:
        ids = list(txids)

        def pick(frame: pl.DataFrame) -> pl.DataFrame:
            return frame.filter((pl.col("chain") == chain) & pl.col("txid").is_in(ids))

        return FrameSet(
            transactions=_sorted(pick(self.frames.transactions), list(TRANSACTIONS.key)),
            inputs=_sorted(pick(self.frames.inputs), list(INPUTS.key)),
            outputs=_sorted(pick(self.frames.outputs), list(OUTPUTS.key)),
        )

    def address_outputs(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        outputs = self.frames.outputs.filter((pl.col("chain") == chain) & pl.col("address").is_in(list(addresses)))
        spends = self.frames.inputs.filter(pl.col("chain") == chain).select(
            pl.col("prev_txid").alias("txid"),
            pl.col("prev_index").alias("index"),
            pl.col("txid").alias("spent_txid"),
            pl.col("index").alias("spent_index"),
        )
        joined = outputs.join(spends, on=["txid", "index"], how="left")
        return _sorted(joined.select(list(ADDRESS_OUTPUTS_COLUMNS)), list(OUTPUTS.key))

    def address_flows(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        wanted = list(addresses)
        amount = TRANSFERS.columns["value"]
        times = self.frames.transactions.filter(pl.col("chain") == chain).select(
            "txid", "block_height", "timestamp"
        )

        def native(frame: pl.DataFrame, flow: str) -> pl.DataFrame:
            """Outputs received (``in``) or inputs spent (``out``) by the addresses, as flows."""
            return (
                frame.filter((pl.col("chain") == chain) & pl.col("address").is_in(wanted))
                .join(times, on="txid", how="left")
                .select(
                    "chain", "address", "txid", "block_height", "timestamp",
                    pl.lit(flow).alias("flow"), pl.lit("native").alias("asset"),
                    pl.col("value").cast(amount), pl.lit(None, pl.String).alias("value_overflow"),
                )
            )

        received, sent = native(self.frames.outputs, "in"), native(self.frames.inputs, "out")
        transfers = self.frames.transfers.filter(pl.col("chain") == chain)
        t_out = transfers.filter(pl.col("from_address").is_in(wanted)).select(
            "chain", pl.col("from_address").alias("address"), "txid", "block_height", "timestamp",
            pl.lit("out").alias("flow"), "asset", "value", "value_overflow",
        )
        t_in = transfers.filter(pl.col("to_address").is_in(wanted)).select(
            "chain", pl.col("to_address").alias("address"), "txid", "block_height", "timestamp",
            pl.lit("in").alias("flow"), "asset", "value", "value_overflow",
        )
        flows = pl.concat([received, sent, t_in, t_out], how="vertical")
        return _sorted(flows, _FLOWS_KEY)

    def tags(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        rows = self.frames.tags.filter((pl.col("chain") == chain) & pl.col("address").is_in(list(addresses)))
        return _sorted(rows, list(TAGS.key))

    def cluster(self, chain: str, address: str) -> pl.DataFrame:
        clusters = self.frames.clusters.filter(pl.col("chain") == chain)
        ids = clusters.filter(pl.col("address") == address).select("cluster_id").unique()
        return _sorted(clusters.join(ids, on="cluster_id", how="semi"), ["chain", "cluster_id", "address"])

