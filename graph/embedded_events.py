# SPDX-License-Identifier: Apache-2.0
"""Conversions and bridge events in the embedded store (the model: :mod:`graph.events`).

Tables (:data:`graph.embedded_schema._EVENT_NODE_DDL`, ``_EVENT_REL_DDL``): ``CONVERTED`` from the
trader's to the recipient's :Address, with its transaction as an ``INT64`` reference (``tx``), venue
and token assets as Address ids (0: the native coin), amounts ``DECIMAL(38,0)``; ``BridgeEvent``
nodes, linked to their local address by ``DEPOSITED`` (depositor -> deposit) or ``RELEASED``
(release -> recipient). :class:`graph.embedded.EmbeddedStore` calls these.

A load runs in two steps around the main load of :mod:`graph.embedded_load`: :func:`prepare`
checks the batch's events (their transactions in the batch, no contradicting duplicates) and
compares those the store already holds with the batch -- before anything is written, so a conflict
refuses the whole batch -- and :func:`write` adds what the store lacks, in one transaction (rows are
few: atomicity costs nothing here, and a cut-short write leaves no event without its link).
Reads resolve ids in polars, one query per call (the frontier :func:`conversions` included).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from graph.embedded_load import _SCAN_ABOVE, _number_nodes, _source_ids
from graph.embedded_reads import _asset_names
from graph.embedded_schema import _EVENT_NODE_DDL, _EVENT_REL_DDL, _ID_CHUNK, _NATIVE_ASSET_ID, _NODE_DDL, _typed
from graph.events import (
    EVENT_LABELS,
    EVENT_REL_ENDPOINTS,
    check_bridge_conflicts,
    check_conversion_conflicts,
    check_events,
    event_addresses,
    local_address_uid,
)
from graph.model import address_uid
from tracer.schema import BRIDGE_EVENTS, CONVERSIONS, NATIVE_ASSET, FrameSet, empty

if TYPE_CHECKING:
    from graph.base import LoadReport
    from graph.embedded import EmbeddedStore

__all__ = ["prepare", "write", "counts", "read_conversions", "conversions_of", "bridge_events"]

_CONVERTED = "MATCH (a:Address)-[r:CONVERTED]->(b:Address)"
_KEY = list(CONVERSIONS.key)


@dataclass(frozen=True)
class EventBatch:
    """What :func:`write` adds: the batch's events the store lacks, and how many the batch held."""

    conversions: pl.DataFrame
    bridge_events: pl.DataFrame
    addresses: pl.DataFrame
    given: dict[str, int]


def prepare(store: EmbeddedStore, frames: FrameSet) -> EventBatch | None:
    """Check the batch's events (:func:`graph.events.check_events`) and compare the stored ones with
    them (:func:`graph.events.check_conversion_conflicts`, ``check_bridge_conflicts``); None when the
    batch has none. Writes nothing.

    Raises
    ------
    SchemaError
        An event of no transaction of the batch, contradicting duplicates, a conflict with the store.
    """
    if frames.conversions.height == 0 and frames.bridge_events.height == 0:
        return None
    store._writable()
    frames = check_events(frames.validate())
    conv, bridge = frames.conversions, frames.bridge_events
    given = {"CONVERTED": conv.height, "BridgeEvent": bridge.height}
    known = store._dictionaries()["Transaction"].select("chain", "txid", "id")
    stored_tx = pl.concat([conv.select("chain", "txid"), bridge.select("chain", "txid")]).unique().join(
        known, on=["chain", "txid"], how="inner")
    if stored_tx.height:  # only an event of a stored transaction can be stored already
        old_conv = _stored(store, stored_tx, lambda ids: _conversion_rows(store, f"{_CONVERTED} WHERE r.tx IN $ids",
                                                                          {"ids": ids}),
                           lambda: read_conversions(store, None))
        old_bridge = _stored(store, stored_tx, lambda ids: _bridge_rows(store, ["e.tx IN $ids"], {"ids": ids}),
                             lambda: bridge_events(store))
        check_conversion_conflicts(conv, old_conv)
        check_bridge_conflicts(bridge, old_bridge)
        conv = conv.join(old_conv.select(_KEY), on=_KEY, how="anti")
        bridge = bridge.join(old_bridge.select(_KEY), on=_KEY, how="anti")
    addresses = event_addresses(FrameSet(conversions=conv, bridge_events=bridge))
    return EventBatch(conversions=conv, bridge_events=bridge, given=given,
                      addresses=addresses.select(address_uid(pl.col("chain"), pl.col("address")).alias("uid"),
                                                 "chain", "address", "source"))


