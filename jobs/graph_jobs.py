# SPDX-License-Identifier: Apache-2.0
"""Graph work a command starts on a case's store: count it, run an analyst's read-only Cypher
query, copy it into Neo4j, export it (neo4j-admin CSV, GraphML, Parquet) with checksums."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from graph.model import NODE_LABELS, REL_TYPES
from jobs.custody import STORE_KEY
from jobs.session import Session
from jobs.stores import open_case_store_for_reading, open_embedded, open_neo4j, seed_frames, store_counts
from tracer.errors import InputError

__all__ = ["graph_stats", "graph_query", "push_to_neo4j", "export_graph", "EXPORT_FORMATS"]

EXPORT_FORMATS = ("neo4j-admin", "graphml", "parquet")


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
            "nodes": {k: counts[k] for k in NODE_LABELS}, "relationships": {k: counts[k] for k in REL_TYPES}}


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


def push_to_neo4j(session: Session, case: str, *, uri: str | None, user: str | None,
                  database: str | None) -> dict[str, Any]:
    """Copy the case's graph from its embedded store into Neo4j (idempotent); recorded in the audit log."""
    settings = session.settings
    workspace_case = session.workspace.open(case)
    if settings.store_path is not None:
        raise InputError(
            f"the embedded store {settings.store_path} is shared by all cases (store.path): pushing it would copy "
            "other cases' data; push from a per-case store instead"
        )
    with open_embedded(settings, workspace_case) as source:
        source.load(seed_frames(workspace_case))
        frames = source.read_frames()
    target = open_neo4j(settings, uri=uri, user=user, database=database)
    try:
        target.ensure_schema()
        report = target.load(frames)
        location = target.location
    finally:
        target.close()
    # the case's seeds were loaded into its store on the way: the entry records the store after it
    workspace_case.record("graph.push", {"target": location, **report.as_dict(),
                                         STORE_KEY: store_counts(settings, workspace_case)}, session.argv)
    return {"case": case, "target": location, **report.as_dict()}


def export_graph(session: Session, case: str, format_: str, out: Path) -> dict[str, Any]:
    """Export the case's graph into the new (or empty) directory ``out``, each file with its SHA-256."""
    from graph import export as exporters
    from graph.model import graph_tables

    if format_ not in EXPORT_FORMATS:
        raise InputError(f"unknown export format {format_!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} exists and is not an empty directory; choose a new one")
    workspace_case = session.workspace.open(case)
    with open_embedded(session.settings, workspace_case) as source:
        source.load(seed_frames(workspace_case))
        tables = graph_tables(source.read_frames())
    out.mkdir(parents=True, exist_ok=True)
    if format_ == "neo4j-admin":
        files = exporters.export_neo4j_admin(tables, out, registry=session.settings.chains)
    elif format_ == "graphml":
        files = exporters.export_graphml(tables, out / f"{case}.graphml")
    else:
        files = exporters.export_parquet(tables, out)
    listing = [{"file": p.name, "sha256": exporters.file_sha256(p)} for p in files]
    workspace_case.record("graph.export", {"format": format_, "out": str(out), "files": listing,
                                           STORE_KEY: store_counts(session.settings, workspace_case)}, session.argv)
    return {"case": case, "format": format_, "out": str(out), "files": listing}
