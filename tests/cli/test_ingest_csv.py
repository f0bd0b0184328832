# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest csv``: transfers from CSV files investigators receive, exact and all-or-nothing.

Amounts in coin or token units become exact base units with the given decimals; a row that cannot be
read (bad address checksum, more decimals than the token has, a bad hash) is reported by line number
and nothing of the file is loaded. The Etherscan preset reads both of its address-page exports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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


MAP = "from=From,to=To,value=Value,txid=Tx,block=Block,time=Time,log_index=Log,decimals=Dec,asset=" + USDC


def _refused(cli: Cli, tmp_path: Path, text: str, mapping: str = MAP, preset: str | None = None) -> str:
    """Import ``text`` into a fresh case; it must be refused (exit 2) with nothing written. The error line."""
    path = _write(tmp_path, "input.csv", text)
    cli("case", "create", "op-bad")
    how = ["--preset", preset] if preset else []
    result = cli("ingest", "csv", "op-bad", str(path), "--chain", "eth", *(["--map", mapping] if mapping else []), *how)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "unexpected error" not in result.stderr
    assert not (tmp_path / "home" / "cases" / "op-bad" / "graph.lbug").exists()
    return result.stderr.strip()


def test_a_row_with_more_fields_than_the_header_is_refused_not_cut(
        cli: Cli, tracer_home: Path, tmp_path: Path) -> None:
    # an unquoted thousands separator: read as 1 ETH (and a stray "500.25") before
    text = f"Tx,From,To,Value\n{TX1},{A},{B},2\n{TX2},{A},{B},1,500.25\n"
    assert _refused(cli, tmp_path, text, "from=From,to=To,value=Value,txid=Tx") == (
        "error: line 3: 5 fields, more than the 4 of the header (a value with an unquoted ',' such as 1,500.25? "
        "quote it)")
    text = f"Tx,From,To,Value\n{TX1},{A},{B}\n"
    assert _refused(cli, tmp_path, text, "from=From,to=To,value=Value,txid=Tx") == (
        "error: line 2: 3 fields, fewer than the 4 of the header")
    quoted = _write(tmp_path, "quoted.csv", f'Tx,From,To,Value\n{TX1},{A},{B},"1500.25"\n')
    cli("case", "create", "op-ok")
    cli.json("ingest", "csv", "op-ok", str(quoted), "--chain", "eth", "--map", "from=From,to=To,value=Value,txid=Tx")
    assert _transfers(tracer_home, "op-ok")[0]["value"] == 1_500_250_000_000_000_000_000


@pytest.mark.parametrize(("value", "reason"), [
    ("1E+3", "value '1E+3' is not a plain decimal number (ASCII digits and at most one '.')"),
    ("١٢", "value '١٢' is not a plain decimal number (ASCII digits and at most one '.')"),  # Arabic-Indic 12
    ("１", "value '１' is not a plain decimal number (ASCII digits and at most one '.')"),  # full-width 1
    ("²", "value '²' is not a plain decimal number (ASCII digits and at most one '.')"),
    ("1_000", "value '1_000' is not a plain decimal number (ASCII digits and at most one '.')"),
    ("+5", "value '+5' is not a plain decimal number (ASCII digits and at most one '.')"),
    ("Infinity", "value 'Infinity' is not a plain decimal number (ASCII digits and at most one '.')"),
    ("-1", "value '-1' is negative"),
])
def test_amounts_follow_one_rule_ascii_digits_and_one_point(
        cli: Cli, tmp_path: Path, value: str, reason: str) -> None:
    text = f"Tx,From,To,Value,Block,Time,Log,Dec\n{TX1},{A},{B},{value},19000000,1704067200,0,6\n"
    assert _refused(cli, tmp_path, text) == f"error: line 2: {reason}"


