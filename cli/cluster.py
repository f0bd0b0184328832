# SPDX-License-Identifier: Apache-2.0
"""``tracer cluster``: group a case's UTXO addresses by owner, explain why, look one up.

Three commands (a Typer group cannot take a CASE argument *and* subcommands: ``tracer cluster
explain ...`` would read "explain" as the case):

* ``run CASE`` — CoinJoin detection, multi-input evidence (plus one-time change with ``--change``),
  clusters; replaces the chain's clusters in the store and writes ``<case>/clusters/<chain>-*.parquet``;
* ``explain CASE A B`` — the chain of linking transactions that put A and B in one cluster;
* ``show CASE ADDRESS`` — the address's cluster, its members and the tags that label it.

The algorithms are in :mod:`tracer.coinjoin` and :mod:`tracer.clustering`; this is the thin layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from adapters.addresses import parse_address
from cli.context import app_context
from cli.options import CaseArg, JsonOpt
from cli.output import emit, notice, stdout, table
from cli.settings import Settings
from cli.stores import open_case_store
from cli.workspace import Case
from graph.base import GraphStore
from tracer.chains import Family
from tracer.clustering import (
    EVIDENCE_COLUMNS,
    MULTI_INPUT,
    ONE_TIME_CHANGE,
    cluster_id,
    clusters,
    explain,
    multi_input_links,
    one_time_change_links,
)
from tracer.coinjoin import coinjoin_transactions
from tracer.errors import InputError, NotFoundError

__all__ = ["app", "clusters_dir"]

app = typer.Typer(help="Address clusters (common-input ownership): build them, explain them, look one up.",
                  no_args_is_help=True)

ChainFilter = Annotated[
    str | None, typer.Option("--chain", "-c", help="UTXO chain key (default: every UTXO chain in the case's store).")
]
ChainNeeded = Annotated[str, typer.Option("--chain", "-c", help="UTXO chain key, e.g. ltc, btc, ltc-regtest.")]


def clusters_dir(case: Case) -> Path:
    """Where ``tracer cluster run`` writes its Parquet files."""
    return case.dir / "clusters"


def _files(case: Case, chain: str) -> dict[str, Path]:
    base = clusters_dir(case)
    return {name: base / f"{chain}-{name}.parquet" for name in ("evidence", "clusters", "coinjoins")}


@contextmanager
def _store(settings: Settings, case: Case) -> Iterator[GraphStore]:
    store = open_case_store(settings, case)
    try:
        yield store
    finally:
        store.close()


def _utxo_chain(settings: Settings, chain: str) -> str:
    info = settings.chains.get(chain)
    if info.family is not Family.UTXO:
        raise InputError(f"{info.key} is an account-model chain: clustering by common inputs needs a UTXO chain")
    return info.key


def _labels(tags: pl.DataFrame) -> pl.DataFrame:
    """cluster_id -> ``labels`` (sorted distinct tag labels of its members) and ``categories``."""
    return tags.group_by("cluster_id").agg(
        pl.col("label").unique().sort().alias("labels"),
        pl.col("category").drop_nulls().unique().sort().alias("categories"),
    )


@app.command("run")
def run(
    case: CaseArg,
    chain: ChainFilter = None,
    change: Annotated[
        bool, typer.Option("--change", help="Also link one-time change outputs to their payer (Meiklejohn et al.; "
                                            "off by default: a wrong guess merges two owners).")
    ] = False,
    coinjoin_filter: Annotated[
        bool, typer.Option("--coinjoin-filter/--no-coinjoin-filter",
                           help="Skip CoinJoin-shaped transactions (default). Turning it off merges mixers' users.")
    ] = True,
    top: Annotated[int, typer.Option("--top", help="Largest clusters to list.", min=0)] = 10,
    json_: JsonOpt = False,
) -> None:
    """Cluster the case's addresses per UTXO chain; replaces the chain's earlier clustering.

    Same data, same result: cluster ids are "<chain>:<smallest member address>" and the files in
    <case>/clusters/ are rewritten byte for byte.

    Example: tracer cluster run op-harbor --chain ltc
    """
    ctx = app_context()
    settings = ctx.settings
    workspace_case = ctx.workspace.open(case)
    chains = [_utxo_chain(settings, chain)] if chain else None
    heuristics = [MULTI_INPUT, *([ONE_TIME_CHANGE] if change else [])]
    source = "tracer cluster: " + "+".join(heuristics) + ("" if coinjoin_filter else " (coinjoins not filtered)")
    results: list[dict[str, Any]] = []
    with _store(settings, workspace_case) as store:
        frames = store.read_frames(chain)
        found = sorted(frames.transactions["chain"].unique().to_list())
        if chains is None:
            chains = [c for c in found if c in settings.chains and settings.chains.get(c).family is Family.UTXO]
            if not chains:
                raise NotFoundError(f"case {case!r} holds no UTXO transactions: ingest some first (tracer ingest utxo)")
        elif chains[0] not in found:
            raise NotFoundError(f"case {case!r} holds no {chains[0]} transactions: ingest some first")
        for key in chains:
            results.append(_cluster_chain(store, workspace_case, frames, key, change=change,
                                          coinjoin_filter=coinjoin_filter, source=source, top=top))
    with workspace_case.locked():
        workspace_case.record("cluster.run", {"heuristics": heuristics, "coinjoin_filter": coinjoin_filter,
                                              "chains": [{k: r[k] for k in ("chain", "clusters", "addresses_clustered",
                                                                           "evidence_edges", "coinjoins_skipped")}
                                                         for r in results]}, ctx.argv)
    data = {"case": case, "heuristics": heuristics, "coinjoin_filter": coinjoin_filter, "chains": results}

    def human() -> None:
        for r in results:
            shapes = ", ".join(f"{k} {v}" for k, v in r["coinjoins_by_shape"].items()) or "none"
            stdout.print(table(
                f"Clusters of {case} on {r['chain']} ({'+'.join(heuristics)})", ["", ""],
                [("clusters (2+ addresses)", r["clusters"]), ("addresses clustered", r["addresses_clustered"]),
                 ("evidence edges", r["evidence_edges"]), ("labelled clusters", r["labelled_clusters"]),
                 ("CoinJoins skipped" if coinjoin_filter else "CoinJoin-shaped (NOT skipped)",
                  f"{r['coinjoins_skipped']} ({shapes})")],
            ))
            if r["largest"]:
                stdout.print(table(f"Largest clusters on {r['chain']}", ["cluster", "members", "label", "category"],
                                   [(c["cluster_id"], c["members"], "; ".join(c["labels"]),
                                     ", ".join(c["categories"])) for c in r["largest"]]))
        if not coinjoin_filter:
            notice("CoinJoin filter off: users of a CoinJoin are merged into one cluster")

    emit(data, as_json=json_, human=human)


def _cluster_chain(
    store: GraphStore, case: Case, frames: Any, chain: str, *, change: bool, coinjoin_filter: bool, source: str,
    top: int,
) -> dict[str, Any]:
    tx = frames.transactions.filter(pl.col("chain") == chain)
    ins = frames.inputs.filter(pl.col("chain") == chain)
    outs = frames.outputs.filter(pl.col("chain") == chain)
    found = coinjoin_transactions(ins, outs)
    skipped = found if coinjoin_filter else found.clear()
    edges = multi_input_links(ins, skipped)
    if change:
        edges = pl.concat([edges, one_time_change_links(tx, ins, outs, skipped)]).unique().sort(list(EVIDENCE_COLUMNS))
    rows = clusters(edges, None, chain, source)
    store.replace_clusters(chain, rows)
    files = _files(case, chain)
    files["evidence"].parent.mkdir(parents=True, exist_ok=True)
    for name, frame in (("evidence", edges), ("clusters", rows), ("coinjoins", found)):
        frame.write_parquet(files[name], statistics=False)
    sizes = rows.group_by("cluster_id").agg(pl.len().alias("members"))
    tags = store.tags(chain, rows["address"].to_list()) if rows.height else None
    labels = (_labels(tags.join(rows.select("address", "cluster_id"), on="address")) if tags is not None and
              tags.height else pl.DataFrame(schema={"cluster_id": pl.String, "labels": pl.List(pl.String),
                                                    "categories": pl.List(pl.String)}))
    largest = (sizes.join(labels, on="cluster_id", how="left").sort(["members", "cluster_id"], descending=[True, False])
               .head(top))
    return {
        "chain": chain,
        "clusters": sizes.height,
        "addresses_clustered": rows.height,
        "evidence_edges": edges.height,
        "coinjoins_skipped": found.height if coinjoin_filter else 0,
        "coinjoins_by_shape": dict(sorted(found.group_by("shape").len().iter_rows())),
        "labelled_clusters": labels.height,
        "largest": [
            {"cluster_id": r["cluster_id"], "members": r["members"], "labels": r["labels"] or [],
             "categories": r["categories"] or []}
            for r in largest.iter_rows(named=True)
        ],
        "files": {name: str(path) for name, path in files.items()},
    }


def _evidence(case: Case, chain: str) -> pl.DataFrame:
    path = _files(case, chain)["evidence"]
    if not path.is_file():
        raise NotFoundError(f"case {case.name!r} has no clustering for {chain}: run `tracer cluster run {case.name} "
                            f"--chain {chain}` first")
    return pl.read_parquet(path).select(pl.col(c).cast(t) for c, t in EVIDENCE_COLUMNS.items())


@app.command("explain")
def explain_(
    case: CaseArg,
    a: Annotated[str, typer.Argument(help="First address.", show_default=False)],
    b: Annotated[str, typer.Argument(help="Second address.", show_default=False)],
    chain: ChainNeeded,
    json_: JsonOpt = False,
) -> None:
    """Why are A and B in one cluster: the shortest chain of linking transactions, each with its heuristic
    (exit 2 if they are not in one cluster).

    Example: tracer cluster explain op-harbor ltc1qa... ltc1qb... --chain ltc
    """
    ctx = app_context()
    settings = ctx.settings
    key = _utxo_chain(settings, chain)
    workspace_case = ctx.workspace.open(case)
    first = parse_address(settings.chains.get(key), a, registry=settings.chains).address
    second = parse_address(settings.chains.get(key), b, registry=settings.chains).address
    path = explain(_evidence(workspace_case, key), first, second)
    member = pl.read_parquet(_files(workspace_case, key)["clusters"]).filter(pl.col("address") == first)
    cid = member["cluster_id"][0] if member.height else cluster_id(key, first)
    data = {"case": case, "chain": key, "a": first, "b": second, "cluster_id": cid, "steps": path}

    def human() -> None:
        stdout.print(table(f"{first} and {second}: {len(path)} linking transaction(s) in {cid}",
                           ["step", "address", "linked to", "by transaction", "heuristic"],
                           [(i + 1, s["address"], s["linked_address"], s["txid"], s["heuristic"])
                            for i, s in enumerate(path)]))

    emit(data, as_json=json_, human=human)


@app.command("show")
def show(
    case: CaseArg,
    address: Annotated[str, typer.Argument(help="An address of the case.", show_default=False)],
    chain: ChainNeeded,
    json_: JsonOpt = False,
) -> None:
    """The cluster of ADDRESS: its id, members and the tags of any member (which label the cluster).

    Example: tracer cluster show op-harbor ltc1qa... --chain ltc
    """
    ctx = app_context()
    settings = ctx.settings
    key = _utxo_chain(settings, chain)
    workspace_case = ctx.workspace.open(case)
    normal = parse_address(settings.chains.get(key), address, registry=settings.chains).address
    with _store(settings, workspace_case) as store:
        members = store.cluster(key, normal)
        names = members["address"].to_list() or [normal]
        tags = store.tags(key, names)
    cid = members["cluster_id"][0] if members.height else cluster_id(key, normal)
    tag_rows = tags.select("address", "label", "category", "source").sort("address", "label").to_dicts()
    label_list = sorted({str(t["label"]) for t in tag_rows})
    data = {"case": case, "chain": key, "address": normal, "cluster_id": cid, "members": names,
            "labels": label_list, "tags": tag_rows}

    def human() -> None:
        labels = "; ".join(label_list) or "no tags"
        by_address: dict[str, list[str]] = {}
        for t in tag_rows:
            by_address.setdefault(t["address"], []).append(t["label"])
        stdout.print(table(f"Cluster {cid} ({len(names)} address(es); {labels})", ["address", "tags"],
                           [(n, "; ".join(by_address.get(n, []))) for n in names]))
        if not members.height:
            notice(f"{normal} is in no multi-address cluster (is `tracer cluster run` done?): it is its own cluster")

    emit(data, as_json=json_, human=human)

