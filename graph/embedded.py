# SPDX-License-Identifier: Apache-2.0
"""The embedded graph store: LadybugDB (the maintained fork of Kùzu) in one file on disk.

No server to run. Implements :class:`graph.base.GraphStore` over the model of
:mod:`graph.model`, laid out for speed as the shared design notes §1 measured it:

* every node table has an ``INT64`` surrogate primary key ``id`` (a frontier of 1,000
  addresses by integer key takes ~120 ms, by string key ~2.4 s); the natural keys (chain,
  address, txid, ...) are ordinary columns and the store keeps an in-memory ``uid -> id``
  dictionary per label, read once when the store opens and kept in step with every load;
* the hot relationship table ``TRANSFER`` holds only integers, short strings and a
  ``DECIMAL(38,0)`` amount: its transaction is an ``INT64`` reference (``tx``) to the
  :Transaction node (txid, block, position and time are read from there), kind, asset and source are
  integer codes, and the rare text (trace path, token id, overflow digits) lives in an internal
  ``TransferDetail`` table: every STRING column, even all-null, slows COPY by 30-60%;
* loads dedupe in polars and use ``COPY ... FROM`` a data frame, one atomic COPY per table; a
  load that is cut short or run again anti-joins against what is stored and creates nothing twice;
* a load maps transfer endpoints to ids by their row positions in the batch's Address table
  (:attr:`graph.model.GraphTables.rows`, numbered by :mod:`graph.interning`), not by joining two
  million address strings, and copies the Transaction and Output nodes on a worker thread while
  it builds the rest of the tables (LadybugDB copies a node table on one core).

Amounts: ``DECIMAL(38,0)`` round-trips exactly with polars ``Decimal(38, 0)``; a token amount
at or above 10**38 rides in ``value_overflow`` as digits (``tracer.units``). Never aggregate
amounts in Cypher (``sum()`` refuses DECIMAL); aggregate in polars.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from graph.base import (
    DEFAULT_BATCH_ROWS,
    TRACE_REACHED_COLUMNS,
    LoadReport,
    ReadOnlyQueryError,
    StoreError,
    StoreLocationError,
    StoreUnavailableError,
    TraceRecord,
    block_time_conditions,
    check_cluster_rows,
)
from graph.model import (
    NO_ADDRESS,
    REL_ENDPOINTS,
    GraphTables,
    build_tables,
    check_batch,
    check_output_conflicts,
    rel_key,
)
from tracer.frontier import (
    ADDRESS_FLOWS_COLUMNS,
    ADDRESS_OUTPUTS_COLUMNS,
    Direction,
    TransferFilter,
    apply_transfer_filter,
)
from tracer.schema import (
    CLUSTERS,
    INPUTS,
    OUTPUTS,
    SEEDS,
    TAGS,
    TRANSACTIONS,
    TRANSFERS,
    FrameSet,
    empty,
)

__all__ = ["EmbeddedStore", "STORE_FILE_SUFFIX", "SCHEMA_VERSION"]

#: layout of the tables below; bump it when a table changes (a store of another version is refused)
SCHEMA_VERSION = 1

STORE_FILE_SUFFIX = ".lbug"

# Node tables: label -> (columns with Ladybug types). ``id`` is the surrogate key everywhere.
_NODE_DDL: dict[str, dict[str, str]] = {
    "Address": {"chain": "STRING", "address": "STRING", "source": "STRING"},
    "Transaction": {
        "chain": "STRING", "txid": "STRING", "block_height": "INT64", "block_hash": "STRING",
        "position": "INT64", "timestamp": "INT64", "fee": "DECIMAL(38,0)", "is_coinbase": "BOOLEAN",
        "source": "STRING",
    },
    "Output": {
        "chain": "STRING", "txid": "STRING", "index": "INT64", "address": "STRING", "script_type": "STRING",
        "value": "INT64", "source": "STRING",
    },
    "Tag": {
        "uid": "STRING", "chain": "STRING", "address": "STRING", "label": "STRING", "category": "STRING",
        "confidence": "INT64", "tagpack": "STRING", "source": "STRING",
    },
    "Cluster": {"chain": "STRING", "cluster_id": "STRING", "source": "STRING"},
    "Case": {"name": "STRING"},
}
_REL_DDL: dict[str, dict[str, str]] = {
    "HAS_OUTPUT": {"index": "INT64", "value": "INT64", "chain": "STRING", "source": "STRING"},
    "LOCKED_TO": {"chain": "STRING", "source": "STRING"},
    "SPENT_IN": {"index": "INT64", "chain": "STRING", "source": "STRING"},
    # integers and one DECIMAL only: every STRING column (even all-null) costs ~30-60% of COPY speed
    "TRANSFER": {
        "tx": "INT64", "kind": "INT64", "log_index": "INT64", "value": "DECIMAL(38,0)", "asset": "INT64",
        "source": "INT64", "detail": "INT64",
    },
    "HAS_TAG": {"chain": "STRING", "source": "STRING"},
    "IN_CLUSTER": {"chain": "STRING", "source": "STRING"},
    "SEED": {"chain": "STRING", "label": "STRING", "source": "STRING"},
}
# Internal tables behind TRANSFER's integer columns (not part of the graph model).
_INTERNAL_DDL: dict[str, dict[str, str]] = {
    "Source": {"name": "STRING"},
    "TransferDetail": {"trace_path": "STRING", "token_id": "STRING", "value_overflow": "STRING"},
}
# Trace results written back (graph.base.TraceRecord): outside the frames model, created if missing
# so stores written before they existed gain them without a schema-version change.
_TRACE_NODE_DDL = {
    "uid": "STRING", "case_name": "STRING", "chain": "STRING", "direction": "STRING", "model": "STRING",
    "parameters": "STRING", "manifest_sha256": "STRING", "seed_value": "STRING",
}
_TRACE_REL_DDL: dict[str, tuple[str, str, dict[str, str]]] = {
    "REACHED": ("Trace", "Address", {"ending": "STRING", "asset": "STRING", "amount": "STRING", "depth": "INT64",
                                     "label": "STRING"}),
    "TRACED": ("Trace", "Transaction", {"depth": "INT64", "taint": "STRING", "hops": "INT64"}),
    "RAN": ("Case", "Trace", {}),
}
#: TRANSFER.kind codes; TRANSFER.asset is 0 for the native coin, else the token contract's Address id
_KIND_CODES = {"native": 0, "token": 1, "internal": 2, "fee": 3}
_KIND_NAMES = {code: name for name, code in _KIND_CODES.items()}
_NATIVE_ASSET_ID = 0

# How each label's uid is rebuilt from its stored natural-key columns (see graph.model).
_UID_PARTS: dict[str, list[str]] = {
    "Address": ["chain", "address"],
    "Transaction": ["chain", "txid"],
    "Output": ["chain", "txid", "index"],
    "Tag": ["uid"],
    "Cluster": ["chain", "cluster_id"],
    "Case": ["name"],
}
# Clauses an analyst's query may not use: writes, file and network access (COPY ... TO, LOAD FROM
# a file, extensions), other databases, transactions. CALL is allowed only for catalog functions.
_REFUSED_CLAUSES = re.compile(
    r"\b(CREATE|MERGE|SET|DELETE|DETACH|REMOVE|DROP|ALTER|COPY|LOAD|INSTALL|UNINSTALL|ATTACH|USE|IMPORT|"
    r"EXPORT|CHECKPOINT|BEGIN|COMMIT|ROLLBACK)\b",
    re.IGNORECASE,
)
_CALL = re.compile(r"\bCALL\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_ALLOWED_CALLS = frozenset({"show_tables", "table_info", "show_connection", "current_setting", "db_version"})
#: one token of Cypher text that is not code: a string, a quoted name or a comment (one left-to-right pass)
_NOT_CODE = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|//[^\n]*|/\*.*?\*/", re.DOTALL)
QUERY_TIMEOUT_MS = 120_000
#: store files this process has open for writing (see EmbeddedStore.__init__)
_OPEN_FOR_WRITING: set[str] = set()
_ID_CHUNK = 20_000
_APPEND_BY_COPY_MIN_ROWS = 100_000
# Measured (LadybugDB 0.22, 250k transactions): nodes by a list of ids are fastest as
# ``UNWIND $ids AS i MATCH (n {id: i})`` (primary-key lookups, ~11 ms for 3.5k ids; ``WHERE n.id IN
# $ids`` scans: ~420 ms); relationships of a set of nodes as ``WHERE a.id IN $ids`` (~230 ms for a
# 1,000-address frontier; the UNWIND form ~660 ms).


def _q(name: str) -> str:
    """Quote an identifier from the fixed model (``Case``, ``index`` ... are keywords)."""
    return f"`{name}`"


def _uid_expr(parts: list[str]) -> pl.Expr:
    return pl.concat_str([pl.col(p).cast(pl.String) for p in parts], separator=":").alias("uid")


class EmbeddedStore:
    """A LadybugDB store in one file. Open with :meth:`open`; use as a context manager.

    Only one process may write a store at a time (LadybugDB locks the file); ``read_only``
    stores refuse every write, which is how ``tracer graph query`` runs analyst Cypher.
    """

    backend = "embedded"

    def __init__(self, path: Path, *, read_only: bool = False, create: bool = True) -> None:
        import ladybug

        self.path = Path(path)
        self.location = str(self.path)
        self.read_only = read_only
        if self.path.is_dir():
            raise StoreLocationError(f"{self.path} is a directory, not an embedded store file")
        if not self.path.exists() and (read_only or not create):
            raise StoreLocationError(f"no embedded store at {self.path}")
        key = str(self.path.resolve())
        if not read_only and key in _OPEN_FOR_WRITING:
            # two writers in one process would each hand out ids from their own max + 1
            raise StoreError(f"{self.path} is already open for writing in this process")
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = ladybug.Database(str(self.path), read_only=read_only)
        except RuntimeError as exc:
            text = str(exc)
            if "lock" in text.lower():
                pid = re.search(r"PID (\d+)", text)
                holder = f" by process {pid.group(1)}" if pid else " by another process"
                raise StoreUnavailableError(
                    f"embedded store {self.path} is in use{holder}; retry when it has finished"
                ) from None
            first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
            raise StoreLocationError(f"{self.path} is not an embedded store (LadybugDB: {first_line})") from None
        self._conn = ladybug.Connection(self._db)
        self._key = key if not read_only else None
        if self._key:
            _OPEN_FOR_WRITING.add(self._key)
        self._ids: dict[str, pl.DataFrame] | None = None
        self._address_lookup: tuple[pl.DataFrame, dict[str, int]] | None = None
        self._rows: dict[str, int] = {}  # rows per table, as far as this process knows (see _copy)
        try:
            if not read_only:
                self.ensure_schema()
            else:
                found = self._run("MATCH (i:StoreInfo) RETURN i.schema_version AS v")
                self._check_version(int(found["v"][0]) if found.height else -1)
        except StoreError:
            self.close()
            raise StoreLocationError(f"{self.path} is not a tracer graph store (no schema version)") from None
        except BaseException:
            self.close()
            raise

    def _check_version(self, version: int) -> None:
        if version != SCHEMA_VERSION:
            raise StoreLocationError(
                f"{self.path} was laid out by store schema version {version}; this tracer uses version "
                f"{SCHEMA_VERSION}: ingest into a new store (the old one stays readable by the tracer that wrote it)"
            )

    @classmethod
    def open(cls, path: Path, *, read_only: bool = False, create: bool = True) -> EmbeddedStore:
        return cls(path, read_only=read_only, create=create)

    def __enter__(self) -> EmbeddedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._conn.is_closed:
            self._conn.close()
        self._db.close()
        if self._key:
            _OPEN_FOR_WRITING.discard(self._key)
            self._key = None

    # -- low level ----------------------------------------------------------------------------
    def _run(self, query: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        try:
            result = self._conn.execute(query, params or {})
        except RuntimeError as exc:
            raise StoreError(f"embedded store refused a query: {exc}") from None
        if isinstance(result, list):
            for r in result:
                r.close()
            raise StoreError("embedded store: expected one statement, got several")
        frame = result.get_as_pl()
        result.close()
        return frame

    def _exec(self, query: str, params: dict[str, Any] | None = None) -> None:
        try:
            result = self._conn.execute(query, params or {})
        except RuntimeError as exc:
            raise StoreError(f"embedded store refused a statement: {exc}") from None
        for r in result if isinstance(result, list) else [result]:
            r.close()

    def _copy(self, table: str, frame: pl.DataFrame) -> None:
        """Append ``frame``'s rows to ``table`` (node table: its columns; relationship table:
        ``from``, ``to`` ids, then its properties). The rows must be new: a duplicate primary key
        is an error in LadybugDB and is never attempted.

        Two ways, chosen by measurement (LadybugDB 0.22, 2 cores): ``COPY`` is the fastest way to
        fill an empty table (1M relationships in ~4 s) but rewrites a table that already holds
        data (20k relationships into a 1M-row table: ~800 ms); ``LOAD FROM frame ... CREATE``
        appends in ~190 ms. So: COPY into an empty table or for a batch at least as large as the
        table (and >= 100k rows), else LOAD FROM ... CREATE. Both run as one atomic statement.
        """
        if frame.height == 0:
            return
        existing = self._table_rows(table)
        load_frame = frame  # noqa: F841 - LadybugDB resolves the frame by its Python variable name
        if existing == 0 or frame.height >= max(existing, _APPEND_BY_COPY_MIN_ROWS):
            statement = f"COPY {_q(table)} FROM load_frame"
        elif table in REL_ENDPOINTS:
            start, end = REL_ENDPOINTS[table]
            props = ", ".join(f"{_q(c)}: {_q(c)}" for c in frame.columns[2:])
            statement = (
                f"LOAD FROM load_frame MATCH (a:{_q(start)} {{id: {_q(frame.columns[0])}}}) "
                f"MATCH (b:{_q(end)} {{id: {_q(frame.columns[1])}}}) CREATE (a)-[:{_q(table)} {{{props}}}]->(b)"
            )
        else:
            props = ", ".join(f"{_q(c)}: {_q(c)}" for c in frame.columns)
            statement = f"LOAD FROM load_frame CREATE (:{_q(table)} {{{props}}})"
        try:
            result = self._conn.execute(statement)
        except RuntimeError as exc:
            raise StoreError(f"embedded store refused to load {table}: {exc}") from None
        for r in result if isinstance(result, list) else [result]:
            r.close()
        self._rows[table] = existing + frame.height

    def _table_rows(self, table: str) -> int:
        if table not in self._rows:
            if table in REL_ENDPOINTS:
                start, end = REL_ENDPOINTS[table]
                query = f"MATCH (:{_q(start)})-[r:{_q(table)}]->(:{_q(end)}) RETURN count(r) AS n"
            else:
                query = f"MATCH (n:{_q(table)}) RETURN count(n) AS n"
            self._rows[table] = int(self._run(query)["n"][0])
        return self._rows[table]

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._exec("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            try:
                self._conn.execute("ROLLBACK")
            except RuntimeError:
                pass  # LadybugDB already rolled back the failed transaction
            self._ids = None  # the dictionaries may hold ids of rows that were rolled back
            self._rows = {}
            raise
        self._exec("COMMIT")

    # -- schema ---------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create every node and relationship table if missing (idempotent); refuse a store laid out
        by another schema version (its tables would not take this version's rows)."""
        self._exec("CREATE NODE TABLE IF NOT EXISTS StoreInfo(id INT64 PRIMARY KEY, schema_version INT64)")
        found = self._run("MATCH (i:StoreInfo) RETURN i.schema_version AS v")
        if found.height == 0:
            self._exec("CREATE (:StoreInfo {id: 0, schema_version: $v})", {"v": SCHEMA_VERSION})
        else:
            self._check_version(int(found["v"][0]))
        for label, columns in _NODE_DDL.items():
            cols = ", ".join(f"{_q(c)} {t}" for c, t in columns.items())
            self._exec(f"CREATE NODE TABLE IF NOT EXISTS {_q(label)}(id INT64 PRIMARY KEY, {cols})")
        for table, columns in _INTERNAL_DDL.items():
            cols = ", ".join(f"{_q(c)} {t}" for c, t in columns.items())
            self._exec(f"CREATE NODE TABLE IF NOT EXISTS {_q(table)}(id INT64 PRIMARY KEY, {cols})")
        for rel, columns in _REL_DDL.items():
            start, end = REL_ENDPOINTS[rel]
            cols = ", ".join(f"{_q(c)} {t}" for c, t in columns.items())
            self._exec(f"CREATE REL TABLE IF NOT EXISTS {_q(rel)}(FROM {_q(start)} TO {_q(end)}, {cols})")
        cols = ", ".join(f"{_q(c)} {t}" for c, t in _TRACE_NODE_DDL.items())
        self._exec(f"CREATE NODE TABLE IF NOT EXISTS Trace(id INT64 PRIMARY KEY, {cols})")
        for rel, (start, end, rel_columns) in _TRACE_REL_DDL.items():
            cols = "".join(f", {_q(c)} {t}" for c, t in rel_columns.items())
            self._exec(f"CREATE REL TABLE IF NOT EXISTS {_q(rel)}(FROM {_q(start)} TO {_q(end)}{cols})")

    # -- uid <-> id dictionaries ------------------------------------------------------------------
    def _dictionaries(self) -> dict[str, pl.DataFrame]:
        """uid -> id per label, each read from the store the first time it is needed.

        Lazily, label by label: a trace or a screening of an account chain needs only Address and
        Source, and on a 1M-transfer store the Transaction dictionary alone is ~130 MB. A label
        read after a load simply includes the load's rows (load() extends only the labels read)."""
        if self._ids is None:
            self._ids = _LazyIds(self._read_dictionary)
        return self._ids

    def _read_dictionary(self, label: str) -> pl.DataFrame:
        if label == "Source":
            sources = self._run("MATCH (s:Source) RETURN s.id AS id, s.name AS name")
            return sources.select(pl.col("name").cast(pl.String).alias("uid"), pl.col("id").cast(pl.Int64))
        parts = _UID_PARTS[label]
        cols = ", ".join(f"n.{_q(p)} AS {_q(p)}" for p in parts)
        frame = self._run(f"MATCH (n:{_q(label)}) RETURN n.id AS id, {cols}")
        return frame.select(_uid_expr(parts), pl.col("id").cast(pl.Int64), *_dict_extra(label))

    # -- load -------------------------------------------------------------------------------------
    def load(self, frames: FrameSet, batch_rows: int = DEFAULT_BATCH_ROWS) -> LoadReport:
        """Bulk upsert: nodes, then relationships, one ``COPY`` per table.

        Each ``COPY`` is its own transaction (atomic: a crash or SIGKILL during it leaves none of
        its rows). Not wrapping the whole load in one transaction is deliberate: measured on 1M
        transfers, an explicit transaction around the COPYs costs ~45% more time (undo log), and
        atomicity of the whole load is not needed for correctness, because every step anti-joins
        against what is stored: a load cut short and run again completes with no duplicates
        (tested). ``batch_rows`` is unused here; LadybugDB's COPY streams the frame itself.
        """
        self._writable()
        checked = check_batch(frames)  # every SchemaError is raised here, before anything is written
        report = LoadReport()
        dictionaries = self._dictionaries()
        for label in (*_NODE_DDL, "Source"):
            dictionaries[label]  # noqa: B018 - read now: the worker below has the connection for a while
        self._check_outputs_against_store(checked.outputs, dictionaries["Output"])
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
                copying = worker.submit(self._load_nodes, early_nodes, early, report)
                tables = build_tables(checked, text_keys=False)
                copying.result()
            finally:
                _finish(worker)
            numbered = {
                label: early.get(label) or _number_nodes(nodes, dictionaries[label])
                for label, nodes in tables.nodes.items()
            }
            self._load_nodes({k: v for k, v in tables.nodes.items() if k not in early}, numbered, report)
            new_ids = {label: n.fresh.select("uid", "id", *_dict_extra(label)) for label, n in numbered.items()}
            transfers = _transfers_by_id(
                tables.rels["TRANSFER"], tables.rows["TRANSFER"], {k: n.ids for k, n in numbered.items()},
                pl.concat([dictionaries["Address"], new_ids["Address"]]).select("uid", "id"),
            )
            self._load_rels(tables, dictionaries, new_ids, transfers, report)
        except BaseException:
            self._ids = None  # re-read what actually landed before the next load
            self._rows = {}
            raise
        for label, added in new_ids.items():
            if label in dictionaries:
                dictionaries[label] = pl.concat([dictionaries[label], added], how="vertical")
        return report

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f"{self.path} is open read-only")

    def _load_nodes(self, nodes: dict[str, pl.DataFrame], numbered: dict[str, _NodeIds], report: LoadReport) -> None:
        """Create the nodes the store lacks (numbered by :func:`_number_nodes`)."""
        for label, rows in nodes.items():
            n = numbered[label]
            self._copy(label, n.fresh.select("id", *_NODE_DDL[label]))
            report.add(label, n.fresh.height, rows.height - n.fresh.height)
            if label == "Output":
                self._complete_output_stubs(rows.filter(~n.is_new).with_columns(n.ids.filter(~n.is_new).alias("id")))

    def _check_outputs_against_store(self, outputs: pl.DataFrame, known: pl.DataFrame) -> None:
        """Before writing anything: incoming outputs already stored must agree on address and value."""
        existing = outputs.join(known, on="uid", how="inner")
        if existing.height == 0:
            return
        ids = existing["id"].to_list()
        parts = [
            self._run(
                "UNWIND $ids AS i MATCH (o:Output {id: i}) RETURN o.id AS id, o.address AS address, o.value AS value",
                {"ids": ids[i : i + _ID_CHUNK]},
            )
            for i in range(0, len(ids), _ID_CHUNK)
        ]
        stored = pl.concat(parts, how="vertical").select(
            pl.col("id").cast(pl.Int64), pl.col("address").cast(pl.String), pl.col("value").cast(pl.Int64)
        )
        stored = stored.join(existing.select("uid", "id"), on="id").select("uid", "address", "value")
        check_output_conflicts(existing.select("uid", "address", "value"), stored)

    def _complete_output_stubs(self, existing: pl.DataFrame) -> None:
        """An output first seen as a spent prevout has no script type; its own row brings it."""
        rows = existing.filter(pl.col("script_type").is_not_null()).select("id", "script_type", "source")
        if rows.height:
            self._exec(
                "UNWIND $rows AS r MATCH (o:Output {id: r.id}) WHERE o.script_type IS NULL "
                "SET o.script_type = r.script_type, o.source = r.source",
                {"rows": rows.to_dicts()},
            )

    def _load_rels(
        self,
        tables: GraphTables,
        dictionaries: dict[str, pl.DataFrame],
        new_ids: dict[str, pl.DataFrame],
        transfers: pl.DataFrame,
        report: LoadReport,
    ) -> None:
        for rel, rows in tables.rels.items():
            start_label, end_label = REL_ENDPOINTS[rel]
            if rel == "TRANSFER":
                fresh = self._new_transfers(transfers, dictionaries)
                self._copy(rel, fresh)
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
            fresh = self._without_stored(rel, mapped, dictionaries)
            self._copy(rel, fresh.select("from", "to", *_REL_DDL[rel]))
            report.add(rel, fresh.height, rows.height - fresh.height)

    def _new_transfers(self, mapped: pl.DataFrame, dictionaries: dict[str, pl.DataFrame]) -> pl.DataFrame:
        """The TRANSFER rows to create (the columns of ``_REL_DDL``) from :func:`_transfers_by_id`:
        rows already stored are dropped (only a transaction stored before this load can have stored
        transfers), sources get their ids, and the rare text columns (trace path, token id, overflow
        digits) go to a TransferDetail row."""
        columns = ["from", "to", *_REL_DDL["TRANSFER"]]
        if mapped.height == 0:
            return pl.DataFrame(schema={c: pl.Decimal(38, 0) if c == "value" else pl.Int64 for c in columns})
        old_tx = mapped.join(dictionaries["Transaction"].select(pl.col("id").alias("tx")), on="tx", how="semi")
        if old_tx.height:
            stored = self._stored_transfer_keys(old_tx["tx"].unique().to_list())
            mapped = _transfer_key(mapped, "kind").join(stored, on=_TRANSFER_KEY, how="anti").drop(_TRANSFER_KEY)
        sources = self._source_ids(mapped["source"].unique().to_list(), dictionaries)
        mapped = mapped.with_columns(
            pl.col("source").replace_strict(sources["uid"], sources["id"], return_dtype=pl.Int64)
        )
        has_detail = (
            pl.col("trace_path").is_not_null() | pl.col("token_id").is_not_null()
            | pl.col("value_overflow").is_not_null()
        )
        detailed = mapped.filter(has_detail)
        if detailed.height:
            first = self._next_id("TransferDetail")
            detail_ids = pl.int_range(first, first + detailed.height, dtype=pl.Int64)
            self._copy("TransferDetail", detailed.select(detail_ids.alias("id"), "trace_path", "token_id",
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

    def _next_id(self, table: str) -> int:
        return int(self._run(f"MATCH (n:{_q(table)}) RETURN max(n.id) AS m")["m"][0] or 0) + 1

    def _source_ids(self, names: list[str], dictionaries: dict[str, pl.DataFrame]) -> pl.DataFrame:
        """Ids of source names, creating the new ones (inside the load's transaction)."""
        known = dictionaries["Source"]
        fresh = pl.DataFrame({"uid": names}, schema={"uid": pl.String}).join(known, on="uid", how="anti")
        if fresh.height:
            first = int(known.select(pl.col("id").max()).item() or 0) + 1
            fresh = fresh.with_columns(pl.int_range(first, first + fresh.height, dtype=pl.Int64).alias("id"))
            self._copy("Source", fresh.select("id", pl.col("uid").alias("name")))
            known = pl.concat([known, fresh.select("uid", "id")], how="vertical")
            dictionaries["Source"] = known  # a load that fails later resets every cache (see load)
        return known

    def _stored_transfer_keys(self, tx_ids: list[int]) -> pl.DataFrame:
        parts = []
        for i in range(0, len(tx_ids), _ID_CHUNK):
            parts.append(self._run(
                "MATCH (:Address)-[r:TRANSFER]->(:Address) WHERE r.tx IN $ids "
                "RETURN r.tx AS tx, r.kind AS kind, r.log_index AS log_index, r.detail AS detail",
                {"ids": tx_ids[i : i + _ID_CHUNK]},
            ))
        stored = pl.concat(parts, how="vertical").with_columns(pl.col("detail").cast(pl.Int64))
        details = self._details(stored["detail"].drop_nulls().unique().to_list())
        stored = stored.join(details, left_on="detail", right_on="id", how="left")
        return _transfer_key(stored, "kind").select(_TRANSFER_KEY).unique()

    def _details(self, ids: list[int]) -> pl.DataFrame:
        schema = {"id": pl.Int64, "trace_path": pl.String, "token_id": pl.String, "value_overflow": pl.String}
        if not ids:
            return pl.DataFrame(schema=schema)
        frame = self._run(
            "UNWIND $ids AS i MATCH (d:TransferDetail {id: i}) RETURN d.id AS id, d.trace_path AS trace_path, "
            "d.token_id AS token_id, d.value_overflow AS value_overflow",
            {"ids": ids},
        )
        return frame.select([pl.col(c).cast(t) for c, t in schema.items()])

    def _without_stored(self, rel: str, mapped: pl.DataFrame, dictionaries: dict[str, pl.DataFrame]) -> pl.DataFrame:
        """Drop relationships already stored. Only one whose endpoints both existed before this
        load can be stored already, so a fresh load asks the store nothing."""
        start_label, end_label = REL_ENDPOINTS[rel]
        old = mapped.join(
            dictionaries[start_label].select(pl.col("id").alias("from")), on="from", how="semi"
        ).join(dictionaries[end_label].select(pl.col("id").alias("to")), on="to", how="semi")
        if old.height == 0:
            return mapped
        stored_parts = []
        from_ids = old["from"].unique().to_list()
        props = ""
        start_label_q, end_label_q = _q(start_label), _q(end_label)
        for i in range(0, len(from_ids), _ID_CHUNK):
            stored_parts.append(
                self._run(
                    f"MATCH (a:{start_label_q})-[r:{_q(rel)}]->(b:{end_label_q}) WHERE a.id IN $ids "
                    f"RETURN a.id AS `from`, b.id AS `to`{props}",
                    {"ids": from_ids[i : i + _ID_CHUNK]},
                )
            )
        stored = pl.concat(stored_parts, how="vertical")
        stored = stored.select(pl.col("from").cast(pl.Int64), pl.col("to").cast(pl.Int64))
        keys = {"start": "from", "end": "to"}
        join_on = [keys[k] for k in rel_key(rel)]
        return mapped.join(stored.select(join_on).unique(), on=join_on, how="anti")

    # -- reorgs -----------------------------------------------------------------------------------
    def remove_blocks(self, chain: str, from_height: int) -> int:
        self._writable()
        params = {"chain": chain, "height": from_height}
        doomed = self._run(
            "MATCH (t:`Transaction`) WHERE t.chain = $chain AND t.block_height >= $height RETURN t.id AS id",
            params,
        )
        if doomed.height == 0:
            return 0
        ids = doomed["id"].to_list()
        with self._transaction():
            for i in range(0, len(ids), _ID_CHUNK):
                chunk = {"ids": ids[i : i + _ID_CHUNK]}
                self._exec(
                    "MATCH (t:`Transaction`)-[:HAS_OUTPUT]->(o:Output) WHERE t.id IN $ids DETACH DELETE o", chunk
                )
                self._exec("MATCH (:Address)-[r:TRANSFER]->(:Address) WHERE r.tx IN $ids DELETE r", chunk)
                # their TransferDetail rows stay behind, unreferenced: harmless and never read
                self._exec("MATCH (t:`Transaction`) WHERE t.id IN $ids DETACH DELETE t", chunk)
            # outputs known only because a removed transaction spent them: nothing refers to them now
            self._exec(
                "MATCH (o:Output) WHERE o.chain = $chain AND NOT EXISTS { MATCH (o)<-[:HAS_OUTPUT]-(:`Transaction`) } "
                "AND NOT EXISTS { MATCH (o)-[:SPENT_IN]->(:`Transaction`) } DETACH DELETE o",
                {"chain": chain},
            )
        self._ids = None
        self._rows = {}
        return len(ids)

    def block_hashes(self, chain: str, from_height: int, to_height: int) -> pl.DataFrame:
        frame = self._run(
            "MATCH (t:`Transaction`) WHERE t.chain = $chain AND t.block_height >= $lo AND t.block_height <= $hi "
            "RETURN DISTINCT t.block_height AS block_height, t.block_hash AS block_hash",
            {"chain": chain, "lo": from_height, "hi": to_height},
        )
        return frame.select(
            pl.col("block_height").cast(pl.Int64), pl.col("block_hash").cast(pl.String)
        ).sort("block_height", "block_hash")

    # -- read back --------------------------------------------------------------------------------
    def read_frames(self, chain: str | None = None) -> FrameSet:
        where = "WHERE t.chain = $chain" if chain else ""
        params = {"chain": chain} if chain else {}
        transactions = self._tx_rows(f"MATCH (t:`Transaction`) {where}", params)
        outputs = self._output_rows(f"MATCH (t:`Transaction`)-[r:HAS_OUTPUT]->(o:Output) {where}", params)
        inputs = self._input_rows(f"MATCH (o:Output)-[s:SPENT_IN]->(t:`Transaction`) {where}", params, transactions)
        transfers = self._transfer_rows(
            f"MATCH (a:Address)-[r:TRANSFER]->(b:Address) {where.replace('t.chain', 'a.chain')}", params
        )
        aw = where.replace("t.chain", "a.chain")
        tags = self._tag_rows(f"MATCH (a:Address)-[:HAS_TAG]->(g:Tag) {aw}", params)
        clusters = self._cluster_rows(f"MATCH (a:Address)-[r:IN_CLUSTER]->(c:Cluster) {aw}", params)
        seeds = self._run(
            f"MATCH (c:`Case`)-[r:SEED]->(a:Address) {aw} RETURN c.name AS `case`, a.chain AS chain, "
            "a.address AS address, r.label AS label, r.source AS source",
            params,
        )
        return FrameSet(
            transactions=transactions,
            inputs=inputs,
            outputs=outputs,
            transfers=transfers,
            tags=tags,
            clusters=clusters,
            seeds=_typed(seeds, SEEDS.columns, SEEDS.key),
        )

    def _tx_rows(self, match: str, params: dict[str, Any]) -> pl.DataFrame:
        cols = ", ".join(f"t.{_q(c)} AS {_q(c)}" for c in TRANSACTIONS.columns)
        return _typed(self._run(f"{match} RETURN {cols}", params), TRANSACTIONS.columns, TRANSACTIONS.key)

    def _output_rows(self, match: str, params: dict[str, Any]) -> pl.DataFrame:
        cols = ", ".join(f"o.{_q(c)} AS {_q(c)}" for c in OUTPUTS.columns)
        return _typed(self._run(f"{match} RETURN {cols}", params), OUTPUTS.columns, OUTPUTS.key)

    def _input_rows(self, match: str, params: dict[str, Any], transactions: pl.DataFrame) -> pl.DataFrame:
        spends = self._run(
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

    def _transfer_rows(self, match: str, params: dict[str, Any]) -> pl.DataFrame:
        """``transfers`` rows for a ``MATCH (a:Address)-[r:TRANSFER]->(b:Address) ...`` pattern: one
        query of integers, then ids resolved through the dictionaries and two lookups by id."""
        raw = self._run(
            f"{match} RETURN a.id AS from_id, b.id AS to_id, r.tx AS tx, r.kind AS kind, r.log_index AS log_index, "
            "r.value AS value, r.asset AS asset, r.source AS source, r.detail AS detail",
            params,
        )
        if raw.height == 0:
            return empty(TRANSFERS)
        raw = raw.with_columns(pl.col(c).cast(pl.Int64) for c in ("from_id", "to_id", "tx", "kind", "asset", "source",
                                                                   "detail"))
        dictionaries = self._dictionaries()
        wanted = pl.concat([raw["from_id"], raw["to_id"], raw["asset"]]).unique()
        # only the addresses this answer names: joins against a few thousand rows, not the whole store
        addresses = dictionaries["Address"].select("id", "chain", "address").filter(
            pl.col("id").is_in(wanted.implode()))
        tx = self._run(
            "UNWIND $ids AS i MATCH (t:`Transaction` {id: i}) RETURN t.id AS tx, t.txid AS txid, "
            "t.block_height AS block_height, t.block_hash AS block_hash, t.position AS tx_index, "
            "t.timestamp AS timestamp",
            {"ids": raw["tx"].unique().to_list()},
        ).with_columns(pl.col("tx").cast(pl.Int64))
        details = self._details(raw["detail"].drop_nulls().unique().to_list())
        joined = (
            raw.join(addresses.rename({"id": "from_id", "address": "from_address"}), on="from_id", how="left")
            .join(addresses.select(pl.col("id").alias("to_id"), pl.col("address").alias("to_address")), on="to_id",
                  how="left")
            .join(addresses.select(pl.col("id").alias("asset"), pl.col("address").alias("__asset")), on="asset",
                  how="left")
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

    def _tag_rows(self, match: str, params: dict[str, Any]) -> pl.DataFrame:
        cols = ", ".join(f"g.{_q(c)} AS {_q(c)}" for c in TAGS.columns)
        return _typed(self._run(f"{match} RETURN {cols}", params), TAGS.columns, TAGS.key)

    def _cluster_rows(self, match: str, params: dict[str, Any]) -> pl.DataFrame:
        frame = self._run(
            f"{match} RETURN a.chain AS chain, a.address AS address, c.cluster_id AS cluster_id, r.source AS source",
            params,
        )
        return _typed(frame, CLUSTERS.columns, CLUSTERS.key)

    def stats(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for label in _NODE_DDL:
            counts[label] = int(self._run(f"MATCH (n:{_q(label)}) RETURN count(n) AS n")["n"][0])
        for rel, (start, end) in REL_ENDPOINTS.items():
            counts[rel] = int(
                self._run(f"MATCH (:{_q(start)})-[r:{_q(rel)}]->(:{_q(end)}) RETURN count(r) AS n")["n"][0]
            )
        return counts

    def query(self, cypher: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """Run one analyst's read-only Cypher query (at most ``QUERY_TIMEOUT_MS``).

        Refused up front: several statements, any clause that writes or reaches outside the store
        (``COPY``, ``LOAD FROM`` a file, extensions, ``ATTACH``), and ``CALL`` of anything but the
        catalog functions. A store opened ``read_only`` refuses writes in LadybugDB as well.
        """
        code = _code_only(cypher)
        if ";" in code.strip().rstrip(";"):
            raise ReadOnlyQueryError("graph query runs one statement: remove the ';' between statements")
        refused = _REFUSED_CLAUSES.search(code)
        if refused:
            raise ReadOnlyQueryError(
                f"graph query is read-only: {refused.group(1).upper()} is not allowed (no writes, files or extensions)"
            )
        for call in _CALL.finditer(code):
            if call.group(1).lower() not in _ALLOWED_CALLS:
                raise ReadOnlyQueryError(f"graph query may CALL only {', '.join(sorted(_ALLOWED_CALLS))}")
        self._conn.set_query_timeout(QUERY_TIMEOUT_MS)
        try:
            return self._run(_without_final_semicolon(cypher), params)
        finally:
            self._conn.set_query_timeout(0)

    # -- frontier ---------------------------------------------------------------------------------
    def _address_ids(self, chain: str, addresses: Collection[str]) -> list[int]:
        """Ids of the stored addresses among ``addresses`` (a frontier: called once per hop).

        A Python dict over the Address dictionary, rebuilt whenever the dictionary frame changes
        (loads replace it): a hash join against every stored address cost ~15 ms per call on 268k
        addresses, a dict look-up of a 1,000-address frontier well under 1 ms."""
        frame = self._dictionaries()["Address"]
        if self._address_lookup is None or self._address_lookup[0] is not frame:
            self._address_lookup = (frame, dict(zip(frame["uid"].to_list(), frame["id"].to_list(), strict=True)))
        lookup = self._address_lookup[1]
        found = (lookup.get(f"{chain}:{a}") for a in addresses)
        return [i for i in found if i is not None]

    def _tx_ids(self, chain: str, txids: Collection[str]) -> list[int]:
        wanted = pl.DataFrame({"uid": [f"{chain}:{t}" for t in txids]}, schema={"uid": pl.String})
        return wanted.join(self._dictionaries()["Transaction"], on="uid", how="inner")["id"].to_list()

    def transfers(
        self, chain: str, addresses: Collection[str], direction: Direction, where: TransferFilter = TransferFilter()
    ) -> pl.DataFrame:
        ids = self._address_ids(chain, addresses)
        if not ids:
            return empty(TRANSFERS)
        side = "a" if direction is Direction.FORWARD else "b"
        conditions = [f"{side}.id IN $ids"]
        params: dict[str, Any] = {"ids": ids}
        if where.assets is not None:
            conditions.append("r.asset IN $assets")
            params["assets"] = [_NATIVE_ASSET_ID if a == "native" else -1 for a in where.assets if a == "native"] + (
                self._address_ids(chain, [a for a in where.assets if a != "native"])
            )
        rows = self._transfer_rows(
            f"MATCH (a:Address)-[r:TRANSFER]->(b:Address) WHERE {' AND '.join(conditions)}", params
        )
        # block time lives on the transaction (one column less on TRANSFER), amounts may overflow
        # DECIMAL(38): both are filtered here, by the reference rule
        rows = apply_transfer_filter(rows, where)
        return rows

    def spending(self, chain: str, outpoints: pl.DataFrame, where: TransferFilter = TransferFilter()) -> FrameSet:
        keyed = outpoints.select(
            pl.concat_str([pl.lit(chain), pl.col("txid"), pl.col("index").cast(pl.String)], separator=":").alias(
                "uid"
            )
        )
        ids = keyed.join(self._dictionaries()["Output"], on="uid", how="inner")["id"].to_list()
        if not ids:
            return self.transactions(chain, [])
        time_conditions, params = block_time_conditions(where, "t")
        conditions = ["o.id IN $ids", *time_conditions]
        params["ids"] = ids
        spenders = self._run(
            f"MATCH (o:Output)-[:SPENT_IN]->(t:`Transaction`) WHERE {' AND '.join(conditions)} "
            "RETURN DISTINCT t.txid AS txid",
            params,
        )
        return self.transactions(chain, spenders["txid"].to_list() if spenders.height else [])

    def transactions(self, chain: str, txids: Collection[str]) -> FrameSet:
        ids = self._tx_ids(chain, txids)
        params: dict[str, Any] = {"ids": ids}
        transactions = self._tx_rows("UNWIND $ids AS i MATCH (t:`Transaction` {id: i})", params)
        outputs = self._output_rows(
            "UNWIND $ids AS i MATCH (t:`Transaction` {id: i})-[r:HAS_OUTPUT]->(o:Output)", params
        )
        inputs = self._input_rows(
            "UNWIND $ids AS i MATCH (o:Output)-[s:SPENT_IN]->(t:`Transaction` {id: i})", params, transactions
        )
        return FrameSet(transactions=transactions, inputs=inputs, outputs=outputs)

    def transfers_of(self, chain: str, txids: Collection[str]) -> pl.DataFrame:
        ids = self._tx_ids(chain, txids)
        parts = [self._transfer_rows("MATCH (a:Address)-[r:TRANSFER]->(b:Address) WHERE r.tx IN $ids",
                                     {"ids": ids[i : i + _ID_CHUNK]}) for i in range(0, len(ids), _ID_CHUNK)]
        rows = pl.concat(parts, how="vertical") if parts else empty(TRANSFERS)
        return rows.sort(list(TRANSFERS.key), nulls_last=True)

    def address_outputs(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        ids = self._address_ids(chain, addresses)
        cols = ", ".join(f"o.{_q(c)} AS {_q(c)}" for c in OUTPUTS.columns)
        frame = self._run(
            "MATCH (:`Transaction`)-[:HAS_OUTPUT]->(o:Output)-[:LOCKED_TO]->(a:Address) WHERE a.id IN $ids "
            "OPTIONAL MATCH (o)-[s:SPENT_IN]->(t:`Transaction`) "
            f"RETURN {cols}, t.txid AS spent_txid, s.`index` AS spent_index",
            {"ids": ids},
        )
        return _typed(frame, ADDRESS_OUTPUTS_COLUMNS, OUTPUTS.key)

    def address_flows(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        ids = self._address_ids(chain, addresses)
        params: dict[str, Any] = {"ids": ids}
        amount = TRANSFERS.columns["value"]
        received = self._run(
            "MATCH (t:`Transaction`)-[:HAS_OUTPUT]->(o:Output)-[:LOCKED_TO]->(a:Address) WHERE a.id IN $ids "
            "RETURN a.chain AS chain, a.address AS address, t.txid AS txid, t.block_height AS block_height, "
            "t.timestamp AS timestamp, 'in' AS flow, o.value AS value",
            params,
        )
        sent = self._run(
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
            rows = self.transfers(chain, addresses, direction)
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

    def tags(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        # the Tag node carries its chain and address: filtering the (small) tag table is 10-50x cheaper
        # than matching HAS_TAG from a frontier of Address ids (measured on 268k addresses)
        wanted = sorted(set(addresses))
        if not wanted:
            return empty(TAGS)
        return self._tag_rows("MATCH (g:Tag) WHERE g.chain = $chain AND g.address IN $addresses",
                              {"chain": chain, "addresses": wanted})

    def cluster(self, chain: str, address: str) -> pl.DataFrame:
        ids = self._address_ids(chain, [address])
        frame = self._run(
            "MATCH (x:Address)-[:IN_CLUSTER]->(c:Cluster)<-[r:IN_CLUSTER]-(a:Address) WHERE x.id IN $ids "
            "RETURN a.chain AS chain, a.address AS address, c.cluster_id AS cluster_id, r.source AS source",
            {"ids": ids},
        )
        return _typed(frame, CLUSTERS.columns, ()).sort(["chain", "cluster_id", "address"], nulls_last=True)

    def replace_clusters(self, chain: str, clusters: pl.DataFrame) -> int:
        """See :meth:`graph.base.GraphStore.replace_clusters`; delete and load run in one transaction."""
        self._writable()
        check_cluster_rows(chain, clusters)
        with self._transaction():
            self._exec("MATCH (c:Cluster) WHERE c.chain = $chain DETACH DELETE c", {"chain": chain})
            self._ids = None  # Cluster ids were deleted: re-read the dictionaries and row counts
            self._rows = {}
            self.load(FrameSet(clusters=clusters))
        return clusters.height

    def save_trace(self, record: TraceRecord) -> None:
        """See :meth:`graph.base.GraphStore.save_trace`; replace and write run in one transaction."""
        self._writable()
        dictionaries = self._dictionaries()
        reached = record.reached.with_columns(
            pl.concat_str([pl.lit(record.chain), pl.col("address")], separator=":").alias("uid")
        ).join(dictionaries["Address"], on="uid", how="inner")
        traced = record.traced.with_columns(
            pl.concat_str([pl.lit(record.chain), pl.col("txid")], separator=":").alias("uid")
        ).join(dictionaries["Transaction"], on="uid", how="inner")
        case_ids = dictionaries["Case"].filter(pl.col("uid") == record.case)["id"].to_list()
        with self._transaction():
            self._exec("MATCH (t:Trace) WHERE t.uid = $uid DETACH DELETE t", {"uid": record.uid})
            trace_id = self._next_id("Trace")
            props = ", ".join(f"{_q(k)}: ${k}" for k in _TRACE_NODE_DDL)
            self._exec(f"CREATE (:Trace {{id: $id, {props}}})", {"id": trace_id, **record.properties()})
            if reached.height:
                self._exec(
                    "UNWIND $rows AS r MATCH (t:Trace {id: $trace}), (a:Address {id: r.id}) "
                    "CREATE (t)-[:REACHED {ending: r.ending, asset: r.asset, amount: r.amount, depth: r.depth, "
                    "label: r.label}]->(a)",
                    {"trace": trace_id, "rows": reached.select("id", *TRACE_REACHED_COLUMNS).drop("address")
                     .to_dicts()},
                )
            if traced.height:
                self._exec(
                    "UNWIND $rows AS r MATCH (t:Trace {id: $trace}), (x:`Transaction` {id: r.id}) "
                    "CREATE (t)-[:TRACED {depth: r.depth, taint: r.taint, hops: r.hops}]->(x)",
                    {"trace": trace_id, "rows": traced.select("id", "depth", "taint", "hops").to_dicts()},
                )
            for case_id in case_ids:
                self._exec("MATCH (c:`Case` {id: $case_id}), (t:Trace {id: $trace}) CREATE (c)-[:RAN]->(t)",
                           {"case_id": case_id, "trace": trace_id})

    def traces(self, case: str | None = None) -> pl.DataFrame:
        """Saved traces (uid, case, chain, direction, model, manifest hash) and their ending counts."""
        frame = self._run(
            "MATCH (t:Trace) WHERE $case_name IS NULL OR t.case_name = $case_name OPTIONAL MATCH (t)-[r:REACHED]->() "
            "RETURN t.uid AS uid, t.case_name AS case_name, t.chain AS chain, t.direction AS direction, "
            "t.model AS model, t.manifest_sha256 AS manifest_sha256, count(r) AS reached",
            {"case_name": case},
        )
        return frame.sort("uid") if frame.height else frame


class _LazyIds(dict[str, pl.DataFrame]):
    """The uid -> id dictionaries, each label read on first access (see EmbeddedStore._dictionaries)."""

    def __init__(self, read: Any) -> None:
        super().__init__()
        self._read = read

    def __missing__(self, label: str) -> pl.DataFrame:
        frame: pl.DataFrame = self._read(label)
        self[label] = frame
        return frame


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


def _typed(frame: pl.DataFrame, columns: Any, key: Collection[str]) -> pl.DataFrame:
    """Cast a query result to canonical column types and order, sorted by ``key``."""
    schema = pl.Schema(dict(columns))
    if frame.height == 0:
        return pl.DataFrame(schema=schema)
    out = frame.select([pl.col(c).cast(t) for c, t in schema.items()])
    return out.sort(list(key), nulls_last=True) if key else out


def _code_only(cypher: str) -> str:
    """The query with strings, quoted names and comments blanked out, in one left-to-right pass
    (so ``'SET'`` in a string is not a clause, and a quote inside a comment hides nothing)."""
    return _NOT_CODE.sub(" ", cypher)


def _without_final_semicolon(cypher: str) -> str:
    """The query without a final ``;`` (one statement ending in ';' is fine)."""
    stripped = cypher.rstrip()
    return stripped[:-1] if stripped.endswith(";") else cypher


_TRANSFER_KEY = ["__k_tx", "__k_kind", "__k_log", "__k_path"]


def _transfer_key(frame: pl.DataFrame, kind_column: str) -> pl.DataFrame:
    """Add the columns identifying a transfer inside its transaction (nulls made comparable)."""
    return frame.with_columns(
        pl.col("tx").cast(pl.Int64).alias("__k_tx"),
        pl.col(kind_column).cast(pl.Int64).alias("__k_kind"),
        pl.col("log_index").cast(pl.Int64).fill_null(-1).alias("__k_log"),
        pl.col("trace_path").cast(pl.String).fill_null("").alias("__k_path"),
    )


def _dict_extra(label: str) -> list[str]:
    """Columns the in-memory dictionary keeps besides uid and id (addresses are printed often;
    transactions are joined on their natural key columns, cheaper than building uid strings)."""
    return {"Address": ["chain", "address"], "Transaction": ["chain", "txid"]}.get(label, [])
