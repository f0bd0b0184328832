# SPDX-License-Identifier: Apache-2.0
"""Writing the embedded store: the bulk load (``COPY`` from polars frames), reorg deletes,
cluster replacement and traces written back. :class:`graph.embedded.EmbeddedStore` calls these.

How a load numbers nodes and maps transfers (pure polars, no store): :func:`_number_nodes` gives
every node row its stored id or the next free one, in batch order; :func:`_transfers_by_id` turns
``TRANSFER`` rows into integer endpoints, transaction, kind and asset by their row positions in
the batch's node tables (:attr:`graph.model.GraphTables.rows`). The Transaction and Output nodes
are copied on a worker thread while this thread builds the other tables. Every step anti-joins
against what is stored, so a load cut short and run again creates nothing twice.

Before anything is written, the rows of the batch the store already holds are compared with it
(outputs, transactions, transfers: :func:`graph.model.check_output_conflicts` and its siblings):
a batch that contradicts stored evidence is refused whole. Stored transfers are read once for
that check and reused to drop the ones already there; with many stored transactions in the batch
(a re-run of the same ingest) that is one scan of the TRANSFER table, not one per chunk of ids.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from graph.base import (
    DEFAULT_BATCH_ROWS,
    TRACE_REACHED_COLUMNS,
    LoadReport,
    StoreError,
    TraceRecord,
    check_cluster_rows,
)
from graph.embedded_reads import _details
from graph.embedded_schema import (
    _ID_CHUNK,
    _KIND_CODES,
    _NATIVE_ASSET_ID,
    _NODE_DDL,
    _REL_DDL,
    _TRACE_NODE_DDL,
    _dict_extra,
    _q,
)
from graph.model import (
    NO_ADDRESS,
    REL_ENDPOINTS,
    TRANSACTION_FACTS,
    CheckedBatch,
    GraphTables,
    address_uid,
    build_tables,
    check_batch,
    check_output_conflicts,
    check_transaction_conflicts,
    check_transfer_conflicts,
    rel_key,
)
from tracer.schema import TRANSACTIONS, FrameSet

if TYPE_CHECKING:
    from graph.embedded import EmbeddedStore

__all__ = ["load", "remove_blocks", "replace_clusters", "save_trace"]


def load(store: EmbeddedStore, frames: FrameSet, batch_rows: int = DEFAULT_BATCH_ROWS) -> LoadReport:
    """Bulk upsert: nodes, then relationships, one ``COPY`` per table.

    Each ``COPY`` is its own transaction (atomic: a crash or SIGKILL during it leaves none of
    its rows). Not wrapping the whole load in one transaction is deliberate: measured on 1M
    transfers, an explicit transaction around the COPYs costs ~45% more time (undo log), and
    atomicity of the whole load is not needed for correctness, because every step anti-joins
    against what is stored: a load cut short and run again completes with no duplicates
    (tested). ``batch_rows`` is unused here; LadybugDB's COPY streams the frame itself.
    """
    store._writable()
    checked = check_batch(frames)  # every SchemaError is raised here, before anything is written
    report = LoadReport()
    dictionaries = store._dictionaries()
    for label in (*_NODE_DDL, "Source"):
        dictionaries[label]  # noqa: B018 - read now: the worker below has the connection for a while
    stubs = _check_outputs_against_store(store, checked.outputs, dictionaries["Output"])
    _check_transactions_against_store(store, checked.transactions, dictionaries["Transaction"])
    stored_keys = _check_transfers_against_store(store, checked, dictionaries)
    early = {
        "Transaction": _number_nodes(checked.transactions, dictionaries["Transaction"]),
        "Output": _number_nodes(checked.outputs, dictionaries["Output"]),
    }
    try:
        # LadybugDB copies a node table on one thread; while it copies the transactions and
        # outputs, this thread builds the rest of the graph tables in polars (pure: only the
        # worker touches the store until it is done). Measured: ~0.5 s of 5 s on 1M transfers.
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracer-load")
        try:
            early_nodes = {"Transaction": checked.transactions, "Output": checked.outputs}
            copying = worker.submit(_load_nodes, store, early_nodes, early, report, stubs)
            tables = build_tables(checked, text_keys=False)
            copying.result()
        finally:
            _finish(worker)
        numbered = {
            label: early.get(label) or _number_nodes(nodes, dictionaries[label])
            for label, nodes in tables.nodes.items()
        }
        _load_nodes(store, {k: v for k, v in tables.nodes.items() if k not in early}, numbered, report)
        new_ids = {label: n.fresh.select("uid", "id", *_dict_extra(label)) for label, n in numbered.items()}
        transfers = _transfers_by_id(
            tables.rels["TRANSFER"], tables.rows["TRANSFER"], {k: n.ids for k, n in numbered.items()},
            pl.concat([dictionaries["Address"], new_ids["Address"]]).select("uid", "id"),
        )
        _load_rels(store, tables, dictionaries, new_ids, transfers, stored_keys, report)
    except BaseException:
        store._reset_caches()  # re-read what actually landed before the next load
        raise
    for label, added in new_ids.items():
        if label in dictionaries:
            dictionaries[label] = pl.concat([dictionaries[label], added], how="vertical")
    return report


def _load_nodes(
    store: EmbeddedStore, nodes: dict[str, pl.DataFrame], numbered: dict[str, _NodeIds], report: LoadReport,
    output_stubs: pl.DataFrame | None = None,
) -> None:
    """Create the nodes the store lacks (numbered by :func:`_number_nodes`); complete the stored
    output stubs among ``output_stubs`` (uids, from :func:`_check_outputs_against_store`)."""
    for label, rows in nodes.items():
        n = numbered[label]
        store._copy(label, n.fresh.select("id", *_NODE_DDL[label]))
        report.add(label, n.fresh.height, rows.height - n.fresh.height)
        if label == "Output" and output_stubs is not None and output_stubs.height:
            existing = rows.filter(~n.is_new).with_columns(n.ids.filter(~n.is_new).alias("id"))
            _complete_output_stubs(store, existing.join(output_stubs, on="uid", how="semi"))


def _check_outputs_against_store(
    store: EmbeddedStore, outputs: pl.DataFrame, known: pl.DataFrame
) -> pl.DataFrame | None:
    """Before writing anything: incoming outputs already stored must agree on address and value.
    Returns the uids of those stored without a script type (stubs an input created), the only ones
    :func:`_complete_output_stubs` has to touch (None: no incoming output is stored)."""
    existing = outputs.join(known, on="uid", how="inner")
    if existing.height == 0:
        return None
    ids = existing["id"].to_list()
    parts = [
        store._run(
            "UNWIND $ids AS i MATCH (o:Output {id: i}) "
            "RETURN o.id AS id, o.address AS address, o.value AS value, o.script_type IS NULL AS stub",
            {"ids": ids[i : i + _ID_CHUNK]},
        )
        for i in range(0, len(ids), _ID_CHUNK)
    ]
    stored = pl.concat(parts, how="vertical").select(
        pl.col("id").cast(pl.Int64), pl.col("address").cast(pl.String), pl.col("value").cast(pl.Int64),
        pl.col("stub").cast(pl.Boolean),
    )
    stored = stored.join(existing.select("uid", "id"), on="id").select("uid", "address", "value", "stub")
    check_output_conflicts(existing.select("uid", "address", "value"), stored)
    return stored.filter(pl.col("stub")).select("uid")


def _complete_output_stubs(store: EmbeddedStore, existing: pl.DataFrame) -> None:
    """An output first seen as a spent prevout has no script type; its own row brings it."""
    rows = existing.filter(pl.col("script_type").is_not_null()).select("id", "script_type", "source")
    if rows.height:
        store._exec(
            "UNWIND $rows AS r MATCH (o:Output {id: r.id}) WHERE o.script_type IS NULL "
            "SET o.script_type = r.script_type, o.source = r.source",
            {"rows": rows.to_dicts()},
        )


def _load_rels(
    store: EmbeddedStore,
    tables: GraphTables,
    dictionaries: dict[str, pl.DataFrame],
    new_ids: dict[str, pl.DataFrame],
    transfers: pl.DataFrame,
    stored_keys: pl.DataFrame | None,
    report: LoadReport,
) -> None:
    for rel, rows in tables.rels.items():
        start_label, end_label = REL_ENDPOINTS[rel]
        if rel == "TRANSFER":
            fresh = _new_transfers(store, transfers, dictionaries, stored_keys)
            store._copy(rel, fresh)
            report.add(rel, fresh.height, rows.height - fresh.height)
            continue
        start_ids = pl.concat([dictionaries[start_label], new_ids[start_label]]).rename(
            {"uid": "start", "id": "from"}
        )
        end_ids = pl.concat([dictionaries[end_label], new_ids[end_label]]).rename({"uid": "end", "id": "to"})
        mapped = rows.join(start_ids.select("start", "from"), on="start", how="left").join(
            end_ids.select("end", "to"), on="end", how="left"
        )
        missing = mapped.filter(pl.col("from").is_null() | pl.col("to").is_null())
        if missing.height:  # graph_tables creates every endpoint; this is a bug, not bad input
            raise StoreError(f"{missing.height} {rel} relationship(s) lost an endpoint while loading")
        fresh = _without_stored(store, rel, mapped, dictionaries)
        store._copy(rel, fresh.select("from", "to", *_REL_DDL[rel]))
        report.add(rel, fresh.height, rows.height - fresh.height)


def _new_transfers(
    store: EmbeddedStore, mapped: pl.DataFrame, dictionaries: dict[str, pl.DataFrame], stored: pl.DataFrame | None
) -> pl.DataFrame:
    """The TRANSFER rows to create (the columns of ``_REL_DDL``) from :func:`_transfers_by_id`:
    rows already stored (``stored``: the keys of the stored transfers of the batch's stored
    transactions, from :func:`_check_transfers_against_store`) are dropped, sources get their ids,
    and the rare text columns (trace path, token id, overflow digits) go to a TransferDetail row."""
    columns = ["from", "to", *_REL_DDL["TRANSFER"]]
    if mapped.height == 0:
        return pl.DataFrame(schema={c: pl.Decimal(38, 0) if c == "value" else pl.Int64 for c in columns})
    if stored is not None and stored.height:
        mapped = _transfer_key(mapped, "kind").join(stored, on=_TRANSFER_KEY, how="anti").drop(_TRANSFER_KEY)
    sources = _source_ids(store, mapped["source"].unique().to_list(), dictionaries)
    mapped = mapped.with_columns(
        pl.col("source").replace_strict(sources["uid"], sources["id"], return_dtype=pl.Int64)
    )
    has_detail = (
        pl.col("trace_path").is_not_null() | pl.col("token_id").is_not_null()
        | pl.col("value_overflow").is_not_null()
    )
    detailed = mapped.filter(has_detail)
    if detailed.height:
        first = store._next_id("TransferDetail")
        detail_ids = pl.int_range(first, first + detailed.height, dtype=pl.Int64)
        store._copy("TransferDetail", detailed.select(detail_ids.alias("id"), "trace_path", "token_id",
                                                    "value_overflow"))
        mapped = pl.concat(
            [
                mapped.filter(~has_detail).with_columns(pl.lit(None, pl.Int64).alias("detail")),
                detailed.with_columns(detail_ids.alias("detail")),
            ],
            how="vertical",
        )
    else:
        mapped = mapped.with_columns(pl.lit(None, pl.Int64).alias("detail"))
    return mapped.select(columns)


def _source_ids(store: EmbeddedStore, names: list[str], dictionaries: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Ids of source names, creating the new ones (inside the load's transaction)."""
    known = dictionaries["Source"]
    fresh = pl.DataFrame({"uid": names}, schema={"uid": pl.String}).join(known, on="uid", how="anti")
    if fresh.height:
        first = int(known.select(pl.col("id").max()).item() or 0) + 1
        fresh = fresh.with_columns(pl.int_range(first, first + fresh.height, dtype=pl.Int64).alias("id"))
        store._copy("Source", fresh.select("id", pl.col("uid").alias("name")))
        known = pl.concat([known, fresh.select("uid", "id")], how="vertical")
        dictionaries["Source"] = known  # a load that fails later resets every cache (see load)
    return known


