# SPDX-License-Identifier: Apache-2.0
"""Conversions and bridge events in Neo4j (the model: :mod:`graph.events`).

::

    (:Address trader)-[:CONVERTED {uid, chain, txid, block_height, ..., log_index, protocol, venue,
                                   asset_in, value_in, asset_out, value_out, ..., source}]->(:Address recipient)
    (:Address depositor)-[:DEPOSITED]->(:BridgeEvent {uid, role: 'deposit', ...})
    (:BridgeEvent {uid, role: 'release', ...})-[:RELEASED]->(:Address recipient)

Every column of the canonical frame is a property, so :meth:`graph.neo4j_store.Neo4jStore.read_frames`
returns the rows exactly; ``uid`` is ``chain:txid:log_index`` (unique: a constraint on BridgeEvent,
an index on CONVERTED). Amounts are decimal strings (the driver refuses integers above 2**63-1;
never aggregated in Cypher), with readable coin amounts beside them and a Browser ``caption``.
Every query is parameterized; labels and types are the fixed constants of :mod:`graph.events`.

:func:`prepare` runs with the other checks of :func:`graph.neo4j_load.load`, before anything is
written (a batch whose events contradict the stored ones is refused whole); :func:`write` MERGEs
the nodes first, then the relationships (ArcadeDB: never in the statement that creates their ends).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import neo4j
import polars as pl

from graph.captions import caption, coins_text, readable_amount, short_text, utc_text
from graph.events import (
    check_bridge_conflicts,
    check_conversion_conflicts,
    check_events,
    event_addresses,
    event_uid,
    local_address_uid,
)
from graph.model import address_uid
from tracer.schema import BRIDGE_EVENTS, CONVERSIONS, FrameSet

if TYPE_CHECKING:
    from graph.base import LoadReport
    from graph.neo4j_store import Neo4jStore

__all__ = ["prepare", "write", "remove", "read_conversions", "conversions_of", "bridge_events"]

_AMOUNTS = ("value_in", "value_out")
_CONVERSION_FIELDS = ", ".join(
    f"x.{c} AS {c}" for c in CONVERSIONS.columns if c not in ("trader", "recipient")
) + ", a.address AS trader, b.address AS recipient"
_BRIDGE_FIELDS = ", ".join(f"e.{c} AS {c}" for c in BRIDGE_EVENTS.columns)
_CONVERTED = "MATCH (a:Address)-[x:CONVERTED]->(b:Address) "


def _rows(records: list[dict[str, Any]], columns: Mapping[str, pl.DataType], key: Collection[str]) -> pl.DataFrame:
    """Records (amounts as decimal text) as a canonical frame sorted by ``key``."""
    for record in records:
        for column in _AMOUNTS:
            text = record.get(column)
            record[column] = None if text is None else Decimal(int(text))
    schema = dict(columns)
    frame = pl.DataFrame([{c: r.get(c) for c in schema} for r in records], schema=schema, orient="row") if records \
        else pl.DataFrame(schema=schema)
    return frame.sort(list(key), nulls_last=True)


def _conversions(records: list[dict[str, Any]]) -> pl.DataFrame:
    return _rows(records, CONVERSIONS.columns, CONVERSIONS.key)


def _bridge(records: list[dict[str, Any]]) -> pl.DataFrame:
    return _rows(records, BRIDGE_EVENTS.columns, BRIDGE_EVENTS.key)


def prepare(store: Neo4jStore, frames: FrameSet, batch_rows: int) -> FrameSet | None:
    """Check the batch's events (:func:`graph.events.check_events`) and compare those the server holds
    with them; returns the checked events (None: the batch has none). Writes nothing.

    Raises
    ------
    SchemaError
        An event of no transaction of the batch, contradicting duplicates, a conflict with the server.
    """
    if frames.conversions.height == 0 and frames.bridge_events.height == 0:
        return None
    checked = check_events(frames)
    conv, bridge = checked.conversions, checked.bridge_events
    step = max(1, batch_rows)
    if conv.height:
        uids = conv.select(event_uid())["uid"].to_list()
        stored = [r for i in range(0, len(uids), step)
                  for r in store._read(_CONVERTED + "WHERE x.uid IN $uids RETURN " + _CONVERSION_FIELDS,
                                       uids=uids[i : i + step])]
        check_conversion_conflicts(conv, _conversions(stored))
    if bridge.height:
        uids = bridge.select(event_uid())["uid"].to_list()
        stored = [r for i in range(0, len(uids), step)
                  for r in store._read("UNWIND $uids AS u MATCH (e:BridgeEvent {uid: u}) RETURN " + _BRIDGE_FIELDS,
                                       uids=uids[i : i + step])]
        check_bridge_conflicts(bridge, _bridge(stored))
    return FrameSet(conversions=conv, bridge_events=bridge)


def _props(record: dict[str, Any]) -> dict[str, Any]:
    """A row's properties: amounts as decimal text, the block time as text too."""
    props = dict(record)
    for column in _AMOUNTS:
        if props.get(column) is not None:
            props[column] = str(int(props[column]))
    props["time_utc"] = utc_text(props.get("timestamp"))
    return props


def _amount_text(store: Neo4jStore, chain: str, asset: str | None, value: Any) -> str | None:
    return None if value is None or asset is None else coins_text(int(value), chain, asset, store.registry,
                                                                  store.tokens)


