# SPDX-License-Identifier: Apache-2.0
"""``graph push`` as a sync: after a push, Neo4j holds what the case holds, and nothing it no longer holds.

A push loads the case's graph (:meth:`graph.neo4j_store.Neo4jStore.load`, idempotent ``MERGE``) and
then, with :func:`sync_case`:

* **claims** what the case derives rather than reads from a chain -- Cluster and Tag nodes,
  ``IN_CLUSTER`` and ``HAS_TAG`` relationships -- by writing ``<case>=<push stamp>`` into their
  ``pushed_by`` list (one entry per case; the stamp is new on every push);
* **releases** what carries an older stamp of the same case (the case no longer holds it: a
  re-run clustering with fewer clusters, a removed tag): the case's entry is taken out, and what no
  case claims any more is deleted (``DETACH``), and the captions of addresses that lost a tag redone;
* deletes the case's ``SEED`` relationships to addresses that are no longer seeds;
* **replaces its traces**: every pushed trace run (:mod:`graph.trace_tables`) is written whole
  (Trace node, ``RAN``, ``REACHED``, ``TRACED``, ``FLOW``) unless the server already holds a complete
  copy of the same run (same uid and manifest SHA-256); the case's Trace nodes and ``FLOW``
  relationships of runs not pushed this time are deleted.

Every delete is scoped to the case: another case's entries in ``pushed_by``, its traces and its
seeds are never touched, and nodes or relationships no push claimed (loaded by an ingest into a
Neo4j case store) are never deleted. Chain facts (transactions, outputs, transfers, addresses) are
shared by every case and only ever added by a push.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from graph.captions import short_text
from graph.model import GraphTables, graph_tables, readable_cluster_uids
from graph.neo4j_load import chunks, with_datetimes
from tracer.schema import FrameSet

if TYPE_CHECKING:
    from graph.neo4j_store import Neo4jStore

__all__ = ["SyncReport", "sync_case", "PUSH_FORMAT"]

#: written last on a pushed Trace node: a trace whose push was cut short lacks it and is pushed again
PUSH_FORMAT = 1
#: what a push claims, by kind: node label or relationship type -> the MATCH binding ``x`` by ``r``
_CLAIMED: dict[str, str] = {
    "Cluster": "MATCH (x:Cluster {uid: r.uid})",
    "Tag": "MATCH (x:Tag {uid: r.uid})",
    "IN_CLUSTER": "MATCH (:Address {uid: r.start})-[x:IN_CLUSTER]->(:Cluster {uid: r.end})",
    "HAS_TAG": "MATCH (:Address {uid: r.start})-[x:HAS_TAG]->(:Tag {uid: r.end})",
}
_PATTERN = {"Cluster": "(x:Cluster)", "Tag": "(x:Tag)", "IN_CLUSTER": "(:Address)-[x:IN_CLUSTER]->(:Cluster)",
            "HAS_TAG": "(:Address)-[x:HAS_TAG]->(:Tag)"}


@dataclass
class SyncReport:
    """What a sync removed (by label or type) and which traces it wrote or found unchanged."""

    removed: dict[str, int] = field(default_factory=dict)
    traces_written: list[str] = field(default_factory=list)
    traces_unchanged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"removed": dict(sorted(self.removed.items())), "traces_written": list(self.traces_written),
                "traces_unchanged": list(self.traces_unchanged)}


def sync_case(store: Neo4jStore, case: str, frames: FrameSet, traces: GraphTables,
              on_batch: Callable[[int], None] | None = None) -> SyncReport:
    """Make the server's copy of ``case`` match ``frames`` (already loaded) and ``traces``."""
    report = SyncReport()
    owned = readable_cluster_uids(graph_tables(FrameSet(tags=frames.tags, clusters=frames.clusters,
                                                        seeds=frames.seeds)))
    owner = f"{case}={secrets.token_hex(8)}"
    _claim(store, case, owner, owned, report)
    _sync_seeds(store, case, owned.rels["SEED"], report)
    _sync_traces(store, case, traces, report, on_batch)
    return report


