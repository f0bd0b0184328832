# SPDX-License-Identifier: Apache-2.0
"""``--chain trx`` end to end: Tron addresses checked by the CLI (exit 2, no traceback), a TronScan
transfers export loaded into a case and traced, a TronGrid API refused without --allow-third-party.

The TronScan CSV below is HAND-BUILT in the export's layout as far as it is publicly documented (see
adapters/tron/tronscan_csv.py); its transactions and amounts are the real USDT transfers recorded in
fixtures/tron/ledger-live (0130dfde…: 41.677389 USDT, 05397e25…: 41.499389 USDT)."""

from __future__ import annotations

from pathlib import Path

from graph.embedded import EmbeddedStore
from tests.conftest import Cli
from tracer.units import join_from_frame

HOLDER = "TL24LCps5FKwp3PoU1MvrYrwhi5LU1tHre"
PAYER = "TJtEySoVuAkk3xwXghLgrUFVKSMq9JkE18"
PAYEE = "TXVj38D1XR3TPgSHTCZGC8wkLDAGqF1oqx"
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
TX_IN = "05397e25951025b7e8ff428fb7521890c2ccc1fb4e6a0a21a47acedab94eaa23"
TX_OUT = "0130dfde9281a48378109039ef512229d5359fbee2a8adbb17ad73aebc67ea99"
HEADER = "Transaction Hash,Block,Time(UTC),From,To,Token,Amount/TokenID,Result\n"


def _export(tmp_path: Path) -> Path:
    path = tmp_path / "tronscan-transfers.csv"
    path.write_text(HEADER
                    + f"{TX_IN},69230010,2025-01-31 16:42:57,{PAYER},{HOLDER},USDT ({USDT}),41.499389,SUCCESS\n"
                    + f"{TX_OUT},69316562,2025-02-03 16:51:45,{HOLDER},{PAYEE},USDT ({USDT}),41.677389,SUCCESS\n")
    return path


def test_chains_lists_and_checks_tron(cli: Cli) -> None:
    keys = [c["key"] for c in cli.json("chains", "list")]
    assert "trx" in keys
    checked = cli.json("chains", "check", "41a614f803b6fd780986a42c78ec9c7f77e6ded13c", "--chain", "trx")
    assert USDT in str(checked)


def test_a_bad_tron_address_is_exit_2_naming_it(cli: Cli) -> None:
    cli("case", "create", "op-tron")
    bad = USDT[:-1] + "u"
    result = cli("case", "seed", "add", "op-tron", bad, "--chain", "trx")
    assert result.exit_code == 2 and bad in result.stderr and "checksum" in result.stderr
    assert "Traceback" not in result.output
    assert cli("chains", "check", bad, "--chain", "trx").exit_code == 2


def test_a_tronscan_export_lands_exact_and_can_be_traced(cli: Cli, tracer_home: Path, tmp_path: Path) -> None:
    cli("case", "create", "op-tron")
    summary = cli.json("ingest", "csv", "op-tron", str(_export(tmp_path)), "--chain", "trx", "--preset", "tronscan")
    assert (summary["transactions"], summary["transfers"]) == (2, {"token": 2})
    with EmbeddedStore.open(tracer_home / "cases" / "op-tron" / "graph.lbug", read_only=True) as store:
        rows = store.read_frames("trx").transfers.sort("txid").to_dicts()
    assert [(r["txid"], r["asset"], r["from_address"], r["to_address"], join_from_frame(r["value"],
                                                                                      r["value_overflow"]))
            for r in rows] == [("0x" + TX_OUT, USDT, HOLDER, PAYEE, 41_677_389),
                               ("0x" + TX_IN, USDT, PAYER, HOLDER, 41_499_389)]
    cli("case", "seed", "add", "op-tron", PAYER, "--chain", "trx", "--sent")
    traced = cli.json("trace", "op-tron", "--model", "fifo", "--chain", "trx")
    assert traced["totals"][USDT]["seed_value"] == "41499389"
    human = cli("trace", "op-tron", "--model", "fifo", "--chain", "trx")
    assert human.exit_code == 0, human.output
    # people read USDT in its units; the hop carries the recorded transaction. The holder's history is only
    # what the export holds, so the engine ends the trail there ("unverified") rather than guess onwards.
    assert "41.499389 USDT" in human.stdout and "0x" + TX_IN in human.stdout


def test_a_tronscan_export_with_a_bad_checksum_is_refused_by_line(cli: Cli, tmp_path: Path) -> None:
    cli("case", "create", "op-tron")
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + f"{TX_IN},1,2025-01-31 16:42:57,{PAYER[:-1]}X,{HOLDER},USDT ({USDT}),1,SUCCESS\n")
    result = cli("ingest", "csv", "op-tron", str(path), "--chain", "trx", "--preset", "tronscan")
    assert result.exit_code == 2 and "line 2" in result.stderr and "Traceback" not in result.output


def test_trongrid_is_refused_without_allow_third_party(cli: Cli) -> None:
    cli("case", "create", "op-tron")
    result = cli("ingest", "tron", "--case", "op-tron", "--trongrid", "https://api.trongrid.io",
                 "--address", HOLDER)
    assert result.exit_code == 2 and "--allow-third-party" in result.stderr
    assert "Traceback" not in result.output


def test_ingest_tron_bad_input_is_exit_2(cli: Cli) -> None:
    cli("case", "create", "op-tron")
    neither = cli("ingest", "tron", "--case", "op-tron", "--json")
    assert neither.exit_code == 2 and "--trongrid" in neither.stderr
    bad = cli("ingest", "tron", "--case", "op-tron", "--trongrid", "http://127.0.0.1:9", "--address", "Tnope")
    assert bad.exit_code == 2 and "Tnope" in bad.stderr