#: above this many ids, the stored relationships of a batch's stored nodes are read with one scan of
#: the relationship table (then a semi- or anti-join in polars) rather than ``... IN $ids``: an IN
#: query scans the table anyway and its cost grows with the list (measured on 500k transfers:
#: 100 ids 0.14 s, 1,000 ids 0.4 s, 20,000 ids 3.4 s; the whole table 0.6 s). A re-run of an ingest
#: was quadratic in chunks of ids (1.5M transfers: 328 s against 6.5 s for the first load).
_SCAN_ABOVE = 256


def _check_transactions_against_store(store: EmbeddedStore, transactions: pl.DataFrame, known: pl.DataFrame) -> None:
    """Before writing anything: incoming transactions already stored must agree on block, position,
    time, fee and coinbase flag (:func:`graph.model.check_transaction_conflicts`). A few are looked up
    by id; many (a re-run of an ingest) are read with one scan of the table."""
    existing = transactions.join(known.select("uid", "id"), on="uid", how="inner")
    if existing.height == 0:
        return
    columns = "t.id AS id, " + ", ".join(f"t.{_q(c)} AS {_q(c)}" for c in TRANSACTION_FACTS)
    if existing.height > _ID_CHUNK:
        found = store._run(f"MATCH (t:`Transaction`) RETURN {columns}")
    else:
        found = store._run(f"UNWIND $ids AS i MATCH (t:`Transaction` {{id: i}}) RETURN {columns}",
                           {"ids": existing["id"].to_list()})
    types = TRANSACTIONS.columns
    stored = found.select(pl.col("id").cast(pl.Int64), *(pl.col(c).cast(types[c]) for c in TRANSACTION_FACTS))
    check_transaction_conflicts(existing, stored.join(existing.select("uid", "id"), on="id").drop("id"))


