# SPDX-License-Identifier: Apache-2.0
"""Conversions and bridge events in the graph: the part of the model both stores share (pure, no I/O).

Two canonical frames (:data:`tracer.schema.CONVERSIONS`, :data:`tracer.schema.BRIDGE_EVENTS`) sit
beside the transfers of an account chain. In both stores they are::

    (:Address trader)-[:CONVERTED {txid, log_index, protocol, venue, asset_in, value_in, ...}]->(:Address recipient)
    (:Address depositor)-[:DEPOSITED]->(:BridgeEvent {role: 'deposit', ...})    origin chain
    (:BridgeEvent {role: 'release', ...})-[:RELEASED]->(:Address recipient)     destination chain

A conversion's venue and its token assets are :Address nodes too (as a transfer's token contract
is). A bridge event is linked to its *local* address only -- the deposit's depositor, the release's
recipient: the other side is an address on another chain (the release's depositor is an origin-chain
address), which the event keeps as text.

Like transfers, every conversion and bridge event belongs to a transaction of its batch and
carries that transaction's block fields (:func:`check_events`); a row whose key is already stored
with other content is refused, naming the row (:func:`check_conversion_conflicts`,
:func:`check_bridge_conflicts`). :func:`select_bridge_events` is the reference semantics of
``GraphStore.bridge_events`` (``tracer.frontier.FrameFrontier.conversions_of`` is that of
``GraphStore.conversions_of``).
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from graph.model import _refuse, address_uid
from tracer.errors import SchemaError
from tracer.schema import BRIDGE_EVENTS, BRIDGE_ROLES, CONVERSIONS, NATIVE_ASSET, TRANSFER_KINDS, FrameSet

__all__ = [
    "EVENT_LABELS",
    "EVENT_REL_ENDPOINTS",
    "EVENT_COUNTS",
    "CONVERSION_FACTS",
    "BRIDGE_FACTS",
    "BLOCK_FIELDS",
    "check_events",
    "event_uid",
    "event_addresses",
    "check_conversion_conflicts",
    "check_bridge_conflicts",
    "select_bridge_events",
    "local_address_uid",
]

#: node labels the events add to the graph
EVENT_LABELS = ("BridgeEvent",)
#: relationship type -> (start label, end label)
EVENT_REL_ENDPOINTS: dict[str, tuple[str, str]] = {
    "CONVERTED": ("Address", "Address"),
    "DEPOSITED": ("Address", "BridgeEvent"),
    "RELEASED": ("BridgeEvent", "Address"),
}
#: the names ``GraphStore.stats()`` counts the events under
EVENT_COUNTS = (*EVENT_LABELS, *EVENT_REL_ENDPOINTS)
#: the columns a transaction holds for its conversions and bridge events (stores keep them once)
BLOCK_FIELDS = ("block_height", "block_hash", "tx_index", "timestamp")
_KEY = ("chain", "txid", "log_index")
#: what a stored conversion says besides its key and block fields, compared with a batch that holds it again
CONVERSION_FACTS = tuple(c for c in CONVERSIONS.columns if c not in (*_KEY, *BLOCK_FIELDS, "source"))
#: the same for a bridge event
BRIDGE_FACTS = tuple(c for c in BRIDGE_EVENTS.columns if c not in (*_KEY, *BLOCK_FIELDS, "source"))


def event_uid(chain: pl.Expr | None = None) -> pl.Expr:
    """``chain:txid:log_index``: a conversion's or bridge event's identity (one event log states it)."""
    return pl.concat_str([chain if chain is not None else pl.col("chain"), pl.col("txid"),
                          pl.col("log_index").cast(pl.String)], separator=":").alias("uid")


def check_events(frames: FrameSet) -> FrameSet:
    """Check the batch's conversions and bridge events against the graph model; returns ``frames``
    with rows repeated verbatim in the batch dropped (the first kept).

    Raises
    ------
    SchemaError
        A row whose transaction is not in the batch or disagrees with it on block, position or time;
        two rows of one key with different content; a leg kind that is not a transfer kind; a
        bridge role that is not ``deposit`` or ``release``.
    """
    txs = frames.transactions.select(
        "chain", "txid", *(pl.col(c).alias(f"__tx_{c}") for c in ("block_height", "block_hash", "timestamp")),
        pl.col("position").alias("__tx_tx_index"), pl.lit(True).alias("__tx_found"),
    ).unique(["chain", "txid"], keep="first", maintain_order=True)
    out: dict[str, pl.DataFrame] = {}
    for name, kinds in (("conversions", ("in_kind", "out_kind")), ("bridge_events", ("leg_kind",))):
        frame: pl.DataFrame = getattr(frames, name)
        if frame.height == 0:
            continue
        for column in kinds:
            bad = frame.filter(pl.col(column).is_not_null() & ~pl.col(column).is_in(list(TRANSFER_KINDS)))
            if bad.height:
                raise SchemaError(f"{name}.{column} {bad[column][0]!r} is not one of {', '.join(TRANSFER_KINDS)}")
        if name == "bridge_events":
            bad = frame.filter(~pl.col("role").is_in(list(BRIDGE_ROLES)))
            if bad.height:
                raise SchemaError(f"bridge_events.role {bad['role'][0]!r} is not one of {', '.join(BRIDGE_ROLES)}")
        joined = frame.join(txs, on=["chain", "txid"], how="left", maintain_order="left")
        orphans = joined.filter(pl.col("__tx_found").is_null())
        if orphans.height:
            chain, txid = orphans.select("chain", "txid").row(0)
            raise SchemaError(f"{name} rows of {orphans.select('chain', 'txid').n_unique()} transaction(s) have no "
                              f"transactions row in the batch (first: {chain} {txid}); load a transaction together "
                              f"with its {name}")
        differs = pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"__tx_{c}")) for c in BLOCK_FIELDS)
        moved = joined.filter(differs)
        if moved.height:
            chain, txid = moved.select("chain", "txid").row(0)
            raise SchemaError(f"{name} of {chain} {txid} disagree with their transactions row on block, position "
                              "or time")
        unique = frame.unique(maintain_order=True)
        twice = unique.filter(unique.select(_KEY).is_duplicated())
        if twice.height:
            row = twice.sort(list(_KEY)).row(0, named=True)
            raise SchemaError(f"{name} row {row['chain']}:{row['txid']}:{row['log_index']} appears twice in the "
                              "batch with different content; nothing was loaded")
        out[name] = unique
    return FrameSet(**{**frames.frames(), **out}) if out else frames


def event_addresses(frames: FrameSet) -> pl.DataFrame:
    """``chain``, ``address``, ``source`` of every :Address node the batch's events need: a
    conversion's trader, recipient, venue and token assets, a bridge event's local address (the
    deposit's depositor, the release's recipient). One row per address, the smallest source."""
    conv, bridge = frames.conversions, frames.bridge_events
    parts = [conv.select("chain", pl.col(c).alias("address"), "source") for c in ("trader", "recipient", "venue")]
    parts += [conv.filter(pl.col(c) != NATIVE_ASSET).select("chain", pl.col(c).alias("address"), "source")
              for c in ("asset_in", "asset_out")]
    parts.append(bridge.select("chain", pl.when(pl.col("role") == "deposit").then(pl.col("depositor"))
                               .otherwise(pl.col("recipient")).alias("address"), "source"))
    rows = pl.concat(parts, how="vertical")
    return rows.group_by("chain", "address").agg(pl.col("source").min()).sort("chain", "address")


def _stored_vs_incoming(incoming: pl.DataFrame, stored: pl.DataFrame, facts: tuple[str, ...]) -> pl.DataFrame:
    return incoming.select(event_uid(), *facts).join(
        stored.select(event_uid(), *(pl.col(c).alias(f"__{c}") for c in facts)), on="uid"
    )


def _check(incoming: pl.DataFrame, stored: pl.DataFrame, facts: tuple[str, ...], one: str, many: str) -> None:
    if incoming.height == 0 or stored.height == 0:
        return
    joined = _stored_vs_incoming(incoming, stored, facts)
    if joined.height:
        _refuse(joined, {c: pl.col(c).ne_missing(pl.col(f"__{c}")) for c in facts}, one, many)


def check_conversion_conflicts(incoming: pl.DataFrame, stored: pl.DataFrame) -> None:
    """Refuse conversions the store holds (same chain, txid, log index) with other content: every fact
    of :data:`CONVERSION_FACTS` must be equal, nulls included (one event states one conversion).
    ``incoming`` and ``stored`` are ``conversions`` rows (``stored`` needs the key and the facts).

    Raises
    ------
    SchemaError
        Naming the first conflicting conversions (``chain:txid:log_index``) and both versions of each fact.
    """
    _check(incoming, stored, CONVERSION_FACTS, "conversion", "conversions")


def check_bridge_conflicts(incoming: pl.DataFrame, stored: pl.DataFrame) -> None:
    """:func:`check_conversion_conflicts` for bridge events (:data:`BRIDGE_FACTS`)."""
    _check(incoming, stored, BRIDGE_FACTS, "bridge event", "bridge events")


def select_bridge_events(frame: pl.DataFrame, chain: str | None = None,
                         deposit_ids: Collection[str] | None = None) -> pl.DataFrame:
    """The reference semantics of ``GraphStore.bridge_events``: the rows of ``frame`` (``bridge_events``)
    of ``chain`` (every chain: None), only those with one of ``deposit_ids`` (None: all), sorted by key."""
    condition = pl.lit(True)
    if chain is not None:
        condition &= pl.col("chain") == chain
    if deposit_ids is not None:
        condition &= pl.col("deposit_id").is_in(sorted(set(deposit_ids)))
    return frame.filter(condition).sort(list(BRIDGE_EVENTS.key), nulls_last=True)


def local_address_uid() -> pl.Expr:
    """The uid of each bridge event's local :Address (deposit: depositor; release: recipient)."""
    local = pl.when(pl.col("role") == "deposit").then(pl.col("depositor")).otherwise(pl.col("recipient"))
    return address_uid(pl.col("chain"), local)
