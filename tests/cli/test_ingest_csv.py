# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest csv``: transfers from CSV files investigators receive, exact and all-or-nothing.

Amounts in coin or token units become exact base units with the given decimals; a row that cannot be
read (bad address checksum, more decimals than the token has, a bad hash) is reported by line number
and nothing of the file is loaded. The Etherscan preset reads both of its address-page exports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graph.embedded import EmbeddedStore
from tests.conftest import Cli
from tracer.units import join_from_frame

A = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55 examples from the EIP
B = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
TX1 = "0x" + "11" * 32
TX2 = "0x" + "22" * 32
TX3 = "0x" + "33" * 32


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _transfers(home: Path, case: str) -> list[dict[str, Any]]:
    with EmbeddedStore.open(home / "cases" / case / "graph.lbug", read_only=True) as store:
        frame = store.read_frames("eth").transfers.sort("txid", "trace_path")
    return [{"txid": r["txid"], "kind": r["kind"], "asset": r["asset"], "from": r["from_address"],
             "to": r["to_address"], "value": join_from_frame(r["value"], r["value_overflow"]),
             "time": r["timestamp"], "path": r["trace_path"]} for r in frame.to_dicts()]


def test_a_mapped_exchange_csv_lands_in_base_units(cli: Cli, tracer_home: Path, tmp_path: Path) -> None:
    path = _write(tmp_path, "exchange.csv",
                  "Hash,Sender,Receiver,Amount,Token,Dec,When\n"
                  f"{TX1},{A},{B},1.5,native,18,2024-03-01 12:00:00\n"
                  f"{TX2},{A.lower()},{B},1234.567891,{USDC},6,1709294400\n"
                  f"{TX2},{B},{A},0.000001,{USDC},6,1709294400\n")
    cli("case", "create", "op-csv")
    summary = cli.json("ingest", "csv", "op-csv", str(path), "--chain", "eth",
                       "--map", "from=Sender,to=Receiver,value=Amount,asset=Token,decimals=Dec,txid=Hash,time=When")
    assert (summary["transactions"], summary["transfers"]) == (2, {"native": 1, "token": 2})
    assert summary["source"].startswith("csv:exchange.csv#sha256:")
    assert _transfers(tracer_home, "op-csv") == [
        {"txid": TX1, "kind": "native", "asset": "native", "from": A, "to": B, "value": 1_500_000_000_000_000_000,
         "time": 1709294400, "path": None},
        {"txid": TX2, "kind": "token", "asset": USDC, "from": A, "to": B, "value": 1_234_567_891,
         "time": 1709294400, "path": "csv:1"},
        {"txid": TX2, "kind": "token", "asset": USDC, "from": B, "to": A, "value": 1, "time": 1709294400,
         "path": "csv:2"},
    ]
    again = cli.json("ingest", "csv", "op-csv", str(path), "--chain", "eth",
                     "--map", "from=Sender,to=Receiver,value=Amount,asset=Token,decimals=Dec,txid=Hash,time=When")
    assert again["created"] == {}  # idempotent


def test_a_bad_row_is_named_by_line_and_nothing_is_loaded(cli: Cli, tracer_home: Path, tmp_path: Path) -> None:
    cli("case", "create", "op-csv")
    mapping = "from=From,to=To,value=Value,txid=Tx,asset=" + USDC + ",decimals=6"
    cases = {
        "too many decimals": (f"{TX1},{A},{B},1.0000001\n", "line 3", "more than 6 decimal places"),
        "bad checksum": (f"{TX1},{A[:-1]}D,{B},1\n", "line 3", "checksum"),
        "bad hash": (f"0x1234,{A},{B},1\n", "line 3", "not 0x followed by 64 hex digits"),
        "negative": (f"{TX1},{A},{B},-1\n", "line 3", "negative"),
    }
    for name, (bad, line, reason) in cases.items():
        path = _write(tmp_path, f"{name}.csv", f"Tx,From,To,Value\n{TX3},{A},{B},2.5\n{bad}")
        result = cli("ingest", "csv", "op-csv", str(path), "--chain", "eth", "--map", mapping)
        assert result.exit_code == 2, name
        assert line in result.stderr and reason in result.stderr, (name, result.stderr)
    assert not (tracer_home / "cases" / "op-csv" / "graph.lbug").exists()  # not even the first, good row
    missing = cli("ingest", "csv", "op-csv", str(_write(tmp_path, "m.csv", "Tx,From\n")), "--chain", "eth",
                  "--map", "from=From,to=To,value=Value,txid=Tx")
    assert missing.exit_code == 2 and "no column 'To'" in missing.stderr