def _check_transfers_against_store(
    store: EmbeddedStore, checked: CheckedBatch, dictionaries: dict[str, pl.DataFrame]
) -> pl.DataFrame | None:
    """Before writing anything: incoming transfers the store already holds (same transaction, kind,
    log index and call path) must agree on endpoints, asset and amount
    (:func:`graph.model.check_transfer_conflicts`). Returns the keys of the stored transfers of the
    batch's stored transactions (``_TRANSFER_KEY``), for :func:`_new_transfers`; None when the batch
    has no transfer of a stored transaction.

    Both sides are matched on integer keys (transaction id, kind code, log index) and the call
    path; only the stored endpoint and asset ids are turned into address text to compare."""
    transfers = checked.frames.transfers
    if transfers.height == 0:
        return None
    known_tx = checked.transactions.select("uid").join(
        dictionaries["Transaction"].select("uid", "id"), on="uid", how="left", maintain_order="left"
    )["id"]
    tx_of_row = known_tx.gather(checked.tx_rows).alias("tx")
    if tx_of_row.null_count() == tx_of_row.len():
        return None
    old = transfers.with_columns(tx_of_row).filter(pl.col("tx").is_not_null())
    stored = _stored_transfers(store, old["tx"].unique())
    if stored.height == 0:
        return None
    stored_keys = _transfer_key(stored, "kind")
    addresses = dictionaries["Address"].select("uid", "id")
    for column, name in {"from": "from_address", "to": "to_address", "asset": "__asset"}.items():
        stored_keys = stored_keys.join(addresses.rename({"uid": name, "id": column}), on=column, how="left")
    stored_keys = stored_keys.with_columns(
        pl.when(pl.col("asset") == _NATIVE_ASSET_ID).then(pl.lit("native")).otherwise(pl.col("__asset")).alias("asset")
    )
    chain = pl.col("chain")
    incoming = _transfer_key(
        old.with_columns(pl.col("kind").replace_strict(_KIND_CODES, return_dtype=pl.Int64).alias("__kind_code")),
        "__kind_code",
    ).with_columns(
        address_uid(chain, pl.col("from_address")).alias("from_address"),
        address_uid(chain, pl.col("to_address").fill_null(NO_ADDRESS)).alias("to_address"),
        pl.when(pl.col("asset") == "native").then(pl.lit("native")).otherwise(address_uid(chain, pl.col("asset")))
        .alias("asset"),
    )
    check_transfer_conflicts(incoming, stored_keys, on=_TRANSFER_KEY)
    return stored_keys.select(_TRANSFER_KEY).unique()