@pytest.mark.parametrize(("column", "value", "reason"), [
    ("Value", str(2**256), f"value '{2**256}' is larger than the largest amount (2**256 - 1 base units)"),
    ("Value", "1" + "0" * 72, "value '1" + "0" * 72 + "' is larger than the largest amount (2**256 - 1 base units)"),
    ("Block", str(2**64), f"block '{2**64}' is larger than {2**63 - 1}"),
    ("Block", "²", "block '²' is not a whole number (ASCII digits 0-9)"),
    ("Time", str(10**30), f"time '{10**30}' is after 9999-12-31 (UNIX seconds up to 253402300799)"),
    ("Time", "١٧٠٤٠٦٧٢٠٠", "time '١٧٠٤٠٦٧٢٠٠' is neither UNIX seconds nor YYYY-MM-DD HH:MM:SS"),
    ("Log", str(2**70), f"log_index '{2**70}' is larger than {2**63 - 1}"),
    ("Log", "³", "log_index '³' is not a whole number (ASCII digits 0-9)"),
    ("Dec", str(2**70), f"decimals '{2**70}' is larger than 255"),
    ("Dec", "78", "value '1' is larger than the largest amount (2**256 - 1 base units)"),
])
def test_out_of_range_numbers_are_bad_input_named_by_line(
        cli: Cli, tmp_path: Path, column: str, value: str, reason: str) -> None:
    row = {"Tx": TX1, "From": A, "To": B, "Value": "1", "Block": "19000000", "Time": "1704067200", "Log": "0",
           "Dec": "6", column: value}
    text = ",".join(row) + "\n" + f"{TX2},{A},{B},2,19000000,1704067200,1,6\n" + ",".join(row.values()) + "\n"
    assert _refused(cli, tmp_path, text) == f"error: line 3: {reason}"


def test_an_etherscan_fee_or_grouping_that_cannot_be_exact_is_refused(cli: Cli, tmp_path: Path) -> None:
    header = ('"Txhash","Blockno","UnixTimestamp","DateTime (UTC)","From","To","ContractAddress","Value_IN(ETH)",'
              '"Value_OUT(ETH)","CurrentValue @ $3000/Eth","TxnFee(ETH)","TxnFee(USD)","Historical $Price/Eth",'
              '"Status","ErrCode","Method"\n')

    def row(value_out: str, fee: str) -> str:
        return (f'"{TX1}","19000000","1704067200","2024-01-01 00:00:00","{A.lower()}","{B.lower()}","","0",'
                f'"{value_out}","750","{fee}","1.3","3000","","","Transfer"\n')

    assert _refused(cli, tmp_path, header + row("1,5", "0.000441"), "", "etherscan") == (
        "error: line 2: Value_OUT(ETH) '1,5' has a ',' that is not a thousands separator (groups of 3 digits)")
    assert _refused(cli, tmp_path, header + row("0.25", "1" + "0" * 20), "", "etherscan") == (
        "error: line 2: fee of 1" + "0" * 38 + " wei does not fit the stores' fee column (below 10**38)")


def test_a_file_without_line_ends_is_refused_at_once_by_its_line(cli: Cli, tmp_path: Path) -> None:
    cli("case", "create", "op-zero")
    result = cli("ingest", "csv", "op-zero", "/dev/zero", "--chain", "eth", "--map", "from=F,to=T,value=V,txid=X")
    assert result.exit_code == 2
    assert result.stderr == "error: /dev/zero, line 1: longer than 65,536 bytes; not a CSV of transfers\n"
    long_value = _write(tmp_path, "long.csv", f"Tx,From,To,Value\n{TX1},{A},{B},1\n{TX2},{A},{B},{'1' * 70_000}\n")
    result = cli("ingest", "csv", "op-zero", str(long_value), "--chain", "eth",
                 "--map", "from=From,to=To,value=Value,txid=Tx")
    assert result.exit_code == 2
    assert result.stderr == f"error: {long_value}, line 3: longer than 65,536 bytes; not a CSV of transfers\n"
