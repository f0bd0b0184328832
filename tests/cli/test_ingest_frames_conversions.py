# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest frames`` with conversions and bridge events: ``conversions.parquet`` and
``bridge_events.parquet`` are optional members of a frames directory, checked like the others
(SHA256SUMS, schema, addresses of their row's chain) and loaded into the case store once.

The frames are the hand-written mainnet-shaped set of ``tests/graph/test_store_conversions.py``: V2
swaps, a WETH wrap and a two-pool route on ``eth``, an Across deposit on ``eth`` and its release on
``eth-sepolia``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest

from graph.embedded import EmbeddedStore
from tests.cli.test_ingest_frames import _nothing_loaded, _rewrite
from tests.conftest import Cli
from tests.graph.test_store_conversions import ALICE, B2, CAROL, R1, event_frames


@pytest.fixture()
def event_dir(tmp_path: Path) -> Path:
    """One sub-directory per chain with its transactions, transfers, conversions and bridge events."""
    frames = event_frames()
    out = tmp_path / "frames"
    lines = []
    for chain in ("eth", "eth-sepolia"):
        (out / chain).mkdir(parents=True)
        for name, frame in frames.frames().items():
            rows = frame.filter(pl.col("chain") == chain)
            if rows.height:
                path = out / chain / f"{name}.parquet"
                rows.write_parquet(path)
                lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {chain}/{name}.parquet")
    (out / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return out


def test_conversions_and_bridge_events_load_into_the_case_once(
        cli: Cli, event_dir: Path, tracer_home: Path) -> None:
    cli("case", "create", "op-swap")
    first = cli.json("ingest", "frames", str(event_dir), "--case", "op-swap")
    assert first["rows"] == {"transactions": 5, "transfers": 8, "conversions": 4, "bridge_events": 2}
    assert "eth/conversions.parquet" in first["files"] and "eth-sepolia/bridge_events.parquet" in first["files"]
    assert first["load"]["created"]["CONVERTED"] == 4 and first["load"]["created"]["BridgeEvent"] == 2
    again = cli.json("ingest", "frames", str(event_dir), "--case", "op-swap")
    assert sum(again["load"]["created"].values()) == 0
    assert again["load"]["unchanged"]["CONVERTED"] == 4
    with EmbeddedStore.open(tracer_home / "cases" / "op-swap" / "graph.lbug", read_only=True) as store:
        stored = store.read_frames()
        expected = event_frames().sorted()
        assert stored.conversions.to_dicts() == expected.conversions.to_dicts()
        assert stored.bridge_events.to_dicts() == expected.bridge_events.to_dicts()


def test_a_bad_trader_address_is_refused_naming_column_and_row(cli: Cli, event_dir: Path) -> None:
    cli("case", "create", "op-swap")
    _rewrite(event_dir, "eth/conversions.parquet", lambda f: f.with_columns(
        pl.when(pl.col("log_index") == 44).then(pl.lit("0xDEADBEEF")).otherwise(pl.col("trader")).alias("trader")))
    assert _nothing_loaded(cli, "op-swap", event_dir) == (
        "error: invalid eth address '0xDEADBEEF': expected 0x followed by 40 hexadecimal digits "
        f"(in conversions.trader, row eth:{R1}:44)")


def test_a_conversion_file_that_changed_after_its_checksum_is_refused(cli: Cli, event_dir: Path) -> None:
    cli("case", "create", "op-swap")
    path = event_dir / "eth" / "conversions.parquet"
    pl.read_parquet(path).with_columns(pl.col("value_out") + 1).write_parquet(path)
    assert _nothing_loaded(cli, "op-swap", event_dir) == (
        "error: eth/conversions.parquet does not match its SHA-256 in SHA256SUMS: the file was changed")


def test_the_other_chains_side_of_a_bridge_event_is_checked_only_where_it_is_an_evm_address(
        cli: Cli, event_dir: Path) -> None:
    cli("case", "create", "op-swap")
    # a release's depositor is an origin-chain address: a 32-byte (non-EVM) form is kept as text ...
    solana_style = "0x" + "7f" * 32
    _rewrite(event_dir, "eth-sepolia/bridge_events.parquet",
             lambda f: f.with_columns(pl.lit(solana_style).alias("depositor")))
    cli.json("ingest", "frames", str(event_dir), "--case", "op-swap")
    # ... but an EVM address there must be valid and EIP-55, as it is matched with the deposit's by text
    _rewrite(event_dir, "eth-sepolia/bridge_events.parquet",
             lambda f: f.with_columns(pl.lit(ALICE.lower()).alias("depositor")))
    assert _nothing_loaded(cli, "op-swap", event_dir) == (
        f"error: invalid eth address '{ALICE.lower()}': not in its normal form '{ALICE}' "
        f"(in bridge_events.depositor, row eth-sepolia:{B2}:2)")
    # the local side is an address of the row's chain, always checked
    _rewrite(event_dir, "eth-sepolia/bridge_events.parquet",
             lambda f: f.with_columns(pl.lit(ALICE).alias("depositor"), pl.lit(CAROL.lower()).alias("recipient")))
    assert "(in bridge_events.recipient, row eth-sepolia:" in _nothing_loaded(cli, "op-swap", event_dir)