def _stored(store: EmbeddedStore, stored_tx: pl.DataFrame, by_ids: Any, everything: Any) -> pl.DataFrame:
    """The stored events of the transactions ``stored_tx`` (``chain``, ``txid``, ``id``): a few by their
    ids, many (a re-run of an ingest) with one read of the table (see ``embedded_load._SCAN_ABOVE``)."""
    ids = stored_tx["id"].to_list()
    if len(ids) > _SCAN_ABOVE:
        found: pl.DataFrame = everything()
    else:
        found = pl.concat([by_ids(ids[i : i + _ID_CHUNK]) for i in range(0, len(ids), _ID_CHUNK)], how="vertical")
    return found.join(stored_tx.select("chain", "txid"), on=["chain", "txid"], how="semi")


def write(store: EmbeddedStore, batch: EventBatch | None, report: LoadReport) -> None:
    """Add the events :func:`prepare` found new (after the main load: their transactions are stored),
    with the Address nodes they need, in one transaction."""
    if batch is None:
        return
    with store._transaction():
        dictionaries = store._dictionaries()
        numbered = _number_nodes(batch.addresses, dictionaries["Address"])
        store._copy("Address", numbered.fresh.select("id", *_NODE_DDL["Address"]))
        report.add("Address", numbered.fresh.height, 0)  # the rest were counted with the batch's addresses
        dictionaries["Address"] = pl.concat(
            [dictionaries["Address"], numbered.fresh.select("uid", "id", "chain", "address")], how="vertical")
        ids = dictionaries["Address"].select("uid", "id")
        txs = dictionaries["Transaction"].select("chain", "txid", pl.col("id").alias("tx"))
        sources = _source_ids(store, pl.concat([batch.conversions["source"], batch.bridge_events["source"]])
                              .unique().to_list(), dictionaries)
        source_id = pl.col("source").replace_strict(sources["uid"], sources["id"], return_dtype=pl.Int64)
        _write_conversions(store, batch.conversions.join(txs, on=["chain", "txid"], how="left"), ids, source_id)
        report.add("CONVERTED", batch.conversions.height, batch.given["CONVERTED"] - batch.conversions.height)
        bridge = batch.bridge_events.join(txs, on=["chain", "txid"], how="left")
        first = store._next_id("BridgeEvent")
        bridge = bridge.with_columns(pl.int_range(first, first + bridge.height, dtype=pl.Int64).alias("id"),
                                     source_id, local_address_uid().alias("__local"))
        store._copy("BridgeEvent", bridge.select("id", *_EVENT_NODE_DDL["BridgeEvent"]))
        report.add("BridgeEvent", bridge.height, batch.given["BridgeEvent"] - bridge.height)
        linked = bridge.join(ids.rename({"uid": "__local", "id": "__address"}), on="__local", how="left")
        deposits = linked.filter(pl.col("role") == "deposit")
        store._copy("DEPOSITED", deposits.select(pl.col("__address").alias("from"), pl.col("id").alias("to"), "chain"))
        releases = linked.filter(pl.col("role") == "release")
        store._copy("RELEASED", releases.select(pl.col("id").alias("from"), pl.col("__address").alias("to"), "chain"))
        report.add("DEPOSITED", deposits.height, 0)
        report.add("RELEASED", releases.height, 0)


def _write_conversions(store: EmbeddedStore, conv: pl.DataFrame, ids: pl.DataFrame, source_id: pl.Expr) -> None:
    """``CONVERTED`` rows (the columns of ``_EVENT_REL_DDL``) from conversions with their ``tx`` id."""
    if conv.height == 0:
        return
    chain = pl.col("chain")
    for column in ("trader", "recipient", "venue", "asset_in", "asset_out"):
        conv = conv.with_columns(address_uid(chain, pl.col(column)).alias(f"__uid_{column}")).join(
            ids.rename({"uid": f"__uid_{column}", "id": f"__id_{column}"}), on=f"__uid_{column}", how="left")
    asset = {c: pl.when(pl.col(c) == NATIVE_ASSET).then(pl.lit(_NATIVE_ASSET_ID, pl.Int64))
             .otherwise(pl.col(f"__id_{c}")).alias(c) for c in ("asset_in", "asset_out")}
    rows = conv.with_columns(pl.col("__id_trader").alias("from"), pl.col("__id_recipient").alias("to"),
                             pl.col("__id_venue").alias("venue"), *asset.values(), source_id)
    store._copy("CONVERTED", rows.select("from", "to", *_EVENT_REL_DDL["CONVERTED"]))


def counts(store: EmbeddedStore) -> dict[str, int]:
    """Rows of the event tables (``stats()``)."""
    out = {label: int(store._run(f"MATCH (n:{label}) RETURN count(n) AS n")["n"][0]) for label in EVENT_LABELS}
    for rel, (start, end) in EVENT_REL_ENDPOINTS.items():
        out[rel] = int(store._run(f"MATCH (:{start})-[r:{rel}]->(:{end}) RETURN count(r) AS n")["n"][0])
    return out


# -- reads ----------------------------------------------------------------------------------------


