# SPDX-License-Identifier: Apache-2.0
"""The one store interface the rest of the code uses, and what both backends share.

A store holds the graph of shared design notes §4 (built by :func:`graph.model.graph_tables`)
and answers the trace's frontier queries (:class:`tracer.frontier.Frontier`). Two backends
implement it: :mod:`graph.embedded` (LadybugDB on disk, the default, no server) and
:mod:`graph.neo4j_store` (Neo4j over Bolt, for analysts who browse in Neo4j Browser). The
contract tests in ``tests/graph/`` run one behavioural suite against both.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import polars as pl

from tracer.errors import InputError, SourceUnavailableError, TracerError
from tracer.frontier import Direction, TransferFilter
from tracer.schema import FrameSet

__all__ = [
    "GraphStore",
    "LoadReport",
    "StoreError",
    "StoreUnavailableError",
    "StoreLocationError",
    "ReadOnlyQueryError",
    "DEFAULT_BATCH_ROWS",
    "block_time_conditions",
    "check_cluster_rows",
    "TraceRecord",
    "TRACE_REACHED_COLUMNS",
    "TRACE_TRACED_COLUMNS",
    "TRACE_COLUMNS",
    "TRACE_PARTS",
    "TraceRows",
]

#: rows per write transaction when a backend batches a load (Neo4j: rows per ``UNWIND``). Measured
#: against ArcadeDB's Bolt listener: a 50,000-row UNWIND fails and the server then hangs on the
#: driver's RESET; 5,000 rows loads at full speed (Neo4j's own guidance is 1k-10k per batch).
DEFAULT_BATCH_ROWS = 5_000


#: ``TraceRecord.reached``: one row per (address, ending, asset) the trace ended at
TRACE_REACHED_COLUMNS: dict[str, pl.DataType] = {
    "address": pl.String(), "ending": pl.String(), "asset": pl.String(), "amount": pl.String(),
    "depth": pl.Int64(), "label": pl.String(),
}
#: ``TraceRecord.traced``: one row per transaction that carried traced value
TRACE_TRACED_COLUMNS: dict[str, pl.DataType] = {
    "txid": pl.String(), "depth": pl.Int64(), "taint": pl.String(), "hops": pl.Int64(),
}


#: ``TraceRows.traces``: the properties of each ``:Trace`` node written back
TRACE_COLUMNS: dict[str, pl.DataType] = {
    name: pl.String() for name in ("uid", "case_name", "chain", "direction", "model", "parameters",
                                   "manifest_sha256", "seed_value")
}


#: the names of :meth:`TraceRows.frames` (the content digest's trace parts)
TRACE_PARTS: tuple[str, ...] = ("traces", "trace_reached", "trace_traced")


@dataclass(frozen=True)
class TraceRows:
    """Every trace result written back, as three frames sorted by all their columns (what the
    store's content digest covers besides the canonical frames: :mod:`tracer.store_digest`).
    ``reached`` and ``traced`` carry the trace's ``uid`` in a leading ``trace`` column."""

    traces: pl.DataFrame  # TRACE_COLUMNS
    reached: pl.DataFrame  # trace + TRACE_REACHED_COLUMNS
    traced: pl.DataFrame  # trace + TRACE_TRACED_COLUMNS

    @staticmethod
    def of(traces: pl.DataFrame, reached: pl.DataFrame, traced: pl.DataFrame) -> TraceRows:
        """Cast query answers (possibly empty, untyped) to the canonical columns and order."""
        def typed(frame: pl.DataFrame, columns: dict[str, pl.DataType]) -> pl.DataFrame:
            if frame.height == 0:
                return pl.DataFrame(schema=columns)
            out = frame.select([pl.col(c).cast(t) for c, t in columns.items()])
            return out.sort(list(columns), nulls_last=True)

        return TraceRows(typed(traces, TRACE_COLUMNS),
                         typed(reached, {"trace": pl.String(), **TRACE_REACHED_COLUMNS}),
                         typed(traced, {"trace": pl.String(), **TRACE_TRACED_COLUMNS}))

    def frames(self) -> dict[str, pl.DataFrame]:
        return dict(zip(TRACE_PARTS, (self.traces, self.reached, self.traced), strict=True))


@dataclass(frozen=True)
class TraceRecord:
    """A trace result written back to the graph as ``(:Case)-[:RAN]->(:Trace)``, with
    ``(:Trace)-[:REACHED]->(:Address)`` for its endings and ``(:Trace)-[:TRACED]->(:Transaction)``
    for the transactions that carried the value, so Neo4j Browser shows what a trace found.

    ``uid`` identifies the trace (case, direction, model, parameters): saving the same trace again
    replaces it. Amounts are decimal text (exact); addresses and txids not in the store are skipped.
    """

    uid: str
    case: str
    chain: str
    direction: str
    model: str
    parameters: str  # canonical JSON
    manifest_sha256: str
    seed_value: str  # JSON object asset -> decimal text
    reached: pl.DataFrame  # TRACE_REACHED_COLUMNS
    traced: pl.DataFrame  # TRACE_TRACED_COLUMNS

    def properties(self) -> dict[str, str]:
        return {"uid": self.uid, "case_name": self.case, "chain": self.chain, "direction": self.direction,
                "model": self.model, "parameters": self.parameters, "manifest_sha256": self.manifest_sha256,
                "seed_value": self.seed_value}


def block_time_conditions(where: TransferFilter, variable: str) -> tuple[list[str], dict[str, Any]]:
    """Cypher conditions and parameters for ``where``'s time window on ``variable.timestamp``
    (parameterized; ``variable`` is a name from the store's own query text, never user input)."""
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if where.since is not None:
        conditions.append(f"{variable}.timestamp >= $since")
        params["since"] = int(where.since)
    if where.until is not None:
        conditions.append(f"{variable}.timestamp <= $until")
        params["until"] = int(where.until)
    return conditions, params


def check_cluster_rows(chain: str, clusters: pl.DataFrame) -> None:
    """Before :meth:`GraphStore.replace_clusters` deletes anything: ``clusters`` must be canonical
    ``CLUSTERS`` rows, all of ``chain`` (raises :class:`~tracer.errors.SchemaError` / ``InputError``)."""
    FrameSet(clusters=clusters).validate()
    others = clusters.filter(pl.col("chain") != chain)
    if others.height:
        raise InputError(
            f"replace_clusters({chain!r}) was given {others.height} row(s) of chain {others['chain'][0]!r}"
        )


class StoreError(TracerError):
    """The store refused an operation (message says which and why); nothing was written."""


class StoreUnavailableError(SourceUnavailableError):
    """The store cannot be reached now (server down, timeout); retry later (exit code 4)."""


class StoreLocationError(InputError):
    """The configured store does not exist or is not a store (wrong directory, unknown database,
    bad credentials): the user must fix the configuration (exit code 2)."""


class ReadOnlyQueryError(InputError):
    """A query given to ``tracer graph query`` would modify the store."""


@dataclass
class LoadReport:
    """What one load created; rows already in the store are counted as ``unchanged``."""

    created: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, created: int, unchanged: int) -> None:
        self.created[name] = self.created.get(name, 0) + created
        self.unchanged[name] = self.unchanged.get(name, 0) + unchanged

    @property
    def total_created(self) -> int:
        return sum(self.created.values())

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"created": dict(sorted(self.created.items())), "unchanged": dict(sorted(self.unchanged.items()))}


