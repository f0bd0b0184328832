# SPDX-License-Identifier: Apache-2.0
"""What every graph export shares (:mod:`graph.export`, :mod:`graph.export_graphml`): file names,
column kinds, tables prepared for text output with exact amounts, and SHA-256 listings."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from graph.model import NODE_LABELS, REL_TYPES, TRACE_LABELS, TRACE_REL_TYPES
from tracer.units import join_from_frame

SHA256SUMS = "SHA256SUMS"
#: every node label and relationship type an export may hold, in file order
ALL_LABELS = (*NODE_LABELS, *TRACE_LABELS)
ALL_TYPES = (*REL_TYPES, *TRACE_REL_TYPES)

# column kinds: how a polars column is written outside Parquet
_LONG, _BOOLEAN, _STRING, _DECIMAL, _DATETIME = "long", "boolean", "string", "decimal", "datetime"

# ---------------------------------------------------------------------------------------------
# shared: which tables, in which order, with which columns


def node_file_name(label: str, suffix: str) -> str:
    """``nodes_<Label>.<suffix>``."""
    return f"nodes_{label}.{suffix}"


def rel_file_name(rel_type: str, suffix: str) -> str:
    """``rels_<TYPE>.<suffix>``."""
    return f"rels_{rel_type}.{suffix}"


def _column_kind(dtype: pl.DataType, where: str) -> str:
    if dtype == pl.Boolean:
        return _BOOLEAN
    if dtype.is_integer():
        return _LONG
    if isinstance(dtype, pl.Decimal):
        return _DECIMAL
    if dtype in (pl.String, pl.Null):
        return _STRING
    if isinstance(dtype, pl.Datetime):
        return _DATETIME
    raise TypeError(f"{where} has type {dtype}, which the graph exports do not write (floats are never amounts)")


def iso_utc(value: datetime) -> str:
    """``2026-03-05T09:00:00Z`` (what ``neo4j-admin`` reads into a ``:datetime`` column)."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sorted_nodes(frame: pl.DataFrame) -> pl.DataFrame:
    """``uid`` first, the model's column order after it, rows by ``uid``."""
    columns = ["uid", *[c for c in frame.columns if c != "uid"]]
    return frame.select(columns).sort(columns, nulls_last=True)


def _sorted_rels(frame: pl.DataFrame) -> pl.DataFrame:
    """``start``, ``end`` first, the model's column order after; rows by every column."""
    columns = ["start", "end", *[c for c in frame.columns if c not in ("start", "end")]]
    return frame.select(columns).sort(columns, nulls_last=True)


def _present(tables: dict[str, pl.DataFrame], names: Sequence[str]) -> Iterator[tuple[str, pl.DataFrame]]:
    """Known tables in model order, then any others by name; empty ones skipped."""
    order = [n for n in names if n in tables] + sorted(n for n in tables if n not in names)
    for name in order:
        if tables[name].height:
            yield name, tables[name]


class _Table:
    """A table prepared for the text exports: fixed columns, kinds, rows with exact amounts."""

    def __init__(self, name: str, frame: pl.DataFrame) -> None:
        self.name = name
        joined = "value" in frame.columns and "value_overflow" in frame.columns
        self.columns = [c for c in frame.columns if not (joined and c == "value_overflow")]
        self.kinds = {c: _column_kind(frame.schema[c], f"{name}.{c}") for c in self.columns}
        self._frame = frame
        self._joined = joined

    def rows(self) -> Iterator[dict[str, Any]]:
        """Rows as dicts; decimals as exact integer text, ``value``/``value_overflow`` joined."""
        for row in self._frame.iter_rows(named=True):
            out: dict[str, Any] = {}
            for column in self.columns:
                value = row[column]
                if self._joined and column == "value":
                    if value is None and row["value_overflow"] is None:
                        out[column] = None
                    else:
                        out[column] = str(join_from_frame(value, row["value_overflow"]))
                    continue
                if value is not None and self.kinds[column] == _DECIMAL:
                    value = str(join_from_frame(value, None))
                elif value is not None and self.kinds[column] == _DATETIME:
                    value = iso_utc(value)
                out[column] = value
            yield out


# ---------------------------------------------------------------------------------------------
# checksums


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_sha256sums(out_dir: Path, files: Iterable[Path], name: str = SHA256SUMS) -> Path:
    """Write ``<sha256>  <file name>`` lines (``sha256sum -c`` format), sorted by name; returns the path."""
    lines = [f"{file_sha256(f)}  {f.name}\n" for f in sorted(files, key=lambda f: f.name) if f.name != name]
    target = Path(out_dir) / name
    target.write_bytes("".join(lines).encode("utf-8"))
    return target


def _write_text(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def _remove_stale(out_dir: Path, suffix: str, written: set[str]) -> None:
    """Remove our own files for labels/types that are empty now (never any other file)."""
    names = [node_file_name(label, suffix) for label in ALL_LABELS]
    names += [rel_file_name(rel_type, suffix) for rel_type in ALL_TYPES]
    for name in names:
        stale = out_dir / name
        if name not in written and stale.is_file():
            stale.unlink()