def _stored_transfers(store: EmbeddedStore, tx_ids: pl.Series) -> pl.DataFrame:
    """Every stored TRANSFER of the transactions ``tx_ids``: ``tx``, ``kind`` (code), ``log_index``,
    ``trace_path``, ``token_id``, ``value_overflow``, endpoint ids ``from`` and ``to``, ``value``,
    ``asset`` (id; 0 = native)."""
    returned = (
        "RETURN r.tx AS tx, r.kind AS kind, r.log_index AS log_index, r.detail AS detail, a.id AS `from`, "
        "b.id AS `to`, r.value AS value, r.asset AS asset"
    )
    if tx_ids.len() > _SCAN_ABOVE:
        found = store._run(f"MATCH (a:Address)-[r:TRANSFER]->(b:Address) {returned}")
        found = found.join(pl.DataFrame({"tx": tx_ids.cast(pl.Int64)}), on="tx", how="semi") if found.height else found
    else:
        found = store._run(f"MATCH (a:Address)-[r:TRANSFER]->(b:Address) WHERE r.tx IN $ids {returned}",
                           {"ids": tx_ids.to_list()})
    found = found.select(
        *(pl.col(c).cast(pl.Int64) for c in ("tx", "kind", "log_index", "detail", "from", "to", "asset")),
        pl.col("value").cast(pl.Decimal(38, 0)),
    )
    details = _details(store, found["detail"].drop_nulls().unique().to_list())
    return found.join(details, left_on="detail", right_on="id", how="left")


