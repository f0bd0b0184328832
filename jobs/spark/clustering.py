# SPDX-License-Identifier: Apache-2.0
"""Whole-chain clustering on Spark: the rules and ids of ``tracer cluster run``.

* CoinJoins are found by :func:`tracer.coinjoin.coinjoin_transactions` itself, run on the executors
  over hash buckets of transactions (each bucket holds every input and output of its transactions,
  so each transaction is judged on all of its rows, exactly as on one machine);
* multi-input evidence is :func:`tracer.clustering.multi_input_links` in Spark SQL: per transaction
  (CoinJoins skipped) a star from its smallest input address to each other distinct input address;
* clusters are the connected components of the evidence (:mod:`jobs.spark.components`), each with
  id ``<chain>:<smallest member address>`` (:func:`tracer.clustering.cluster_id`), one row per
  address in an evidence edge, ``source`` as ``tracer cluster run`` writes it.

:func:`load_clusters` puts the result into a case's store through ``store.replace_clusters``,
bracketed in the case's audit log, with the evidence files ``tracer cluster explain`` reads.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from jobs.spark.components import connected_components
from jobs.spark.frames import chain_frame, frame_chains, local_checksums
from tracer.chains import Family, default_registry
from tracer.clustering import EVIDENCE_COLUMNS, MULTI_INPUT
from tracer.coinjoin import COINJOIN_COLUMNS
from tracer.errors import InputError, NotFoundError
from tracer.schema import CLUSTERS

__all__ = ["SOURCE", "spark_clustering", "run_spark_clustering", "read_result", "load_clusters"]

#: ``source`` of the cluster rows: the one ``tracer cluster run`` writes for multi-input with CoinJoins skipped
SOURCE = f"tracer cluster: {MULTI_INPUT}"
_TX = ["chain", "txid"]


def _detect(left: Any, right: Any) -> Any:
    """Executor side: the CoinJoins of one bucket (every input and output of its transactions)."""
    import pyarrow as pa

    from tracer.coinjoin import coinjoin_transactions

    columns = ["chain", "txid", "index", "address", "value"]
    ins, outs = pl.DataFrame(left.select(columns)), pl.DataFrame(right.select(columns))
    found = coinjoin_transactions(ins, outs)
    return pa.table({c: pa.array(found[c].to_list(), pa.string()) for c in COINJOIN_COLUMNS})


def coinjoins(inputs: Any, outputs: Any, buckets: int) -> Any:
    """``chain``, ``txid``, ``shape`` of the CoinJoin-shaped transactions."""
    from pyspark.sql import functions as F

    def bucketed(frame: Any) -> Any:
        return frame.select(*_TX, "index", "address", F.col("value").cast("long").alias("value"),
                            F.pmod(F.xxhash64(*_TX), F.lit(buckets)).alias("bucket"))

    return (bucketed(inputs).groupBy("bucket").cogroup(bucketed(outputs).groupBy("bucket"))
            .applyInArrow(_detect, "chain string, txid string, shape string"))


def multi_input_edges(inputs: Any, skipped: Any) -> Any:
    """:func:`tracer.clustering.multi_input_links` over Spark frames (EVIDENCE_COLUMNS)."""
    from pyspark.sql import functions as F

    spent = (inputs.filter(F.col("address").isNotNull()).select(*_TX, "address")
             .join(skipped.select(*_TX), _TX, "left_anti").distinct())
    root = spent.groupBy(*_TX).agg(F.min("address").alias("root"))
    return (spent.join(root, _TX).filter(F.col("address") != F.col("root"))
            .select("chain", F.col("root").alias("address"), F.col("address").alias("linked_address"), "txid",
                    F.lit(MULTI_INPUT).alias("heuristic")))


def spark_clustering(spark: Any, frames: str, chain: str, *, buckets: int | None = None) -> dict[str, Any]:
    """The clustering of ``chain``: Spark frames ``clusters`` (CLUSTERS columns), ``evidence``
    (EVIDENCE_COLUMNS), ``coinjoins`` (COINJOIN_COLUMNS), and the number of component rounds."""
    from pyspark.sql import functions as F

    inputs = chain_frame(spark, frames, chain, "inputs")
    outputs = chain_frame(spark, frames, chain, "outputs")
    # a few buckets per core: each is one call of the polars detector on its transactions
    found = coinjoins(inputs, outputs, buckets or 2 * spark.sparkContext.defaultParallelism).localCheckpoint()
    evidence = multi_input_edges(inputs, found).localCheckpoint()
    components, rounds = connected_components(evidence, "address", "linked_address")
    clusters = components.select(
        F.lit(chain).alias("chain"), F.col("node").alias("address"),
        F.concat(F.lit(f"{chain}:"), F.col("root")).alias("cluster_id"), F.lit(SOURCE).alias("source"))
    return {"clusters": clusters, "evidence": evidence, "coinjoins": found, "rounds": rounds}


def run_spark_clustering(spark: Any, frames: str, out: Path, chain: str | None, *, checksums: bool = True,
                         buckets: int | None = None) -> dict[str, Any]:
    """Cluster every UTXO chain of ``frames`` (or ``chain``) and write ``out/<chain>/{clusters,evidence,
    coinjoins}`` (Parquet folders, one file per partition). Returns what was done, per chain."""
    if checksums:
        local_checksums(frames)
    chains = _chains(frames, chain)
    results = []
    for key in chains:
        started = time.monotonic()
        made = spark_clustering(spark, frames, key, buckets=buckets)
        target = out / key
        for name in ("clusters", "evidence", "coinjoins"):
            made[name].write.mode("overwrite").parquet(str(target / name))
        written = spark.read.parquet(str(target / "clusters"))
        sizes = written.groupBy("cluster_id").count()
        results.append({
            "chain": key, "clusters": sizes.count(), "addresses_clustered": written.count(),
            "evidence_edges": spark.read.parquet(str(target / "evidence")).count(),
            "coinjoins_skipped": spark.read.parquet(str(target / "coinjoins")).count(),
            "component_rounds": made["rounds"], "seconds": round(time.monotonic() - started, 2),
            "folder": str(target),
        })
    return {"frames": frames, "out": str(out), "chains": results}


def _chains(frames: str, chain: str | None) -> list[str]:
    registry = default_registry()
    if chain is not None:
        key = registry.get(chain).key
        if registry.get(key).family is not Family.UTXO:
            raise InputError(f"{key} is an account-model chain: clustering by common inputs needs a UTXO chain")
        return [key]
    found = frame_chains(frames, Family.UTXO)
    if not found:
        raise NotFoundError(f"{frames} holds no UTXO chain's frames")
    return found


def read_result(out: Path, chain: str) -> dict[str, pl.DataFrame]:
    """A Spark clustering result read back with polars, in the single-machine job's order and types."""
    folder = out / chain
    if not (folder / "clusters").is_dir():
        raise NotFoundError(f"no Spark clustering of {chain} in {out} (run `tracer spark cluster` first)")

    def read(name: str, columns: Mapping[str, pl.DataType], order: list[str]) -> pl.DataFrame:
        files = sorted((folder / name).glob("*.parquet"))
        if not files:
            return pl.DataFrame(schema=columns)
        frame = pl.concat([pl.read_parquet(f) for f in files], how="vertical")
        return frame.select(pl.col(c).cast(t) for c, t in columns.items()).unique().sort(order)

    return {
        "clusters": read("clusters", dict(CLUSTERS.columns), ["address"]),
        "evidence": read("evidence", EVIDENCE_COLUMNS, list(EVIDENCE_COLUMNS)),
        "coinjoins": read("coinjoins", COINJOIN_COLUMNS, _TX),
    }


