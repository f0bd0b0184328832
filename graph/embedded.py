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

This module holds :class:`EmbeddedStore`: the connection, the schema, the uid -> id dictionaries,
counts and analyst queries, and one thin method per store operation. The work is split by job:
:mod:`graph.embedded_schema` (table layout), :mod:`graph.embedded_load` (bulk load, reorg
delete, clusters and traces written back), :mod:`graph.embedded_reads` (read-back and the
frontier), :mod:`graph.embedded_events` (conversions and bridge events)
and :mod:`graph.query_guard` (the read-only check both backends apply to analyst Cypher).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from graph import embedded_events, embedded_load, embedded_reads
from graph.base import (
    DEFAULT_BATCH_ROWS,
    LoadReport,
    StoreError,
    StoreLocationError,
    StoreUnavailableError,
    TraceRecord,
    TraceRows,
)
from graph.embedded_schema import (
    _EVENT_NODE_DDL,
    _EVENT_REL_DDL,
    _ID_CHUNK,
    _INTERNAL_DDL,
    _NODE_DDL,
    _REL_DDL,
    _TRACE_NODE_DDL,
    _TRACE_REL_DDL,
    _UID_PARTS,
    _UPGRADES,
    SCHEMA_VERSION,
    STORE_FILE_SUFFIX,
    _dict_extra,
    _q,
    _uid_expr,
)
from graph.events import EVENT_COUNTS, EVENT_REL_ENDPOINTS
from graph.model import REL_ENDPOINTS
from graph.query_guard import QUERY_TIMEOUT_MS, check_parameters, check_read_only
from tracer.errors import InputError
from tracer.frontier import Direction, TransferFilter
from tracer.schema import CONVERSIONS, FrameSet, empty

__all__ = ["EmbeddedStore", "STORE_FILE_SUFFIX", "SCHEMA_VERSION", "QUERY_TIMEOUT_MS"]

#: store files this process has open for writing (see EmbeddedStore.__init__)
_OPEN_FOR_WRITING: set[str] = set()
log = logging.getLogger(__name__)
_APPEND_BY_COPY_MIN_ROWS = 100_000
_KNOWN_ADDRESSES_MAX = 2_000_000
#: up to this many texts are looked up with ``IN $list``, more with a hash join (see _look_up_addresses)
_IN_LIST_MAX = 16
#: every relationship table with its endpoints: the graph model's and the events'
_ALL_RELS = {**REL_ENDPOINTS, **EVENT_REL_ENDPOINTS}


#: LadybugDB's answer to a read-only open of a file whose checkpoint was interrupted (a writer killed
#: while it checkpointed): the checkpoint must be completed by a read-write open first
_RECOVERY_PENDING = "checkpoint recovery is pending"


