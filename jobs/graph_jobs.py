# SPDX-License-Identifier: Apache-2.0
"""Graph work a command starts on a case's store: count it, run an analyst's read-only Cypher
query, sync it (with its trace results) into Neo4j, export it (neo4j-admin CSV, GraphML, Parquet)
with checksums. Long work reports through :class:`jobs.progress.Progress`; jobs never print."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from graph.events import EVENT_LABELS, EVENT_REL_ENDPOINTS
from graph.model import NODE_LABELS as BASE_LABELS
from graph.model import REL_TYPES as BASE_TYPES
from graph.model import GraphTables, graph_tables, readable_cluster_uids
from graph.trace_tables import TraceRunRows, trace_tables
from jobs.custody import fingerprint
from jobs.progress import NO_PROGRESS, Progress
from jobs.session import Session
from jobs.stores import StoreProbe, open_case_store_for_reading, open_embedded, open_neo4j, seed_frames
from jobs.token_cache import read_tokens
from jobs.trace_catalog import list_runs, select_runs
from jobs.workspace import Case
from tracer.errors import InputError
from tracer.schema import SEEDS, FrameSet

__all__ = ["graph_stats", "graph_query", "push_to_neo4j", "export_graph", "EXPORT_FORMATS"]

EXPORT_FORMATS = ("neo4j-admin", "graphml", "parquet")


#: what `graph stats` counts: the frames model and the conversions and bridge events beside it
NODE_LABELS = (*BASE_LABELS, *EVENT_LABELS)
REL_TYPES = (*BASE_TYPES, *EVENT_REL_ENDPOINTS)


def graph_stats(session: Session, case: str) -> dict[str, Any]:
    """Nodes by label and relationships by type in the case's store (read-only: counting must not
    wait for, or block, a running ingest)."""
    settings = session.settings
    workspace_case = session.workspace.open(case)
    if settings.store_backend == "embedded":
        path = settings.embedded_store_path(workspace_case.dir)
        if path.exists():
            with open_embedded(settings, workspace_case, read_only=True) as embedded:
                counts, location, backend = embedded.stats(), embedded.location, embedded.backend
        else:
            counts, location, backend = {k: 0 for k in (*NODE_LABELS, *REL_TYPES)}, str(path), "embedded"
    else:
        store = open_case_store_for_reading(settings, workspace_case)
        try:
            counts, location, backend = store.stats(), store.location, store.backend
        finally:
            store.close()
    return {"case": case, "backend": backend, "store": location,
            "nodes": {k: counts.get(k, 0) for k in NODE_LABELS},
            "relationships": {k: counts.get(k, 0) for k in REL_TYPES}}


def graph_query(session: Session, case: str, cypher: str, params: dict[str, Any]) -> pl.DataFrame:
    """One read-only Cypher query on the case's embedded store (writes, files and extensions refused).

    A query the store cannot parse or bind (an unknown label or property) is bad input: ``InputError``,
    with the labels and relationship types the graph has when a name is unknown."""
    with open_embedded(session.settings, session.workspace.open(case), read_only=True) as store:
        try:
            return store.query(cypher, params)
        except InputError as exc:
            if "does not exist" not in str(exc):
                raise
            raise InputError(f"{exc} (node labels: {', '.join(NODE_LABELS)}; relationship types: "
                             f"{', '.join(REL_TYPES)})") from None


def _trace_rows(workspace_case: Case, wanted: Sequence[str]) -> list[TraceRunRows]:
    """The runs to push or export (``wanted``, else the latest of each question), as graph rows.
    A case without trace runs has none to push (no error) unless runs were asked for."""
    if not wanted and not list_runs(workspace_case):
        return []
    rows = []
    for run in select_runs(workspace_case, wanted):
        seeds = {asset: int(t["seed_value"]) for asset, t in (run.result.get("totals") or {}).items()
                 if isinstance(t, dict) and t.get("seed_value") is not None}
        empty = pl.DataFrame()
        rows.append(TraceRunRows(
            case=workspace_case.name, name=run.name, number=run.number, chain=run.chain, direction=run.direction,
            model=run.model, parameters=run.parameters, manifest_sha256=run.manifest_sha256,
            audit_seq=run.audit_seq, hops=run.frames.get("hops", empty), endings=run.frames.get("endings", empty),
            seed_value=seeds,
        ))
    return rows


def _case_graph(session: Session, workspace_case: Case, traces: Sequence[str]
                ) -> tuple[FrameSet, GraphTables, dict[str, dict[str, Any]]]:
    """The case's frames (with its current seeds), its trace tables and its token metadata. The
    store is only read: the seeds are put in beside what it holds, not written into it, so an export
    or a push leaves the store (and its content digest in the audit log) as it was."""
    runs = _trace_rows(workspace_case, traces)  # an unknown run is bad input before any store is opened
    frames = FrameSet()
    if session.settings.embedded_store_path(workspace_case.dir).exists():
        with open_embedded(session.settings, workspace_case, read_only=True) as source:
            frames = source.read_frames()
    # what loading the seeds would have given: the store's seeds (an ingested frames directory may
    # hold some) and the case's own, one row per key, the store's row kept (a load keeps it too)
    seeds = pl.concat([frames.seeds, seed_frames(workspace_case).seeds])
    frames = replace(frames, seeds=seeds.unique(subset=list(SEEDS.key), keep="first", maintain_order=True)
                     .sort(list(SEEDS.key), nulls_last=True))
    chains = sorted(set(frames.transfers["chain"].to_list()) | {r.chain for r in runs})
    tokens = {chain: read_tokens(session.settings, workspace_case, chain) for chain in chains}
    return frames, trace_tables(runs, session.settings.chains, tokens), tokens


def push_to_neo4j(session: Session, case: str, *, uri: str | None, user: str | None, database: str | None,
                  traces: Sequence[str] = (), progress: Progress = NO_PROGRESS) -> dict[str, Any]:
    """Sync the case into Neo4j: its graph from the embedded store (idempotent), its trace results
    (``traces``: run folders or numbers; default the latest run of each question) as Trace, REACHED,
    TRACED and FLOW, and what the case no longer holds removed (:mod:`graph.neo4j_sync`); recorded
    in the audit log."""
    from graph.neo4j_store import Neo4jStore

    settings = session.settings
    workspace_case = session.workspace.open(case)
    if settings.store_path is not None:
        raise InputError(
            f"the embedded store {settings.store_path} is shared by all cases (store.path): pushing it would copy "
            "other cases' data; push from a per-case store instead"
        )
    frames, trace_graph, tokens = _case_graph(session, workspace_case, traces)
    total = sum(readable_cluster_uids(graph_tables(frames)).counts().values()) + sum(trace_graph.counts().values())
    target = open_neo4j(settings, uri=uri, user=user, database=database)
    try:
        if not isinstance(target, Neo4jStore):  # pragma: no cover - open_neo4j always gives one
            raise InputError("graph push needs the Neo4j backend")
        for chain, known in tokens.items():
            target.set_tokens(chain, known)
        target.on_batch = progress.advance
        progress.start(total, "rows")
        target.ensure_schema()
        report = target.load(frames)
        synced = target.sync_case(case, frames, trace_graph)
        location = target.location
    finally:
        progress.stop()
        target.close()
    result = {**report.as_dict(), **synced.as_dict(), "traces": trace_graph.nodes["Trace"]["run"].to_list()}
    # the case's store is only read: the entry records it as it is (its digest carried from the last write)
    workspace_case.record("graph.push", {"target": location, **result,
                                         **fingerprint(workspace_case, StoreProbe(settings, workspace_case),
                                                       ())}, session.argv)
    return {"case": case, "target": location, **result}


def export_graph(session: Session, case: str, format_: str, out: Path, *, traces: Sequence[str] = (),
                 progress: Progress = NO_PROGRESS) -> dict[str, Any]:
    """Export the case's graph and its trace results (``traces``, default the latest run of each
    question) into the new (or empty) directory ``out``, each file with its SHA-256."""
    from graph import export as exporters

    if format_ not in EXPORT_FORMATS:
        raise InputError(f"unknown export format {format_!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} exists and is not an empty directory; choose a new one")
    workspace_case = session.workspace.open(case)
    frames, trace_graph, tokens = _case_graph(session, workspace_case, traces)
    base = graph_tables(frames)
    tables = GraphTables(nodes={**base.nodes, **trace_graph.nodes}, rels={**base.rels, **trace_graph.rels})
    out.mkdir(parents=True, exist_ok=True)
    progress.start(sum(tables.counts().values()), "rows")
    try:
        if format_ == "neo4j-admin":
            files = exporters.export_neo4j_admin(tables, out, registry=session.settings.chains, tokens=tokens,
                                                 on_table=lambda rows: progress.advance(rows))
        elif format_ == "graphml":
            readable = exporters.with_captions(tables, session.settings.chains, tokens)
            files = exporters.export_graphml(readable, out / f"{case}.graphml")
        else:
            files = exporters.export_parquet(tables, out)
        if format_ != "neo4j-admin":
            progress.advance(sum(tables.counts().values()))
    finally:
        progress.stop()
    listing = [{"file": p.name, "sha256": exporters.file_sha256(p)} for p in files]
    workspace_case.record("graph.export", {"format": format_, "out": str(out), "files": listing,
                                           "traces": trace_graph.nodes["Trace"]["run"].to_list(),
                                           **fingerprint(workspace_case, StoreProbe(session.settings, workspace_case),
                                                         ())}, session.argv)
    return {"case": case, "format": format_, "out": str(out), "files": listing}