@runtime_checkable
class GraphStore(Protocol):
    """A graph store: schema, idempotent bulk loads, reorg repair, read-back and frontier queries."""

    #: ``"embedded"`` or ``"neo4j"``
    backend: str
    #: where the store is, safe to print (no credentials)
    location: str

    def ensure_schema(self) -> None:
        """Create node/relationship tables, uniqueness on ``uid`` and the indexes traces use (idempotent)."""
        ...

    def load(self, frames: FrameSet, batch_rows: int = DEFAULT_BATCH_ROWS) -> LoadReport:
        """Upsert a batch of canonical frames. Loading the same frames again changes nothing; a load
        interrupted half-way, run again, completes with no duplicates. Invalid frames raise
        :class:`~tracer.errors.SchemaError` before anything is written."""
        ...

    def remove_blocks(self, chain: str, from_height: int) -> int:
        """Delete the transactions of blocks at or above ``from_height`` (a reorg), with their outputs,
        spends, transfers, conversions and bridge events; returns the number of transactions removed."""
        ...

    def block_hashes(self, chain: str, from_height: int, to_height: int) -> pl.DataFrame:
        """``block_height``, ``block_hash`` of stored blocks in the range (to check for reorgs)."""
        ...

    def read_frames(self, chain: str | None = None, parts: Collection[str] | None = None) -> FrameSet:
        """Everything stored, back as canonical frames sorted by key (push, export, comparison);
        ``parts``: only the frames named (the others come back empty)."""
        ...

    def read_traces(self) -> TraceRows:
        """Every trace result written back (:meth:`save_trace`)."""
        ...

    def stats(self) -> dict[str, int]:
        """Number of nodes per label and relationships per type (the events' too:
        :data:`graph.events.EVENT_COUNTS`)."""
        ...

    def query(self, cypher: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """Run one analyst's read-only Cypher statement with ``params`` and return its rows.
        Writes, files, several statements and non-catalog ``CALL`` are refused before the store
        sees the query (:func:`graph.query_guard.check_read_only`, :class:`ReadOnlyQueryError`)."""
        ...

    # -- frontier (tracer.frontier.Frontier) --------------------------------------------------
    def transfers(
        self, chain: str, addresses: Collection[str], direction: Direction, where: TransferFilter = TransferFilter()
    ) -> pl.DataFrame: ...

    def spending(self, chain: str, outpoints: pl.DataFrame, where: TransferFilter = TransferFilter()) -> FrameSet: ...

    def transactions(self, chain: str, txids: Collection[str]) -> FrameSet: ...

    def transfers_of(self, chain: str, txids: Collection[str]) -> pl.DataFrame:
        """Every stored ``transfers`` row of these transactions (all kinds, whichever addresses they
        touch), sorted by key; txids not in the store are skipped."""
        ...

    def conversions_of(self, chain: str, txids: Collection[str]) -> pl.DataFrame:
        """Every stored ``conversions`` row of these transactions, sorted by key."""
        ...

    def bridge_events(self, chain: str | None = None, deposit_ids: Collection[str] | None = None) -> pl.DataFrame:
        """Stored ``bridge_events`` rows of ``chain`` (None: every chain), only those whose ``deposit_id``
        is one of ``deposit_ids`` when given (a deposit and its release share it), sorted by key
        (:func:`graph.events.select_bridge_events` is the reference)."""
        ...

    def address_outputs(self, chain: str, addresses: Collection[str]) -> pl.DataFrame: ...

    def address_flows(self, chain: str, addresses: Collection[str]) -> pl.DataFrame: ...

    def tags(self, chain: str, addresses: Collection[str]) -> pl.DataFrame: ...

    def cluster(self, chain: str, address: str) -> pl.DataFrame: ...

    def replace_clusters(self, chain: str, clusters: pl.DataFrame) -> int:
        """Make ``clusters`` (canonical ``CLUSTERS`` rows, all of ``chain``) the chain's whole clustering:
        every stored :Cluster of ``chain`` and its ``IN_CLUSTER`` memberships are removed, then the rows
        loaded. A plain :meth:`load` only adds, so an address whose cluster id changed would sit in two
        clusters. Returns the number of memberships stored. Rows are checked before anything is deleted."""
        ...

    def save_trace(self, record: TraceRecord) -> None:
        """Write a trace result into the graph (see :class:`TraceRecord`), replacing an earlier save
        of the same trace."""
        ...

    def close(self) -> None: ...
