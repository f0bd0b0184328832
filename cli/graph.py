# SPDX-License-Identifier: Apache-2.0
"""``tracer graph``: look into a case's graph store, copy it to Neo4j, export it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.context import app_context
from cli.options import CaseArg, JsonOpt
from cli.output import emit, notice, stdout, table
from cli.stores import open_case_store, open_embedded, open_neo4j, seed_frames
from graph.model import NODE_LABELS, REL_TYPES
from tracer.errors import InputError

app = typer.Typer(help="The case's graph: counts, read-only Cypher, push to Neo4j, export.", no_args_is_help=True)

EXPORT_FORMATS = ("neo4j-admin", "graphml", "parquet")


@app.command("stats")
def stats(case: CaseArg, json_: JsonOpt = False) -> None:
    """Count nodes by label and relationships by type in the case's store.

    Example: tracer graph stats op-harbor --json
    """
    ctx = app_context()
    workspace_case = ctx.workspace.open(case)
    if ctx.settings.store_backend == "embedded":
        path = ctx.settings.embedded_store_path(workspace_case.dir)
        if path.exists():  # read-only: counting must not wait for (or block) a running ingest
            with open_embedded(ctx.settings, workspace_case, read_only=True) as embedded:
                counts, location, backend = embedded.stats(), embedded.location, embedded.backend
        else:
            counts, location, backend = {k: 0 for k in (*NODE_LABELS, *REL_TYPES)}, str(path), "embedded"
    else:
        store = open_case_store(ctx.settings, workspace_case)
        try:
            counts, location, backend = store.stats(), store.location, store.backend
        finally:
            store.close()
    nodes = {k: counts[k] for k in NODE_LABELS}
    rels = {k: counts[k] for k in REL_TYPES}
    data = {"case": case, "backend": backend, "store": location, "nodes": nodes, "relationships": rels}

    def human() -> None:
        stdout.print(table(f"Graph of {case} ({backend}: {location})", ["kind", "name", "count"],
                           [("node", k, v) for k, v in nodes.items()]
                           + [("relationship", k, v) for k, v in rels.items()]))

    emit(data, as_json=json_, human=human)


def _param(text: str) -> tuple[str, Any]:
    name, eq, value = text.partition("=")
    if not eq or not name.isidentifier():
        raise InputError(f"--param must look like name=value (value as JSON, else text), got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


@app.command("query")
def query(
    case: CaseArg,
    cypher: Annotated[str, typer.Argument(help="A read-only Cypher query; pass values with --param.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Query parameter name=value.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows to print in the table (JSON prints all).")] = 100,
    json_: JsonOpt = False,
) -> None:
    """Run a read-only Cypher query on the case's embedded store (writes are refused).

    Example: tracer graph query op-harbor "MATCH (a:Address)-[:HAS_TAG]->(t:Tag) RETURN a.address, t.label"
    """
    ctx = app_context()
    params = dict(_param(p) for p in param or [])
    with open_embedded(ctx.settings, ctx.workspace.open(case), read_only=True) as store:
        frame = store.query(cypher, params)
    rows = frame.to_dicts()

    def human() -> None:
        stdout.print(table(None, frame.columns, [list(r.values()) for r in rows[:limit]]))
        if len(rows) > limit:
            notice(f"{len(rows) - limit} more row(s) not shown; use --limit or --json")

    emit(rows, as_json=json_, human=human)


@app.command("push")
def push(
    case: CaseArg,
    neo4j: Annotated[str | None, typer.Option("--neo4j", help="Bolt URI (default: NEO4J_URI / config).")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Neo4j user (default: NEO4J_USER / config).")] = None,
    database: Annotated[str | None, typer.Option("--database", help="Neo4j database name.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Copy the case's graph from the embedded store into Neo4j (idempotent; password from NEO4J_PASSWORD).

    Example: NEO4J_PASSWORD=... tracer graph push op-harbor --neo4j bolt://127.0.0.1:7687
    """
    ctx = app_context()
    workspace_case = ctx.workspace.open(case)
    if ctx.settings.store_path is not None:
        raise InputError(
            f"the embedded store {ctx.settings.store_path} is shared by all cases (store.path): pushing it would copy "
            "other cases' data; push from a per-case store instead"
        )
    with open_embedded(ctx.settings, workspace_case) as source:
        source.load(seed_frames(workspace_case))
        frames = source.read_frames()
    target = open_neo4j(ctx.settings, uri=neo4j, user=user, database=database)
    try:
        target.ensure_schema()
        report = target.load(frames)
        location = target.location
    finally:
        target.close()
    workspace_case.record("graph.push", {"target": location, **report.as_dict()}, ctx.argv)
    data = {"case": case, "target": location, **report.as_dict()}

    def human() -> None:
        stdout.print(table(f"Pushed {case} to {location}", ["label / type", "created", "already there"],
                           [(k, v, report.unchanged.get(k, 0)) for k, v in report.created.items()]))

    emit(data, as_json=json_, human=human)


@app.command("export")
def export(
    case: CaseArg,
    format_: Annotated[str, typer.Option("--format", "-f", help="neo4j-admin, graphml or parquet.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write (created; must be empty).")],
    json_: JsonOpt = False,
) -> None:
    """Export the case's graph: neo4j-admin import CSV files, GraphML (Gephi) or Parquet, with SHA256SUMS.

    Example: tracer graph export op-harbor --format neo4j-admin --out exports/op-harbor-neo4j
    """
    from graph import export as exporters
    from graph.model import graph_tables

    if format_ not in EXPORT_FORMATS:
        raise InputError(f"unknown export format {format_!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} exists and is not an empty directory; choose a new one")
    ctx = app_context()
    workspace_case = ctx.workspace.open(case)
    with open_embedded(ctx.settings, workspace_case) as source:
        source.load(seed_frames(workspace_case))
        tables = graph_tables(source.read_frames())
    out.mkdir(parents=True, exist_ok=True)
    if format_ == "neo4j-admin":
        files = exporters.export_neo4j_admin(tables, out, registry=ctx.settings.chains)
    elif format_ == "graphml":
        files = exporters.export_graphml(tables, out / f"{case}.graphml")
    else:
        files = exporters.export_parquet(tables, out)
    listing = [{"file": p.name, "sha256": exporters.file_sha256(p)} for p in files]
    workspace_case.record("graph.export", {"format": format_, "out": str(out), "files": listing}, ctx.argv)
    data = {"case": case, "format": format_, "out": str(out), "files": listing}
    emit(data, as_json=json_, human=lambda: stdout.print(
        table(f"Exported {case} as {format_} to {out}", ["file", "sha256"], [(f["file"], f["sha256"]) for f in listing])
    ))