def test_the_etherscan_transactions_export_keeps_fees_and_skips_failed_values(
    cli: Cli, tracer_home: Path, tmp_path: Path
) -> None:
    path = _write(tmp_path, "export-address.csv",
                  '"Txhash","Blockno","UnixTimestamp","DateTime (UTC)","From","To","ContractAddress",'
                  '"Value_IN(ETH)","Value_OUT(ETH)","CurrentValue @ $3000/Eth","TxnFee(ETH)","TxnFee(USD)",'
                  '"Historical $Price/Eth","Status","ErrCode","Method"\n'
                  f'"{TX1}","19000000","1704067200","2024-01-01 00:00:00","{A.lower()}","{B.lower()}","",'
                  '"0","0.25","750","0.000441","1.3","3000","","","Transfer"\n'
                  f'"{TX2}","19000001","1704067212","2024-01-01 00:00:12","{A.lower()}","{B.lower()}","",'
                  '"0","1","3000","0.0005","1.5","3000","Error(0)","Out of gas","Transfer"\n')
    cli("case", "create", "op-scan")
    summary = cli.json("ingest", "csv", "op-scan", str(path), "--chain", "eth", "--preset", "etherscan")
    assert (summary["transactions"], summary["transfers"]) == (2, {"native": 1})
    assert _transfers(tracer_home, "op-scan") == [
        {"txid": TX1, "kind": "native", "asset": "native", "from": A, "to": B, "value": 250_000_000_000_000_000,
         "time": 1704067200, "path": None}]
    with EmbeddedStore.open(tracer_home / "cases" / "op-scan" / "graph.lbug", read_only=True) as store:
        txs = store.read_frames("eth").transactions.sort("txid")
    assert [(t, h, int(f)) for t, h, f in txs.select("txid", "block_height", "fee").iter_rows()] == [
        (TX1, 19000000, 441_000_000_000_000), (TX2, 19000001, 500_000_000_000_000)]


def test_the_etherscan_token_export_needs_and_uses_the_decimals(cli: Cli, tracer_home: Path, tmp_path: Path) -> None:
    path = _write(tmp_path, "export-tokenholdings.csv",
                  '"Txhash","Blockno","UnixTimestamp","DateTime (UTC)","From","To","TokenValue","USDValueDayOfTx",'
                  '"ContractAddress","TokenName","TokenSymbol"\n'
                  f'"{TX3}","19000002","1704067224","2024-01-01 00:00:24","{A.lower()}","{B.lower()}","1,250.5",'
                  f'"$1,250.50","{USDC.lower()}","USD Coin","USDC"\n')
    cli("case", "create", "op-scan")
    refused = cli("ingest", "csv", "op-scan", str(path), "--chain", "eth", "--preset", "etherscan")
    assert refused.exit_code == 2 and "--map decimals=N" in refused.stderr
    cli.json("ingest", "csv", "op-scan", str(path), "--chain", "eth", "--preset", "etherscan", "--map", "decimals=6")
    assert _transfers(tracer_home, "op-scan") == [
        {"txid": TX3, "kind": "token", "asset": USDC, "from": A, "to": B, "value": 1_250_500_000,
         "time": 1704067224, "path": None}]
    # people read the token's units and symbol; the files keep base units
    cli("case", "seed", "add", "op-scan", B, "--chain", "eth")
    human = cli("trace", "op-scan", "--model", "fifo")
    assert human.exit_code == 0, human.output
    assert "1250.5 USDC" in human.stdout and "base units" not in human.stdout
    assert cli.json("trace", "op-scan", "--model", "fifo")["totals"][USDC]["seed_value"] == "1250500000"