def write(store: Neo4jStore, events: FrameSet | None, batch_rows: int, report: LoadReport) -> None:
    """MERGE the events :func:`prepare` checked, and the Address nodes they need."""
    if events is None:
        return
    from graph.neo4j_load import chunks, with_datetimes

    def run(rows: list[dict[str, Any]], query: str, name: str, created: str, variable: str | None = None) -> None:
        parts = with_datetimes(store, rows, query, variable) if variable else [(rows, query)]
        for part, part_query in parts:
            for batch in chunks(part, batch_rows):
                counters = store._write(part_query, rows=batch)
                made = getattr(counters, created)
                report.add(name, made, 0 if name == "Address" else len(batch) - made)

    addresses = event_addresses(events).with_columns(address_uid(pl.col("chain"), pl.col("address")).alias("uid"))
    run([{"uid": r["uid"], "props": {**r, "caption": caption("Address", r, store.registry)}}
         for r in addresses.iter_rows(named=True)],
        "UNWIND $rows AS r MERGE (n:Address {uid: r.uid}) ON CREATE SET n += r.props", "Address", "nodes_created")
    conv_rows = []
    for record in events.conversions.with_columns(event_uid()).iter_rows(named=True):
        chain = record["chain"]
        props = _props(record)
        props.pop("trader")
        props.pop("recipient")
        for column in _AMOUNTS:
            asset = record["asset_in" if column == "value_in" else "asset_out"]
            props[f"{column}_coins"] = readable_amount(int(record[column]), chain, asset, store.registry,
                                                       store.tokens, name=column)[f"{column}_coins"]
        given = _amount_text(store, chain, record["asset_in"], record["value_in"])
        got = _amount_text(store, chain, record["asset_out"], record["value_out"])
        props["caption"] = f"{record['protocol']}: {given} → {got}"
        conv_rows.append({"uid": record["uid"], "start": f"{chain}:{record['trader']}",
                          "end": f"{chain}:{record['recipient']}", "props": props})
    run(conv_rows, "UNWIND $rows AS r MATCH (a:Address {uid: r.start}) MATCH (b:Address {uid: r.end}) "
        "MERGE (a)-[x:CONVERTED {uid: r.uid}]->(b) ON CREATE SET x += r.props", "CONVERTED", "relationships_created",
        "x")
    bridge = events.bridge_events.with_columns(event_uid(), local_address_uid().alias("__local"))
    nodes, links = [], []
    for record in bridge.iter_rows(named=True):
        local = record.pop("__local")
        props = _props(record)
        props["caption"] = (f"{record['bridge']} {record['role']} #{short_text(str(record['deposit_id']))}: "
                            f"{_amount_text(store, record['chain'], record['asset_in'], record['value_in'])}")
        nodes.append({"uid": record["uid"], "props": props})
        links.append({"event": record["uid"], "address": local, "role": record["role"],
                      "props": {"chain": record["chain"], "source": record["source"]}})
    run(nodes, "UNWIND $rows AS r MERGE (n:BridgeEvent {uid: r.uid}) ON CREATE SET n += r.props", "BridgeEvent",
        "nodes_created", "n")
    run([r for r in links if r["role"] == "deposit"],
        "UNWIND $rows AS r MATCH (a:Address {uid: r.address}) MATCH (e:BridgeEvent {uid: r.event}) "
        "MERGE (a)-[x:DEPOSITED]->(e) ON CREATE SET x += r.props", "DEPOSITED", "relationships_created")
    run([r for r in links if r["role"] == "release"],
        "UNWIND $rows AS r MATCH (e:BridgeEvent {uid: r.event}) MATCH (a:Address {uid: r.address}) "
        "MERGE (e)-[x:RELEASED]->(a) ON CREATE SET x += r.props", "RELEASED", "relationships_created")


def remove(tx: neo4j.ManagedTransaction, chain: str, txids: list[str]) -> None:
    """Inside ``remove_blocks``' transaction: the conversions and bridge events of the removed transactions."""
    removed = {txid: True for txid in txids}  # one scan with a map look-up (see remove_blocks)
    tx.run("MATCH (:Address)-[x:CONVERTED]->(:Address) WHERE x.chain = $chain AND $removed[x.txid] IS NOT NULL "
           "DELETE x", removed=removed, chain=chain).consume()
    tx.run("MATCH (e:BridgeEvent) WHERE e.chain = $chain AND $removed[e.txid] IS NOT NULL DETACH DELETE e",
           removed=removed, chain=chain).consume()


def read_conversions(store: Neo4jStore, chain: str | None) -> pl.DataFrame:
    """Every stored conversion (of ``chain``), sorted by key."""
    return _conversions(store._read(_CONVERTED + "WHERE $chain IS NULL OR x.chain = $chain RETURN "
                                    + _CONVERSION_FIELDS, chain=chain))


def conversions_of(store: Neo4jStore, chain: str, txids: Collection[str]) -> pl.DataFrame:
    """Every stored conversion of these transactions, sorted by key."""
    wanted = sorted(set(txids))
    if not wanted:
        return _conversions([])
    return _conversions(store._read(_CONVERTED + "WHERE x.chain = $chain AND x.txid IN $txids RETURN "
                                    + _CONVERSION_FIELDS, chain=chain, txids=wanted))


def bridge_events(store: Neo4jStore, chain: str | None = None,
                  deposit_ids: Collection[str] | None = None) -> pl.DataFrame:
    """See :meth:`graph.base.GraphStore.bridge_events`."""
    wanted = None if deposit_ids is None else sorted(set(deposit_ids))
    if wanted is not None and not wanted:
        return _bridge([])
    return _bridge(store._read(
        "MATCH (e:BridgeEvent) WHERE ($chain IS NULL OR e.chain = $chain) "
        "AND ($any_id OR e.deposit_id IN $deposit_ids) RETURN " + _BRIDGE_FIELDS,
        chain=chain, any_id=wanted is None, deposit_ids=wanted or []))
