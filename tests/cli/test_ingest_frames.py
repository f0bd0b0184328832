# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest frames``: chain data that arrives as canonical Parquet files, checked before loading.

A directory of ``<frame>.parquet`` files with a ``SHA256SUMS``: every file must match its sum and
its frame's schema, or nothing is loaded (exit 2). Loading the same directory twice adds nothing.
"""

from __future__ import annotations

import hashlib
import json
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


def _claim(frame_dir: Path, heights: list[int]) -> None:
    """An export's claim that it holds these blocks completely, listed in SHA256SUMS."""
    path = frame_dir / "ltc-regtest" / "coverage.json"
    path.write_text(json.dumps({"chain": "ltc-regtest", "complete_blocks": [heights]}))
    with (frame_dir / "SHA256SUMS").open("a") as sums:
        sums.write(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  ltc-regtest/coverage.json\n")


def test_an_exports_complete_blocks_are_recorded_like_a_block_range_ingest(
        cli: Cli, frame_dir: Path, tracer_home: Path) -> None:
    mined = pl.read_parquet(frame_dir / "ltc-regtest" / "transactions.parquet").filter(pl.col("is_coinbase"))
    height = int(mined["block_height"][0])  # the one block whose coinbase the frames hold
    _claim(frame_dir, [height, height])
    cli("case", "create", "op-p")
    loaded = cli.json("ingest", "frames", str(frame_dir), "--case", "op-p")
    assert loaded["complete_blocks"] == {"ltc-regtest": [[height, height]]}
    checkpoint = json.loads((tracer_home / "cases" / "op-p" / "graph.lbug.ingest" / "ltc-regtest.json").read_text())
    assert checkpoint["done"] == [[height, height]]


def test_a_claim_of_complete_blocks_the_frames_do_not_hold_is_refused(cli: Cli, frame_dir: Path) -> None:
    transactions = pl.read_parquet(frame_dir / "ltc-regtest" / "transactions.parquet")
    mined = int(transactions.filter(pl.col("is_coinbase"))["block_height"][0])
    last = int(transactions["block_height"].max())  # type: ignore[arg-type]
    _claim(frame_dir, [mined, last])  # the spend's block: its coinbase is not in the frames
    cli("case", "create", "op-p")
    refused = cli("ingest", "frames", str(frame_dir), "--case", "op-p")
    assert refused.exit_code == 2 and f"claims block {last} complete" in refused.stderr
    assert cli.json("graph", "stats", "op-p")["nodes"]["Transaction"] == 0