def _without_stored(
    store: EmbeddedStore, rel: str, mapped: pl.DataFrame, dictionaries: dict[str, pl.DataFrame]
) -> pl.DataFrame:
    """Drop relationships already stored. Only one whose endpoints both existed before this
    load can be stored already, so a fresh load asks the store nothing."""
    start_label, end_label = REL_ENDPOINTS[rel]
    old = mapped.join(
        dictionaries[start_label].select(pl.col("id").alias("from")), on="from", how="semi"
    ).join(dictionaries[end_label].select(pl.col("id").alias("to")), on="to", how="semi")
    if old.height == 0:
        return mapped
    from_ids = old["from"].unique()
    pattern = f"MATCH (a:{_q(start_label)})-[r:{_q(rel)}]->(b:{_q(end_label)})"
    if from_ids.len() > _SCAN_ABOVE:  # a re-run: one scan of the table beats IN lists (see _SCAN_ABOVE)
        stored = store._run(f"{pattern} RETURN a.id AS `from`, b.id AS `to`")
    else:
        stored = store._run(f"{pattern} WHERE a.id IN $ids RETURN a.id AS `from`, b.id AS `to`",
                            {"ids": from_ids.to_list()})
    stored = stored.select(pl.col("from").cast(pl.Int64), pl.col("to").cast(pl.Int64))
    keys = {"start": "from", "end": "to"}
    join_on = [keys[k] for k in rel_key(rel)]
    return mapped.join(stored.select(join_on).unique(), on=join_on, how="anti")


