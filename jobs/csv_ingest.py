# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest csv``: transfers from a CSV file (exchange answers, explorer exports) into a case's store.

Orchestration only: read the file, map it with :func:`adapters.evm.csv_import.read_transfers_csv`
(all rows or none), load the frames. The ``source`` of every row names the file and its SHA-256, so
the evidence can be traced back to the exact file received.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from adapters.evm.csv_import import csv_tokens, parse_column_map, read_transfers_csv
from graph.base import GraphStore
from tracer.chains import Chain
from tracer.errors import InputError
from tracer.schema import FrameSet

__all__ = ["CsvImportSummary", "read_csv_file", "load_csv_frames"]


@dataclass
class CsvImportSummary:
    chain: str
    file: str
    sha256: str
    source: str
    transactions: int
    transfers: dict[str, int] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_csv_file(path: Path, chain: Chain, column_map: str | None,
                  preset: str | None) -> tuple[FrameSet, str, str, dict[str, dict[str, Any]]]:
    """The frames of a CSV file, its SHA-256, the ``source`` given to its rows and the metadata of
    the tokens it names (nothing is loaded)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    digest = hashlib.sha256(data).hexdigest()
    source = f"csv:{path.name}#sha256:{digest[:16]}"
    mapping = parse_column_map(column_map) if column_map else {}
    frames = read_transfers_csv(text, chain, mapping, preset=preset, source=source)
    return frames, digest, source, csv_tokens(text, chain, mapping, preset=preset)


def load_csv_frames(store: GraphStore, frames: FrameSet, path: Path, chain: Chain, digest: str,
                    source: str) -> CsvImportSummary:
    """Load frames from :func:`read_csv_file` and summarise what they hold."""
    report = store.load(frames)
    kinds = dict(sorted(frames.transfers.group_by("kind").agg(pl.len()).iter_rows()))
    return CsvImportSummary(chain=chain.key, file=str(path), sha256=digest, source=source,
                            transactions=frames.transactions.height, transfers=kinds,
                            created={k: v for k, v in sorted(report.created.items()) if v})
