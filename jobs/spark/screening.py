# SPDX-License-Identifier: Apache-2.0
"""``tracer spark screen``: the exposure of a wallet list over a whole chain's frames, on Spark
(:mod:`jobs.spark.exposure`), written as a Parquet folder of exposure rows."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import polars as pl

from jobs.addresses import address_normalizer
from jobs.spark.exposure import account_edges, spark_exposures, utxo_edges
from jobs.spark.frames import chain_frame, local_checksums
from jobs.wallet_lists import read_wallets
from tracer.chains import Family, default_registry
from tracer.errors import InputError, NotFoundError
from tracer.tagpacks import parse_tag_csv, parse_tagpack

__all__ = ["read_tag_files", "run_spark_screening"]


def read_tag_files(paths: list[Path], chain: str) -> pl.DataFrame:
    """The tags of TagPacks (``.yaml``) and tag CSVs (``.csv``) for ``chain`` (TAGS rows)."""
    registry = default_registry()
    normalize = address_normalizer(registry)
    parts = []
    for path in paths:
        if not path.is_file():
            raise NotFoundError(f"no tag file {path}")
        text = path.read_text(encoding="utf-8-sig")
        if path.suffix.lower() in (".yaml", ".yml"):
            parsed = parse_tagpack(text, path.name, registry, normalize=normalize)
        elif path.suffix.lower() == ".csv":
            parsed = parse_tag_csv(text, path.name, registry, normalize=normalize, chain=registry.get(chain))
        else:
            raise InputError(f"{path}: tags must be a TagPack (.yaml) or a tag CSV (.csv)")
        parts.append(parsed.tags)
    tags = pl.concat(parts, how="vertical") if parts else pl.DataFrame()
    return tags.filter(pl.col("chain") == chain) if tags.height else tags


def run_spark_screening(spark: Any, frames: str, chain: str, wallets_file: Path, tag_files: list[Path], out: Path,
                        *, hops: int, max_edges: int, categories: list[str] | None,
                        checksums: bool = True) -> dict[str, Any]:
    """Screen the wallets of ``wallets_file`` (``address`` column) against ``tag_files`` over ``chain``'s
    frames; writes ``out`` (Parquet folder: chain, wallet, side, category, asset, amount, total, share_bp)."""
    registry = default_registry()
    key = registry.get(chain).key
    if checksums:
        local_checksums(frames)
    wallets = read_wallets(wallets_file, registry, address_column="address", chain_column=None, default_chain=key)
    addresses = sorted({a for c, a, _ in wallets.rows if c == key})
    tags = read_tag_files(tag_files, key)
    if categories is not None and tags.height:
        tags = tags.filter(pl.col("category").is_in(categories))
    started = time.monotonic()
    if registry.get(key).family is Family.ACCOUNT:
        edges = account_edges(chain_frame(spark, frames, key, "transfers"))
    else:
        edges = utxo_edges(chain_frame(spark, frames, key, "inputs"), chain_frame(spark, frames, key, "outputs"))
    wallet_frame = spark.createDataFrame([(a,) for a in addresses], "address string")
    tag_rows = tags.select("address", "category").rows() if tags.height else []
    tag_frame = spark.createDataFrame(tag_rows, "address string, category string")
    rows = spark_exposures(spark, key, edges, wallet_frame, tag_frame, hops=hops, max_edges=max_edges)
    rows.orderBy("wallet", "side", "category", "asset").write.mode("overwrite").parquet(str(out))
    written = spark.read.parquet(str(out))
    return {"chain": key, "frames": frames, "out": str(out), "wallets": len(addresses),
            "rejected": wallets.rejects.height, "tags": tags.height, "hops": hops,
            "exposures": written.count(), "wallets_exposed": written.select("wallet").distinct().count(),
            "seconds": round(time.monotonic() - started, 2)}
