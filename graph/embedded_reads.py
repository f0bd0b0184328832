# SPDX-License-Identifier: Apache-2.0
"""Reading the embedded store: everything back as canonical frames (:func:`read_frames`), the
trace's frontier queries (:class:`tracer.frontier.Frontier`: :func:`transfers`, :func:`spending`,
:func:`transactions`, :func:`transfers_of`, address outputs and flows, tags, clusters) and saved
traces. :class:`graph.embedded.EmbeddedStore` calls these.

A frontier is one batched query per call, never one per address: addresses and transactions are
turned into integer ids through the store's in-memory dictionaries first, and ``TRANSFER`` rows
come back as integers resolved in polars (:func:`_transfer_rows`). Amounts are never aggregated
in Cypher.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import polars as pl

from graph.base import TRACE_COLUMNS, TraceRows, block_time_conditions
from graph.embedded_schema import _ID_CHUNK, _KIND_NAMES, _NATIVE_ASSET_ID, _q, _typed
from graph.model import NO_ADDRESS
from tracer.frontier import (
    ADDRESS_FLOWS_COLUMNS,
    ADDRESS_OUTPUTS_COLUMNS,
    Direction,
    TransferFilter,
    apply_transfer_filter,
)
from tracer.schema import CLUSTERS, INPUTS, OUTPUTS, SEEDS, TAGS, TRANSACTIONS, TRANSFERS, FrameSet, empty

if TYPE_CHECKING:
    from graph.embedded import EmbeddedStore

__all__ = [
    "address_flows",
    "address_outputs",
    "block_hashes",
    "cluster",
    "read_frames",
    "spending",
    "tags",
    "traces",
    "transactions",
    "transfers",
    "transfers_of",
]


def block_hashes(store: EmbeddedStore, chain: str, from_height: int, to_height: int) -> pl.DataFrame:
    frame = store._run(
        "MATCH (t:`Transaction`) WHERE t.chain = $chain AND t.block_height >= $lo AND t.block_height <= $hi "
        "RETURN DISTINCT t.block_height AS block_height, t.block_hash AS block_hash",
        {"chain": chain, "lo": from_height, "hi": to_height},
    )
    return frame.select(
        pl.col("block_height").cast(pl.Int64), pl.col("block_hash").cast(pl.String)
    ).sort("block_height", "block_hash")


def read_frames(store: EmbeddedStore, chain: str | None = None, parts: Collection[str] | None = None) -> FrameSet:
    """The store's canonical frames but the events (``parts``: only these frames are read, the
    others are empty)."""
    def wanted(name: str) -> bool:
        return parts is None or name in parts

    where = "WHERE t.chain = $chain" if chain else ""
    params = {"chain": chain} if chain else {}
    aw = where.replace("t.chain", "a.chain")
    frames: dict[str, pl.DataFrame] = {}
    transactions = empty(TRANSACTIONS)
    if wanted("transactions") or wanted("inputs"):
        transactions = _tx_rows(store, f"MATCH (t:`Transaction`) {where}", params)
    if wanted("transactions"):
        frames["transactions"] = transactions
    if wanted("inputs"):
        frames["inputs"] = _input_rows(store, f"MATCH (o:Output)-[s:SPENT_IN]->(t:`Transaction`) {where}", params,
                                       transactions)
    if wanted("outputs"):
        frames["outputs"] = _output_rows(store, f"MATCH (t:`Transaction`)-[r:HAS_OUTPUT]->(o:Output) {where}",
                                         params)
    if wanted("transfers"):
        frames["transfers"] = _transfer_rows(store, f"MATCH (a:Address)-[r:TRANSFER]->(b:Address) {aw}", params,
                                             whole=True)
    if wanted("tags"):
        frames["tags"] = _tag_rows(store, f"MATCH (a:Address)-[:HAS_TAG]->(g:Tag) {aw}", params)
    if wanted("clusters"):
        frames["clusters"] = _cluster_rows(store, f"MATCH (a:Address)-[r:IN_CLUSTER]->(c:Cluster) {aw}", params)
    if wanted("seeds"):
        seeds = store._run(
            f"MATCH (c:`Case`)-[r:SEED]->(a:Address) {aw} RETURN c.name AS `case`, a.chain AS chain, "
            "a.address AS address, r.label AS label, r.source AS source",
            params,
        )
        frames["seeds"] = _typed(seeds, SEEDS.columns, SEEDS.key)
    return FrameSet(**frames)


def read_traces(store: EmbeddedStore) -> TraceRows:
    """See :meth:`graph.base.GraphStore.read_traces` (stores that never saved a trace: no rows)."""
    if "Trace" not in set(store._run("CALL show_tables() RETURN name")["name"].to_list()):
        return TraceRows.of(pl.DataFrame(), pl.DataFrame(), pl.DataFrame())
    props = ", ".join(f"t.{_q(c)} AS {_q(c)}" for c in TRACE_COLUMNS)
    return TraceRows.of(
        store._run(f"MATCH (t:Trace) RETURN {props}", {}),
        store._run("MATCH (t:Trace)-[r:REACHED]->(a:Address) RETURN t.uid AS trace, a.address AS address, "
                   "r.ending AS ending, r.asset AS asset, r.amount AS amount, r.depth AS depth, r.label AS label", {}),
        store._run("MATCH (t:Trace)-[r:TRACED]->(x:`Transaction`) RETURN t.uid AS trace, x.txid AS txid, "
                   "r.depth AS depth, r.taint AS taint, r.hops AS hops", {}),
    )


def _tx_rows(store: EmbeddedStore, match: str, params: dict[str, Any]) -> pl.DataFrame:
    cols = ", ".join(f"t.{_q(c)} AS {_q(c)}" for c in TRANSACTIONS.columns)
    return _typed(store._run(f"{match} RETURN {cols}", params), TRANSACTIONS.columns, TRANSACTIONS.key)


def _output_rows(store: EmbeddedStore, match: str, params: dict[str, Any]) -> pl.DataFrame:
    cols = ", ".join(f"o.{_q(c)} AS {_q(c)}" for c in OUTPUTS.columns)
    return _typed(store._run(f"{match} RETURN {cols}", params), OUTPUTS.columns, OUTPUTS.key)


def _input_rows(store: EmbeddedStore, match: str, params: dict[str, Any], transactions: pl.DataFrame) -> pl.DataFrame:
    spends = store._run(
        f"{match} RETURN t.chain AS chain, t.txid AS txid, s.`index` AS `index`, o.txid AS prev_txid, "
        "o.`index` AS prev_index, o.address AS address, o.value AS value, s.source AS source",
        params,
    )
    coinbase = transactions.filter(pl.col("is_coinbase")).select(
        "chain", "txid", pl.lit(0, pl.Int64).alias("index"), pl.lit(None, pl.String).alias("prev_txid"),
        pl.lit(None, pl.Int64).alias("prev_index"), pl.lit(None, pl.String).alias("address"),
        pl.lit(None, pl.Int64).alias("value"), "source",
    )
    spends = _typed(spends, INPUTS.columns, INPUTS.key)
    return pl.concat([spends, coinbase], how="vertical").sort(list(INPUTS.key), nulls_last=True)


def _transfer_rows(
    store: EmbeddedStore, match: str, params: dict[str, Any], *, remember: bool = False, whole: bool = False
) -> pl.DataFrame:
    """``transfers`` rows for a ``MATCH (a:Address)-[r:TRANSFER]->(b:Address) ...`` pattern: one
    query (integers and the two endpoints' text), then the few token contracts, transactions and
    details by primary key. Nothing here reads a whole table or dictionary: the cost follows the
    rows answered. ``remember``: keep the endpoints' ids for the next hop (a frontier). ``whole``:
    the pattern reads every transfer (of a chain), so the transactions are read by one scan
    (measured on 1M transfers: 0.3 s, against 1.1 s for 250k primary-key look-ups)."""
    raw = store._run(
        f"{match} RETURN a.id AS from_id, b.id AS to_id, a.chain AS chain, a.address AS from_address, "
        "b.address AS to_address, r.tx AS tx, r.kind AS kind, r.log_index AS log_index, "
        "r.value AS value, r.asset AS asset, r.source AS source, r.detail AS detail",
        params,
    )
    # an OPTIONAL MATCH (see transfers) answers a frontier node without relationships with nulls
    raw = raw.filter(pl.col("from_id").is_not_null() & pl.col("to_id").is_not_null())
    if raw.height == 0:
        return empty(TRANSFERS)
    raw = raw.with_columns(pl.col(c).cast(pl.Int64) for c in ("from_id", "to_id", "tx", "kind", "asset", "source",
                                                               "detail"))
    if remember:
        store._remember_addresses(pl.concat([
            raw.select("chain", pl.col("from_address").alias("address"), pl.col("from_id").alias("id")),
            raw.select("chain", pl.col("to_address").alias("address"), pl.col("to_id").alias("id")),
        ]).unique())
    dictionaries = store._dictionaries()
    columns = ("t.id AS tx, t.txid AS txid, t.block_height AS block_height, t.block_hash AS block_hash, "
               "t.position AS tx_index, t.timestamp AS timestamp")
    if whole:
        tx = store._run(f"MATCH (t:`Transaction`) RETURN {columns}").with_columns(pl.col("tx").cast(pl.Int64))
        tx = tx.join(raw.select("tx").unique(), on="tx", how="semi")
    else:
        tx = store._run(f"UNWIND $ids AS i MATCH (t:`Transaction` {{id: i}}) RETURN {columns}",
                        {"ids": raw["tx"].unique().to_list()}).with_columns(pl.col("tx").cast(pl.Int64))
    if remember and tx.height:  # the transactions the next hop may ask about (conversions_of, transfers_of)
        chain = pl.lit(raw["chain"][0]).alias("chain")
        store._remember_transactions(tx.select(chain, "txid", pl.col("tx").alias("id")))
    details = _details(store, raw["detail"].drop_nulls().unique().to_list())
    joined = (
        raw.join(_asset_names(store, raw["asset"]), on="asset", how="left")
        .join(dictionaries["Source"].select(pl.col("id").alias("source"), pl.col("uid").alias("__source")),
              on="source", how="left")
        .join(tx, on="tx", how="left")
        .join(details, left_on="detail", right_on="id", how="left")
        .with_columns(
            pl.when(pl.col("to_address") == NO_ADDRESS).then(None).otherwise(pl.col("to_address"))
            .alias("to_address"),
            pl.when(pl.col("asset") == _NATIVE_ASSET_ID).then(pl.lit("native")).otherwise(pl.col("__asset"))
            .alias("asset"),
            pl.col("kind").replace_strict(_KIND_NAMES, return_dtype=pl.String).alias("kind"),
            pl.col("__source").alias("source"),
        )
    )
    return _typed(joined, TRANSFERS.columns, TRANSFERS.key)


def _asset_names(store: EmbeddedStore, assets: pl.Series) -> pl.DataFrame:
    """``asset`` (id) -> ``__asset`` (the token contract's address) for the token ids among ``assets``
    (few: the tokens of an answer), by primary key."""
    ids = assets.filter(assets != _NATIVE_ASSET_ID).unique().to_list()
    schema = {"asset": pl.Int64, "__asset": pl.String}
    if not ids:
        return pl.DataFrame(schema=schema)
    found = store._run("UNWIND $ids AS i MATCH (a:Address {id: i}) RETURN a.id AS asset, a.address AS __asset",
                       {"ids": ids})
    return found.select([pl.col(c).cast(t) for c, t in schema.items()])


def _tag_rows(store: EmbeddedStore, match: str, params: dict[str, Any]) -> pl.DataFrame:
    cols = ", ".join(f"g.{_q(c)} AS {_q(c)}" for c in TAGS.columns)
    return _typed(store._run(f"{match} RETURN {cols}", params), TAGS.columns, TAGS.key)


def _cluster_rows(store: EmbeddedStore, match: str, params: dict[str, Any]) -> pl.DataFrame:
    frame = store._run(
        f"{match} RETURN a.chain AS chain, a.address AS address, c.cluster_id AS cluster_id, r.source AS source",
        params,
    )
    return _typed(frame, CLUSTERS.columns, CLUSTERS.key)


def _details(store: EmbeddedStore, ids: list[int]) -> pl.DataFrame:
    schema = {"id": pl.Int64, "trace_path": pl.String, "token_id": pl.String, "value_overflow": pl.String}
    if not ids:
        return pl.DataFrame(schema=schema)
    frame = store._run(
        "UNWIND $ids AS i MATCH (d:TransferDetail {id: i}) RETURN d.id AS id, d.trace_path AS trace_path, "
        "d.token_id AS token_id, d.value_overflow AS value_overflow",
        {"ids": ids},
    )
    return frame.select([pl.col(c).cast(t) for c, t in schema.items()])


def transfers(
    store: EmbeddedStore,
    chain: str,
    addresses: Collection[str],
    direction: Direction,
    where: TransferFilter = TransferFilter(),
) -> pl.DataFrame:
    ids = store._address_ids(chain, addresses)
    if not ids:
        return empty(TRANSFERS)
    # The frontier's nodes by primary key, then their relationships: ``UNWIND $ids AS i MATCH
    # (a:Address {id: i}) OPTIONAL MATCH (a)-[r:TRANSFER]->(b:Address)`` is an index look-up per id
    # and an adjacency read per node, so its cost follows the frontier (measured, LadybugDB 0.22,
    # 2 shared cores: 100 ids ~5 ms and 1,000 ids ~20-30 ms on 270k and on 2.7M addresses alike).
    # ``WHERE a.id IN $ids`` scans the whole Address table instead (100 ids: ~10 ms on 270k, ~120 ms
    # on 2.7M; 1,000 ids: ~55 ms and ~650 ms), and a parameter range in front of it is not pushed
    # into the scan. The OPTIONAL MATCH is needed (``MATCH (a {id: i})-[r]->(b)`` in one pattern is
    # planned as a scan and hash join, ~2 s on 2.7M); its rows without a relationship are dropped
    # by _transfer_rows. No frontier size made the scan faster (up to 20,000 ids on 270k addresses).
    ids = sorted(set(ids))
    forward = direction is Direction.FORWARD
    near, pattern = ("a", "(a)-[r:TRANSFER]->(b:Address)") if forward else ("b", "(a:Address)-[r:TRANSFER]->(b)")
    params: dict[str, Any] = {"ids": ids}
    condition = ""
    if where.assets is not None:
        condition = " WHERE r.asset IN $assets"
        params["assets"] = [_NATIVE_ASSET_ID if a == "native" else -1 for a in where.assets if a == "native"] + (
            store._address_ids(chain, [a for a in where.assets if a != "native"])
        )
    rows = _transfer_rows(
        store, f"UNWIND $ids AS i MATCH ({near}:Address {{id: i}}) OPTIONAL MATCH {pattern}{condition}", params,
        remember=True,
    )
    # block time lives on the transaction (one column less on TRANSFER), amounts may overflow
    # DECIMAL(38): both are filtered here, by the reference rule
    rows = apply_transfer_filter(rows, where)
    return rows


def spending(
    store: EmbeddedStore, chain: str, outpoints: pl.DataFrame, where: TransferFilter = TransferFilter()
) -> FrameSet:
    keyed = outpoints.select(
        pl.concat_str([pl.lit(chain), pl.col("txid"), pl.col("index").cast(pl.String)], separator=":").alias(
            "uid"
        )
    )
    ids = keyed.join(store._dictionaries()["Output"], on="uid", how="inner")["id"].to_list()
    if not ids:
        return store.transactions(chain, [])
    time_conditions, params = block_time_conditions(where, "t")
    conditions = ["o.id IN $ids", *time_conditions]
    params["ids"] = ids
    spenders = store._run(
        f"MATCH (o:Output)-[:SPENT_IN]->(t:`Transaction`) WHERE {' AND '.join(conditions)} "
        "RETURN DISTINCT t.txid AS txid",
        params,
    )
    return store.transactions(chain, spenders["txid"].to_list() if spenders.height else [])


def transactions(store: EmbeddedStore, chain: str, txids: Collection[str]) -> FrameSet:
    ids = store._tx_ids(chain, txids)
    params: dict[str, Any] = {"ids": ids}
    transactions = _tx_rows(store, "UNWIND $ids AS i MATCH (t:`Transaction` {id: i})", params)
    outputs = _output_rows(
        store, "UNWIND $ids AS i MATCH (t:`Transaction` {id: i})-[r:HAS_OUTPUT]->(o:Output)", params
    )
    inputs = _input_rows(
        store, "UNWIND $ids AS i MATCH (o:Output)-[s:SPENT_IN]->(t:`Transaction` {id: i})", params, transactions
    )
    return FrameSet(transactions=transactions, inputs=inputs, outputs=outputs)


def transfers_of(store: EmbeddedStore, chain: str, txids: Collection[str]) -> pl.DataFrame:
    ids = store._tx_ids(chain, txids)
    parts = [_transfer_rows(store, "MATCH (a:Address)-[r:TRANSFER]->(b:Address) WHERE r.tx IN $ids",
                                 {"ids": ids[i : i + _ID_CHUNK]}) for i in range(0, len(ids), _ID_CHUNK)]
    rows = pl.concat(parts, how="vertical") if parts else empty(TRANSFERS)
    return rows.sort(list(TRANSFERS.key), nulls_last=True)


def address_outputs(store: EmbeddedStore, chain: str, addresses: Collection[str]) -> pl.DataFrame:
    ids = store._address_ids(chain, addresses)
    cols = ", ".join(f"o.{_q(c)} AS {_q(c)}" for c in OUTPUTS.columns)
    frame = store._run(
        "MATCH (:`Transaction`)-[:HAS_OUTPUT]->(o:Output)-[:LOCKED_TO]->(a:Address) WHERE a.id IN $ids "
        "OPTIONAL MATCH (o)-[s:SPENT_IN]->(t:`Transaction`) "
        f"RETURN {cols}, t.txid AS spent_txid, s.`index` AS spent_index",
        {"ids": ids},
    )
    return _typed(frame, ADDRESS_OUTPUTS_COLUMNS, OUTPUTS.key)


def address_flows(store: EmbeddedStore, chain: str, addresses: Collection[str]) -> pl.DataFrame:
    ids = store._address_ids(chain, addresses)
    params: dict[str, Any] = {"ids": ids}
    amount = TRANSFERS.columns["value"]
    received = store._run(
        "MATCH (t:`Transaction`)-[:HAS_OUTPUT]->(o:Output)-[:LOCKED_TO]->(a:Address) WHERE a.id IN $ids "
        "RETURN a.chain AS chain, a.address AS address, t.txid AS txid, t.block_height AS block_height, "
        "t.timestamp AS timestamp, 'in' AS flow, o.value AS value",
        params,
    )
    sent = store._run(
        "MATCH (a:Address)<-[:LOCKED_TO]-(o:Output)-[:SPENT_IN]->(t:`Transaction`) WHERE a.id IN $ids "
        "RETURN a.chain AS chain, a.address AS address, t.txid AS txid, t.block_height AS block_height, "
        "t.timestamp AS timestamp, 'out' AS flow, o.value AS value",
        params,
    )
    utxo = [
        f.with_columns(
            pl.lit("native").alias("asset"),
            pl.col("value").cast(pl.Int64).cast(amount),
            pl.lit(None, pl.String).alias("value_overflow"),
        )
        for f in (received, sent)
        if f.height
    ]
    transfers = []
    for direction, flow in ((Direction.FORWARD, "out"), (Direction.BACKWARD, "in")):
        rows = store.transfers(chain, addresses, direction)
        side = "from_address" if flow == "out" else "to_address"
        transfers.append(
            rows.select(
                "chain", pl.col(side).alias("address"), "txid", "block_height", "timestamp",
                pl.lit(flow).alias("flow"), "asset", "value", "value_overflow",
            )
        )
    parts = [_typed(f, ADDRESS_FLOWS_COLUMNS, ()) for f in [*utxo, *transfers]]
    flows = pl.concat(parts, how="vertical") if parts else pl.DataFrame(schema=ADDRESS_FLOWS_COLUMNS)
    return flows.sort(["chain", "address", "txid", "flow", "asset", "value", "value_overflow"], nulls_last=True)


def tags(store: EmbeddedStore, chain: str, addresses: Collection[str]) -> pl.DataFrame:
    # the Tag node carries its chain and address: filtering the (small) tag table is 10-50x cheaper
    # than matching HAS_TAG from a frontier of Address ids (measured on 268k addresses)
    wanted = sorted(set(addresses))
    if not wanted:
        return empty(TAGS)
    return _tag_rows(store, "MATCH (g:Tag) WHERE g.chain = $chain AND g.address IN $addresses",
                          {"chain": chain, "addresses": wanted})


def cluster(store: EmbeddedStore, chain: str, address: str) -> pl.DataFrame:
    ids = store._address_ids(chain, [address])
    frame = store._run(
        "MATCH (x:Address)-[:IN_CLUSTER]->(c:Cluster)<-[r:IN_CLUSTER]-(a:Address) WHERE x.id IN $ids "
        "RETURN a.chain AS chain, a.address AS address, c.cluster_id AS cluster_id, r.source AS source",
        {"ids": ids},
    )
    return _typed(frame, CLUSTERS.columns, ()).sort(["chain", "cluster_id", "address"], nulls_last=True)


def traces(store: EmbeddedStore, case: str | None = None) -> pl.DataFrame:
    """Saved traces (uid, case, chain, direction, model, manifest hash) and their ending counts."""
    frame = store._run(
        "MATCH (t:Trace) WHERE $case_name IS NULL OR t.case_name = $case_name OPTIONAL MATCH (t)-[r:REACHED]->() "
        "RETURN t.uid AS uid, t.case_name AS case_name, t.chain AS chain, t.direction AS direction, "
        "t.model AS model, t.manifest_sha256 AS manifest_sha256, count(r) AS reached",
        {"case_name": case},
    )
    return frame.sort("uid") if frame.height else frame