def _open_database(path: Path, read_only: bool) -> Any:
    """``ladybug.Database`` at ``path``; a read-only open of a file whose checkpoint a killed writer left
    half applied first completes that checkpoint with a brief read-write open (LadybugDB replays it
    and takes the file's write lock for it, so a live writer is never disturbed: its lock refuses the
    open, and the caller says the store is in use), then opens read-only as asked. Completing an
    interrupted checkpoint adds nothing: it applies what the killed writer had already committed."""
    import ladybug

    try:
        return ladybug.Database(str(path), read_only=read_only)
    except RuntimeError as exc:
        if not read_only or _RECOVERY_PENDING not in str(exc):
            raise
    log.warning("%s: completing a checkpoint a killed writer left unfinished, then opening read-only", path)
    recovering = ladybug.Database(str(path), read_only=False)
    recovering.close()
    return ladybug.Database(str(path), read_only=True)


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
            self._db = _open_database(self.path, read_only)
        except RuntimeError as exc:
            text = str(exc)
            if "lock" in text.lower() or _RECOVERY_PENDING in text:
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
        self._known_addresses: dict[str, int] = {}  # uid -> id of addresses reads have met (see _address_ids)
        self._known_txs: dict[str, int] = {}  # uid -> id of transactions reads have met (see _tx_ids)
        self._rows: dict[str, int] = {}  # rows per table, as far as this process knows (see _copy)
        #: the layout of the file: SCHEMA_VERSION, or an older one of _UPGRADES opened read-only
        self.schema_version = SCHEMA_VERSION
        try:
            if not read_only:
                self.ensure_schema()
            else:
                found = self._run("MATCH (i:StoreInfo) RETURN i.schema_version AS v")
                self.schema_version = int(found["v"][0]) if found.height else -1
                self._check_version(self.schema_version)
        except StoreError:
            self.close()
            raise StoreLocationError(f"{self.path} is not a tracer graph store (no schema version)") from None
        except BaseException:
            self.close()
            raise

    def _check_version(self, version: int) -> None:
        if version != SCHEMA_VERSION and version not in _UPGRADES:
            raise StoreLocationError(
                f"{self.path} was laid out by store schema version {version}; this tracer uses version "
                f"{SCHEMA_VERSION}: ingest into a new store (the old one stays readable by the tracer that wrote it)"
            )

    @property
    def events_stored(self) -> bool:
        """Whether the file has the conversion and bridge-event tables (not a version-1 store opened
        read-only: reads of events then answer nothing, as a store without events would)."""
        return self.schema_version >= 2

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
        elif table in _ALL_RELS:
            start, end = _ALL_RELS[table]
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
            if table in _ALL_RELS:
                start, end = _ALL_RELS[table]
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
            self._reset_caches()  # the dictionaries may hold ids of rows that were rolled back
            raise
        self._exec("COMMIT")

    def _reset_caches(self) -> None:
        """Forget the uid -> id dictionaries and row counts: read them again when next needed."""
        self._ids = None
        self._known_addresses = {}
        self._known_txs = {}
        self._rows = {}

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f"{self.path} is open read-only")

    def _next_id(self, table: str) -> int:
        return int(self._run(f"MATCH (n:{_q(table)}) RETURN max(n.id) AS m")["m"][0] or 0) + 1

    # -- schema ---------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create every node and relationship table if missing (idempotent); refuse a store laid out
        by another schema version (its tables would not take this version's rows).

        A store of an older version this one can upgrade (:data:`graph.embedded_schema._UPGRADES`:
        it only lacks tables) gains the missing tables, then its version is raised. The store is open
        for writing, so LadybugDB's file lock keeps every other process out meanwhile; cut short, the
        next writer finishes it (every ``CREATE`` is ``IF NOT EXISTS``, the version is raised last).
        A tracer of the older version then refuses the store instead of writing transactions
        without the events that belong to them (or removing a reorg's blocks but not their events)."""
        self._exec("CREATE NODE TABLE IF NOT EXISTS StoreInfo(id INT64 PRIMARY KEY, schema_version INT64)")
        found = self._run("MATCH (i:StoreInfo) RETURN i.schema_version AS v")
        upgrade_from = None
        if found.height == 0:
            self._exec("CREATE (:StoreInfo {id: 0, schema_version: $v})", {"v": SCHEMA_VERSION})
        else:
            self._check_version(int(found["v"][0]))
            upgrade_from = int(found["v"][0]) if int(found["v"][0]) != SCHEMA_VERSION else None
        for label, columns in _NODE_DDL.items():
            cols = ", ".join(f"{_q(c)} {t}" for c, t in columns.items())
            self._exec(f"CREATE NODE TABLE IF NOT EXISTS {_q(label)}(id INT64 PRIMARY KEY, {cols})")
        for table, columns in {**_INTERNAL_DDL, **_EVENT_NODE_DDL}.items():
            cols = ", ".join(f"{_q(c)} {t}" for c, t in columns.items())
            self._exec(f"CREATE NODE TABLE IF NOT EXISTS {_q(table)}(id INT64 PRIMARY KEY, {cols})")
        for rel, columns in {**_REL_DDL, **_EVENT_REL_DDL}.items():
            start, end = _ALL_RELS[rel]
            cols = ", ".join(f"{_q(c)} {t}" for c, t in columns.items())
            self._exec(f"CREATE REL TABLE IF NOT EXISTS {_q(rel)}(FROM {_q(start)} TO {_q(end)}, {cols})")
        cols = ", ".join(f"{_q(c)} {t}" for c, t in _TRACE_NODE_DDL.items())
        self._exec(f"CREATE NODE TABLE IF NOT EXISTS Trace(id INT64 PRIMARY KEY, {cols})")
        for rel, (start, end, rel_columns) in _TRACE_REL_DDL.items():
            cols = "".join(f", {_q(c)} {t}" for c, t in rel_columns.items())
            self._exec(f"CREATE REL TABLE IF NOT EXISTS {_q(rel)}(FROM {_q(start)} TO {_q(end)}{cols})")
        if upgrade_from is not None:
            self._exec("MATCH (i:StoreInfo) SET i.schema_version = $v", {"v": SCHEMA_VERSION})
        self.schema_version = SCHEMA_VERSION

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

    def _address_ids(self, chain: str, addresses: Collection[str]) -> list[int]:
        """Ids of the stored addresses among ``addresses`` (a frontier: called once per hop), in
        their order.

        The cost follows the frontier, not the store: every address a frontier answer names is
        remembered with its id (:meth:`_remember_addresses`), so the next hop's frontier is almost
        always known already; the others (a trace's seeds) are looked up in the store in one query,
        or in the Address dictionary when a load in this process has read it anyway. Reading the
        whole dictionary at the first trace cost ~0.5 s and ~100 MB per million addresses."""
        known = self._known_addresses
        uids = [f"{chain}:{a}" for a in addresses]
        missing = sorted({a for a, uid in zip(addresses, uids, strict=True) if uid not in known})
        if missing:
            self._look_up_addresses(chain, missing)
        found = (known.get(uid) for uid in uids)
        return [i for i in found if i is not None]

    def _look_up_addresses(self, chain: str, addresses: list[str]) -> None:
        if self._ids is not None and "Address" in self._ids:  # read by a load: no need to ask the store
            wanted = pl.DataFrame({"uid": [f"{chain}:{a}" for a in addresses]}, schema={"uid": pl.String})
            rows = wanted.join(self._ids["Address"].select("uid", "id"), on="uid", how="inner")
            self._known_addresses.update(zip(rows["uid"].to_list(), rows["id"].to_list(), strict=True))
            return
        for i in range(0, len(addresses), _ID_CHUNK):
            chunk = addresses[i : i + _ID_CHUNK]
            # both scan the Address table (no index on text): for more than a few addresses the hash
            # join wins (see _look_up_transactions)
            query = (
                "MATCH (a:Address) WHERE a.chain = $chain AND a.address IN $addresses"
                if len(chunk) <= _IN_LIST_MAX
                else "UNWIND $addresses AS x MATCH (a:Address) WHERE a.address = x AND a.chain = $chain"
            )
            rows = self._run(f"{query} RETURN a.id AS id, a.address AS address",
                             {"chain": chain, "addresses": chunk})
            if rows.height:
                self._remember_addresses(rows.select(pl.lit(chain).alias("chain"), "address", "id"))

    def _remember_addresses(self, rows: pl.DataFrame) -> None:
        """Remember the ids of the addresses in ``rows`` (``chain``, ``address``, ``id``): what a
        frontier answer names is what the next hop asks for. Bounded: past ``_KNOWN_ADDRESSES_MAX``
        entries it starts again (a long screening session does not grow without end)."""
        if len(self._known_addresses) + rows.height > _KNOWN_ADDRESSES_MAX:
            self._known_addresses = {}
        uids = pl.concat_str([pl.col("chain"), pl.col("address")], separator=":")
        keyed = rows.select(uids.alias("uid"), pl.col("id").cast(pl.Int64))
        self._known_addresses.update(zip(keyed["uid"].to_list(), keyed["id"].to_list(), strict=True))

    def _tx_ids(self, chain: str, txids: Collection[str]) -> list[int]:
        """Ids of the stored transactions among ``txids``, in their order.

        As :meth:`_address_ids`, the cost follows the request, not the store: transactions a read
        has answered are remembered with their ids (:meth:`_remember_transactions`; a trace asks
        for the conversions and transfers of transactions its frontier just returned), the others
        are looked up in one hash-join query per chunk, or in the Transaction dictionary when a
        load in this process has read it anyway. Reading that dictionary for the first look-up
        cost ~7 s and ~1.4 GB on a 10M-transfer store (9.5M transactions)."""
        wanted = list(txids)
        uids = [f"{chain}:{t}" for t in wanted]
        missing = sorted({t for t, uid in zip(wanted, uids, strict=True) if uid not in self._known_txs})
        found = self._look_up_transactions(chain, missing) if missing else {}
        known = self._known_txs
        ids = (known.get(uid, found.get(uid)) for uid in uids)
        return [i for i in ids if i is not None]

    def _look_up_transactions(self, chain: str, txids: list[str]) -> dict[str, int]:
        """uid -> id of the stored ones among ``txids`` (remembered too). More than one chunk of
        them (an export, a re-read of a whole case) reads the Transaction dictionary instead: one
        pass over the table, against one per chunk."""
        if len(txids) > _ID_CHUNK or (self._ids is not None and "Transaction" in self._ids):
            wanted = pl.DataFrame({"uid": [f"{chain}:{t}" for t in txids]}, schema={"uid": pl.String})
            rows = wanted.join(self._dictionaries()["Transaction"].select("uid", "id"), on="uid", how="inner")
            return dict(zip(rows["uid"].to_list(), rows["id"].to_list(), strict=True))
        # both forms scan the txid column (no index on text): ``IN`` compares every row with the whole
        # list, a hash join makes one pass whatever the list (on 9.5M transactions: 10 txids ~1.4 s
        # against ~1.7 s; 100 ~6 s against ~1.6 s; 1,000 ~70 s against ~1.9 s)
        query = (
            "MATCH (t:`Transaction`) WHERE t.chain = $chain AND t.txid IN $txids"
            if len(txids) <= _IN_LIST_MAX
            else "UNWIND $txids AS x MATCH (t:`Transaction`) WHERE t.txid = x AND t.chain = $chain"
        )
        rows = self._run(f"{query} RETURN t.id AS id, t.txid AS txid", {"chain": chain, "txids": txids})
        if rows.height == 0:
            return {}
        self._remember_transactions(rows.select(pl.lit(chain).alias("chain"), "txid", "id"))
        return {f"{chain}:{t}": int(i) for t, i in zip(rows["txid"].to_list(), rows["id"].to_list(), strict=True)}

    def _remember_transactions(self, rows: pl.DataFrame) -> None:
        """Remember the ids of the transactions in ``rows`` (``chain``, ``txid``, ``id``), bounded
        as :meth:`_remember_addresses`."""
        if len(self._known_txs) + rows.height > _KNOWN_ADDRESSES_MAX:
            self._known_txs = {}
        uids = pl.concat_str([pl.col("chain"), pl.col("txid")], separator=":")
        keyed = rows.select(uids.alias("uid"), pl.col("id").cast(pl.Int64))
        self._known_txs.update(zip(keyed["uid"].to_list(), keyed["id"].to_list(), strict=True))

    # -- counts and analyst queries ---------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for label in _NODE_DDL:
            counts[label] = int(self._run(f"MATCH (n:{_q(label)}) RETURN count(n) AS n")["n"][0])
        for rel, (start, end) in REL_ENDPOINTS.items():
            counts[rel] = int(
                self._run(f"MATCH (:{_q(start)})-[r:{_q(rel)}]->(:{_q(end)}) RETURN count(r) AS n")["n"][0]
            )
        counts.update(embedded_events.counts(self) if self.events_stored else dict.fromkeys(EVENT_COUNTS, 0))
        return counts

    def query(self, cypher: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """Run one analyst's read-only Cypher query (at most ``QUERY_TIMEOUT_MS``).

        Refused up front, before LadybugDB sees the text: several statements, any clause that
        writes or reaches outside the store (``COPY``, ``LOAD FROM`` a file, extensions, ``ATTACH``),
        any function that reads files, and ``CALL`` of anything but the catalog functions, names
        backquoted or not. A store opened ``read_only`` refuses writes in LadybugDB as well, but it
        still reads files (and ``READ_CSV_SERIAL`` of a non-CSV file crashes the process): the guard
        is what keeps them out.
        """
        statement = check_read_only(cypher)  # graph.query_guard: the same guard as the Neo4j backend
        values = check_parameters(params)
        self._conn.set_query_timeout(QUERY_TIMEOUT_MS)
        try:
            return self._run(statement, values)
        except StoreError as exc:  # a query LadybugDB cannot parse or bind is the analyst's to fix (exit 2)
            text = str(exc).removeprefix("embedded store refused a query: ")
            if text.startswith(("Parser exception", "Binder exception")):
                raise InputError(f"graph query: {text.strip()}") from None
            raise
        finally:
            self._conn.set_query_timeout(0)

    # -- writes (graph.embedded_load) -----------------------------------------------------------
    def load(self, frames: FrameSet, batch_rows: int = DEFAULT_BATCH_ROWS) -> LoadReport:
        """Bulk upsert, one atomic ``COPY`` per table (see :func:`graph.embedded_load.load`); then the
        conversions and bridge events (:mod:`graph.embedded_events`), whose rows are checked against
        the store with everything else, before anything is written."""
        self._writable()
        events = embedded_events.prepare(self, frames)
        report = embedded_load.load(self, frames, batch_rows)
        embedded_events.write(self, events, report)
        return report

    def remove_blocks(self, chain: str, from_height: int) -> int:
        return embedded_load.remove_blocks(self, chain, from_height)

    def replace_clusters(self, chain: str, clusters: pl.DataFrame) -> int:
        """See :meth:`graph.base.GraphStore.replace_clusters`; delete and load run in one transaction."""
        return embedded_load.replace_clusters(self, chain, clusters)

    def save_trace(self, record: TraceRecord) -> None:
        """See :meth:`graph.base.GraphStore.save_trace`; replace and write run in one transaction."""
        embedded_load.save_trace(self, record)

    # -- reads and the frontier (graph.embedded_reads) ------------------------------------------
    def block_hashes(self, chain: str, from_height: int, to_height: int) -> pl.DataFrame:
        return embedded_reads.block_hashes(self, chain, from_height, to_height)

    def read_frames(self, chain: str | None = None, parts: Collection[str] | None = None) -> FrameSet:
        frames = embedded_reads.read_frames(self, chain, parts)
        if parts is None or "conversions" in parts:
            frames = replace(frames, conversions=embedded_events.read_conversions(self, chain))
        if parts is None or "bridge_events" in parts:
            frames = replace(frames, bridge_events=embedded_events.bridge_events(self, chain))
        return frames

    def read_traces(self) -> TraceRows:
        return embedded_reads.read_traces(self)

    def transfers(
        self, chain: str, addresses: Collection[str], direction: Direction, where: TransferFilter = TransferFilter()
    ) -> pl.DataFrame:
        return embedded_reads.transfers(self, chain, addresses, direction, where)

    def spending(self, chain: str, outpoints: pl.DataFrame, where: TransferFilter = TransferFilter()) -> FrameSet:
        return embedded_reads.spending(self, chain, outpoints, where)

    def transactions(self, chain: str, txids: Collection[str]) -> FrameSet:
        return embedded_reads.transactions(self, chain, txids)

    def transfers_of(self, chain: str, txids: Collection[str]) -> pl.DataFrame:
        return embedded_reads.transfers_of(self, chain, txids)

    def conversions_of(self, chain: str, txids: Collection[str]) -> pl.DataFrame:
        """See :meth:`graph.base.GraphStore.conversions_of` (one query, :mod:`graph.embedded_events`)."""
        if not self._any_conversions():
            return empty(CONVERSIONS)
        return embedded_events.conversions_of(self, chain, txids)

    def _any_conversions(self) -> bool:
        """Whether the store may hold a CONVERTED relationship (a version-1 file has no such table: the
        events' reads answer nothing there themselves).

        A trace asks for the conversions of every hop's transactions; LadybugDB plans that query as a
        scan of the Address table extended through CONVERTED, even when CONVERTED is empty (~75 ms a
        hop on 2.7M addresses, ~10 ms on 270k): a store without conversions answers nothing at once.
        The count is read once (~as long as one such query) and kept in step by every write of this
        process (``_copy``, ``_reset_caches``); no other process writes while this one has the file."""
        return not self.events_stored or self._table_rows("CONVERTED") > 0

    def bridge_events(self, chain: str | None = None, deposit_ids: Collection[str] | None = None) -> pl.DataFrame:
        return embedded_events.bridge_events(self, chain, deposit_ids)

    def address_outputs(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        return embedded_reads.address_outputs(self, chain, addresses)

    def address_flows(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        return embedded_reads.address_flows(self, chain, addresses)

    def tags(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        return embedded_reads.tags(self, chain, addresses)

    def cluster(self, chain: str, address: str) -> pl.DataFrame:
        return embedded_reads.cluster(self, chain, address)

    def traces(self, case: str | None = None) -> pl.DataFrame:
        """Saved traces (uid, case, chain, direction, model, manifest hash) and their ending counts."""
        return embedded_reads.traces(self, case)


class _LazyIds(dict[str, pl.DataFrame]):
    """The uid -> id dictionaries, each label read on first access (see EmbeddedStore._dictionaries)."""

    def __init__(self, read: Any) -> None:
        super().__init__()
        self._read = read

    def __missing__(self, label: str) -> pl.DataFrame:
        frame: pl.DataFrame = self._read(label)
        self[label] = frame
        return frame