def _claim(store: Neo4jStore, case: str, owner: str, owned: GraphTables, report: SyncReport) -> None:
    """Claim the case's clusters and tags with this push's stamp, then release older stamps."""
    prefix = f"{case}="
    rows = {
        "Cluster": owned.nodes["Cluster"].select("uid"), "Tag": owned.nodes["Tag"].select("uid"),
        "IN_CLUSTER": owned.rels["IN_CLUSTER"].select("start", "end"),
        "HAS_TAG": owned.rels["HAS_TAG"].select("start", "end"),
    }
    for kind, frame in rows.items():
        query = (f"UNWIND $rows AS r {_CLAIMED[kind]} SET x.pushed_by = "
                 "[o IN coalesce(x.pushed_by, []) WHERE NOT o STARTS WITH $prefix] + [$owner]")
        for batch in chunks(frame.to_dicts(), 5_000):
            store._write(query, rows=batch, prefix=prefix, owner=owner)
    for kind in ("IN_CLUSTER", "HAS_TAG", "Cluster", "Tag"):
        store._write(
            f"MATCH {_PATTERN[kind]} WHERE any(o IN coalesce(x.pushed_by, []) WHERE o STARTS WITH $prefix) "
            "AND NOT $owner IN x.pushed_by SET x.pushed_by = [o IN x.pushed_by WHERE NOT o STARTS WITH $prefix]",
            prefix=prefix, owner=owner,
        )
    untagged = store._read("MATCH (a:Address)-[:HAS_TAG]->(g:Tag) WHERE g.pushed_by = [] "
                           "RETURN DISTINCT a.uid AS uid, a.address AS address")
    for kind in ("IN_CLUSTER", "HAS_TAG"):
        removed = store._write(f"MATCH {_PATTERN[kind]} WHERE x.pushed_by = [] DELETE x").relationships_deleted
        report.removed[kind] = report.removed.get(kind, 0) + removed
    for kind in ("Cluster", "Tag"):
        counters = store._write(f"MATCH {_PATTERN[kind]} WHERE x.pushed_by = [] DETACH DELETE x")
        report.removed[kind] = counters.nodes_deleted
    if untagged:
        store._write(
            "UNWIND $rows AS r MATCH (a:Address {uid: r.uid}) OPTIONAL MATCH (a)-[:HAS_TAG]->(g:Tag) "
            "WITH a, r, min(g.label) AS label SET a.caption = coalesce(label, r.short)",
            rows=[{"uid": r["uid"], "short": short_text(str(r["address"]))} for r in untagged],
        )


def _sync_seeds(store: Neo4jStore, case: str, seeds: pl.DataFrame, report: SyncReport) -> None:
    """Delete the case's SEED relationships to addresses that are no longer its seeds."""
    keep = sorted(set(seeds.filter(pl.col("start") == case)["end"].to_list()))
    counters = store._write(
        "MATCH (:Case {uid: $case})-[s:SEED]->(a:Address) WHERE NOT a.uid IN $keep DELETE s", case=case, keep=keep
    )
    report.removed["SEED"] = counters.relationships_deleted


