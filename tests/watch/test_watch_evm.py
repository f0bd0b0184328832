# SPDX-License-Identifier: Apache-2.0
"""``tracer watch`` on a real ``anvil``: the account model. The seed A1 received 5 ETH and paid 3 ETH
to H; a forward trace leaves H's balance ``held``. H sending raises exactly one ``held_moved`` alert
with its txid; a reorg (``evm_revert`` to a snapshot, then other blocks) raises its retraction; a
seed receiving raises ``seed_received``. This module starts its own anvil: the reorg rewinds it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testing import devcontracts as dc
from testing.devnodes import Anvil
from tests.conftest import Cli
from tests.watch.conftest import Watch

CHAIN = "eth-devnet"
ETH = 10**18


@pytest.fixture(scope="module")
def node() -> Iterator[Anvil]:
    started = Anvil.start()
    try:
        yield started
    finally:
        started.stop()


def _traced(cli: Cli, anvil: Anvil, name: str) -> tuple[list[str], str]:
    """Seed A1 gets 5 ETH from A0 and pays 3 ETH to H (A7); the case is loaded and traced forward."""
    with anvil.rpc() as rpc:
        a = dc.accounts(rpc)
        dc.receipt(rpc, dc.send(rpc, a[0], a[1], value=5 * ETH))
        paid = dc.send(rpc, a[1], a[7], value=3 * ETH)
        dc.receipt(rpc, paid)
    assert cli("case", "create", name).exit_code == 0
    assert cli("case", "seed", "add", name, a[1], "--chain", CHAIN).exit_code == 0
    cli.json("ingest", "evm", "--chain", CHAIN, "--node", anvil.url, "--from", "0", "--case", name)
    traced = cli.json("trace", name, "--model", "haircut")
    held = {(e["address"], e["asset"]) for e in traced["endings"] if e["ending"] == "held"}
    assert (a[7], "native") in held, traced["endings"]
    return a, paid


def test_an_account_sending_a_held_balance_raises_one_alert_and_a_reorg_retracts_it(
        cli: Cli, watch: Watch, node: Anvil, tmp_path: Path) -> None:
    a, _ = _traced(cli, node, "op-eth")
    alerts_file = tmp_path / "alerts.jsonl"
    assert watch("op-eth", "--node", node.url, "--once", "--alerts", str(alerts_file)).exit_code == 0
    with node.rpc() as rpc:
        snapshot = rpc.call("evm_snapshot")
        moved = dc.send(rpc, a[7], a[8], value=ETH)
        block = dc.receipt(rpc, moved)["blockHash"]
    result = watch("op-eth", "--node", node.url, "--once", "--alerts", str(alerts_file), "--json")
    assert result.exit_code == 3, result.output
    [alert] = watch.lines(result)
    assert (alert["rule"], alert["txid"], alert["address"], alert["block_hash"]) == ("held_moved", moved, a[7], block)
    assert alert["amounts"] == [{"asset": "native", "amount": str(ETH), "coins": "1", "unit": "ETH"}]
    assert alert["next"].startswith(f"tracer trace op-eth --chain {CHAIN} --seed-sent {a[7]} --since ")
    with node.rpc() as rpc:
        assert rpc.call("evm_revert", snapshot)
        dc.mine(rpc, 2)  # other blocks at the alert's height and above
    result = watch("op-eth", "--node", node.url, "--once", "--alerts", str(alerts_file), "--json")
    assert result.exit_code == 3, result.output
    [retracted] = watch.lines(result)
    assert (retracted["rule"], retracted["id"], retracted["txid"]) == ("retracted", alert["id"], moved)
    assert len(alerts_file.read_text().splitlines()) == 2


def test_a_seed_receiving_raises_one_alert(cli: Cli, watch: Watch, node: Anvil) -> None:
    a, _ = _traced(cli, node, "op-eth2")
    with node.rpc() as rpc:
        txid = dc.send(rpc, a[2], a[1], value=2 * ETH)
        dc.receipt(rpc, txid)
    result = watch("op-eth2", "--node", node.url, "--once", "--json")
    assert result.exit_code == 3, result.output
    [alert] = watch.lines(result)
    assert (alert["rule"], alert["txid"], alert["address"]) == ("seed_received", txid, a[1])
    assert alert["amounts"][0]["amount"] == str(2 * ETH)
    assert alert["next"] == f"tracer trace op-eth2 --chain {CHAIN} --seed {txid} --model haircut"
