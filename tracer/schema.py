# SPDX-License-Identifier: Apache-2.0
"""Canonical frames: the one description of the data every adapter emits and every store loads.

Shared design notes §3. Each frame is a :class:`FrameSchema` (column -> polars dtype, which
columns may be null, which columns form the natural key). Adapters build frames with
:func:`conform`; stores and the tracer call :func:`validate` at their boundary, so a frame that
drifted from the schema fails loudly with the column named, instead of loading half a graph.

Units (see ``tracer/units.py``):

* UTXO ``value`` columns are ``Int64`` satoshi-style base units (21e6 BTC = 2.1e15 sat; even
  Dogecoin's supply fits far below 2**63).
* Account-model ``value`` and every ``fee`` are ``Decimal(38, 0)`` base units (wei); an amount
  at or above 10**38 is null in ``value`` and exact in ``value_overflow``.
* ``timestamp`` is UTC seconds since the epoch (block time).
* Every row carries ``chain`` (registry key) and ``source`` (which node or file it came from).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from tracer.errors import SchemaError

__all__ = [
    "AMOUNT",
    "FrameSchema",
    "TRANSACTIONS",
    "INPUTS",
    "OUTPUTS",
    "TRANSFERS",
    "TAGS",
    "CLUSTERS",
    "SEEDS",
    "CONVERSIONS",
    "BRIDGE_EVENTS",
    "CONVERSION_PROTOCOLS",
    "BRIDGE_ROLES",
    "FRAMES",
    "FrameSet",
    "TRANSFER_KINDS",
    "NATIVE_ASSET",
    "conform",
    "validate",
    "empty",
]

#: Exact integer amount column for the account model and fees (base units).
AMOUNT = pl.Decimal(38, 0)
#: ``asset`` value for a chain's own coin (ETH on Ethereum); tokens use their contract address.
NATIVE_ASSET = "native"
#: What a row of ``transfers`` is: the transaction's own value, a token log, a value-carrying
#: internal call found in a trace, or the fee the sender paid.
TRANSFER_KINDS = ("native", "token", "internal", "fee")


@dataclass(frozen=True)
class FrameSchema:
    """Columns, their types, what may be null and what identifies a row."""

    name: str
    columns: Mapping[str, pl.DataType]
    nullable: frozenset[str]
    key: tuple[str, ...]
    non_negative: tuple[str, ...] = ()
    doc: Mapping[str, str] | None = None

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema(dict(self.columns))


TRANSACTIONS = FrameSchema(
    name="transactions",
    columns={
        "chain": pl.String(),
        "txid": pl.String(),
        "block_height": pl.Int64(),
        "block_hash": pl.String(),
        "position": pl.Int64(),
        "timestamp": pl.Int64(),
        "fee": AMOUNT,
        "is_coinbase": pl.Boolean(),
        "source": pl.String(),
    },
    nullable=frozenset({"block_height", "block_hash", "position", "timestamp"}),  # null = unconfirmed
    key=("chain", "txid"),
    non_negative=("fee",),
    doc={
        "position": "index of the transaction inside its block",
        "fee": "base units paid to the miner / validator (0 for coinbase)",
    },
)

INPUTS = FrameSchema(
    name="inputs",
    columns={
        "chain": pl.String(),
        "txid": pl.String(),
        "index": pl.Int64(),
        "prev_txid": pl.String(),
        "prev_index": pl.Int64(),
        "address": pl.String(),
        "value": pl.Int64(),
        "source": pl.String(),
    },
    # coinbase inputs spend nothing; an input spending a nonstandard output has no address
    nullable=frozenset({"prev_txid", "prev_index", "address", "value"}),
    key=("chain", "txid", "index"),
    non_negative=("value",),
)

OUTPUTS = FrameSchema(
    name="outputs",
    columns={
        "chain": pl.String(),
        "txid": pl.String(),
        "index": pl.Int64(),
        "address": pl.String(),
        "script_type": pl.String(),
        "value": pl.Int64(),
        "source": pl.String(),
    },
    nullable=frozenset({"address"}),  # OP_RETURN and nonstandard scripts have no address
    key=("chain", "txid", "index"),
    non_negative=("value",),
)

TRANSFERS = FrameSchema(
    name="transfers",
    columns={
        "chain": pl.String(),
        "txid": pl.String(),
        "block_height": pl.Int64(),
        "block_hash": pl.String(),
        "tx_index": pl.Int64(),
        "timestamp": pl.Int64(),
        "kind": pl.String(),
        "log_index": pl.Int64(),
        "trace_path": pl.String(),
        "asset": pl.String(),
        "token_id": pl.String(),
        "from_address": pl.String(),
        "to_address": pl.String(),
        "value": AMOUNT,
        "value_overflow": pl.String(),
        "source": pl.String(),
    },
    nullable=frozenset(
        {"block_height", "block_hash", "tx_index", "timestamp", "log_index", "trace_path", "token_id",
         "to_address", "value", "value_overflow"}
    ),
    # a transfer is its transaction plus where inside it: the log (token) or the call path (internal)
    key=("chain", "txid", "kind", "log_index", "trace_path"),
    non_negative=("value",),
    doc={
        "tx_index": "index of the transaction inside its block (orders an address's stream)",
        "log_index": "block-wide log index of a token Transfer event",
        "trace_path": "call path of an internal transfer, e.g. '0.1' (trace_address joined by '.')",
        "token_id": "ERC-721 / ERC-1155 token id; value then counts items, not base units",
        "to_address": "null for a fee burned or a contract creation that failed",
        "value_overflow": "exact decimal digits when the amount is >= 10**38 (value is then null)",
    },
)

TAGS = FrameSchema(
    name="tags",
    columns={
        "chain": pl.String(),
        "address": pl.String(),
        "label": pl.String(),
        "category": pl.String(),
        "confidence": pl.Int64(),
        "tagpack": pl.String(),
        "source": pl.String(),
    },
    nullable=frozenset({"category", "confidence", "tagpack"}),
    key=("chain", "address", "source", "label"),
    non_negative=("confidence",),
    doc={
        "category": "INTERPOL DW-VA category as GraphSense uses it (exchange, mixing_service, ...)",
        "confidence": "0-100, from the TagPack confidence level",
        "tagpack": "title or file of the TagPack / list the tag came from",
        "source": "where the attribution comes from (URL, agency, list), as the TagPack states it",
    },
)

CLUSTERS = FrameSchema(
    name="clusters",
    columns={
        "chain": pl.String(),
        "address": pl.String(),
        "cluster_id": pl.String(),
        "source": pl.String(),
    },
    nullable=frozenset(),
    key=("chain", "address"),
    doc={"cluster_id": "content-derived id (stable across re-runs)", "source": "clustering run / heuristic set"},
)

SEEDS = FrameSchema(
    name="seeds",
    columns={
        "case": pl.String(),
        "chain": pl.String(),
        "address": pl.String(),
        "label": pl.String(),
        "source": pl.String(),
    },
    nullable=frozenset({"label"}),
    key=("case", "chain", "address"),
)

#: Where an event-stated row sits (conversions, bridge events): its transaction, block and log.
_EVENT_PLACE: dict[str, pl.DataType] = {
    "chain": pl.String(), "txid": pl.String(), "block_height": pl.Int64(), "block_hash": pl.String(),
    "tx_index": pl.Int64(), "timestamp": pl.Int64(), "log_index": pl.Int64(),
}

#: Protocols whose events :data:`CONVERSIONS` rows come from (decoders in ``adapters/evm``).
CONVERSION_PROTOCOLS = ("uniswap_v2", "uniswap_v3", "weth")

CONVERSIONS = FrameSchema(
    name="conversions",
    columns={
        **_EVENT_PLACE,
        "protocol": pl.String(),
        "venue": pl.String(),
        "trader": pl.String(),
        "recipient": pl.String(),
        "asset_in": pl.String(),
        "value_in": AMOUNT,
        "asset_out": pl.String(),
        "value_out": AMOUNT,
        "in_kind": pl.String(),
        "in_log_index": pl.Int64(),
        "in_trace_path": pl.String(),
        "out_kind": pl.String(),
        "out_log_index": pl.Int64(),
        "out_trace_path": pl.String(),
        "source": pl.String(),
    },
    nullable=frozenset(
        {"block_height", "block_hash", "tx_index", "timestamp", "in_kind", "in_log_index", "in_trace_path",
         "out_kind", "out_log_index", "out_trace_path"}
    ),
    # one conversion per event that states it (a Swap, Deposit or Withdrawal log)
    key=("chain", "txid", "log_index"),
    non_negative=("value_in", "value_out"),
    doc={
        "log_index": "block-wide log index of the event that states the conversion (Swap, Deposit, Withdrawal)",
        "protocol": "uniswap_v2 | uniswap_v3 (and forks with the same event) | weth (Deposit/Withdrawal)",
        "venue": "the pool, pair or wrapping contract that converted",
        "trader": "who gave asset_in (the payer of the in-leg; the depositor / withdrawer for weth)",
        "recipient": "who received asset_out",
        "asset_in": "'native' or token contract given; value_in its exact base units",
        "asset_out": "'native' or token contract received; value_out its exact base units",
        "in_kind": "transfers row that carried asset_in to the venue (kind, log_index, trace_path: its key in "
                   "the same transaction); null when the event itself is the movement (weth Withdrawal burns)",
        "out_kind": "transfers row that carried asset_out from the venue; null when the event itself is the "
                    "movement (weth Deposit mints without a Transfer event)",
    },
)

#: What a :data:`BRIDGE_EVENTS` row is: value locked/sent on the origin chain, or paid out on the destination.
BRIDGE_ROLES = ("deposit", "release")

BRIDGE_EVENTS = FrameSchema(
    name="bridge_events",
    columns={
        **_EVENT_PLACE,
        "bridge": pl.String(),
        "role": pl.String(),
        "contract": pl.String(),
        "deposit_id": pl.String(),
        "origin_chain_id": pl.Int64(),
        "destination_chain_id": pl.Int64(),
        "depositor": pl.String(),
        "recipient": pl.String(),
        "asset_in": pl.String(),
        "value_in": AMOUNT,
        "asset_out": pl.String(),
        "value_out": AMOUNT,
        "leg_kind": pl.String(),
        "leg_log_index": pl.Int64(),
        "leg_trace_path": pl.String(),
        "fill_deadline": pl.Int64(),
        "source": pl.String(),
    },
    nullable=frozenset(
        {"block_height", "block_hash", "tx_index", "timestamp", "leg_kind", "leg_log_index", "leg_trace_path",
         "asset_out", "value_out", "fill_deadline"}
    ),
    key=("chain", "txid", "log_index"),
    non_negative=("value_in", "value_out"),
    doc={
        "bridge": "registry name of the bridge (e.g. 'across')",
        "role": "deposit (origin chain: value handed to the bridge) | release (destination chain: value paid out)",
        "contract": "the bridge contract that emitted the event",
        "deposit_id": "the bridge's own identifier of the deposit (decimal text), unique per origin chain",
        "origin_chain_id": "EIP-155 chain id the deposit was made on",
        "destination_chain_id": "EIP-155 chain id the value is released on",
        "depositor": "who deposited (address on the origin chain, as the event states it)",
        "recipient": "who is paid on the destination chain",
        "asset_in": "token deposited on the origin chain ('native' for the chain's coin); value_in its base units",
        "asset_out": "token paid on the destination chain, as the event states it; value_out its base units",
        "leg_kind": "transfers row that moved the value (deposit: depositor -> bridge; release: -> recipient), "
                    "by its key in the same transaction",
        "fill_deadline": "UTC seconds by which the release must happen, as the event states it (null: none stated)",
    },
)

FRAMES: dict[str, FrameSchema] = {
    s.name: s for s in (TRANSACTIONS, INPUTS, OUTPUTS, TRANSFERS, TAGS, CLUSTERS, SEEDS, CONVERSIONS, BRIDGE_EVENTS)
}


@dataclass(frozen=True)
class FrameSet:
    """One batch of canonical frames, as adapters emit them and stores load and return them.

    Every frame defaults to an empty canonical frame, so a UTXO batch simply leaves
    ``transfers`` empty and a tag import fills only ``tags``.
    """

    transactions: pl.DataFrame = field(default_factory=lambda: empty(TRANSACTIONS))
    inputs: pl.DataFrame = field(default_factory=lambda: empty(INPUTS))
    outputs: pl.DataFrame = field(default_factory=lambda: empty(OUTPUTS))
    transfers: pl.DataFrame = field(default_factory=lambda: empty(TRANSFERS))
    tags: pl.DataFrame = field(default_factory=lambda: empty(TAGS))
    clusters: pl.DataFrame = field(default_factory=lambda: empty(CLUSTERS))
    seeds: pl.DataFrame = field(default_factory=lambda: empty(SEEDS))
    conversions: pl.DataFrame = field(default_factory=lambda: empty(CONVERSIONS))
    bridge_events: pl.DataFrame = field(default_factory=lambda: empty(BRIDGE_EVENTS))

    def frames(self) -> dict[str, pl.DataFrame]:
        """The frames by canonical name, in load order."""
        return {name: getattr(self, name) for name in FRAMES}

    def validate(self) -> FrameSet:
        """Validate every frame (raises :class:`SchemaError` naming frame and column); returns self."""
        for name, frame in self.frames().items():
            validate(frame, FRAMES[name])
        return self

    def sorted(self) -> FrameSet:
        """The same rows, each frame sorted by its natural key (a canonical order to compare and hash)."""
        return FrameSet(
            **{
                name: frame.sort(list(FRAMES[name].key), nulls_last=True)
                for name, frame in self.frames().items()
            }
        )

    @staticmethod
    def concat(parts: list[FrameSet]) -> FrameSet:
        """Row-wise union of several frame sets (no de-duplication)."""
        if not parts:
            return FrameSet()
        return FrameSet(
            **{name: pl.concat([p.frames()[name] for p in parts], how="vertical") for name in FRAMES}
        )


def empty(schema: FrameSchema) -> pl.DataFrame:
    """A zero-row frame with the canonical columns and types."""
    return pl.DataFrame(schema=schema.polars_schema)


def conform(frame: pl.DataFrame, schema: FrameSchema) -> pl.DataFrame:
    """Select the canonical columns in canonical order and cast them exactly, then :func:`validate`.

    Extra columns are dropped. A cast that would lose information (text that is not a number,
    an integer that does not fit) raises :class:`SchemaError` naming the column.
    """
    missing = [c for c in schema.columns if c not in frame.columns]
    if missing:
        raise SchemaError(f"{schema.name} frame is missing column(s): {', '.join(missing)}")
    casts = []
    for column, dtype in schema.columns.items():
        if frame.schema[column] == dtype:
            casts.append(pl.col(column))
        elif frame.schema[column] in (pl.Float32, pl.Float64) and column in ("value", "fee"):
            raise SchemaError(f"{schema.name}.{column} is a float column; amounts must be integers")
        else:
            casts.append(pl.col(column).cast(dtype, strict=True))
    try:
        out = frame.select(casts)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        raise SchemaError(f"{schema.name} frame has a value that does not fit its column: {exc}") from None
    validate(out, schema)
    return out


def validate(frame: pl.DataFrame, schema: FrameSchema) -> None:
    """Check that ``frame`` is exactly in canonical form.

    Raises
    ------
    SchemaError
        Missing or extra column, wrong dtype, a null where the schema forbids it, a negative
        amount, or (for ``transfers``) a row whose amount is encoded wrongly.
    """
    missing = [c for c in schema.columns if c not in frame.columns]
    if missing:
        raise SchemaError(f"{schema.name} frame is missing column(s): {', '.join(missing)}")
    extra = [c for c in frame.columns if c not in schema.columns]
    if extra:
        raise SchemaError(f"{schema.name} frame has unexpected column(s): {', '.join(extra)}")
    for column, dtype in schema.columns.items():
        if frame.schema[column] != dtype:
            raise SchemaError(
                f"{schema.name}.{column} has type {frame.schema[column]}, expected {dtype}"
            )
    if frame.height == 0:
        return
    required = [c for c in schema.columns if c not in schema.nullable]
    nulls = frame.select(pl.col(required).null_count()).row(0, named=True)
    bad = {c: n for c, n in nulls.items() if n}
    if bad:
        column = next(iter(bad))
        raise SchemaError(f"{schema.name}.{column} has {bad[column]} null value(s) but is required")
    for column in schema.non_negative:
        negatives = frame.select((pl.col(column) < 0).sum()).item()
        if negatives:
            raise SchemaError(f"{schema.name}.{column} has {negatives} negative amount(s)")
    if schema is TRANSFERS:
        _validate_transfer_amounts(frame)


def _validate_transfer_amounts(frame: pl.DataFrame) -> None:
    both_or_neither = frame.filter(pl.col("value").is_null() == pl.col("value_overflow").is_null())
    if both_or_neither.height:
        row = both_or_neither.row(0, named=True)
        raise SchemaError(
            f"transfers row {row['txid']} must carry its amount in exactly one of value / value_overflow"
        )
    unknown = frame.filter(~pl.col("kind").is_in(list(TRANSFER_KINDS)))
    if unknown.height:
        raise SchemaError(
            f"transfers.kind {unknown['kind'][0]!r} is not one of {', '.join(TRANSFER_KINDS)}"
        )
    overflow = frame.filter(pl.col("value_overflow").is_not_null())
    if overflow.height and not overflow["value_overflow"].str.contains(r"^[0-9]{39,78}$").all():
        raise SchemaError("transfers.value_overflow must hold 39 to 78 decimal digits")
