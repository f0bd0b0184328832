# SPDX-License-Identifier: Apache-2.0
"""``tracer spark``: whole-chain jobs on Apache Spark over canonical Parquet frames.

* ``cluster FRAMES_DIR --out DIR`` — multi-input clustering with CoinJoins skipped, the rules and ids
  of ``tracer cluster run``; ``--case`` loads the result into a case's store;
* ``screen FRAMES_DIR --wallets FILE --tags FILE --out DIR`` — the N-hop haircut exposure of
  ``tracer screen``, in exact integers.

Local mode (``local[2]``) unless ``--master`` (or ``spark-submit``) names a cluster. The work is
:mod:`jobs.spark`; this module parses and renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.context import app_context
from cli.options import JsonOpt
from cli.output import emit, stdout, table

__all__ = ["app"]

app = typer.Typer(help="Whole-chain jobs on Apache Spark: clustering and screening exposure over Parquet frames.",
                  no_args_is_help=True)

FramesArg = Annotated[str, typer.Argument(
    help="Frames directory: <chain>/{transactions,inputs,outputs,transfers}.parquet (local path, hdfs://, s3a://).",
    show_default=False, metavar="FRAMES_DIR")]
OutOpt = Annotated[Path, typer.Option("--out", metavar="DIR", help="Result folder (Parquet, replaced if it exists).")]
MasterOpt = Annotated[str | None, typer.Option(
    "--master", metavar="URL", help="Spark master: local[N], spark://HOST:7077, yarn, k8s://... "
                                    "(default local[2], or the one spark-submit chose).")]
ChecksumOpt = Annotated[bool, typer.Option("--checksums/--no-checksums",
                                           help="Check a local frames directory against its SHA256SUMS.")]


@app.command("cluster")
def cluster(
    frames: FramesArg,
    out: OutOpt,
    chain: Annotated[str | None, typer.Option("--chain", "-c", metavar="CHAIN",
                                              help="UTXO chain key (default: every UTXO chain of FRAMES_DIR).")] = None,
    master: MasterOpt = None,
    case: Annotated[str | None, typer.Option("--case", metavar="CASE",
                                             help="Also make the result the case's clustering (store and evidence "
                                                  "files, recorded in its audit log).")] = None,
    checksums: ChecksumOpt = True,
    json_: JsonOpt = False,
) -> None:
    """Cluster a whole chain's addresses by common inputs, CoinJoins skipped, on Spark.

    Same rules and same ids as `tracer cluster run`: "<chain>:<smallest member address>". Writes
    DIR/<chain>/{clusters,evidence,coinjoins} as Parquet folders.

    Example: tracer spark cluster /data/frames --out /data/clusters --chain btc --case op-harbor
    """
    from jobs.spark.clustering import load_clusters, run_spark_clustering
    from jobs.spark.session import spark_job

    with spark_job(master, "tracer spark cluster") as spark:
        data = run_spark_clustering(spark, frames, out, chain, checksums=checksums)
    if case is not None:
        data["case"] = case
        data["loaded"] = load_clusters(app_context().session, case, out, [c["chain"] for c in data["chains"]])

    def human() -> None:
        for r in data["chains"]:
            stdout.print(table(f"Spark clustering of {r['chain']}", ["", ""], [
                ("clusters (2+ addresses)", r["clusters"]), ("addresses clustered", r["addresses_clustered"]),
                ("evidence edges", r["evidence_edges"]), ("CoinJoins skipped", r["coinjoins_skipped"]),
                ("component rounds", r["component_rounds"]), ("seconds", r["seconds"]), ("folder", r["folder"])]))
        if case is not None:
            stdout.print(f"loaded into case {case}: " + ", ".join(f"{r['chain']} {r['memberships']} memberships"
                                                                  for r in data["loaded"]))

    emit(data, as_json=json_, human=human)


@app.command("screen")
def screen(
    frames: FramesArg,
    wallets: Annotated[Path, typer.Option("--wallets", metavar="FILE",
                                          help="CSV or Parquet wallet list with an 'address' column.")],
    tags: Annotated[list[Path], typer.Option("--tags", metavar="FILE",
                                             help="TagPack (.yaml) or tag CSV (.csv); repeatable.")],
    out: OutOpt,
    chain: Annotated[str, typer.Option("--chain", "-c", metavar="CHAIN", help="Chain key of the wallets.")],
    hops: Annotated[int, typer.Option("--hops", metavar="N", min=1, help="Hops both ways.")] = 2,
    max_edges: Annotated[int, typer.Option("--max-edges", metavar="N", min=1,
                                           help="An untagged address with more edges is a large entity: "
                                                "not expanded.")] = 10_000,
    categories: Annotated[str | None, typer.Option("--categories", metavar="LIST",
                                                   help="Comma-separated categories (default: all).")] = None,
    master: MasterOpt = None,
    checksums: ChecksumOpt = True,
    json_: JsonOpt = False,
) -> None:
    """Exposure of a wallet list to tagged categories within N hops both ways, over a whole chain, on Spark.

    The haircut exposure of `tracer screen` in exact integers: one row per wallet, side, category and
    asset (amount, total, share_bp) in the Parquet folder DIR.

    Example: tracer spark screen /data/frames --chain btc --wallets flagged.csv --tags ofac.yaml --out /data/exposures
    """
    from jobs.spark.screening import run_spark_screening
    from jobs.spark.session import spark_job

    wanted = [c.strip() for c in categories.split(",") if c.strip()] if categories else None
    with spark_job(master, "tracer spark screen") as spark:
        data = run_spark_screening(spark, frames, chain, wallets, tags, out, hops=hops, max_edges=max_edges,
                                   categories=wanted, checksums=checksums)

    def human() -> None:
        stdout.print(table(f"Spark screening on {data['chain']}", ["", ""],
                           [(k, data[k]) for k in ("wallets", "rejected", "tags", "hops", "exposures",
                                                   "wallets_exposed", "seconds", "out")]))

    emit(data, as_json=json_, human=human)
