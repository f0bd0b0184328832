# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest frames``: load canonical frames from Parquet files into a case's store.

For chain data that arrives as files rather than from a node: the project's own fixture chains,
a partner agency's export, a colleague's case. The directory holds ``<frame>.parquet`` files
(``transactions``, ``inputs``, ``outputs``, ``transfers``, ``tags``, ``clusters``), directly or in one
sub-directory per chain, and a ``SHA256SUMS`` file (``sha256sum`` format, relative paths) that
is checked before anything is read: a file that does not match its sum is refused and nothing is
loaded. Every frame is checked against its canonical schema (``tracer/schema.py``) the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

import polars as pl

from tracer.errors import InputError, NotFoundError, SchemaError
from tracer.schema import FRAMES, FrameSet, conform

__all__ = ["read_frame_dir", "read_token_files", "FRAME_FILES"]

#: the frames a directory may hold (seeds belong to cases, not to chain data)
FRAME_FILES = ("transactions", "inputs", "outputs", "transfers", "tags", "clusters")


def _checksums(directory: Path) -> dict[str, str]:
    sums = directory / "SHA256SUMS"
    if not sums.is_file():
        raise InputError(f"{directory} has no SHA256SUMS file: the files' integrity cannot be checked "
                         "(pass --no-checksums to load them anyway)")
    out: dict[str, str] = {}
    for number, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise InputError(f"{sums}, line {number}: expected '<sha256>  <relative path>'")
        out[name.strip().removeprefix("*")] = digest.lower()
    return out


def read_frame_dir(directory: Path, *, verify: bool = True) -> tuple[FrameSet, dict[str, Any]]:
    """All frames under ``directory`` as one checked :class:`FrameSet`, and what was read (file -> sha256)."""
    if not directory.is_dir():
        raise NotFoundError(f"{directory} is not a directory")
    files = sorted(p for p in directory.rglob("*.parquet") if p.stem in FRAME_FILES)
    if not files:
        raise InputError(f"{directory} holds no frame files ({', '.join(f + '.parquet' for f in FRAME_FILES)})")
    sums = _checksums(directory) if verify else {}
    read: dict[str, str] = {}
    parts: dict[str, list[pl.DataFrame]] = {name: [] for name in FRAME_FILES}
    for path in files:
        relative = path.relative_to(directory).as_posix()
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if verify:
            if relative not in sums:
                raise InputError(f"{relative} is not listed in {directory / 'SHA256SUMS'}")
            if sums[relative] != digest:
                raise InputError(f"{relative} does not match its SHA-256 in SHA256SUMS: the file was changed")
        read[relative] = digest
        try:
            frame = pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise InputError(f"{relative} is not a readable Parquet file: {exc}") from None
        try:
            parts[path.stem].append(conform(frame, FRAMES[path.stem]))
        except SchemaError as exc:
            raise SchemaError(f"{relative}: {exc}") from None
    for listed in sorted(set(sums) - set(read)):  # e.g. tokens.json: listed files must match too
        path = directory / listed
        if not path.is_file():
            raise InputError(f"{listed} is listed in SHA256SUMS but missing")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sums[listed]:
            raise InputError(f"{listed} does not match its SHA-256 in SHA256SUMS: the file was changed")
        read[listed] = digest
    frames = FrameSet(**{name: pl.concat(p, how="vertical") if p else FrameSet().frames()[name]
                         for name, p in parts.items()})
    return frames.validate(), read


def read_token_files(directory: Path) -> dict[str, dict[str, Any]]:
    """Token metadata shipped with the frames: ``<chain>/tokens.json`` in the format of the EVM
    ingest's token cache (``{"chain": ..., "tokens": {contract: {"symbol", "name", "decimals"}}}``)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*/tokens.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            tokens = data["tokens"]
            if not isinstance(tokens, dict) or data.get("chain") != path.parent.name:
                raise ValueError("unexpected layout")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path.relative_to(directory)}: not a token metadata file ({exc})") from None
        out[path.parent.name] = tokens
    return out


def read_coverage_files(directory: Path, frames: FrameSet, utxo_chains: set[str],
                        verified: Collection[str]) -> dict[str, list[tuple[int, int]]]:
    """The block heights an export says it holds completely: ``<chain>/coverage.json``
    (``{"chain": ..., "complete_blocks": [[lo, hi], ...]}``, written from a block-range ingest's
    checkpoint). Only a checked claim is taken: the caller reads these files only when SHA256SUMS
    was verified, and on a UTXO chain every claimed block must have its coinbase in the frames."""
    out: dict[str, list[tuple[int, int]]] = {}
    for path in sorted(directory.glob("*/coverage.json")):
        chain = path.parent.name
        relative = path.relative_to(directory).as_posix()
        if relative not in verified:
            raise InputError(f"{relative} is not listed in {directory / 'SHA256SUMS'}: a claim of complete blocks "
                             "must be checked like the frames")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            intervals = [(int(lo), int(hi)) for lo, hi in data["complete_blocks"]]
            if data.get("chain") != chain or any(lo < 0 or hi < lo for lo, hi in intervals):
                raise ValueError("unexpected layout")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{relative}: not a block coverage file ({exc})") from None
        if chain in utxo_chains:
            mined = set(frames.transactions.filter((pl.col("chain") == chain) & pl.col("is_coinbase"))
                        ["block_height"].to_list())
            lacking = [h for lo, hi in intervals for h in range(lo, hi + 1) if h not in mined]
            if lacking:
                raise InputError(f"{relative} claims block {lacking[0]} complete, but the frames lack its coinbase "
                                 "transaction")
        out[chain] = intervals
    return out
