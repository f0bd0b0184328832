# SPDX-License-Identifier: Apache-2.0
"""The Neo4j backend: the graph of shared design notes §4 over Bolt, for analysts who browse it.

The model is exactly :func:`graph.model.graph_tables` (labels :data:`~graph.model.NODE_LABELS`,
relationship types :data:`~graph.model.REL_TYPES`), every node keyed by ``uid`` with a uniqueness
constraint per label, so every load is an idempotent ``MERGE``. Tested against a real Neo4j when
``NEO4J_URI`` is set and, in CI, against ArcadeDB's Bolt listener (:mod:`testing.devserver`).

Storage rules (Neo4j and the driver cannot hold integers above 2**63-1):

* ``TRANSFER.value`` is the exact amount as a **decimal string** (full uint256; ``value`` and
  ``value_overflow`` joined with :func:`tracer.units.join_from_frame`); ``Transaction.fee`` too.
  Never aggregate them in Cypher: read them back and sum in polars.
* UTXO ``Output.value`` / ``HAS_OUTPUT.value`` are integers (int64 is enough for any UTXO supply).
* Timestamps are integer epoch seconds (a zoned datetime loses its zone on some servers).

Nodes and relationships carry a ``caption`` property for Neo4j Browser (:func:`caption`): the
address's tag label or a short address, amounts in coin units with the chain's symbol.

Every query is parameterized; labels and relationship types come only from the fixed model
constants. Frontier queries are one batched query per call (``UNWIND $uids``), never one per
address, and return exactly what :class:`tracer.frontier.FrameFrontier` returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import neo4j
import polars as pl
from neo4j import exceptions as neo4j_errors

from graph import neo4j_events, neo4j_load, neo4j_sync
from graph.base import (
    DEFAULT_BATCH_ROWS,
    TRACE_COLUMNS,
    TRACE_REACHED_COLUMNS,
    TRACE_TRACED_COLUMNS,
    LoadReport,
    StoreError,
    StoreLocationError,
    StoreUnavailableError,
    TraceRecord,
    TraceRows,
    block_time_conditions,
    check_cluster_rows,
)
from graph.captions import amount_caption, caption, short_text
from graph.events import EVENT_LABELS, EVENT_REL_ENDPOINTS
from graph.model import NO_ADDRESS, NODE_LABELS, REL_TYPES, GraphTables
from graph.neo4j_schema import schema_statements
from graph.neo4j_sync import SyncReport
from graph.query_guard import QUERY_TIMEOUT_MS, check_parameters, check_read_only
from tracer.chains import ChainRegistry, default_registry
from tracer.frontier import (
    ADDRESS_FLOWS_COLUMNS,
    ADDRESS_OUTPUTS_COLUMNS,
    Direction,
    TransferFilter,
    apply_transfer_filter,
)
from tracer.redaction import redact_url
from tracer.schema import (
    CLUSTERS,
    INPUTS,
    NATIVE_ASSET,
    OUTPUTS,
    SEEDS,
    TAGS,
    TRANSACTIONS,
    TRANSFERS,
    FrameSet,
)
from tracer.units import split_for_frame

__all__ = ["Neo4jStore", "caption", "short_text", "amount_caption"]

log = logging.getLogger(__name__)

_FLOWS_KEY = ["chain", "address", "txid", "flow", "asset", "value", "value_overflow"]

# -- frames <-> records --------------------------------------------------------------------------


def _frame(records: Sequence[Mapping[str, Any]], columns: Mapping[str, pl.DataType]) -> pl.DataFrame:
    schema = dict(columns)
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in records], schema=schema, orient="row") if records \
        else pl.DataFrame(schema=schema)


def _decimal(text: Any) -> Decimal | None:
    return None if text is None else Decimal(int(text))


def _transfer_record(record: Mapping[str, Any]) -> dict[str, Any]:
    row = dict(record)
    amount = row.pop("amount")
    row["value"], row["value_overflow"] = split_for_frame(int(amount))
    if row.get("to_address") == NO_ADDRESS:
        row["to_address"] = None
    return row


_TX_FIELDS = (
    "t.chain AS chain, t.txid AS txid, t.block_height AS block_height, t.block_hash AS block_hash, "
    "t.position AS position, t.timestamp AS timestamp, t.fee AS fee, t.is_coinbase AS is_coinbase, "
    "t.source AS source"
)
_INPUT_FIELDS = (
    "s.chain AS chain, t.txid AS txid, s.index AS index, o.txid AS prev_txid, o.index AS prev_index, "
    "o.address AS address, o.value AS value, s.source AS source"
)
_OUTPUT_FIELDS = (
    "x.chain AS chain, t.txid AS txid, x.index AS index, o.address AS address, o.script_type AS script_type, "
    "x.value AS value, x.source AS source"
)
_TRANSFER_FIELDS = (
    "x.chain AS chain, x.txid AS txid, x.block_height AS block_height, x.block_hash AS block_hash, "
    "x.tx_index AS tx_index, x.timestamp AS timestamp, x.kind AS kind, x.log_index AS log_index, "
    "x.trace_path AS trace_path, x.asset AS asset, x.token_id AS token_id, a.address AS from_address, "
    "b.address AS to_address, x.value AS amount, x.source AS source"
)
_TAG_FIELDS = (
    "g.chain AS chain, g.address AS address, g.label AS label, g.category AS category, "
    "g.confidence AS confidence, g.tagpack AS tagpack, g.source AS source"
)
#: ``MATCH`` of the transactions a UTXO read covers: all (optionally one chain) or listed uids
_ALL_TX = "MATCH (t:Transaction) WHERE $chain IS NULL OR t.chain = $chain "
_LISTED_TX = "UNWIND $uids AS u MATCH (t:Transaction {uid: u}) "


def _datetime_works(session: neo4j.Session) -> bool:
    """The server answers ``datetime({epochSeconds: 0})`` with a date-time (Neo4j, ArcadeDB)."""
    try:
        record = session.run("RETURN datetime({epochSeconds: 0}) AS d").single()
    except neo4j_errors.Neo4jError:
        return False
    return record is not None and hasattr(record["d"], "year")


class Neo4jStore:
    """:class:`graph.base.GraphStore` over a Neo4j (or Bolt-compatible) server.

    Parameters
    ----------
    uri, user, password
        Bolt URI (``bolt://host:7687`` or ``neo4j://...``) and credentials. The password is never
        logged nor put in an error message.
    database
        Database name (must exist; Neo4j Community has only ``neo4j``).
    registry
        Chains for captions (symbols, decimals); the built-in registry by default.
    connect_timeout
        Seconds to wait for the server at construction.

    Raises
    ------
    StoreUnavailableError
        The server cannot be reached.
    StoreLocationError
        Authentication failed, or the database does not exist.
    """

    backend = "neo4j"

    def __init__(
        self,
        uri: str,
        user: str,
        password: str,
        database: str = "neo4j",
        *,
        registry: ChainRegistry | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self._database = database
        self.uri = redact_url(uri)
        if "@" in uri.split("://", 1)[-1].split("/", 1)[0]:
            raise StoreLocationError(
                f"the Neo4j URI {self.uri} carries credentials: put them in NEO4J_USER / NEO4J_PASSWORD instead"
            )
        self.location = f"{self.uri} (database {database})"
        self.registry = registry if registry is not None else default_registry()
        #: token metadata for readable token amounts (:meth:`set_tokens`)
        self.tokens: dict[str, dict[str, Any]] = {}
        #: called with the rows of each batch a load writes (a progress bar); None: nobody watches
        self.on_batch: Callable[[int], None] | None = None
        #: whether the server builds a Neo4j ``datetime`` from epoch seconds (checked on connect)
        self.supports_datetime = False
        try:
            self._driver = neo4j.GraphDatabase.driver(
                uri, auth=(user, password), connection_timeout=connect_timeout, connection_acquisition_timeout=
                max(connect_timeout, 60.0)
            )
        except (ValueError, neo4j_errors.ConfigurationError) as exc:
            raise StoreLocationError(f"invalid Neo4j URI {self.uri} ({type(exc).__name__})") from None
        try:
            with self._guard():
                self._driver.verify_connectivity()
                with self._session() as session:
                    session.run("RETURN 1 AS ok").consume()
                    self.supports_datetime = _datetime_works(session)
        except BaseException:
            self._driver.close()
            raise

    def set_tokens(self, chain: str, tokens: Mapping[str, Any]) -> None:
        """Token metadata of ``chain`` (``{contract: {"symbol", "decimals"}}``, the token cache) for the
        readable amounts of the token transfers loaded after this call."""
        self.tokens[chain] = dict(tokens)

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def database(self) -> str:
        return self._database

    def __repr__(self) -> str:
        return f"Neo4jStore({self.location!r})"

    def __enter__(self) -> Neo4jStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._driver.close()

    def _session(self) -> neo4j.Session:
        return self._driver.session(database=self._database)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn driver exceptions into the store's errors (never with credentials in them)."""
        try:
            yield
        except neo4j_errors.AuthError:
            raise StoreLocationError(f"authentication failed for {self.location}: check user and password") from None
        except (neo4j_errors.ServiceUnavailable, neo4j_errors.SessionExpired, OSError) as exc:
            raise StoreUnavailableError(f"Neo4j at {self.location} is unreachable: {type(exc).__name__}") from None
        except neo4j_errors.ClientError as exc:
            code = exc.code or ""
            message = exc.message or ""
            if code.endswith("DatabaseNotFound") or ("atabase" in message and "does not exist" in message):
                raise StoreLocationError(f"Neo4j database {self.database!r} does not exist at {self.uri}") from None
            if "Security" in code:
                raise StoreLocationError(f"authentication failed for {self.location}: {exc.message}") from None
            raise StoreError(f"Neo4j at {self.location} refused a query: {code} {exc.message}") from None
        except neo4j_errors.DriverError as exc:
            raise StoreUnavailableError(f"Neo4j at {self.location} failed: {type(exc).__name__}") from None
        except neo4j_errors.Neo4jError as exc:
            raise StoreError(f"Neo4j at {self.location} failed: {exc.code} {exc.message}") from None

    def _read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        def work(tx: neo4j.ManagedTransaction) -> list[dict[str, Any]]:
            return [record.data() for record in tx.run(query, params)]

        with self._guard(), self._session() as session:
            return session.execute_read(work)

    def _write(self, query: str, **params: Any) -> neo4j.SummaryCounters:
        def work(tx: neo4j.ManagedTransaction) -> neo4j.SummaryCounters:
            return tx.run(query, params).consume().counters

        with self._guard(), self._session() as session:
            return session.execute_write(work)

    # -- schema --------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        statements = schema_statements()
        with self._guard(), self._session() as session:
            for statement in statements:
                session.run(statement).consume()

    # -- load ----------------------------------------------------------------------------------
    def load(self, frames: FrameSet, batch_rows: int = DEFAULT_BATCH_ROWS) -> LoadReport:
        """See :meth:`graph.base.GraphStore.load` and :mod:`graph.neo4j_load` (conflict checks, readable
        properties)."""
        return neo4j_load.load(self, frames, batch_rows, self.on_batch)

    def sync_case(self, case: str, frames: FrameSet, traces: GraphTables) -> SyncReport:
        """After loading ``frames`` (the case's graph): remove what the case no longer holds and replace
        its traces by ``traces`` (:func:`graph.trace_tables.trace_tables`); see :mod:`graph.neo4j_sync`."""
        return neo4j_sync.sync_case(self, case, frames, traces, self.on_batch)

    # -- reorgs --------------------------------------------------------------------------------
    def remove_blocks(self, chain: str, from_height: int) -> int:
        def work(tx: neo4j.ManagedTransaction) -> int:
            found = [
                (r["uid"], r["txid"])
                for r in tx.run(
                    "MATCH (t:Transaction) WHERE t.chain = $chain AND t.block_height >= $height "
                    "RETURN t.uid AS uid, t.txid AS txid",
                    chain=chain,
                    height=from_height,
                )
            ]
            if not found:
                return 0
            uids = [uid for uid, _ in found]
            txids = [txid for _, txid in found]
            spent = [
                r["uid"]
                for r in tx.run(
                    "UNWIND $uids AS u MATCH (t:Transaction {uid: u})<-[:SPENT_IN]-(o:Output) RETURN o.uid AS uid",
                    uids=uids,
                )
            ]
            tx.run(
                "UNWIND $uids AS u MATCH (t:Transaction {uid: u})-[:HAS_OUTPUT]->(o:Output) DETACH DELETE o",
                uids=uids,
            ).consume()
            tx.run("UNWIND $uids AS u MATCH (t:Transaction {uid: u}) DETACH DELETE t", uids=uids).consume()
            neo4j_events.remove(tx, chain, txids)  # their conversions and bridge events
            # one scan with a map look-up: a per-txid match scans every TRANSFER once per txid on ArcadeDB
            tx.run(
                "MATCH (:Address)-[x:TRANSFER]->(:Address) WHERE x.chain = $chain AND $removed[x.txid] IS NOT NULL "
                "DELETE x",
                removed={txid: True for txid in txids},
                chain=chain,
            ).consume()
            if spent:
                # outputs known only from a removed input (creator not loaded) go with it
                orphans = [
                    r["uid"]
                    for r in tx.run(
                        "UNWIND $uids AS u MATCH (o:Output {uid: u}) "
                        "OPTIONAL MATCH (o)<-[c:HAS_OUTPUT]-() WITH o, count(c) AS created "
                        "OPTIONAL MATCH (o)-[s:SPENT_IN]->() WITH o, created, count(s) AS spends "
                        "WHERE created = 0 AND spends = 0 RETURN o.uid AS uid",
                        uids=sorted(set(spent)),
                    )
                ]
                if orphans:
                    tx.run("UNWIND $uids AS u MATCH (o:Output {uid: u}) DETACH DELETE o", uids=orphans).consume()
            return len(found)

        with self._guard(), self._session() as session:
            return session.execute_write(work)

    def block_hashes(self, chain: str, from_height: int, to_height: int) -> pl.DataFrame:
        records = self._read(
            "MATCH (t:Transaction) WHERE t.chain = $chain AND t.block_height >= $low AND t.block_height <= $high "
            "RETURN DISTINCT t.block_height AS block_height, t.block_hash AS block_hash",
            chain=chain,
            low=from_height,
            high=to_height,
        )
        frame = _frame(records, {"block_height": pl.Int64(), "block_hash": pl.String()})
        return frame.unique().sort(["block_height", "block_hash"], nulls_last=True)

    # -- read-back -----------------------------------------------------------------------------
    def _utxo(self, match: str, **params: Any) -> FrameSet:
        """Transactions (with inputs and outputs) selected by ``match`` (binds ``t``)."""
        txs = self._read(match + "RETURN " + _TX_FIELDS, **params)
        for record in txs:
            record["fee"] = _decimal(record["fee"])
        inputs = self._read(match + "MATCH (t)<-[s:SPENT_IN]-(o:Output) RETURN " + _INPUT_FIELDS, **params)
        inputs += [
            {"chain": t["chain"], "txid": t["txid"], "index": 0, "source": t["source"]} for t in txs if t["is_coinbase"]
        ]
        outputs = self._read(match + "MATCH (t)-[x:HAS_OUTPUT]->(o:Output) RETURN " + _OUTPUT_FIELDS, **params)
        return FrameSet(
            transactions=_frame(txs, TRANSACTIONS.columns).sort(list(TRANSACTIONS.key), nulls_last=True),
            inputs=_frame(inputs, INPUTS.columns).sort(list(INPUTS.key), nulls_last=True),
            outputs=_frame(outputs, OUTPUTS.columns).sort(list(OUTPUTS.key), nulls_last=True),
        )

    def read_frames(self, chain: str | None = None, parts: Collection[str] | None = None) -> FrameSet:
        def wanted(*names: str) -> bool:
            return parts is None or any(name in parts for name in names)

        frames: dict[str, pl.DataFrame] = {}
        if wanted("transactions", "inputs", "outputs"):
            utxo = self._utxo(_ALL_TX, chain=chain)
            frames.update({name: getattr(utxo, name) for name in ("transactions", "inputs", "outputs")
                           if wanted(name)})
        if wanted("transfers"):
            transfers = self._read(
                "MATCH (a:Address)-[x:TRANSFER]->(b:Address) WHERE $chain IS NULL OR x.chain = $chain "
                "RETURN " + _TRANSFER_FIELDS,
                chain=chain,
            )
            frames["transfers"] = _frame([_transfer_record(r) for r in transfers], TRANSFERS.columns)
        if wanted("tags"):
            tags = self._read("MATCH (g:Tag) WHERE $chain IS NULL OR g.chain = $chain RETURN " + _TAG_FIELDS,
                              chain=chain)
            frames["tags"] = _frame(tags, TAGS.columns)
        if wanted("clusters"):
            clusters = self._read(
                "MATCH (a:Address)-[c:IN_CLUSTER]->(k:Cluster) WHERE $chain IS NULL OR c.chain = $chain "
                "RETURN c.chain AS chain, a.address AS address, k.cluster_id AS cluster_id, c.source AS source",
                chain=chain,
            )
            frames["clusters"] = _frame(clusters, CLUSTERS.columns)
        if wanted("seeds"):
            seeds = self._read(
                "MATCH (c:Case)-[s:SEED]->(a:Address) WHERE $chain IS NULL OR s.chain = $chain "
                "RETURN c.name AS case, s.chain AS chain, a.address AS address, s.label AS label, s.source AS source",
                chain=chain,
            )
            frames["seeds"] = _frame(seeds, SEEDS.columns)
        if wanted("conversions"):
            frames["conversions"] = neo4j_events.read_conversions(self, chain)
        if wanted("bridge_events"):
            frames["bridge_events"] = neo4j_events.bridge_events(self, chain)
        return FrameSet(**frames).sorted()

    def read_traces(self) -> TraceRows:
        """See :meth:`graph.base.GraphStore.read_traces`."""
        props = ", ".join(f"t.{name} AS {name}" for name in TRACE_COLUMNS)
        return TraceRows.of(
            pl.DataFrame(self._read(f"MATCH (t:Trace) RETURN {props}"), schema=TRACE_COLUMNS),
            pl.DataFrame(self._read(
                "MATCH (t:Trace)-[r:REACHED]->(a:Address) RETURN t.uid AS trace, a.address AS address, "
                "r.ending AS ending, r.asset AS asset, r.amount AS amount, r.depth AS depth, r.label AS label"),
                schema={"trace": pl.String(), **TRACE_REACHED_COLUMNS}),
            pl.DataFrame(self._read(
                "MATCH (t:Trace)-[r:TRACED]->(x:Transaction) RETURN t.uid AS trace, x.txid AS txid, "
                "r.depth AS depth, r.taint AS taint, r.hops AS hops"),
                schema={"trace": pl.String(), **TRACE_TRACED_COLUMNS}),
        )

    def stats(self) -> dict[str, int]:
        labels, rel_types = (*NODE_LABELS, *EVENT_LABELS), (*REL_TYPES, *EVENT_REL_ENDPOINTS)
        parts = [f"MATCH (n:{label}) RETURN '{label}' AS name, count(n) AS n" for label in labels]
        parts += [f"MATCH ()-[r:{rel_type}]->() RETURN '{rel_type}' AS name, count(r) AS n" for rel_type in rel_types]
        counts = {name: 0 for name in (*labels, *rel_types)}
        for record in self._read(" UNION ALL ".join(parts)):
            counts[record["name"]] = int(record["n"])
        return counts

    def query(self, cypher: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """Run one analyst's read-only Cypher query (at most ``QUERY_TIMEOUT_MS``).

        The guard the embedded store applies (:func:`graph.query_guard.check_read_only`) refuses
        writes, files and several statements before the server sees the query; it then runs in a
        ``READ`` transaction with a transaction timeout (Neo4j enforces it; ArcadeDB's Bolt listener
        ignores it). Columns keep the query's order; their types are what polars infers from the
        values (a node or relationship comes back as a struct of its properties).
        """
        statement = check_read_only(cypher)
        values = check_parameters(params)  # bad parameter values are bad input, as on the embedded store

        @neo4j.unit_of_work(timeout=QUERY_TIMEOUT_MS / 1000)
        def work(tx: neo4j.ManagedTransaction) -> tuple[list[str], list[dict[str, Any]]]:
            result = tx.run(statement, values)
            return list(result.keys()), [record.data() for record in result]

        with self._guard(), self._session() as session:
            keys, records = session.execute_read(work)
        if not records:
            return pl.DataFrame(schema={key: pl.Null for key in keys})
        return pl.DataFrame({key: [r[key] for r in records] for key in keys}, strict=False)

    # -- frontier ------------------------------------------------------------------------------
    @staticmethod
    def _address_uids(chain: str, addresses: Collection[str]) -> list[str]:
        return sorted({f"{chain}:{a}" for a in addresses if a is not None and a != NO_ADDRESS})

    def transfers(
        self, chain: str, addresses: Collection[str], direction: Direction, where: TransferFilter = TransferFilter()
    ) -> pl.DataFrame:
        uids = self._address_uids(chain, addresses)
        if Direction(direction) is Direction.FORWARD:
            pattern = "UNWIND $uids AS u MATCH (a:Address {uid: u})-[x:TRANSFER]->(b:Address) "
        else:
            pattern = "UNWIND $uids AS u MATCH (b:Address {uid: u})<-[x:TRANSFER]-(a:Address) "
        conditions, params = block_time_conditions(where, "x")
        params["uids"] = uids
        if where.assets is not None:
            conditions.append("x.asset IN $assets")
            params["assets"] = list(where.assets)
        query = pattern + ("WHERE " + " AND ".join(conditions) + " " if conditions else "")
        records = self._read(query + "RETURN " + _TRANSFER_FIELDS, **params) if uids else []
        frame = _frame([_transfer_record(r) for r in records], TRANSFERS.columns)
        return apply_transfer_filter(frame, where).sort(list(TRANSFERS.key), nulls_last=True)

    def spending(self, chain: str, outpoints: pl.DataFrame, where: TransferFilter = TransferFilter()) -> FrameSet:
        uids = sorted({f"{chain}:{txid}:{index}" for txid, index in outpoints.select("txid", "index").iter_rows()})
        conditions, params = block_time_conditions(where, "t")
        params["uids"] = uids
        query = "UNWIND $uids AS u MATCH (o:Output {uid: u})-[:SPENT_IN]->(t:Transaction) "
        query += "WHERE " + " AND ".join(conditions) + " " if conditions else ""
        found = self._read(query + "RETURN DISTINCT t.uid AS uid", **params) if uids else []
        return self._utxo(_LISTED_TX, uids=sorted({r["uid"] for r in found}))

    def transactions(self, chain: str, txids: Collection[str]) -> FrameSet:
        return self._utxo(_LISTED_TX, uids=sorted({f"{chain}:{txid}" for txid in txids}))

    def transfers_of(self, chain: str, txids: Collection[str]) -> pl.DataFrame:
        wanted = sorted(set(txids))
        records = self._read(
            "UNWIND $txids AS i MATCH (a:Address)-[x:TRANSFER]->(b:Address) WHERE x.chain = $chain AND x.txid = i "
            "RETURN " + _TRANSFER_FIELDS,
            chain=chain, txids=wanted,
        ) if wanted else []
        frame = _frame([_transfer_record(r) for r in records], TRANSFERS.columns)
        return frame.sort(list(TRANSFERS.key), nulls_last=True)


    def conversions_of(self, chain: str, txids: Collection[str]) -> pl.DataFrame:
        return neo4j_events.conversions_of(self, chain, txids)

    def bridge_events(self, chain: str | None = None, deposit_ids: Collection[str] | None = None) -> pl.DataFrame:
        return neo4j_events.bridge_events(self, chain, deposit_ids)

    def address_outputs(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        uids = self._address_uids(chain, addresses)
        records = self._read(
            "UNWIND $uids AS u MATCH (:Address {uid: u})<-[:LOCKED_TO]-(o:Output)<-[x:HAS_OUTPUT]-(t:Transaction) "
            "OPTIONAL MATCH (o)-[s:SPENT_IN]->(spender:Transaction) "
            "RETURN " + _OUTPUT_FIELDS + ", spender.txid AS spent_txid, s.index AS spent_index",
            uids=uids,
        ) if uids else []
        return _frame(records, ADDRESS_OUTPUTS_COLUMNS).sort(list(OUTPUTS.key), nulls_last=True)

    def address_flows(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        uids = self._address_uids(chain, addresses)
        if not uids:
            return _frame([], ADDRESS_FLOWS_COLUMNS)
        common = "t.txid AS txid, t.block_height AS block_height, t.timestamp AS timestamp"
        received = self._read(
            "UNWIND $uids AS u MATCH (a:Address {uid: u})<-[:LOCKED_TO]-(o:Output)<-[x:HAS_OUTPUT]-(t:Transaction) "
            f"RETURN x.chain AS chain, a.address AS address, {common}, x.value AS value",
            uids=uids,
        )
        sent = self._read(
            "UNWIND $uids AS u MATCH (a:Address {uid: u})<-[:LOCKED_TO]-(o:Output)-[s:SPENT_IN]->(t:Transaction) "
            f"RETURN s.chain AS chain, a.address AS address, {common}, o.value AS value",
            uids=uids,
        )
        moved = self._read(
            "UNWIND $uids AS u MATCH (a:Address {uid: u})-[x:TRANSFER]->(:Address) "
            "RETURN 'out' AS flow, a.address AS address, x.chain AS chain, x.txid AS txid, "
            "x.block_height AS block_height, x.timestamp AS timestamp, x.asset AS asset, x.value AS amount "
            "UNION ALL "
            "UNWIND $uids AS u MATCH (a:Address {uid: u})<-[x:TRANSFER]-(:Address) "
            "RETURN 'in' AS flow, a.address AS address, x.chain AS chain, x.txid AS txid, "
            "x.block_height AS block_height, x.timestamp AS timestamp, x.asset AS asset, x.value AS amount",
            uids=uids,
        )
        rows: list[dict[str, Any]] = []
        for flow, records in (("in", received), ("out", sent)):
            for record in records:
                rows.append({**record, "flow": flow, "asset": NATIVE_ASSET, "value": _decimal(record["value"])})
        for record in moved:
            value, overflow = split_for_frame(int(record.pop("amount")))
            rows.append({**record, "value": value, "value_overflow": overflow})
        return _frame(rows, ADDRESS_FLOWS_COLUMNS).sort(_FLOWS_KEY, nulls_last=True)

    def tags(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        uids = self._address_uids(chain, addresses)
        records = self._read(
            "UNWIND $uids AS u MATCH (:Address {uid: u})-[:HAS_TAG]->(g:Tag) RETURN " + _TAG_FIELDS, uids=uids
        ) if uids else []
        return _frame(records, TAGS.columns).sort(list(TAGS.key), nulls_last=True)

    def cluster(self, chain: str, address: str) -> pl.DataFrame:
        records = self._read(
            # two MATCH clauses: one pattern would never return the address's own relationship again
            "MATCH (:Address {uid: $uid})-[:IN_CLUSTER]->(k:Cluster) MATCH (k)<-[c:IN_CLUSTER]-(m:Address) "
            "RETURN DISTINCT c.chain AS chain, m.address AS address, k.cluster_id AS cluster_id, c.source AS source",
            uid=f"{chain}:{address}",
        )
        return _frame(records, CLUSTERS.columns).sort(["chain", "cluster_id", "address"], nulls_last=True)

    def replace_clusters(self, chain: str, clusters: pl.DataFrame) -> int:
        """See :meth:`graph.base.GraphStore.replace_clusters`. Not atomic over Bolt (delete, then the
        batched load): a run cut short leaves the chain with fewer clusters; running it again repairs it."""
        check_cluster_rows(chain, clusters)
        self._write("MATCH (k:Cluster) WHERE k.chain = $chain DETACH DELETE k", chain=chain)
        self.load(FrameSet(clusters=clusters))
        return clusters.height

    def save_trace(self, record: TraceRecord) -> None:
        """See :meth:`graph.base.GraphStore.save_trace`: one write transaction (replace, then create)."""
        reached = record.reached.with_columns(
            pl.concat_str([pl.lit(record.chain), pl.col("address")], separator=":").alias("uid")
        ).drop("address").to_dicts()
        traced = record.traced.with_columns(
            pl.concat_str([pl.lit(record.chain), pl.col("txid")], separator=":").alias("uid")
        ).drop("txid").to_dicts()

        def work(tx: neo4j.ManagedTransaction) -> None:
            tx.run("MATCH (t:Trace {uid: $uid}) DETACH DELETE t", uid=record.uid).consume()
            tx.run("CREATE (t:Trace) SET t = $props", props=record.properties()).consume()
            tx.run("MATCH (c:Case {uid: $case_uid}), (t:Trace {uid: $uid}) CREATE (c)-[:RAN]->(t)",
                   case_uid=record.case, uid=record.uid).consume()
            for start in range(0, len(reached), DEFAULT_BATCH_ROWS):
                tx.run(
                    "MATCH (t:Trace {uid: $uid}) UNWIND $rows AS r MATCH (a:Address {uid: r.uid}) "
                    "CREATE (t)-[:REACHED {ending: r.ending, asset: r.asset, amount: r.amount, depth: r.depth, "
                    "label: r.label}]->(a)",
                    uid=record.uid, rows=reached[start:start + DEFAULT_BATCH_ROWS],
                ).consume()
            for start in range(0, len(traced), DEFAULT_BATCH_ROWS):
                tx.run(
                    "MATCH (t:Trace {uid: $uid}) UNWIND $rows AS r MATCH (x:Transaction {uid: r.uid}) "
                    "CREATE (t)-[:TRACED {depth: r.depth, taint: r.taint, hops: r.hops}]->(x)",
                    uid=record.uid, rows=traced[start:start + DEFAULT_BATCH_ROWS],
                ).consume()

        with self._guard(), self._session() as session:
            session.execute_write(work)

    def traces(self, case: str | None = None) -> pl.DataFrame:
        """Saved traces (uid, case, chain, direction, model, manifest hash) and their ending counts."""
        records = self._read(
            "MATCH (t:Trace) WHERE $case_name IS NULL OR t.case_name = $case_name OPTIONAL MATCH (t)-[r:REACHED]->() "
            "RETURN t.uid AS uid, t.case_name AS case_name, t.chain AS chain, t.direction AS direction, "
            "t.model AS model, t.manifest_sha256 AS manifest_sha256, count(r) AS reached ORDER BY uid",
            case_name=case,
        )
        return pl.DataFrame(records) if records else pl.DataFrame()