def remove_blocks(store: EmbeddedStore, chain: str, from_height: int) -> int:
    """Delete the transactions at or above ``from_height`` with their outputs, spends, transfers,
    conversions and bridge events, in one transaction; returns how many transactions went."""
    store._writable()
    params = {"chain": chain, "height": from_height}
    doomed = store._run(
        "MATCH (t:`Transaction`) WHERE t.chain = $chain AND t.block_height >= $height RETURN t.id AS id",
        params,
    )
    if doomed.height == 0:
        return 0
    ids = doomed["id"].to_list()
    with store._transaction():
        for i in range(0, len(ids), _ID_CHUNK):
            chunk = {"ids": ids[i : i + _ID_CHUNK]}
            store._exec(
                "MATCH (t:`Transaction`)-[:HAS_OUTPUT]->(o:Output) WHERE t.id IN $ids DETACH DELETE o", chunk
            )
            store._exec("MATCH (:Address)-[r:TRANSFER]->(:Address) WHERE r.tx IN $ids DELETE r", chunk)
            # conversions and bridge events (graph.embedded_events) of the removed transactions go with them
            store._exec("MATCH (:Address)-[r:CONVERTED]->(:Address) WHERE r.tx IN $ids DELETE r", chunk)
            store._exec("MATCH (e:BridgeEvent) WHERE e.tx IN $ids DETACH DELETE e", chunk)
            # their TransferDetail rows stay behind, unreferenced: harmless and never read
            store._exec("MATCH (t:`Transaction`) WHERE t.id IN $ids DETACH DELETE t", chunk)
        # outputs known only because a removed transaction spent them: nothing refers to them now
        store._exec(
            "MATCH (o:Output) WHERE o.chain = $chain AND NOT EXISTS { MATCH (o)<-[:HAS_OUTPUT]-(:`Transaction`) } "
            "AND NOT EXISTS { MATCH (o)-[:SPENT_IN]->(:`Transaction`) } DETACH DELETE o",
            {"chain": chain},
        )
    store._reset_caches()
    return len(ids)


def replace_clusters(store: EmbeddedStore, chain: str, clusters: pl.DataFrame) -> int:
    """See :meth:`graph.base.GraphStore.replace_clusters`; delete and load run in one transaction."""
    store._writable()
    check_cluster_rows(chain, clusters)
    with store._transaction():
        store._exec("MATCH (c:Cluster) WHERE c.chain = $chain DETACH DELETE c", {"chain": chain})
        store._reset_caches()  # Cluster ids were deleted: re-read the dictionaries and row counts
        store.load(FrameSet(clusters=clusters))
    return clusters.height


def save_trace(store: EmbeddedStore, record: TraceRecord) -> None:
    """See :meth:`graph.base.GraphStore.save_trace`; replace and write run in one transaction."""
    store._writable()
    dictionaries = store._dictionaries()
    reached = record.reached.with_columns(
        pl.concat_str([pl.lit(record.chain), pl.col("address")], separator=":").alias("uid")
    ).join(dictionaries["Address"], on="uid", how="inner")
    traced = record.traced.with_columns(
        pl.concat_str([pl.lit(record.chain), pl.col("txid")], separator=":").alias("uid")
    ).join(dictionaries["Transaction"], on="uid", how="inner")
    case_ids = dictionaries["Case"].filter(pl.col("uid") == record.case)["id"].to_list()
    with store._transaction():
        store._exec("MATCH (t:Trace) WHERE t.uid = $uid DETACH DELETE t", {"uid": record.uid})
        trace_id = store._next_id("Trace")
        props = ", ".join(f"{_q(k)}: ${k}" for k in _TRACE_NODE_DDL)
        store._exec(f"CREATE (:Trace {{id: $id, {props}}})", {"id": trace_id, **record.properties()})
        if reached.height:
            store._exec(
                "UNWIND $rows AS r MATCH (t:Trace {id: $trace}), (a:Address {id: r.id}) "
                "CREATE (t)-[:REACHED {ending: r.ending, asset: r.asset, amount: r.amount, depth: r.depth, "
                "label: r.label}]->(a)",
                {"trace": trace_id, "rows": reached.select("id", *TRACE_REACHED_COLUMNS).drop("address")
                 .to_dicts()},
            )
        if traced.height:
            store._exec(
                "UNWIND $rows AS r MATCH (t:Trace {id: $trace}), (x:`Transaction` {id: r.id}) "
                "CREATE (t)-[:TRACED {depth: r.depth, taint: r.taint, hops: r.hops}]->(x)",
                {"trace": trace_id, "rows": traced.select("id", "depth", "taint", "hops").to_dicts()},
            )
        for case_id in case_ids:
            store._exec("MATCH (c:`Case` {id: $case_id}), (t:Trace {id: $trace}) CREATE (c)-[:RAN]->(t)",
                       {"case_id": case_id, "trace": trace_id})


