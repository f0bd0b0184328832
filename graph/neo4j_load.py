# SPDX-License-Identifier: Apache-2.0
"""Writing canonical frames into Neo4j: the batched ``MERGE`` load of :class:`graph.neo4j_store.Neo4jStore`.

Before anything is written, the rows of the batch the server already holds are compared with it,
as the embedded store does (:mod:`graph.embedded_load`): outputs (address, value), transactions
(block, position, time, fee, coinbase flag), transfers (endpoints, asset, amount), conversions and
bridge events (every fact, :mod:`graph.neo4j_events`) -- :func:`graph.model.check_output_conflicts`
and its siblings. A batch that contradicts stored
evidence is refused whole (``SchemaError``), nothing is overwritten.

Properties an analyst reads (shared design notes §4) are written beside the exact ones: every
amount also as ``<name>_coins`` (exact decimal text in coin units) with ``symbol`` and
``decimals`` (chain registry; token cache for tokens), every time as epoch seconds
(``timestamp``), ``time_utc`` text and, where the server supports it, a Neo4j ``datetime``
(``datetime``; ArcadeDB loses a zoned parameter's zone, so it is built in Cypher from the epoch).
Cluster nodes get a readable uid (:func:`graph.model.readable_cluster_uids`) and a caption with
their member count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import polars as pl

from graph import neo4j_events
from graph.base import LoadReport
from graph.captions import caption, coins_text, readable_amount, utc_text
from graph.model import (
    NODE_LABELS,
    REL_ENDPOINTS,
    REL_TYPES,
    TRANSACTION_FACTS,
    GraphTables,
    check_output_conflicts,
    check_transaction_conflicts,
    check_transfer_conflicts,
    graph_tables,
    readable_cluster_uids,
)
from tracer.schema import NATIVE_ASSET, TRANSACTIONS, FrameSet
from tracer.units import join_from_frame, split_for_frame

if TYPE_CHECKING:
    from graph.neo4j_store import Neo4jStore

__all__ = ["load", "chunks", "with_datetimes"]

#: called with the number of rows each written batch held (a progress bar)
OnBatch = Callable[[int], None]


def chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """``rows`` in consecutive lists of at most ``size``."""
    size = max(1, int(size))
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def load(store: Neo4jStore, frames: FrameSet, batch_rows: int, on_batch: OnBatch | None = None) -> LoadReport:
    """See :meth:`graph.base.GraphStore.load`: checks, then nodes and relationships in batches."""
    tables = readable_cluster_uids(graph_tables(frames))  # SchemaError before anything is written
    _check_outputs(store, tables.nodes["Output"], batch_rows)
    stored_txs = _check_transactions(store, tables.nodes["Transaction"], batch_rows)
    _check_transfers(store, tables.rels["TRANSFER"], stored_txs, batch_rows)
    events = neo4j_events.prepare(store, frames, batch_rows)  # conversions, bridge events (graph.events)
    report = LoadReport()
    for label in NODE_LABELS:
        for some, some_query in _node_batches(store, label, tables, frames):
            timed = with_datetimes(store, some, some_query, "n") if label == "Transaction" else [(some, some_query)]
            for rows, query in timed:
                for batch in chunks(rows, batch_rows):
                    created = store._write(query, rows=batch).nodes_created
                    report.add(label, created, len(batch) - created)
                    if on_batch:
                        on_batch(len(batch))
    for rel_type in REL_TYPES:
        rows = _rel_rows(store, rel_type, tables.rels[rel_type])
        start, end = REL_ENDPOINTS[rel_type]
        key = " {uid: r.uid}" if rel_type == "TRANSFER" else ""
        query = (
            f"UNWIND $rows AS r MATCH (a:{start} {{uid: r.start}}) MATCH (b:{end} {{uid: r.end}}) "
            f"MERGE (a)-[x:{rel_type}{key}]->(b) ON CREATE SET x += r.props"
        )
        parts = with_datetimes(store, rows, query, "x") if rel_type == "TRANSFER" else [(rows, query)]
        for part, part_query in parts:
            for batch in chunks(part, batch_rows):
                created = store._write(part_query, rows=batch).relationships_created
                report.add(rel_type, created, len(batch) - created)
                if on_batch:
                    on_batch(len(batch))
                if rel_type == "HAS_TAG":
                    store._write(
                        "UNWIND $uids AS u MATCH (a:Address {uid: u})-[:HAS_TAG]->(g:Tag) "
                        "WITH a, min(g.label) AS label SET a.caption = label",
                        uids=sorted({r["start"] for r in batch}),
                    )
    neo4j_events.write(store, events, batch_rows, report)
    return report


def with_datetimes(store: Neo4jStore, rows: list[dict[str, Any]], query: str, variable: str,
                   field: str = "timestamp") -> list[tuple[list[dict[str, Any]], str]]:
    """``(rows, query)`` split in two when the server builds datetimes: rows whose ``props`` have an
    epoch ``field`` get ``<variable>.datetime`` set from it in the same statement."""
    if not store.supports_datetime:
        return [(rows, query)]
    timed = [r for r in rows if r["props"].get(field) is not None]
    untimed = [r for r in rows if r["props"].get(field) is None]
    setting = f", {variable}.datetime = datetime({{epochSeconds: r.props.{field}}})"
    return [(part, q) for part, q in ((timed, query + setting), (untimed, query)) if part]


def _check_outputs(store: Neo4jStore, outputs: pl.DataFrame, batch_rows: int) -> None:
    """Incoming outputs already stored must agree on address and value."""
    stored = _read_chunked(store, "UNWIND $uids AS u MATCH (o:Output {uid: u}) "
                                  "RETURN o.uid AS uid, o.address AS address, o.value AS value",
                           outputs["uid"].to_list(), batch_rows)
    if stored:
        frame = pl.DataFrame(stored, schema={"uid": pl.String, "address": pl.String, "value": pl.Int64})
        check_output_conflicts(outputs.select("uid", "address", "value"), frame)


def _read_chunked(store: Neo4jStore, query: str, uids: list[str], batch_rows: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for start in range(0, len(uids), max(1, batch_rows)):
        found.extend(store._read(query, uids=uids[start : start + batch_rows]))
    return found


def _check_transactions(store: Neo4jStore, transactions: pl.DataFrame, batch_rows: int) -> set[str]:
    """Incoming transactions already stored must agree on block, position, time, fee and coinbase
    flag (:func:`graph.model.check_transaction_conflicts`). Returns the uids already stored."""
    fields = ", ".join(f"t.{c} AS {c}" for c in TRANSACTION_FACTS)
    stored = _read_chunked(store, f"UNWIND $uids AS u MATCH (t:Transaction {{uid: u}}) RETURN t.uid AS uid, {fields}",
                           transactions["uid"].to_list(), batch_rows)
    if not stored:
        return set()
    for record in stored:
        record["fee"] = None if record["fee"] is None else int(record["fee"])
    types = TRANSACTIONS.columns
    frame = pl.DataFrame(stored, schema={"uid": pl.String(), **{c: types[c] for c in TRANSACTION_FACTS}}, strict=False)
    check_transaction_conflicts(transactions, frame)
    return {r["uid"] for r in stored}


def _check_transfers(store: Neo4jStore, transfers: pl.DataFrame, stored_txs: set[str], batch_rows: int) -> None:
    """Incoming transfers of stored transactions that the server holds (same ``uid``: transaction,
    kind, log index, call path) must agree on endpoints, asset and amount
    (:func:`graph.model.check_transfer_conflicts`). Transfers of new transactions cannot conflict."""
    if not stored_txs or transfers.height == 0:
        return
    tx_uid = pl.concat_str([pl.col("chain"), pl.lit(":"), pl.col("txid")])
    old = transfers.filter(tx_uid.is_in(sorted(stored_txs)))
    if old.height == 0:
        return
    stored = _read_chunked(
        store,
        "MATCH (a:Address)-[x:TRANSFER]->(b:Address) WHERE x.uid IN $uids "
        "RETURN x.uid AS uid, a.uid AS from_address, b.uid AS to_address, x.asset AS asset, x.value AS value, "
        "x.token_id AS token_id",
        old["uid"].to_list(), batch_rows,
    )
    if not stored:
        return
    for record in stored:
        record["value"], record["value_overflow"] = split_for_frame(int(record["value"]))
    types = {"uid": pl.String(), "from_address": pl.String(), "to_address": pl.String(), "asset": pl.String(),
             "value": pl.Decimal(38, 0), "value_overflow": pl.String(), "token_id": pl.String()}
    incoming = old.rename({"start": "from_address", "end": "to_address"})
    check_transfer_conflicts(incoming, pl.DataFrame(stored, schema=types))


def _transaction_totals(frames: FrameSet) -> dict[tuple[str, str], int]:
    """Caption amount of each transaction: total output value (UTXO) or native value moved (account)."""
    totals: dict[tuple[str, str], int] = {}
    for chain, txid, value in frames.outputs.select("chain", "txid", "value").iter_rows():
        totals[(chain, txid)] = totals.get((chain, txid), 0) + value
    natives = frames.transfers.filter(pl.col("kind") == NATIVE_ASSET)
    for chain, txid, value, overflow in natives.select("chain", "txid", "value", "value_overflow").iter_rows():
        totals[(chain, txid)] = totals.get((chain, txid), 0) + join_from_frame(value, overflow)
    return totals


def _node_batches(
    store: Neo4jStore, label: str, tables: GraphTables, frames: FrameSet
) -> list[tuple[list[dict[str, Any]], str]]:
    """Rows and the ``MERGE`` query of one label (an output's own row, and a Cluster, always win)."""
    nodes = tables.nodes[label]
    merge = f"UNWIND $rows AS r MERGE (n:{label} {{uid: r.uid}}) "
    create_only = merge + "ON CREATE SET n += r.props"
    if nodes.height == 0:
        return []
    totals = _transaction_totals(frames) if label == "Transaction" else {}
    if label == "Address":
        tag_labels = frames.tags.group_by("chain", "address").agg(pl.col("label").min().alias("tag_label"))
        nodes = nodes.join(tag_labels, on=["chain", "address"], how="left")
    elif label == "Cluster":
        members = tables.rels["IN_CLUSTER"].group_by("end").agg(pl.len().cast(pl.Int64).alias("members"))
        nodes = nodes.join(members.rename({"end": "uid"}), on="uid", how="left")
    own: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for record in nodes.iter_rows(named=True):
        props = {k: v for k, v in record.items() if k != "tag_label"}
        if label == "Transaction":
            fee = int(props["fee"])
            props.update(fee=str(fee), time_utc=utc_text(props["timestamp"]),
                         **readable_amount(fee, record["chain"], NATIVE_ASSET, store.registry, name="fee"))
            record["total"] = totals.get((record["chain"], record["txid"]))
        elif label == "Output" and record["value"] is not None:
            props.update(readable_amount(record["value"], record["chain"], NATIVE_ASSET, store.registry))
        props["caption"] = caption(label, record, store.registry)
        row = {"uid": record["uid"], "props": props}
        # an output's own row wins over what an input said of it (graph.model); a cluster's members change
        winner = (label == "Output" and record["script_type"] is not None) or label == "Cluster"
        (own if winner else rows).append(row)
    batches = [(rows, create_only)] if rows else []
    if own:
        batches.append((own, merge + "SET n += r.props"))
    return batches


def _rel_rows(store: Neo4jStore, rel_type: str, rels: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows of one relationship type: ``start``, ``end``, ``props`` (and ``uid`` for TRANSFER)."""
    rows: list[dict[str, Any]] = []
    for record in rels.iter_rows(named=True):
        props = {k: v for k, v in record.items() if k not in ("start", "end", "uid")}
        row: dict[str, Any] = {"start": record["start"], "end": record["end"], "props": props}
        if rel_type == "TRANSFER":
            amount = join_from_frame(props.pop("value"), props.pop("value_overflow"))
            props["value"] = str(amount)
            props["uid"] = row["uid"] = record["uid"]
            props["time_utc"] = utc_text(props["timestamp"])
            props.update(readable_amount(amount, record["chain"], record["asset"], store.registry, store.tokens))
            props["caption"] = caption(rel_type, {**record, "value": amount}, store.registry)
            if record["asset"] != NATIVE_ASSET and props["symbol"] is not None:
                props["caption"] = coins_text(amount, record["chain"], record["asset"], store.registry, store.tokens)
        elif rel_type == "HAS_OUTPUT" and record["value"] is not None:
            props.update(readable_amount(record["value"], record["chain"], NATIVE_ASSET, store.registry))
            props["caption"] = coins_text(record["value"], record["chain"], NATIVE_ASSET, store.registry)
        rows.append(row)
    return rows
