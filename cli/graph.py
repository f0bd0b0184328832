# SPDX-License-Identifier: Apache-2.0
"""``tracer graph``: look into a case's graph store, copy it to Neo4j, export it."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.context import app_context
from cli.options import CaseArg, JsonOpt
from cli.output import emit, notice, stdout, table
from cli.progress import ProgressBar
from jobs import graph_jobs
from tracer.errors import InputError

app = typer.Typer(help="The case's graph: counts, read-only Cypher, push to Neo4j, export.", no_args_is_help=True)

TraceOpt = Annotated[list[str] | None, typer.Option(
    "--trace", metavar="RUN", help="Trace run to include, by folder name or number (repeatable; default: the "
                                   "latest run of each question).")]


class ExportFormat(StrEnum):
    """``graph export --format`` choices (``jobs.graph_jobs.EXPORT_FORMATS``)."""

    NEO4J_ADMIN = "neo4j-admin"
    GRAPHML = "graphml"
    PARQUET = "parquet"


@app.command("stats")
def stats(case: CaseArg, json_: JsonOpt = False) -> None:
    """Count nodes by label and relationships by type in the case's store.

    Example: tracer graph stats op-harbor --json
    """
    data = graph_jobs.graph_stats(app_context().session, case)
    nodes, rels, backend, location = data["nodes"], data["relationships"], data["backend"], data["store"]

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
    cypher: Annotated[str, typer.Argument(help="A read-only Cypher query; pass values with --param.",
                                          metavar="CYPHER")],
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", metavar="NAME=VALUE", help="Query parameter (repeatable); the value is read as JSON, "
                                                      "else as text.")] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N",
                                       help="Rows to print in the table (JSON prints all).")] = 100,
    json_: JsonOpt = False,
) -> None:
    """Run a read-only Cypher query on the case's embedded store (writes are refused; a query the store
    cannot parse, or an unknown label or property, is bad input: exit 2).

    Example: tracer graph query op-harbor "MATCH (a:Address)-[:HAS_TAG]->(t:Tag) RETURN a.address, t.label"
    """
    frame = graph_jobs.graph_query(app_context().session, case, cypher, dict(_param(p) for p in param or []))
    rows = frame.to_dicts()

    def human() -> None:
        stdout.print(table(None, frame.columns, [list(r.values()) for r in rows[:limit]]))
        if len(rows) > limit:
            notice(f"{len(rows) - limit} more row(s) not shown; use --limit or --json")

    emit(rows, as_json=json_, human=human)


@app.command("push")
def push(
    case: CaseArg,
    neo4j: Annotated[str | None, typer.Option("--neo4j", metavar="URI",
                                              help="Bolt URI (default: NEO4J_URI / config).")] = None,
    user: Annotated[str | None, typer.Option("--user", metavar="USER",
                                             help="Neo4j user (default: NEO4J_USER / config).")] = None,
    database: Annotated[str | None, typer.Option("--database", metavar="NAME",
                                                 help="Neo4j database name.")] = None,
    trace: TraceOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Sync the case into Neo4j: its graph, its trace results (Trace, REACHED, FLOW) and the removal of
    what it no longer holds (stale clusters, tags, traces); password from NEO4J_PASSWORD.

    Example: NEO4J_PASSWORD=... tracer graph push op-harbor --neo4j bolt://127.0.0.1:7687 --trace 3
    """
    data = graph_jobs.push_to_neo4j(app_context().session, case, uri=neo4j, user=user, database=database,
                                    traces=trace or [], progress=ProgressBar(enabled=not json_, rates=False))
    location = data["target"]

    def human() -> None:
        stdout.print(table(f"Pushed {case} to {location}", ["label / type", "created", "already there"],
                           [(k, v, data["unchanged"].get(k, 0)) for k, v in data["created"].items()]))
        removed = {k: v for k, v in data["removed"].items() if v}
        stdout.print(f"traces: {len(data['traces_written'])} written, {len(data['traces_unchanged'])} unchanged; "
                     "removed: " + (", ".join(f"{v} {k}" for k, v in removed.items()) or "nothing"))

    emit(data, as_json=json_, human=human)


@app.command("export")
def export(
    case: CaseArg,
    format_: Annotated[ExportFormat, typer.Option("--format", "-f", help="Export format.")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR",
                                      help="Directory to write (created; must be empty).")],
    trace: TraceOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Export the case's graph and trace results: neo4j-admin import CSV files (with schema.cypher, the
    constraints), GraphML (Gephi: readable labels, edge weight in coin units) or Parquet, with SHA256SUMS.

    Example: tracer graph export op-harbor --format neo4j-admin --out exports/op-harbor-neo4j
    """
    data = graph_jobs.export_graph(app_context().session, case, format_.value, out, traces=trace or [],
                                   progress=ProgressBar(enabled=not json_, rates=False))
    listing = data["files"]
    emit(data, as_json=json_, human=lambda: stdout.print(
        table(f"Exported {case} as {format_.value} to {out}", ["file", "sha256"],
              [(f["file"], f["sha256"]) for f in listing])
    ))
