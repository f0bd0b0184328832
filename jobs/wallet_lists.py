# SPDX-License-Identifier: Apache-2.0
"""Lists of wallets to screen (CSV or Parquet, hundreds of thousands of rows): every row validated
for its chain, the invalid ones kept as rejects with their line numbers, duplicates counted once."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from jobs.addresses import normal_address
from tracer.chains import ChainRegistry
from tracer.errors import InputError, TracerError

__all__ = ["Wallets", "read_wallets", "REJECT_COLUMNS"]

REJECT_COLUMNS = {"line": pl.Int64(), "value": pl.String(), "chain": pl.String(), "reason": pl.String()}


@dataclass(frozen=True)
class Wallets:
    rows: list[tuple[str, str, int]]  # chain, address (normal form), first input line
    rejects: pl.DataFrame
    duplicates: int
    read: int


def read_wallets(path: Path, registry: ChainRegistry, *, address_column: str, chain_column: str | None,
                 default_chain: str | None) -> Wallets:
    """Every row of ``path`` validated; the invalid ones as rejects with their line numbers."""
    if not path.is_file():
        raise InputError(f"{path} does not exist")
    records: Iterator[tuple[int, dict[str, Any]]]
    if path.suffix.lower() == ".parquet":
        try:
            frame = pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise InputError(f"{path} is not a readable Parquet file: {exc}") from None
        columns = frame.columns
        records = ((i + 1, r) for i, r in enumerate(frame.iter_rows(named=True)))  # row numbers, 1-based
    else:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path} cannot be read as UTF-8 text: {exc}") from None
        reader = csv.DictReader(io.StringIO(text))
        try:
            columns = list(reader.fieldnames or [])
        except csv.Error as exc:
            raise InputError(f"{path}, line 1: not a readable CSV header: {exc}") from None
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise InputError(f"{path}: column(s) {', '.join(repeated)} appear more than once in the header")

        def rows() -> Iterator[tuple[int, dict[str, Any]]]:
            try:
                for row in reader:
                    yield reader.line_num, row
            except csv.Error as exc:
                raise InputError(f"{path}, line {reader.line_num}: not readable as CSV ({exc}); "
                                 "nothing was screened") from None

        records = rows()
    if address_column not in columns:
        raise InputError(f"{path} has no column {address_column!r} (columns: {', '.join(columns) or 'none'}); "
                         "name the address column with --address-column")
    use_chain_column = chain_column if chain_column and chain_column in columns else None
    if chain_column and chain_column != "chain" and use_chain_column is None:
        raise InputError(f"{path} has no column {chain_column!r}")
    if use_chain_column is None and default_chain is None:
        raise InputError(f"{path} has no 'chain' column: give the chain of every row with --chain")
    seen: set[tuple[str, str]] = set()
    out: list[tuple[str, str, int]] = []
    rejects: list[dict[str, Any]] = []
    duplicates = read = 0
    for line, row in records:
        read += 1
        value = row.get(address_column)
        chain_key = (row.get(use_chain_column) if use_chain_column else None) or default_chain
        text = "" if value is None else str(value).strip()
        if None in row:  # csv.DictReader puts extra fields under None: a malformed line
            rejects.append({"line": line, "value": text, "chain": chain_key, "reason": "more fields than the header"})
            continue
        if not text:
            rejects.append({"line": line, "value": text, "chain": chain_key, "reason": "empty address"})
            continue
        try:
            chain = registry.get(str(chain_key))
            normal = normal_address(registry, chain.key, text)
        except TracerError as exc:
            rejects.append({"line": line, "value": text, "chain": chain_key, "reason": str(exc)})
            continue
        key = (chain.key, normal)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        out.append((chain.key, normal, line))
    out.sort()
    return Wallets(out, pl.DataFrame(rejects, schema=REJECT_COLUMNS) if rejects else pl.DataFrame(
        schema=REJECT_COLUMNS), duplicates, read)
