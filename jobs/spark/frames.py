# SPDX-License-Identifier: Apache-2.0
"""Canonical frames as Spark DataFrames: ``FRAMES_DIR/<chain>/{transactions,inputs,outputs,transfers}.parquet``
(the layout of ``tracer ingest frames`` and ``fixtures/op-fixture/frames``), on a local disk, HDFS or
an object store — any path Spark reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracer.chains import Family, default_registry
from tracer.errors import InputError, NotFoundError

__all__ = ["FRAME_NAMES", "chain_frame", "frame_chains", "local_checksums"]

FRAME_NAMES = ("transactions", "inputs", "outputs", "transfers")


def _is_local(root: str) -> bool:
    return "://" not in root or root.startswith("file://")


def frame_chains(root: str, family: Family | None = None) -> list[str]:
    """The chains of a local frames directory (sub-folders with frames), optionally of one family."""
    base = Path(root.removeprefix("file://"))
    if not base.is_dir():
        raise NotFoundError(f"no frames directory {root}")
    registry = default_registry()
    found = []
    for sub in sorted(p for p in base.iterdir() if p.is_dir() and any((p / f"{n}.parquet").exists()
                                                                       for n in FRAME_NAMES)):
        if family is None or (sub.name in registry and registry.get(sub.name).family is family):
            found.append(sub.name)
    return found


def chain_frame(spark: Any, root: str, chain: str, name: str) -> Any:
    """One canonical frame of one chain (rows of other chains dropped)."""
    if name not in FRAME_NAMES:
        raise InputError(f"unknown frame {name!r}")
    path = f"{root.rstrip('/')}/{chain}/{name}.parquet"
    if _is_local(root) and not Path(path.removeprefix("file://")).exists():
        raise NotFoundError(f"no {name} frame for {chain} in {root} ({path})")
    from pyspark.sql import functions as F

    return spark.read.parquet(path).filter(F.col("chain") == chain)


def local_checksums(root: str) -> None:
    """Check a local frames directory against its ``SHA256SUMS`` (as ``tracer ingest frames`` does);
    a remote one (``hdfs://``, ``s3a://``) is read as it is."""
    if not _is_local(root):
        return
    import hashlib

    base = Path(root.removeprefix("file://"))
    sums = base / "SHA256SUMS"
    if not sums.is_file():
        raise InputError(f"{base} has no SHA256SUMS file: the frames' integrity cannot be checked "
                         "(pass --no-checksums to read them anyway)")
    for number, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        path = (base / name.strip().removeprefix("*")).resolve()
        if not path.is_relative_to(base.resolve()):
            raise InputError(f"{sums}, line {number}: {name!r} leads outside the frames directory")
        if not path.is_file():
            raise InputError(f"{sums}, line {number}: {name} is missing")
        h = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != digest.lower():
            raise InputError(f"{path} does not match its SHA-256 in {sums}: the frames were changed")