def load_clusters(session: Any, case: str, out: Path, chains: list[str]) -> list[dict[str, Any]]:
    """Make the Spark clustering of ``chains`` (in ``out``) the case's clustering: the store's
    clusters replaced (``replace_clusters``) and the evidence files ``tracer cluster explain`` reads
    written, in one audited store write (``cluster.import``), as ``tracer cluster run`` does."""
    from jobs.clustering_runs import clusters_dir
    from jobs.custody import CLUSTER_PARTS, store_write
    from jobs.files import write_atomic
    from jobs.stores import StoreProbe, open_case_store

    settings = session.settings
    workspace_case = session.workspace.open(case)
    results: list[dict[str, Any]] = []
    started = {"source": str(out), "chains": chains, "heuristics": [MULTI_INPUT], "coinjoin_filter": True}
    with store_write(workspace_case, "cluster.import", session.argv, started,
                     StoreProbe(settings, workspace_case), touches=CLUSTER_PARTS) as run:
        store = open_case_store(settings, workspace_case)
        try:
            for key in chains:
                frames = read_result(out, key)
                stored = store.replace_clusters(key, frames["clusters"])
                files: dict[str, str] = {}
                for name, frame in frames.items():
                    path = clusters_dir(workspace_case) / f"{key}-{name}.parquet"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    buffer = io.BytesIO()
                    frame.write_parquet(buffer, statistics=False)
                    write_atomic(path, buffer.getvalue())
                    files[path.name] = hashlib.sha256(buffer.getvalue()).hexdigest()
                results.append({"chain": key, "memberships": stored,
                                "clusters": frames["clusters"]["cluster_id"].n_unique(),
                                "evidence_edges": frames["evidence"].height, "sha256": files})
        finally:
            store.close()
        run.details = {"source": str(out), "heuristics": [MULTI_INPUT], "coinjoin_filter": True,
                       "chains": [{k: r[k] for k in ("chain", "clusters", "evidence_edges")} for r in results],
                       "files": {n: h for r in results for n, h in sorted(r["sha256"].items())}}
    return results
