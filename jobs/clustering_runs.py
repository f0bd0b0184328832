# SPDX-License-Identifier: Apache-2.0
"""Cluster work a command starts: cluster a case's UTXO addresses, explain why two addresses share a
cluster, look an address's cluster up.

The algorithms are :mod:`tracer.coinjoin` and :mod:`tracer.clustering` (pure); this module reads
the case's store, writes the clusters back and the evidence to ``<case>/clusters/<chain>-*.parquet``.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from graph.base import GraphStore
from jobs.addresses import candidate_chains, normal_address
from jobs.custody import CLUSTER_PARTS, store_write
from jobs.files import write_atomic
from jobs.session import Session
from jobs.settings import Settings
from jobs.stores import StoreProbe, open_case_store, open_case_store_for_reading
from jobs.workspace import Case
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

__all__ = ["run_clustering", "explain_link", "cluster_of", "clusters_dir"]


def clusters_dir(case: Case) -> Path:
    """Where ``tracer cluster run`` writes its Parquet files."""
    return case.dir / "clusters"


def _files(case: Case, chain: str) -> dict[str, Path]:
    base = clusters_dir(case)
    return {name: base / f"{chain}-{name}.parquet" for name in ("evidence", "clusters", "coinjoins")}


@contextmanager
def _store(settings: Settings, case: Case, *, read_only: bool = False) -> Iterator[GraphStore]:
    store = open_case_store_for_reading(settings, case) if read_only else open_case_store(settings, case)
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


def run_clustering(session: Session, case: str, chain: str | None, *, change: bool, coinjoin_filter: bool,
                   top: int) -> dict[str, Any]:
    """Cluster the case's addresses per UTXO chain (every UTXO chain in its store, or ``chain``);
    replaces each chain's earlier clustering. Same data, same result: cluster ids are
    ``<chain>:<smallest member address>`` and the evidence files are rewritten byte for byte."""
    settings = session.settings
    workspace_case = session.workspace.open(case)
    chains = [_utxo_chain(settings, chain)] if chain else None
    heuristics = [MULTI_INPUT, *([ONE_TIME_CHANGE] if change else [])]
    source = "tracer cluster: " + "+".join(heuristics) + ("" if coinjoin_filter else " (coinjoins not filtered)")
    results: list[dict[str, Any]] = []
    started = {"heuristics": heuristics, "coinjoin_filter": coinjoin_filter, "chains": chains}
    with store_write(workspace_case, "cluster.run", session.argv, started,
                     StoreProbe(settings, workspace_case), touches=CLUSTER_PARTS) as run:
        with _store(settings, workspace_case) as store:
            frames = store.read_frames(chains[0] if chains else None)
            found = sorted(frames.transactions["chain"].unique().to_list())
            if chains is None:
                chains = [c for c in found if c in settings.chains and settings.chains.get(c).family is Family.UTXO]
                if not chains:
                    raise NotFoundError(f"case {case!r} holds no UTXO transactions: ingest some first "
                                        "(tracer ingest utxo)")
            elif chains[0] not in found:
                raise NotFoundError(f"case {case!r} holds no {chains[0]} transactions: ingest some first")
            for key in chains:
                results.append(_cluster_chain(store, workspace_case, frames, key, change=change,
                                              coinjoin_filter=coinjoin_filter, source=source, top=top))
        run.details = {"heuristics": heuristics, "coinjoin_filter": coinjoin_filter,
                       "chains": [{k: r[k] for k in ("chain", "clusters", "addresses_clustered", "evidence_edges",
                                                     "coinjoins_skipped")} for r in results],
                       # the evidence files, checked by `tracer case verify`
                       "files": {n: h for r in results for n, h in sorted(r["sha256"].items())}}
    return {"case": case, "heuristics": heuristics, "coinjoin_filter": coinjoin_filter, "chains": results}


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
        buffer = io.BytesIO()  # whole files only: a run killed while writing leaves the old file or the new one
        frame.write_parquet(buffer, statistics=False)
        write_atomic(files[name], buffer.getvalue())
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
        "sha256": {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in files.values()},
    }


def _evidence(case: Case, chain: str) -> pl.DataFrame:
    path = _files(case, chain)["evidence"]
    if not path.is_file():
        raise NotFoundError(f"case {case.name!r} has no clustering for {chain}: run `tracer cluster run {case.name} "
                            f"--chain {chain}` first")
    return pl.read_parquet(path).select(pl.col(c).cast(t) for c, t in EVIDENCE_COLUMNS.items())


def explain_link(session: Session, case: str, a: str, b: str, chain: str) -> dict[str, Any]:
    """Why ``a`` and ``b`` are in one cluster: the shortest chain of linking transactions, each with its
    heuristic. Two addresses in different clusters are an answer too: ``linked`` is false, ``steps``
    empty, and ``cluster_id`` / ``other_cluster_id`` name their two clusters."""
    settings = session.settings
    key = _utxo_chain(settings, chain)
    workspace_case = session.workspace.open(case)
    first = normal_address(settings.chains, key, a)
    second = normal_address(settings.chains, key, b)
    evidence = _evidence(workspace_case, key)
    try:
        path, linked = explain(evidence, first, second), True
    except NotFoundError:  # no chain of evidence joins them: they are in different clusters
        path, linked = [], False
    members = pl.read_parquet(_files(workspace_case, key)["clusters"])

    def cluster_of_address(address: str) -> str:
        member = members.filter(pl.col("address") == address)
        return str(member["cluster_id"][0]) if member.height else cluster_id(key, address)

    cid = cluster_of_address(first)
    return {"case": case, "chain": key, "a": first, "b": second, "linked": linked, "cluster_id": cid,
            "other_cluster_id": cid if linked else cluster_of_address(second), "steps": path}


def _chain_of(settings: Settings, case: Case, store: GraphStore, address: str) -> tuple[str, str]:
    """The UTXO chain of ``address`` inferred from its form (as ``tags show`` does); when the form fits
    several chains (``m...`` on Bitcoin and Litecoin test networks), the one where the case has it in a
    cluster, else the one the case has clustered. Returns the chain key and the address's normal form."""
    candidates = [(k, a) for k, a in candidate_chains(settings.chains, address)
                  if settings.chains.get(k).family is Family.UTXO]
    if not candidates:
        raise InputError(f"{address.strip()!r} is not a valid address on any UTXO chain "
                         f"({', '.join(c.key for c in settings.chains if c.family is Family.UTXO)})")
    if len(candidates) == 1:
        return candidates[0]
    clustered = [(k, a) for k, a in candidates if store.cluster(k, a).height]
    if len(clustered) != 1:
        clustered = [(k, a) for k, a in candidates if _files(case, k)["clusters"].is_file()]
    if len(clustered) == 1:
        return clustered[0]
    raise InputError(f"{address.strip()} is an address on {', '.join(k for k, _ in candidates)}: pass --chain")


def cluster_of(session: Session, case: str, address: str, chain: str | None) -> tuple[dict[str, Any], bool]:
    """The cluster of ``address``: its id, members and the tags of any member (which label the cluster),
    and whether the store has it in a cluster at all (else it is its own cluster). Without ``chain`` the
    chain is inferred from the address form."""
    settings = session.settings
    workspace_case = session.workspace.open(case)
    with _store(settings, workspace_case) as store:
        if chain is None:
            key, normal = _chain_of(settings, workspace_case, store, address)
        else:
            key = _utxo_chain(settings, chain)
            normal = normal_address(settings.chains, key, address)
        members = store.cluster(key, normal)
        names = members["address"].to_list() or [normal]
        tags = store.tags(key, names)
    cid = members["cluster_id"][0] if members.height else cluster_id(key, normal)
    tag_rows = tags.select("address", "label", "category", "source").sort("address", "label").to_dicts()
    label_list = sorted({str(t["label"]) for t in tag_rows})
    return {"case": case, "chain": key, "address": normal, "cluster_id": cid, "members": names,
            "labels": label_list, "tags": tag_rows}, members.height > 0
