# SPDX-License-Identifier: Apache-2.0
"""``tracer watch`` on a real ``litecoind -regtest``: new blocks are loaded through the block-range
pipeline and checked against the case's seeds and trace results.

Mining a block that spends an output a trace left ``held`` raises exactly one alert, with the
spending txid (and a second watch raises nothing); a seed receiving raises one ``seed_received``;
value from a traced address reaching a tagged exchange raises ``exchange_reached``; a reorg that
takes the spending block away raises the retraction (same id), and the spend mined again in another
block is a new alert; the ``--exec`` hook gets the alert on stdin and in ``TRACER_ALERT``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from testing.devnodes import LitecoinRegtest
from tests.conftest import Cli
from tests.watch.conftest import CHAIN, Watch, make_flow, mine, new_address, pay, spend, traced_case


def test_a_block_spending_a_held_output_raises_exactly_one_alert(
        cli: Cli, watch: Watch, ltc: LitecoinRegtest, tmp_path: Path) -> None:
    flow = make_flow(ltc)
    traced_case(cli, ltc, flow)
    alerts_file = tmp_path / "alerts.jsonl"
    quiet = watch("op-watch", "--node", ltc.url, "--once", "--alerts", str(alerts_file), "--json")
    assert quiet.exit_code == 0, quiet.output  # nothing new yet
    moved = spend(ltc, [(flow.split, 0)], [(new_address(ltc, "w"), "0.5999")])
    block = mine(ltc)[0]
    result = watch("op-watch", "--node", ltc.url, "--once", "--alerts", str(alerts_file), "--json")
    assert result.exit_code == 3, result.output
    [alert] = watch.lines(result)
    assert (alert["rule"], alert["txid"], alert["outpoint"], alert["block_hash"]) == (
        "held_moved", moved, f"{flow.split}:0", block)
    assert alert["amounts"] == [{"asset": "native", "amount": "60000000", "coins": "0.6", "unit": "rLTC"}]
    assert alert["traced_amount"]["amount"] == "60000000"
    assert alert["trace_run"].startswith("0001-forward-haircut-")
    assert alert["next"] == f"tracer trace op-watch --chain {CHAIN} --seed {flow.split}:0 --model haircut"
    assert [json.loads(line) for line in alerts_file.read_text().splitlines()] == [alert]
    log = cli.json("case", "log", "op-watch")
    assert [e["details"]["id"] for e in log if e["action"] == "watch.alert"] == [alert["id"]]
    assert [e["action"] for e in log][-3:] == ["ingest.utxo.started", "watch.alert", "ingest.utxo"]
    again = watch("op-watch", "--node", ltc.url, "--once", "--alerts", str(alerts_file), "--json")
    assert again.exit_code == 0 and watch.lines(again) == []
    assert len(alerts_file.read_text().splitlines()) == 1
    assert cli("case", "verify", "op-watch").exit_code == 0


def test_a_seed_receiving_raises_one_alert(cli: Cli, watch: Watch, ltc: LitecoinRegtest) -> None:
    flow = make_flow(ltc)
    traced_case(cli, ltc, flow)
    txid, vout = pay(ltc, flow.seed, "0.25")
    mine(ltc)
    result = watch("op-watch", "--node", ltc.url, "--once", "--json")
    assert result.exit_code == 3, result.output
    [alert] = watch.lines(result)
    assert (alert["rule"], alert["txid"], alert["address"]) == ("seed_received", txid, flow.seed)
    assert alert["amounts"][0]["amount"] == "25000000"
    assert alert["next"] == f"tracer trace op-watch --chain {CHAIN} --seed {txid}:{vout} --model haircut"


def test_traced_value_reaching_a_tagged_exchange_raises_an_alert(
        cli: Cli, watch: Watch, ltc: LitecoinRegtest, tmp_path: Path) -> None:
    flow = make_flow(ltc)
    traced_case(cli, ltc, flow)
    deposit = new_address(ltc, "w")
    listing = tmp_path / "deposits.txt"
    listing.write_text(deposit + "\n")
    assert cli("tags", "import", str(listing), "--format", "list", "--chain", CHAIN, "--label", "Exchange Alpha",
               "--category", "exchange").exit_code == 0
    moved = spend(ltc, [(flow.split, 1)], [(deposit, "0.3998")])
    mine(ltc)
    result = watch("op-watch", "--node", ltc.url, "--once", "--json")
    assert result.exit_code == 3, result.output
    alerts = {a["rule"]: a for a in watch.lines(result)}
    assert set(alerts) == {"held_moved", "exchange_reached"}
    reached = alerts["exchange_reached"]
    assert (reached["txid"], reached["address"], reached["counterparty"]["label"]) == (
        moved, deposit, "Exchange Alpha")
    assert reached["amounts"][0]["amount"] == "39980000"
    assert "Exchange Alpha (exchange)" in reached["summary"]


def test_a_reorg_that_removes_the_spend_raises_a_retraction(
        cli: Cli, watch: Watch, ltc: LitecoinRegtest, tmp_path: Path) -> None:
    flow = make_flow(ltc)
    traced_case(cli, ltc, flow)
    alerts_file = tmp_path / "alerts.jsonl"
    moved = spend(ltc, [(flow.split, 0)], [(new_address(ltc, "w"), "0.5999")])
    doomed = mine(ltc)[0]
    [raised] = watch.lines(watch("op-watch", "--node", ltc.url, "--once", "--alerts", str(alerts_file), "--json"))
    with ltc.rpc(wallet="w") as wallet:
        wallet.call("invalidateblock", doomed)
        other = wallet.call("getnewaddress")
        for _ in range(2):  # a longer competing chain whose blocks leave the spend out
            wallet.call("generateblock", other, [])
    result = watch("op-watch", "--node", ltc.url, "--once", "--alerts", str(alerts_file), "--json")
    assert result.exit_code == 3, result.output
    [retracted] = watch.lines(result)
    assert (retracted["rule"], retracted["id"], retracted["retracted_rule"], retracted["txid"]) == (
        "retracted", raised["id"], "held_moved", moved)
    assert retracted["block_hash"] == doomed and retracted["next"] is None
    assert [a["rule"] for a in map(json.loads, alerts_file.read_text().splitlines())] == ["held_moved", "retracted"]
    # the spend, back in the mempool, mined in another block: a new alert with another id
    again = mine(ltc)[0]
    result = watch("op-watch", "--node", ltc.url, "--once", "--alerts", str(alerts_file), "--json")
    [remined] = watch.lines(result)
    assert (remined["rule"], remined["txid"], remined["block_hash"]) == ("held_moved", moved, again)
    assert remined["id"] != raised["id"]


def test_the_exec_hook_gets_each_alert_on_stdin_and_in_the_environment(
        cli: Cli, watch: Watch, ltc: LitecoinRegtest, tmp_path: Path) -> None:
    flow = make_flow(ltc)
    traced_case(cli, ltc, flow)
    hook = tmp_path / "hook.py"
    out = tmp_path / "hook-out"
    hook.write_text("import os, sys\n"
                    "with open(sys.argv[1], 'a') as f:\n"
                    "    f.write(sys.stdin.read() + '|' + os.environ['TRACER_ALERT'] + '|' + sys.argv[2] + '\\n')\n")
    spend(ltc, [(flow.split, 0)], [(new_address(ltc, "w"), "0.5999")])
    mine(ltc)
    command = f"{sys.executable} {hook} {out} 'two words'"
    result = watch("op-watch", "--node", ltc.url, "--once", "--json", "--exec", command)
    assert result.exit_code == 3, result.output
    [alert] = watch.lines(result)
    stdin, env, argument = out.read_text().rstrip("\n").split("|")
    assert json.loads(stdin) == json.loads(env) == alert
    assert argument == "two words"  # split like a shell would, but run without one


def test_a_failing_exec_hook_is_reported_and_not_fatal(
        cli: Cli, watch: Watch, ltc: LitecoinRegtest, tmp_path: Path) -> None:
    flow = make_flow(ltc)
    traced_case(cli, ltc, flow)
    spend(ltc, [(flow.split, 1)], [(new_address(ltc, "w"), "0.3998")])
    mine(ltc)
    result = watch("op-watch", "--node", ltc.url, "--once", "--json", "--exec",
                   f"{sys.executable} -c 'import sys; sys.exit(\"mail server down\")'")
    assert result.exit_code == 3
    assert len(watch.lines(result)) == 1
    assert "--exec for alert" in result.stderr and "exit 1: mail server down" in result.stderr


def test_a_watch_list_wallet_whose_risk_rises_raises_an_alert(
        cli: Cli, watch: Watch, ltc: LitecoinRegtest, tmp_path: Path) -> None:
    flow = make_flow(ltc)
    traced_case(cli, ltc, flow)
    wallet = new_address(ltc)
    funding = pay(ltc, wallet, "0.2")
    mine(ltc)
    listed = tmp_path / "watch-list.csv"
    listed.write_text(f"address,chain\n{wallet},{CHAIN}\n")
    ransom = new_address(ltc, "w")
    tags = tmp_path / "ransom.txt"
    tags.write_text(ransom + "\n")
    assert cli("tags", "import", str(tags), "--format", "list", "--chain", CHAIN, "--label", "Locker gang",
               "--category", "ransomware").exit_code == 0
    first = watch("op-watch", "--node", ltc.url, "--once", "--json", "--watch-list", str(listed))
    assert first.exit_code == 0, first.output  # it transacted, but with nobody tagged
    paid = spend(ltc, [funding], [(ransom, "0.1999")])
    mine(ltc)
    result = watch("op-watch", "--node", ltc.url, "--once", "--json", "--watch-list", str(listed))
    assert result.exit_code == 3, result.output
    [alert] = watch.lines(result)
    assert (alert["rule"], alert["txid"], alert["address"]) == ("risk_rise", paid, wallet)
    assert (alert["risk"]["from"], alert["risk"]["to"]) == ("none", "severe")
