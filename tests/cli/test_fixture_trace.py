# SPDX-License-Identifier: Apache-2.0
"""The main job's case, traced: the fixture chain made on real regtest/anvil nodes, through the CLI.

An analyst loads ``fixtures/op-fixture`` (frames checked against ``SHA256SUMS``), imports the
exchange's TagPack, and traces the vendor's proceeds. Every expectation comes from the story the
generator recorded (``story.json``): the peels that went straight to Exchange Alpha arrive whole
under every model; the coins that went through the CoinJoin reach the exchange's third deposit
address fully under poison and not at all under the exact models (the vendor's coins are units of
other participants' outputs there); the totals always reconcile with the 10.5 LTC of sales.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "op-fixture"
LTC, ETH = "ltc-regtest", "eth-devnet"


@pytest.fixture()
def story() -> dict[str, Any]:
    return dict(json.loads((FIXTURE / "story.json").read_text()))


@pytest.fixture()
def case(cli: Cli) -> str:
    return _open_case(cli)


def _open_case(cli: Cli) -> str:
    """The main job's first steps: the case, its seeds, the fixture chain and the exchange's tags."""
    spec = json.loads((FIXTURE / "case.json").read_text())
    assert cli("case", "create", "op-fixture").exit_code == 0
    for seed in spec["seeds"]:
        result = cli("case", "seed", "add", "op-fixture", seed["address"], "--chain", seed["chain"],
                     "--label", seed["label"])
        assert result.exit_code == 0, result.output
    loaded = cli.json("ingest", "frames", str(FIXTURE / "frames"), "--case", "op-fixture")
    assert loaded["checksums_verified"]
    tags = cli("tags", "import", str(FIXTURE / "exchange-tagpack.yaml"))
    assert tags.exit_code == 0, tags.output
    return "op-fixture"


def _entities(data: dict[str, Any]) -> dict[str, int]:
    return {e["address"]: int(e["amount"]) for e in data["endings"] if e["ending"] == "entity"}


def test_every_model_sees_the_direct_peels_reach_the_exchange(cli: Cli, case: str, story: dict[str, Any]) -> None:
    deposits = story["ltc"]["roles"]["exchange_deposits"]
    peeled = story["ltc"]["totals"]["peeled_by_recipient"]
    comparison = cli.json("trace", case, "--chain", LTC, "--model", "all", "--hops", "12")["comparison"]
    reached = {(r["address"]): r for r in comparison if r["ending"] == "entity"}
    for models in (reached[deposits[0]], reached[deposits[1]]):
        assert len({models[m] for m in ("poison", "haircut", "fifo", "lifo", "tiho")}) == 1
    assert int(reached[deposits[0]]["fifo"]) == peeled["exchange-deposit-1"]
    assert int(reached[deposits[1]]["fifo"]) == peeled["exchange-deposit-2"]
    mixed = reached[deposits[2]]
    # poison: the whole deposit after the CoinJoin (529,990,000) is "tainted"; exact models: only the peel
    assert int(mixed["poison"]) == story["ltc"]["totals"]["exchange_deposits"][deposits[2]]
    assert int(mixed["fifo"]) == int(mixed["lifo"]) == int(mixed["tiho"]) == peeled["exchange-deposit-3"]
    assert peeled["exchange-deposit-3"] < int(mixed["haircut"]) < int(mixed["poison"])


@pytest.mark.parametrize("model", ["haircut", "fifo", "lifo", "tiho"])
def test_forward_totals_reconcile_with_the_sales(cli: Cli, case: str, story: dict[str, Any], model: str) -> None:
    data = cli.json("trace", case, "--chain", LTC, "--model", model, "--hops", "12")
    totals = data["totals"]["native"]
    assert int(totals["seed_value"]) == story["ltc"]["totals"]["sales"]
    assert totals["reconciled"] is True
    assert sum(int(v) for v in totals["by_ending"].values()) == story["ltc"]["totals"]["sales"]
    (peel,) = data["peel_chains"]
    assert peel["length"] == 6
    assert peel["total_peeled"] == story["ltc"]["totals"]["peeled"]


def test_ethereum_leg_token_and_ether_reach_the_exchange(cli: Cli, case: str, story: dict[str, Any]) -> None:
    data = cli.json("trace", case, "--chain", ETH, "--model", "fifo", "--hops", "4")
    deposit = story["eth"]["roles"]["exchange-deposit"]
    token = story["eth"]["token"]["address"]
    reached = {(e["address"], e["asset"]): int(e["amount"]) for e in data["endings"] if e["ending"] == "entity"}
    assert reached == {(deposit, token): story["eth"]["totals"]["exchange_token"],
                       (deposit, "native"): story["eth"]["totals"]["exchange_wei"]}
    assert int(data["totals"][token]["seed_value"]) == story["eth"]["totals"]["sale_token"]
    assert int(data["totals"]["native"]["seed_value"]) == story["eth"]["totals"]["sale_wei"]
    assert all(t["reconciled"] for t in data["totals"].values())


def test_backward_from_the_deposit_after_the_coinjoin(cli: Cli, case: str, story: dict[str, Any]) -> None:
    deposit = story["ltc"]["exchange_deposit"]
    data = cli.json("trace", case, "--chain", LTC, "--seed", deposit["address"], "--direction", "backward",
                    "--model", "haircut", "--hops", "12")
    totals = data["totals"]["native"]
    # everything the address received: the 0.3 LTC peel and the 4.9999 LTC from the CoinJoin
    assert int(totals["seed_value"]) == story["ltc"]["totals"]["exchange_deposits"][deposit["address"]]
    assert totals["reconciled"] is True
    # the CoinJoin spreads the deposit's origin over all five participants' inputs: one of them is the vendor
    hops = {h["to_address"] for e in data["endings"] for h in e.get("path", [])}
    assert story["ltc"]["roles"]["vendor_coinjoin_mix"] in hops


def test_a_backward_trace_names_the_case_seeds_it_passes_through(cli: Cli, case: str, story: dict[str, Any]) -> None:
    deposit = story["ltc"]["exchange_deposit"]["address"]
    args = ("trace", case, "--chain", LTC, "--seed", deposit, "--direction", "backward", "--model", "haircut",
            "--hops", "12")
    data = cli.json(*args)
    vendor = story["ltc"]["roles"]["vendor_payout"]
    passes = {p["address"]: p for p in data["passes_through"]}
    assert set(vendor) <= set(passes) and {passes[a]["role"] for a in vendor} == {"seed"}
    assert passes[vendor[0]]["label"].startswith("vendor payout address 1")
    assert sum(int(passes[a]["amount"]) for a in vendor) <= int(data["totals"]["native"]["seed_value"])
    human = cli(*args).stdout
    assert f"passes through seed '{passes[vendor[0]]['label']}' {vendor[0]}" in human


def test_endings_at_coinjoin_outputs_say_so(cli: Cli, case: str, story: dict[str, Any]) -> None:
    mix = story["ltc"]["coinjoin"]["txid"]
    data = cli.json("trace", case, "--chain", LTC, "--model", "haircut", "--hops", "12")
    at_mix = [e for e in data["endings"] if e["txid"] == mix]
    assert at_mix and {e["coinjoin"] for e in at_mix} == {"joinmarket"}
    assert {e["coinjoin"] for e in data["endings"] if e["txid"] != mix} == {None}
    assert "CoinJoin output (joinmarket)" in cli("trace", case, "--chain", LTC, "--model", "haircut",
                                                 "--hops", "12").stdout


def test_all_models_show_totals_per_kind_of_ending_and_flag_poison(cli: Cli, case: str) -> None:
    data = cli.json("trace", case, "--chain", LTC, "--model", "all", "--hops", "12")
    totals = data["model_totals"]["native"]
    assert {m: totals[m]["conserves_value"] for m in totals} == {
        "poison": False, "haircut": True, "fifo": True, "lifo": True, "tiho": True}
    assert {totals[m]["seed_value"] for m in totals} == {"1050000000"}
    assert all(totals[m]["ended"] == "1050000000" for m in ("haircut", "fifo", "lifo", "tiho"))
    human = cli("trace", case, "--chain", LTC, "--model", "all", "--hops", "12").stdout
    assert "Totals per model" in human and "not value-conserving" in human


def test_a_seed_given_without_its_chain_takes_the_one_chain_of_the_store_it_fits(
    cli: Cli, case: str, story: dict[str, Any]
) -> None:
    # the case's seeds span two chains; 0x… is valid on every EVM chain, but the store holds only eth-devnet
    vendor = json.loads((FIXTURE / "case.json").read_text())["seeds"][2]["address"]
    data = cli.json("trace", case, "--seed", vendor, "--model", "fifo", "--hops", "4")
    assert data["parameters"]["chain"] == ETH
    deposit = story["ltc"]["exchange_deposit"]["address"]
    assert cli.json("trace", case, "--seed", deposit, "--direction", "backward")["parameters"]["chain"] == LTC
    refused = cli("trace", case, "--seed", "not-an-address")
    assert refused.exit_code == 2 and "is not valid on any known chain" in refused.stderr


def _entity_endings(data: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(e["address"], e["asset"], e["amount"]) for e in data["endings"] if e["ending"] == "entity"}


def test_a_victim_who_only_sent_is_traced_from_what_it_sent(cli: Cli, case: str, story: dict[str, Any]) -> None:
    # the Ethereum buyer only pays out: what it received would be the wrong question
    eth = story["eth"]
    buyer, deposit = eth["roles"]["buyer"], eth["roles"]["exchange-deposit"]
    steps = {s["step"]: s for s in eth["steps"]}
    sent = cli.json("trace", case, "--seed-sent", buyer, "--since", str(steps["sale-token"]["timestamp"]),
                    "--model", "fifo", "--hops", "0")
    movements = cli.json("trace", case, "--seed", f"{steps['sale-token']['txid']}:0", "--seed",
                         steps["sale-eth"]["txid"], "--model", "fifo", "--hops", "0")
    assert _entity_endings(sent) == _entity_endings(movements)
    reached = {(a, asset) for a, asset, _ in _entity_endings(sent)}
    assert {(deposit, "native"), (deposit, steps["sale-token"]["asset"].lower())} <= {
        (a, asset.lower()) for a, asset in reached}
    # kept in the case, the role need not be repeated on every trace
    assert cli("case", "seed", "add", case, buyer, "--chain", ETH, "--sent", "--label", "victim").exit_code == 0
    listed = [s for s in cli.json("case", "seed", "list", case) if s.get("role") == "sent"]
    assert [(s["address"], s["label"]) for s in listed] == [(buyer, "victim")]
    # nothing to trace: a clear message and exit 2
    empty = cli("trace", case, "--seed-sent", eth["roles"]["exchange-deposit"], "--chain", ETH)
    assert empty.exit_code == 2 and "has nothing to trace" in empty.stderr


def test_the_fixture_trace_at_default_options_reaches_every_exchange_deposit(
        cli: Cli, case: str, story: dict[str, Any]) -> None:
    data = cli.json("trace", case, "--chain", LTC)  # no --hops: the default follows the whole story
    reached = {e["address"] for e in data["endings"] if e["ending"] == "entity"}
    deposits = set(story["ltc"]["roles"]["exchange_deposits"])
    assert deposits <= reached  # under haircut the deposit after the CoinJoin gets its share too
    assert data["totals"]["native"]["by_ending"].get("hop_limit") is None
    # every block of the story is in the fixture's coverage: what is unspent is held, through its last block
    assert {e["through_block"] for e in data["endings"] if e["ending"] == "held"} == {story["ltc"]["last_block"]}


def test_the_main_job_trace_is_reproducible_byte_for_byte(cli: Cli, case: str) -> None:
    first = cli.json("trace", case, "--chain", LTC, "--model", "haircut", "--hops", "12")
    again = cli.json("trace", case, "--chain", LTC, "--model", "haircut", "--hops", "12")
    assert again["manifest_sha256"] == first["manifest_sha256"]
    manifest = json.loads((Path(first["directory"]) / "manifest.json").read_text())
    assert [s["name"] for s in manifest["tags"]["sources"]] == ["Exchange Alpha deposit addresses (op-fixture)"]
    assert manifest["store"]["queries"] >= 10  # one batched query per hop, not one per address


def test_the_main_job_in_two_workspaces_gives_byte_identical_manifests(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a defence expert re-running the case elsewhere, later: tags imported at another time, same bytes
    manifests = []
    for home in ("investigator", "defence-expert"):
        monkeypatch.setenv("TRACER_HOME", str(tmp_path / home))
        case = _open_case(cli)
        run = cli.json("trace", case, "--chain", LTC, "--model", "haircut", "--hops", "12")
        manifests.append((Path(run["directory"]) / "manifest.json").read_bytes())
        time.sleep(1.1)  # the tag import's clock time differs by at least a second
    assert manifests[0] == manifests[1]
    assert b"imported_at" not in manifests[0]


@pytest.mark.parametrize("columns", [80, 120])
def test_evidence_paths_are_read_in_full_in_a_narrow_terminal(cli: Cli, case: str, columns: int,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.output import stdout

    monkeypatch.setattr(stdout, "width", columns)
    human = cli("trace", case, "--chain", LTC, "--model", "haircut", "--hops", "12")
    assert human.exit_code == 0, human.output
    lines = human.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    data = cli.json("trace", case, "--chain", LTC, "--model", "haircut", "--hops", "12")
    shown = [e for e in data["endings"] if e.get("path")][:3]
    assert shown
    for ending in shown:  # every hop of the evidence tree: txid, block, UTC time, model and source, whole
        for hop in ending["path"]:
            assert any(f"tx {hop['txid']}" in line for line in lines), hop["txid"]
            moment = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(hop["timestamp"]))
            assert any(f"block {hop['block_height']}, {moment}" in line for line in lines)
            assert any(f"model haircut, source {hop['source']}" in line for line in lines)


def test_token_amounts_are_shown_with_the_tokens_symbol_and_decimals(cli: Cli, case: str) -> None:
    # frames/eth-devnet/tokens.json (the EVM ingest's metadata cache, checked by SHA256SUMS) travels
    # with the frames; the JSON keeps exact base units, people read 1250 fUSD
    human = cli("trace", case, "--chain", ETH, "--model", "fifo", "--hops", "4")
    assert human.exit_code == 0
    assert "1250 fUSD" in human.stdout and "0.7 ETH" in human.stdout