def _finish(worker: ThreadPoolExecutor) -> None:
    """Wait for the worker's COPY even through a second Ctrl-C: the statement is atomic and ends
    soon, and the caller must not close the connection while the worker still uses it."""
    while True:
        try:
            worker.shutdown(wait=True)
            return
        except KeyboardInterrupt:
            continue


@dataclass(frozen=True)
class _NodeIds:
    """Store ids of one label's node rows: ``ids`` row for row (stored or new), ``is_new`` which
    rows the store lacks, ``fresh`` those rows with their new ``id``."""

    ids: pl.Series
    is_new: pl.Series
    fresh: pl.DataFrame


def _number_nodes(nodes: pl.DataFrame, known: pl.DataFrame) -> _NodeIds:
    """Give every node row its store id: the stored one, or the next free ids in batch order."""
    next_id = int(known.select(pl.col("id").max()).item() or 0) + 1
    if known.height == 0:  # a new store: every node is new
        ids = pl.int_range(next_id, next_id + nodes.height, dtype=pl.Int64, eager=True).alias("id")
        return _NodeIds(ids=ids, is_new=pl.repeat(True, nodes.height, eager=True), fresh=nodes.with_columns(ids))
    stored = nodes.select("uid").join(known.select("uid", "id"), on="uid", how="left", maintain_order="left")["id"]
    is_new = stored.is_null()
    ids = stored.fill_null(is_new.cast(pl.Int64).cum_sum() + (next_id - 1))
    return _NodeIds(ids=ids, is_new=is_new, fresh=nodes.filter(is_new).with_columns(ids.filter(is_new).alias("id")))


def _transfers_by_id(
    transfers: pl.DataFrame, positions: pl.DataFrame, row_ids: dict[str, pl.Series], addresses: pl.DataFrame
) -> pl.DataFrame:
    """TRANSFER rows with integer endpoints, transaction, kind and asset (pure polars, no store):
    endpoints and transaction by their node rows (``GraphTables.rows``) and the store ids of those
    rows; ``addresses`` (uid, id) holds every token contract of the batch."""
    return transfers.select(
        row_ids["Address"].gather(positions["start"]).alias("from"),
        row_ids["Address"].gather(positions["end"]).alias("to"),
        row_ids["Transaction"].gather(positions["tx"]).alias("tx"),
        pl.col("kind").replace_strict(_KIND_CODES, return_dtype=pl.Int64),
        "log_index", "value", _asset_ids(transfers, addresses).alias("asset"), "source", "trace_path", "token_id",
        "value_overflow",
    )


def _asset_ids(transfers: pl.DataFrame, addresses: pl.DataFrame) -> pl.Series:
    """TRANSFER.asset of each row: 0 for the native coin, else the Address id of the token contract.
    Assets are few: each distinct (chain, asset) is looked up once, then mapped onto the rows."""
    distinct = transfers.select("chain", "asset").unique()
    table = distinct.join(
        addresses, left_on=pl.concat_str([pl.col("chain"), pl.col("asset")], separator=":"), right_on="uid", how="left"
    ).with_columns(pl.when(pl.col("asset") == "native").then(_NATIVE_ASSET_ID).otherwise(pl.col("id")).alias("id"))
    if distinct["chain"].n_unique() == 1:  # one chain (the usual batch): the asset text is the key
        return transfers["asset"].replace_strict(table["asset"], table["id"], return_dtype=pl.Int64)
    return transfers.select("chain", "asset").join(
        table.select("chain", "asset", "id"), on=["chain", "asset"], how="left", maintain_order="left"
    )["id"]


_TRANSFER_KEY = ["__k_tx", "__k_kind", "__k_log", "__k_path"]


def _transfer_key(frame: pl.DataFrame, kind_column: str) -> pl.DataFrame:
    """Add the columns identifying a transfer inside its transaction (nulls made comparable)."""
    return frame.with_columns(
        pl.col("tx").cast(pl.Int64).alias("__k_tx"),
        pl.col(kind_column).cast(pl.Int64).alias("__k_kind"),
        pl.col("log_index").cast(pl.Int64).fill_null(-1).alias("__k_log"),
        pl.col("trace_path").cast(pl.String).fill_null("").alias("__k_path"),
    )
