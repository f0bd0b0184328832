# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest frames``: chain data that arrives as canonical Parquet files, checked before loading.

A directory of ``<frame>.parquet`` files with a ``SHA256SUMS``: every file must match its sum and
its frame's schema, or nothing is loaded (exit 2). Loading the same directory twice adds nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import Cli
from tests.tracer.chain_builder import UtxoChain


@pytest.fixture()
def frame_dir(tmp_path: Path) -> Path:
    chain = UtxoChain("ltc-regtest")
    chain.coinbase("a", [("rltc1qqyqszqgpqyqszqgpqyqszqgpqyqszqgpjt8zj4", 5_000)])
    chain.tx("b", [("a", 0)], [("rltc1qqgpqyqszqgpqyqszqgpqyqszqgpqyqszr0p8er", 4_000)])
    out = tmp_path / "frames" / "ltc-regtest"
    out.mkdir(parents=True)
    frames = chain.frames()
    lines = []
    for name in ("transactions", "inputs", "outputs"):
        path = out / f"{name}.parquet"
        frames.frames()[name].write_parquet(path)
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  ltc-regtest/{name}.parquet")
    (tmp_path / "frames" / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return tmp_path / "frames"


def test_frames_load_into_the_case_store_once(cli: Cli, frame_dir: Path) -> None:
    cli("case", "create", "op-p")
    first = cli.json("ingest", "frames", str(frame_dir), "--case", "op-p")
    assert first["rows"] == {"transactions": 2, "inputs": 1, "outputs": 2}
    assert first["checksums_verified"] is True and len(first["files"]) == 3
    assert first["load"]["created"]["Transaction"] == 2
    again = cli.json("ingest", "frames", str(frame_dir), "--case", "op-p")
    assert sum(again["load"]["created"].values()) == 0
    assert cli.json("graph", "stats", "op-p")["nodes"]["Output"] == 2
    assert any(e["action"] == "ingest.frames" for e in cli.json("case", "log", "op-p"))


def test_a_changed_file_is_refused_and_nothing_is_loaded(cli: Cli, frame_dir: Path) -> None:
    cli("case", "create", "op-p")
    outputs = frame_dir / "ltc-regtest" / "outputs.parquet"
    pl.read_parquet(outputs).with_columns(pl.col("value") + 1).write_parquet(outputs)
    result = cli("ingest", "frames", str(frame_dir), "--case", "op-p")
    assert result.exit_code == 2
    assert "ltc-regtest/outputs.parquet does not match its SHA-256" in result.stderr
    assert cli.json("graph", "stats", "op-p")["nodes"]["Transaction"] == 0


def test_missing_checksums_or_a_wrong_schema_is_exit_2(cli: Cli, frame_dir: Path) -> None:
    cli("case", "create", "op-p")
    (frame_dir / "SHA256SUMS").unlink()
    result = cli("ingest", "frames", str(frame_dir), "--case", "op-p")
    assert result.exit_code == 2 and "no SHA256SUMS" in result.stderr
    inputs = frame_dir / "ltc-regtest" / "inputs.parquet"
    pl.read_parquet(inputs).drop("prev_index").write_parquet(inputs)
    result = cli("ingest", "frames", str(frame_dir), "--case", "op-p", "--no-checksums")
    assert result.exit_code == 2 and "prev_index" in result.stderr
    assert cli.json("graph", "stats", "op-p")["nodes"]["Transaction"] == 0
