# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest csv``: transfers from a CSV file (exchange answers, explorer exports) into a case's store.

Orchestration only: read the file, map it with :func:`adapters.evm.csv_import.parse_transfers_csv`
(or, ``--preset tronscan``, :func:`adapters.tron.tronscan_csv.read_tronscan`; all rows or none),
load the frames. The ``source`` of every row names the file and its SHA-256, so
the evidence can be traced back to the exact file received.

The file is read once, as a stream of lines (hashed as they are read), and a line longer than
:data:`MAX_LINE_BYTES` is refused with its number: ``ingest csv /dev/zero`` stops at once instead of
filling the memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from adapters.evm.csv_import import CsvTransfers, parse_column_map, parse_transfers_csv, read_header
from adapters.tron.tronscan_csv import read_tronscan
from graph.base import GraphStore
from tracer.chains import Chain
from tracer.errors import InputError
from tracer.schema import FrameSet

__all__ = ["CsvImportSummary", "read_csv_file", "load_csv_frames", "MAX_LINE_BYTES"]

#: longest line of a CSV file (an explorer export's row is under 1 KiB)
MAX_LINE_BYTES = 65_536


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
    the tokens it names (nothing is loaded). The file is read once, line by line."""
    mapping = parse_column_map(column_map) if column_map else {}
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            parsed = _parse(_lines(handle, path, digest), chain, mapping, preset)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    sha256 = digest.hexdigest()
    source = f"csv:{path.name}#sha256:{sha256[:16]}"
    named = pl.lit(source, pl.String).alias("source")
    frames = FrameSet(transactions=parsed.frames.transactions.with_columns(named),
                      transfers=parsed.frames.transfers.with_columns(named))
    return frames, sha256, source, parsed.tokens


def _parse(lines: Iterator[str], chain: Chain, mapping: dict[str, str], preset: str | None) -> CsvTransfers:
    """The CSV's frames: the TronScan preset (:mod:`adapters.tron.tronscan_csv`) or the account-chain reader."""
    if preset != "tronscan":
        return parse_transfers_csv(lines, chain, mapping, preset=preset, source="")
    reader, header = read_header(lines)
    return read_tronscan(reader, header, mapping, chain, "")


def _lines(handle: BinaryIO, path: Path, digest: Any) -> Iterator[str]:
    """The file's lines as text, each at most :data:`MAX_LINE_BYTES` long, hashed into ``digest``."""
    number = 0
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        digest.update(raw)
        if len(raw) > MAX_LINE_BYTES:
            raise InputError(f"{path}, line {number}: longer than {MAX_LINE_BYTES:,} bytes; not a CSV of transfers")
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}, line {number}: not UTF-8 text (byte {exc.start + 1} of the line)") from None


def load_csv_frames(store: GraphStore, frames: FrameSet, path: Path, chain: Chain, digest: str,
                    source: str) -> CsvImportSummary:
    """Load frames from :func:`read_csv_file` and summarise what they hold."""
    report = store.load(frames)
    kinds = dict(sorted(frames.transfers.group_by("kind").agg(pl.len()).iter_rows()))
    return CsvImportSummary(chain=chain.key, file=str(path), sha256=digest, source=source,
                            transactions=frames.transactions.height, transfers=kinds,
                            created={k: v for k, v in sorted(report.created.items()) if v})