def _sync_traces(store: Neo4jStore, case: str, traces: GraphTables, report: SyncReport,
                 on_batch: Callable[[int], None] | None) -> None:
    """Replace the case's traces on the server by ``traces``; delete the ones not pushed."""
    stored = {r["uid"]: r for r in store._read(
        "MATCH (t:Trace) WHERE t.case_name = $case "
        "RETURN t.uid AS uid, t.manifest_sha256 AS sha, t.pushed_format AS format", case=case)}
    wanted = traces.nodes["Trace"]
    unchanged = {row["uid"] for row in wanted.iter_rows(named=True)
                 if (old := stored.get(row["uid"])) and old["sha"] == row["manifest_sha256"]
                 and old["format"] == PUSH_FORMAT}
    replaced = sorted(set(stored) - unchanged)
    report.removed["Trace"] = len(set(stored) - set(wanted["uid"].to_list()))
    if replaced:
        report.removed["FLOW"] = store._write(
            "MATCH (:Address)-[f:FLOW]->(:Address) WHERE f.case_name = $case AND f.trace IN $uids DELETE f",
            case=case, uids=replaced).relationships_deleted
        store._write("MATCH (t:Trace) WHERE t.case_name = $case AND t.uid IN $uids DETACH DELETE t",
                     case=case, uids=replaced)
    else:
        report.removed["FLOW"] = 0
    fresh = [u for u in wanted["uid"].to_list() if u not in unchanged]
    report.traces_unchanged = sorted(unchanged)
    report.traces_written = fresh
    if fresh:
        _write_traces(store, _only(traces, set(fresh)), on_batch)
    elif on_batch:
        on_batch(sum(traces.counts().values()))


def _only(traces: GraphTables, uids: set[str]) -> GraphTables:
    """The rows of the traces ``uids``."""
    keep = sorted(uids)
    nodes = {"Trace": traces.nodes["Trace"].filter(pl.col("uid").is_in(keep))}
    rels = {name: frame.filter(pl.col("end" if name == "RAN" else ("trace" if "trace" in frame.columns else "start"))
                               .is_in(keep)) for name, frame in traces.rels.items()}
    return GraphTables(nodes=nodes, rels=rels)


def _write_traces(store: Neo4jStore, traces: GraphTables, on_batch: Callable[[int], None] | None) -> None:
    """Create the trace rows (every trace in ``traces`` is absent from the server)."""
    def write(query: str, rows: list[dict[str, Any]]) -> None:
        for batch in chunks(rows, 5_000):
            store._write(query, rows=batch)
            if on_batch:
                on_batch(len(batch))

    flows, reached = traces.rels["FLOW"], traces.rels["REACHED"]
    ends = pl.concat([flows.select(pl.col("start").alias("uid"), "chain"), flows.select(pl.col("end").alias("uid"),
                      "chain"), reached.select(pl.col("end").alias("uid"), "chain")]).unique().sort("uid")
    addresses = [{"uid": u, "props": {"uid": u, "chain": c, "address": u[len(c) + 1:], "source": "trace",
                                      "caption": short_text(u[len(c) + 1:])}} for u, c in ends.iter_rows()]
    store._write("UNWIND $rows AS r MERGE (a:Address {uid: r.uid}) ON CREATE SET a += r.props", rows=addresses)
    for case in sorted(set(traces.rels["RAN"]["start"].to_list())):
        store._write("MERGE (c:Case {uid: $case}) ON CREATE SET c.name = $case, c.caption = $case", case=case)
    write("UNWIND $rows AS r CREATE (t:Trace) SET t = r", traces.nodes["Trace"].to_dicts())
    for name, start, end in (("RAN", "Case", "Trace"), ("REACHED", "Trace", "Address"),
                             ("TRACED", "Trace", "Transaction"), ("FLOW", "Address", "Address")):
        rows = [{"start": r["start"], "end": r["end"],
                 "props": {k: v for k, v in r.items() if k not in ("start", "end")}}
                for r in traces.rels[name].iter_rows(named=True)]
        query = (f"UNWIND $rows AS r MATCH (a:{start} {{uid: r.start}}) MATCH (b:{end} {{uid: r.end}}) "
                 f"CREATE (a)-[x:{name}]->(b) SET x = r.props")
        for part, part_query in (with_datetimes(store, rows, query, "x", "time") if name == "FLOW"
                                 else [(rows, query)]):
            write(part_query, part)
    store._write("UNWIND $uids AS u MATCH (t:Trace {uid: u}) SET t.pushed_format = $format",
                 uids=traces.nodes["Trace"]["uid"].to_list(), format=PUSH_FORMAT)
