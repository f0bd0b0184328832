# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest frames``: chain data that arrives as canonical Parquet files, checked before loading.

A directory of ``<frame>.parquet`` files with a ``SHA256SUMS``: every file must match its sum and
its frame's schema, or nothing is loaded (exit 2). Loading the same directory twice adds nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.conftest import Cli
from tests.tracer.chain_builder import UtxoChain
from tracer.schema import TRANSACTIONS, TRANSFERS


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


def _resum(frame_dir: Path, extra: tuple[str, ...] = ()) -> None:
    """Write SHA256SUMS for every frame file under ``frame_dir`` (as the exporter would), plus ``extra`` lines."""
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(frame_dir).as_posix()}"
             for p in sorted(frame_dir.rglob("*.parquet"))]
    (frame_dir / "SHA256SUMS").write_text("\n".join([*lines, *extra]) + "\n")


def _rewrite(frame_dir: Path, relative: str, change: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
    path = frame_dir / relative
    change(pl.read_parquet(path)).write_parquet(path)
    _resum(frame_dir)


A = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
B = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
TOKEN = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
TX1, TX2 = "0x" + "11" * 32, "0x" + "22" * 32


@pytest.fixture()
def eth_dir(tmp_path: Path) -> Path:
    """Two eth transactions: 1.5 ETH from A to B, then 250 base units of a token from B to A."""
    block = {"block_height": 19_000_000, "block_hash": "0x" + "ab" * 32, "timestamp": 1_704_067_200}
    transactions = pl.DataFrame([
        {"chain": "eth", "txid": TX1, **block, "position": 0, "fee": Decimal(441_000_000_000_000),
         "is_coinbase": False, "source": "partner-export"},
        {"chain": "eth", "txid": TX2, **block, "position": 1, "fee": Decimal(500_000_000_000_000),
         "is_coinbase": False, "source": "partner-export"},
    ], schema=TRANSACTIONS.polars_schema)
    common = {"chain": "eth", **block, "trace_path": None, "token_id": None, "value_overflow": None,
              "source": "partner-export"}
    transfers = pl.DataFrame([
        {**common, "txid": TX1, "tx_index": 0, "kind": "native", "log_index": None, "asset": "native",
         "from_address": A, "to_address": B, "value": Decimal(1_500_000_000_000_000_000)},
        {**common, "txid": TX2, "tx_index": 1, "kind": "token", "log_index": 0, "asset": TOKEN,
         "from_address": B, "to_address": A, "value": Decimal(250)},
    ], schema=TRANSFERS.polars_schema)
    out = tmp_path / "eth-frames"
    (out / "eth").mkdir(parents=True)
    transactions.write_parquet(out / "eth" / "transactions.parquet")
    transfers.write_parquet(out / "eth" / "transfers.parquet")
    _resum(out)
    return out


def _nothing_loaded(cli: Cli, case: str, directory: Path) -> str:
    """Ingest ``directory`` into ``case``: refused with exit 2 and one error line, nothing loaded."""
    before = cli.json("graph", "stats", case)
    result = cli("ingest", "frames", str(directory), "--case", case)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "unexpected error" not in result.stderr, result.stderr
    assert cli.json("graph", "stats", case) == before
    return result.stderr.strip()


def test_an_address_that_is_not_valid_on_its_chain_is_refused(cli: Cli, frame_dir: Path, eth_dir: Path) -> None:
    cli("case", "create", "op-p")
    _rewrite(frame_dir, "ltc-regtest/outputs.parquet",
             lambda f: f.with_columns(pl.lit("Robert'); DROP TABLE--").alias("address")))
    assert _nothing_loaded(cli, "op-p", frame_dir) == (
        "error: invalid ltc-regtest address \"Robert'); DROP TABLE--\": not a Base58 or Bech32 address "
        "(in outputs.address)")
    # valid, but not the form the store keeps (EIP-55): a lower-case address would be a second node
    _rewrite(eth_dir, "eth/transfers.parquet",
             lambda f: f.with_columns(pl.col("to_address").str.replace(B, B.lower(), literal=True)))
    assert _nothing_loaded(cli, "op-p", eth_dir) == (
        f"error: invalid eth address '{B.lower()}': not in its normal form '{B}' (in transfers.to_address)")


def test_an_address_of_another_chain_or_an_unknown_chain_is_refused(cli: Cli, eth_dir: Path) -> None:
    cli("case", "create", "op-p")
    _rewrite(eth_dir, "eth/transfers.parquet", lambda f: f.with_columns(
        pl.lit("rltc1qqyqszqgpqyqszqgpqyqszqgpqyqszqgpjt8zj4").alias("from_address")))
    assert _nothing_loaded(cli, "op-p", eth_dir) == (
        "error: invalid eth address 'rltc1qqyqszqgpqyqszqgpqyqszqgpqyqszqgpjt8zj4': expected 0x followed by 40 "
        "hexadecimal digits (in transfers.from_address)")
    for frame in ("transactions", "transfers"):
        _rewrite(eth_dir, f"eth/{frame}.parquet", lambda f: f.with_columns(pl.lit("eth-mainnet").alias("chain")))
    assert _nothing_loaded(cli, "op-p", eth_dir).startswith("error: unknown chain 'eth-mainnet'; known chains: btc,")


@pytest.mark.parametrize("listed", ["../outside.parquet", "/etc/hostname", "eth/../../outside.parquet"])
def test_checksum_entries_must_stay_inside_the_frame_directory(cli: Cli, eth_dir: Path, listed: str) -> None:
    (eth_dir.parent / "outside.parquet").write_bytes(b"not a frame")
    _resum(eth_dir, (f"{'0' * 64}  {listed}",))
    cli("case", "create", "op-p")
    assert _nothing_loaded(cli, "op-p", eth_dir) == (
        f"error: {eth_dir / 'SHA256SUMS'}, line 3: {listed!r} is not a relative path inside the frame directory")


def test_a_checksum_entry_that_links_out_of_the_directory_is_refused(cli: Cli, eth_dir: Path) -> None:
    (eth_dir / "eth" / "notes.txt").symlink_to("/etc/hostname")
    _resum(eth_dir, (f"{'0' * 64}  eth/notes.txt",))
    cli("case", "create", "op-p")
    assert _nothing_loaded(cli, "op-p", eth_dir) == (
        f"error: {eth_dir / 'SHA256SUMS'}, line 3: 'eth/notes.txt' leads outside the frame directory")


@pytest.mark.parametrize(("relative", "change", "message"), [
    ("eth/transfers.parquet", lambda f: f.with_columns(value=None, value_overflow=pl.lit(str(2**256))),
     f"transfers.value_overflow holds '{2**256}': not an amount below 2**256 without leading zeros"),
    ("eth/transfers.parquet", lambda f: f.with_columns(value=pl.col("value").cast(pl.String) + "E+3"),
     "eth/transfers.parquet: transfers.value holds '1500000000000000000E+3', not a whole number of ASCII digits"),
    ("eth/transfers.parquet", lambda f: f.with_columns(log_index=pl.lit(str(2**70))),
     f"eth/transfers.parquet: transfers.log_index holds '{2**70}', which does not fit its type Int64"),
    ("eth/transfers.parquet", lambda f: f.with_columns(log_index=pl.lit(-1)),
     "transfers.log_index holds -1; chain data has no negative numbers"),
    ("eth/transactions.parquet", lambda f: f.with_columns(block_height=pl.lit(2**64 - 1, pl.UInt64)),
     f"eth/transactions.parquet: transactions.block_height holds '{2**64 - 1}', which does not fit its type Int64"),
    ("eth/transactions.parquet", lambda f: f.with_columns(block_height=pl.lit("١٩")),
     "eth/transactions.parquet: transactions.block_height holds '١٩', not a whole number of ASCII digits"),
    ("eth/transactions.parquet", lambda f: f.with_columns(timestamp=pl.lit(10**18)),
     f"transactions.timestamp holds {10**18}, after 9999-12-31 (UNIX seconds up to 253402300799)"),
    ("eth/transactions.parquet", lambda f: f.with_columns(position=pl.col("position").cast(pl.Float64) + 0.5),
     "eth/transactions.parquet: transactions.position is a float column; it must hold whole numbers"),
    ("eth/transactions.parquet", lambda f: f.with_columns(txid=pl.lit("Robert'); DROP TABLE--")),
     "transactions.txid holds \"Robert'); DROP TABLE--\", not a transaction hash of eth (0x and 64 lower-case "
     "hex digits)"),
])
def test_values_chain_data_cannot_hold_are_bad_input(
        cli: Cli, eth_dir: Path, relative: str, change: Callable[[pl.DataFrame], pl.DataFrame], message: str) -> None:
    _rewrite(eth_dir, relative, change)
    cli("case", "create", "op-p")
    assert _nothing_loaded(cli, "op-p", eth_dir) == f"error: {message}"


def test_a_reingest_that_contradicts_the_store_is_refused_whole(cli: Cli, eth_dir: Path) -> None:
    cli("case", "create", "op-p")
    first = cli.json("ingest", "frames", str(eth_dir), "--case", "op-p")
    assert first["load"]["created"]["TRANSFER"] == 2
    original = {p: p.read_bytes() for p in eth_dir.rglob("*") if p.is_file()}

    def again(*changes: tuple[str, Callable[[pl.DataFrame], pl.DataFrame]]) -> str:
        for path, data in original.items():
            path.write_bytes(data)
        for relative, change in changes:
            _rewrite(eth_dir, relative, change)
        return _nothing_loaded(cli, "op-p", eth_dir)

    def later(f: pl.DataFrame) -> pl.DataFrame:  # the second transaction an hour later
        return f.with_columns(pl.when(pl.col("txid") == TX2).then(pl.col("timestamp") + 3600)
                              .otherwise(pl.col("timestamp")))

    assert again(("eth/transfers.parquet", lambda f: f.with_columns(pl.col("value") * 2))) == (
        "error: 2 transfers of this batch disagree with the store, nothing was loaded: "
        f"transfer eth:{TX1}:native:-1:: value stored 1500000000000000000 but given 3000000000000000000; "
        f"transfer eth:{TX2}:token:0:: value stored 250 but given 500")
    assert again(("eth/transactions.parquet", later), ("eth/transfers.parquet", later)) == (
        "error: 1 transaction of this batch disagrees with the store, nothing was loaded: "
        f"transaction eth:{TX2}: timestamp stored 1704067200 but given 1704070800")
    assert again(("eth/transactions.parquet", lambda f: f.with_columns(pl.col("fee") + 1))) == (
        "error: 2 transactions of this batch disagree with the store, nothing was loaded: "
        f"transaction eth:{TX1}: fee stored 441000000000000 but given 441000000000001; "
        f"transaction eth:{TX2}: fee stored 500000000000000 but given 500000000000001")
    assert again(("eth/transfers.parquet", lambda f: f.with_columns(
        pl.col("to_address").str.replace(A, "0x" + "1" * 40, literal=True)))) == (
        "error: 1 transfer of this batch disagrees with the store, nothing was loaded: "
        f"transfer eth:{TX2}:token:0:: to_address stored eth:{A} but given eth:0x{'1' * 40}")
    for path, data in original.items():
        path.write_bytes(data)
    unchanged = cli.json("ingest", "frames", str(eth_dir), "--case", "op-p")  # the same data: nothing new
    assert sum(unchanged["load"]["created"].values()) == 0


def test_an_ingest_interrupted_after_it_wrote_is_reported_by_case_verify(
        cli: Cli, frame_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from graph.embedded import EmbeddedStore

    cli("case", "create", "op-p")
    real_load = EmbeddedStore.load

    def load_then_ctrl_c(self: EmbeddedStore, frames: Any, *args: Any, **kwargs: Any) -> Any:
        report = real_load(self, frames, *args, **kwargs)
        if frames.transactions.height:
            raise KeyboardInterrupt  # Ctrl-C after the chain's rows landed, before the run recorded them
        return report

    monkeypatch.setattr(EmbeddedStore, "load", load_then_ctrl_c)
    assert cli("ingest", "frames", str(frame_dir), "--case", "op-p").exit_code == 130
    monkeypatch.setattr(EmbeddedStore, "load", real_load)
    actions = [e["action"] for e in cli.json("case", "log", "op-p")]
    assert actions[-2:] == ["ingest.frames.started", "ingest.frames.interrupted"]
    verify = cli("case", "verify", "op-p")
    assert verify.exit_code == 1 and "ingest.frames.interrupted" in verify.stdout
    assert cli.json("ingest", "frames", str(frame_dir), "--case", "op-p")  # the same load again completes it
    assert cli("case", "verify", "op-p").exit_code == 0
