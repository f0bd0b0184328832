# SPDX-License-Identifier: Apache-2.0
"""``tracer trace`` across a bridge: a deposit on one chain followed to its release on another, and on.

Two anvil chains (EIP-155 ids 31001 and 31002) each run the real Across ``Ethereum_SpokePool``
(npm ``@across-protocol/contracts``). On chain A a depositor bridges 1,000 test tokens; on chain B
a relayer fills the deposit, paying the recipient 999 tokens (the relayer keeps 1 as its fee); the
recipient then pays them on. Both chains are declared in the config, the SpokePools registered
the way a user registers bridge contracts, both block ranges ingested into one case. A forward
trace on chain A stops at the SpokePool (a registered bridge contract), matches the deposit to the
release by Across' own identifiers, and continues on chain B with the traced share of what crossed:
a new trace run whose manifest names the crossing, both legs and the match's confidence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from testing import devcontracts as dc
from testing.across import AcrossHop, SpokeDeployment, deploy_spoke_pool, deposit_and_fill, two_anvils
from testing.devnodes import Anvil
from tests.conftest import Cli

CHAIN_IDS = (31_001, 31_002)


@dataclass(frozen=True)
class Bridged:
    nodes: tuple[Anvil, Anvil]
    a: SpokeDeployment
    b: SpokeDeployment
    hop: AcrossHop
    onward: str  # the recipient's payment on chain B
    next_holder: str
    tips: tuple[int, int]


@pytest.fixture(scope="module")
def bridged() -> Iterator[Bridged]:
    with two_anvils(CHAIN_IDS) as (node_a, node_b):
        a = deploy_spoke_pool(node_a)
        b = deploy_spoke_pool(node_b, skip_nonces=1)
        hop = deposit_and_fill(a, b)
        with b.rpc() as rpc:
            next_holder = dc.accounts(rpc)[4]
            onward = dc.transact(rpc, "TestToken", b.token, "transfer", [next_holder, hop.output_amount],
                                 sender=hop.recipient)
            dc.receipt(rpc, onward)
            tip_b = int(rpc.call("eth_blockNumber"), 16)
        with a.rpc() as rpc:
            tip_a = int(rpc.call("eth_blockNumber"), 16)
        yield Bridged((node_a, node_b), a, b, hop, onward, next_holder, (tip_a, tip_b))


@pytest.fixture()
def case(cli: Cli, tracer_home: Path, bridged: Bridged) -> str:
    tracer_home.mkdir(parents=True, exist_ok=True)
    (tracer_home / "config.toml").write_text(
        f"[chains.anvil-a]\nchain_id = {CHAIN_IDS[0]}\n[chains.anvil-b]\nchain_id = {CHAIN_IDS[1]}\n"
        f'[bridges.across.contracts]\n"{CHAIN_IDS[0]}" = ["{bridged.a.spoke_pool}"]\n'
        f'"{CHAIN_IDS[1]}" = ["{bridged.b.spoke_pool}"]\n')
    assert cli("case", "create", "op-bridge").exit_code == 0
    for chain, node, tip in zip(("anvil-a", "anvil-b"), bridged.nodes, bridged.tips, strict=True):
        summary = cli.json("ingest", "evm", "--chain", chain, "--node", node.url, "--case", "op-bridge",
                           "--from", "0", "--to", str(tip))
        role = "deposit" if chain == "anvil-a" else "release"
        assert summary["bridge_events"] == {role: 1} and summary["warnings"] == []
    return "op-bridge"


def test_a_deposit_is_followed_to_its_release_and_on_to_the_next_hop(cli: Cli, case: str, bridged: Bridged) -> None:
    hop = bridged.hop
    data = cli.json("trace", case, "--seed", hop.depositor, "--chain", "anvil-a", "--model", "haircut")
    # chain A: everything the depositor received went into the bridge, where the trail on A ends
    [bridge_end] = [e for e in data["endings"] if e["category"] == "bridge"]
    assert (bridge_end["address"], bridge_end["label"], bridge_end["amount"]) == (
        bridged.a.spoke_pool, "across bridge contract", str(hop.input_amount))
    [crossing] = data["bridges"]
    assert (crossing["bridge"], crossing["deposit_id"], crossing["status"], crossing["confidence"]) == (
        "across", str(hop.deposit_id), "matched", "exact")
    assert (crossing["deposit"]["txid"], crossing["release"]["txid"]) == (hop.deposit_txid, hop.fill_txid)
    assert crossing["traced"] == str(hop.input_amount)
    # 1,000 tokens crossed, 999 were paid out: the continuation traces 999 (all of it is the deposit's)
    assert crossing["continued"] is True and crossing["continued_with"] == str(hop.output_amount)
    continuation = crossing["continuation"]
    assert continuation["chain"] == "anvil-b"
    totals = continuation["totals"][bridged.b.token]
    assert (totals["seed_value"], totals["reconciled"]) == (str(hop.output_amount), True)
    # chain B: the recipient paid it on; it is held by the next address, in the ingested blocks
    result = json.loads((Path(continuation["directory"]) / "result.json").read_text())
    held = [e for e in result["endings"] if e["address"] == bridged.next_holder]
    assert [(e["ending"], e["amount"]) for e in held] == [("held", str(hop.output_amount))]
    assert [h["txid"] for h in held[0]["path"]] == [hop.fill_txid, bridged.onward]
    # the continuation's manifest names the crossing it goes on from, with both legs and the confidence
    manifest = json.loads((Path(continuation["directory"]) / "manifest.json").read_text())
    [link] = manifest["evidence"]["bridged_from"]
    assert (link["deposit"]["chain"], link["release"]["chain"], link["confidence"]) == ("anvil-a", "anvil-b", "exact")
    assert manifest["parameters"]["seeds"] == [f"{hop.fill_txid}:{crossing['release']['leg']}@{hop.output_amount}"]
    assert cli("case", "verify", case).exit_code == 0


def test_without_the_destination_chain_the_deposit_ends_at_the_bridge(cli: Cli, tracer_home: Path,
                                                                      bridged: Bridged) -> None:
    tracer_home.mkdir(parents=True, exist_ok=True)
    (tracer_home / "config.toml").write_text(
        f"[chains.anvil-a]\nchain_id = {CHAIN_IDS[0]}\n"
        f'[bridges.across.contracts]\n"{CHAIN_IDS[0]}" = ["{bridged.a.spoke_pool}"]\n')
    assert cli("case", "create", "op-half").exit_code == 0
    cli.json("ingest", "evm", "--chain", "anvil-a", "--node", bridged.nodes[0].url, "--case", "op-half",
             "--from", "0", "--to", str(bridged.tips[0]))
    data = cli.json("trace", "op-half", "--seed", bridged.hop.depositor, "--chain", "anvil-a")
    [crossing] = data["bridges"]
    assert (crossing["status"], crossing["continued"]) == ("unmatched_deposit", False)
    assert "no release of this deposit is in the store" in crossing["why"]
    human = cli("trace", "op-half", "--seed", bridged.hop.depositor, "--chain", "anvil-a")
    assert human.exit_code == 0 and "Bridge crossings" in human.stdout and "not continued" in human.stdout


def test_backward_the_crossing_is_listed_but_not_followed_twice(cli: Cli, case: str, bridged: Bridged) -> None:
    """Backward from the next holder on B, the trail reaches the release, which the relayer paid from its
    own funds: the trace follows those on B, and the crossing back to the deposit is named, not followed
    (it would explain the same value a second time)."""
    hop = bridged.hop
    stats = cli.json("graph", "stats", case)
    assert (stats["nodes"]["BridgeEvent"], stats["relationships"]["DEPOSITED"], stats["relationships"]["RELEASED"]) \
        == (2, 1, 1)
    data = cli.json("trace", case, "--seed", bridged.next_holder, "--chain", "anvil-b", "--direction", "backward",
                    "--model", "haircut")
    [crossing] = data["bridges"]
    assert (crossing["traced_on"], crossing["confidence"], crossing["continued"]) == ("release", "exact", False)
    assert crossing["traced"] == str(hop.output_amount) and "explain the same value twice" in crossing["why"]
    assert (crossing["deposit"]["txid"], crossing["deposit"]["chain"]) == (hop.deposit_txid, "anvil-a")
    assert all(row["reconciled"] for row in data["totals"].values())


def test_a_case_with_a_continuation_reproduces_from_its_package(cli: Cli, case: str, bridged: Bridged,
                                                               tmp_path: Path, tracer_home: Path) -> None:
    cli.json("trace", case, "--seed", bridged.hop.depositor, "--chain", "anvil-a", "--model", "haircut")
    assert cli("keys", "create", "unit-x").exit_code == 0
    package = tmp_path / "op-bridge.tar"
    assert cli("case", "export", case, "--out", str(package), "--sign", "unit-x").exit_code == 0
    data = cli.json("case", "import", str(package), "--as", "op-bridge-copy")
    # the trace on A and its continuation on B (its seed TXID:INDEX@UNITS and its crossing) re-run to the same
    # result; under another case name the manifests differ in the case's name only
    assert [(t["status"], t["differences"]) for t in data["traces"]] == [("reproduced-renamed", ["case"])] * 2