def _block_fields(store: EmbeddedStore, tx_ids: pl.Series) -> pl.DataFrame:
    """``tx`` -> ``txid`` and the block fields of the stored transactions ``tx_ids`` (by primary key)."""
    found = store._run(
        "UNWIND $ids AS i MATCH (t:`Transaction` {id: i}) RETURN t.id AS tx, t.txid AS txid, "
        "t.block_height AS block_height, t.block_hash AS block_hash, t.position AS tx_index, t.timestamp AS timestamp",
        {"ids": tx_ids.unique().to_list()},
    )
    return found.with_columns(pl.col("tx").cast(pl.Int64), pl.col("txid").cast(pl.String))


def _source_names(store: EmbeddedStore) -> pl.DataFrame:
    return store._dictionaries()["Source"].select(pl.col("id").alias("source"), pl.col("uid").alias("__source"))


def _conversion_rows(store: EmbeddedStore, match: str, params: dict[str, Any]) -> pl.DataFrame:
    """``conversions`` rows of a query that binds ``a``, ``r`` and ``b`` as in ``_CONVERTED``."""
    if not store.events_stored:
        return empty(CONVERSIONS)
    raw = store._run(
        f"{match} RETURN a.chain AS chain, a.address AS trader, b.address AS recipient, "
        + ", ".join(f"r.{c} AS {c}" for c in _EVENT_REL_DDL["CONVERTED"]),
        params,
    )
    if raw.height == 0:
        return empty(CONVERSIONS)
    raw = raw.with_columns(pl.col(c).cast(pl.Int64) for c in ("tx", "venue", "asset_in", "asset_out", "source"))
    names = _asset_names(store, pl.concat([raw["venue"], raw["asset_in"], raw["asset_out"]]))
    for column in ("venue", "asset_in", "asset_out"):
        raw = raw.join(names.rename({"asset": column, "__asset": f"__{column}"}), on=column, how="left")
    joined = (
        raw.join(_block_fields(store, raw["tx"]), on="tx", how="left")
        .join(_source_names(store), on="source", how="left")
        .with_columns(
            pl.col("__venue").alias("venue"), pl.col("__source").alias("source"),
            *(pl.when(pl.col(c) == _NATIVE_ASSET_ID).then(pl.lit(NATIVE_ASSET)).otherwise(pl.col(f"__{c}")).alias(c)
              for c in ("asset_in", "asset_out")),
        )
    )
    return _typed(joined, CONVERSIONS.columns, CONVERSIONS.key)


def _bridge_rows(store: EmbeddedStore, conditions: list[str], params: dict[str, Any]) -> pl.DataFrame:
    """``bridge_events`` rows of the BridgeEvent nodes ``e`` that meet ``conditions``."""
    if not store.events_stored:
        return empty(BRIDGE_EVENTS)
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    raw = store._run(f"MATCH (e:BridgeEvent) {where}RETURN "
                     + ", ".join(f"e.{c} AS {c}" for c in _EVENT_NODE_DDL["BridgeEvent"]), params)
    if raw.height == 0:
        return empty(BRIDGE_EVENTS)
    raw = raw.with_columns(pl.col("tx").cast(pl.Int64), pl.col("source").cast(pl.Int64))
    joined = (raw.drop("txid").join(_block_fields(store, raw["tx"]), on="tx", how="left")
              .join(_source_names(store), on="source", how="left")
              .with_columns(pl.col("__source").alias("source")))
    return _typed(joined, BRIDGE_EVENTS.columns, BRIDGE_EVENTS.key)


def read_conversions(store: EmbeddedStore, chain: str | None) -> pl.DataFrame:
    """Every stored conversion (of ``chain``), sorted by key."""
    return _conversion_rows(store, f"{_CONVERTED} WHERE a.chain = $chain" if chain else _CONVERTED,
                            {"chain": chain} if chain else {})


def conversions_of(store: EmbeddedStore, chain: str, txids: Collection[str]) -> pl.DataFrame:
    """Every stored conversion of these transactions, sorted by key."""
    ids = store._tx_ids(chain, txids) if store.events_stored else []
    parts = [_conversion_rows(store, f"{_CONVERTED} WHERE r.tx IN $ids", {"ids": ids[i : i + _ID_CHUNK]})
             for i in range(0, len(ids), _ID_CHUNK)]
    return pl.concat(parts, how="vertical").sort(_KEY, nulls_last=True) if parts else empty(CONVERSIONS)


def bridge_events(store: EmbeddedStore, chain: str | None = None,
                  deposit_ids: Collection[str] | None = None) -> pl.DataFrame:
    """Bridge events of ``chain`` (None: every chain), only those of ``deposit_ids`` when given, sorted
    by key (:func:`graph.events.select_bridge_events`)."""
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if chain is not None:
        conditions.append("e.chain = $chain")
        params["chain"] = chain
    if deposit_ids is not None:
        wanted = sorted(set(deposit_ids))
        if not wanted:
            return empty(BRIDGE_EVENTS)
        conditions.append("e.deposit_id IN $deposit_ids")
        params["deposit_ids"] = wanted
    return _bridge_rows(store, conditions, params)
