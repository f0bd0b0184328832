# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest evm``: a block range from a real ``anvil`` into the case's store.

Same guarantees as ``ingest utxo``: exact rows in the graph (native, token, internal, fee), the
completeness check passes (every touched balance equals ``eth_getBalance``), a re-run loads nothing,
a SIGKILL half-way then a resume gives every transaction exactly once, a reorg replaces the
orphaned blocks, and bad input (another chain, a height past the tip, a node without traces)
exits 2 with nothing written. Each test module starts its own anvil: the reorg test rewinds its chain.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests

from adapters.evm.node import EvmNode
from graph.embedded import EmbeddedStore
from testing import devcontracts as dc
from testing.devnodes import Anvil, free_port
from tests.conftest import Cli
from tracer.chains import default_registry

CHAIN = "eth-devnet"
DEVNET = default_registry().get(CHAIN)
ROOT = Path(__file__).resolve().parents[2]
EXTRA_BLOCKS = 150


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[Anvil, dc.Scenario]]:
    """The adapter scenario, then ``EXTRA_BLOCKS`` blocks of one payment each (for the SIGKILL test)."""
    started = Anvil.start()
    try:
        with started.rpc() as rpc:
            scenario = dc.build_scenario(rpc)
            a = scenario.accounts
            sent = [dc.send(rpc, a[i % 5], a[5 + i % 5], value=10**15 + i) for i in range(EXTRA_BLOCKS)]
            dc.receipt(rpc, sent[-1])
        yield started, scenario
    finally:
        started.stop()


def _stored(home: Path, case: str) -> Any:
    with EmbeddedStore.open(home / "cases" / case / "graph.lbug", read_only=True) as store:
        return store.read_frames(CHAIN)


def _tip(anvil: Anvil) -> int:
    with anvil.rpc() as rpc:
        return int(rpc.call("eth_blockNumber"), 16)


def _ingest(cli: Cli, url: str, case: str, *extra: str) -> Any:
    return cli.json("ingest", "evm", "--chain", CHAIN, "--node", url, "--case", case, *extra)


def test_a_block_range_lands_whole_and_exact_and_balances_reconcile(
    cli: Cli, tracer_home: Path, node: tuple[Anvil, dc.Scenario]
) -> None:
    anvil, s = node
    cli("case", "create", "op-eth")
    summary = _ingest(cli, anvil.url, "op-eth", "--from", "0", "--to", str(s.last_block), "--check-balances")
    assert (summary["blocks_loaded"], summary["transactions"]) == (s.last_block + 1, 16)
    assert summary["node"] == {"chain_id": 31337, "client": "anvil/v1.7.1", "block_receipts": True,
                               "traces": "trace_block"}
    assert summary["transfers"] == {"fee": 32, "internal": 3, "native": 5, "token": 7}
    assert summary["balance_check"]["mismatches"] == []
    assert summary["balance_check"]["addresses"] == 10  # accounts 0-5, 8, 9, the forwarder, the fee recipient
    assert {t["symbol"]: t["decimals"] for t in summary["tokens"]} == {"SIX": 6, "EIG": 18, "B32": None}
    stored = _stored(tracer_home, "op-eth")
    with EvmNode(anvil.url, DEVNET) as evm:
        direct = evm.fetch(list(range(0, s.last_block + 1))).frames
    key = ["txid", "kind", "log_index", "trace_path"]
    assert stored.transfers.sort(key).drop("source").equals(direct.transfers.sort(key).drop("source"))
    assert stored.transactions.sort("txid").drop("source").equals(direct.transactions.sort("txid").drop("source"))
    cache = tracer_home / "cases" / "op-eth" / "graph.lbug.ingest" / f"tokens-{CHAIN}.json"
    assert json.loads(cache.read_text())["tokens"][s.contracts["six"]]["decimals"] == 6


def test_running_the_same_ingest_again_loads_nothing(cli: Cli, tracer_home: Path,
                                                     node: tuple[Anvil, dc.Scenario]) -> None:
    anvil, s = node
    cli("case", "create", "op-eth")
    args = ("--from", "1", "--to", str(s.last_block))
    _ingest(cli, anvil.url, "op-eth", *args)
    before = _stored(tracer_home, "op-eth")
    again = _ingest(cli, anvil.url, "op-eth", *args)
    assert (again["blocks_loaded"], again["blocks_already_done"], again["transactions"]) == (0, s.last_block, 0)
    assert again["created"] == {}
    after = _stored(tracer_home, "op-eth")
    for name, frame in before.frames().items():
        assert after.frames()[name].equals(frame), name


def test_sigkill_half_way_then_resume_gives_every_transaction_exactly_once(
    tracer_home: Path, cli: Cli, node: tuple[Anvil, dc.Scenario]
) -> None:
    anvil, _ = node
    tip = _tip(anvil)
    cli("case", "create", "op-kill")
    env = {**os.environ, "TRACER_HOME": str(tracer_home)}
    command = [sys.executable, "-c", "from cli.app import main; main()", "ingest", "evm", "--chain", CHAIN,
               "--node", anvil.url, "--from", "1", "--to", str(tip), "--case", "op-kill", "--batch-blocks", "2"]
    checkpoint = tracer_home / "cases" / "op-kill" / "graph.lbug.ingest" / f"{CHAIN}.json"
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if checkpoint.exists() and json.loads(checkpoint.read_text())["done"][0][1] >= 20:
            break
        time.sleep(0.01)
    assert process.poll() is None, "ingest finished before it could be killed; make the range longer"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.stderr is not None
    process.stderr.close()
    assert json.loads(checkpoint.read_text())["done"][0][1] < tip
    resumed = _ingest(cli, anvil.url, "op-kill", "--from", "1", "--to", str(tip), "--check-balances")
    assert resumed["blocks_already_done"] >= 20
    assert resumed["balance_check"]["mismatches"] == []
    frames = _stored(tracer_home, "op-kill")
    assert frames.transactions["txid"].is_unique().all()
    assert frames.transactions.height == 16 + EXTRA_BLOCKS
    assert frames.transfers.select("txid", "kind", "log_index", "trace_path").is_unique().all()


def test_a_reorg_replaces_the_orphaned_blocks(cli: Cli, tracer_home: Path) -> None:
    anvil = Anvil.start()
    try:
        with anvil.rpc() as rpc:
            a = dc.accounts(rpc)
            dc.receipt(rpc, dc.send(rpc, a[0], a[1], value=1))  # mined before the snapshot (anvil mines async)
            snapshot = rpc.call("evm_snapshot")
            doomed = dc.send(rpc, a[0], a[2], value=2)
            dc.receipt(rpc, dc.send(rpc, a[0], a[3], value=3))
        cli("case", "create", "op-reorg")
        _ingest(cli, anvil.url, "op-reorg", "--from", "1")
        assert doomed in set(_stored(tracer_home, "op-reorg").transactions["txid"])
        with anvil.rpc() as rpc:
            assert rpc.call("evm_revert", snapshot)
            kept = [dc.send(rpc, a[4], a[5], value=5 + i) for i in range(3)]
            dc.receipt(rpc, kept[-1])
        summary = _ingest(cli, anvil.url, "op-reorg", "--from", "1", "--check-balances")
        assert summary["reorgs"] == [{"fork_height": 2, "removed_transactions": 2, "previous_stored_top": 3}]
        assert summary["balance_check"]["mismatches"] == []
        frames = _stored(tracer_home, "op-reorg")
        assert doomed not in set(frames.transactions["txid"])
        assert set(kept) <= set(frames.transactions["txid"])
        with EvmNode(anvil.url, DEVNET) as evm:
            assert (frames.transactions.sort("block_height")["block_hash"].to_list()
                    == evm.block_hashes([1, 2, 3, 4]))
    finally:
        anvil.stop()


def test_a_node_of_another_chain_or_past_the_tip_is_bad_input_and_writes_nothing(
    cli: Cli, tracer_home: Path, node: tuple[Anvil, dc.Scenario]
) -> None:
    anvil, _ = node
    cli("case", "create", "op-eth")
    wrong = cli("ingest", "evm", "--chain", "eth", "--node", anvil.url, "--from", "0", "--to", "3", "--case", "op-eth")
    assert wrong.exit_code == 2
    assert "serves chain id 31337, not eth" in wrong.stderr
    past = cli("ingest", "evm", "--chain", CHAIN, "--node", anvil.url, "--from", "0", "--to", "999999",
               "--case", "op-eth")
    assert past.exit_code == 2 and "past the node's latest block" in past.stderr
    assert not (tracer_home / "cases" / "op-eth" / "graph.lbug.ingest").exists()
    assert cli("ingest", "evm", "--chain", "ltc-regtest", "--node", anvil.url, "--from", "0").exit_code == 2


def test_an_unreachable_node_exits_4_without_its_credentials(cli: Cli) -> None:
    down = cli("ingest", "evm", "--chain", CHAIN, "--node", f"http://u:secret@127.0.0.1:{free_port()}", "--from", "0")
    assert down.exit_code == 4
    assert "cannot connect" in down.stderr and "secret" not in down.stderr


class _NoTraceProxy(BaseHTTPRequestHandler):
    """Forwards JSON-RPC to anvil but answers trace and debug methods like a node without those APIs."""

    upstream = ""

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        calls = body if isinstance(body, list) else [body]
        refused = {c["id"]: {"jsonrpc": "2.0", "id": c["id"], "error": {
            "code": -32601, "message": f"the method {c['method']} does not exist/is not available"}}
            for c in calls if c["method"].startswith(("trace_", "debug_"))}
        passed = [c for c in calls if c["id"] not in refused]
        answers = requests.post(self.upstream, json=passed, timeout=30).json() if passed else []
        replies = [*answers, *refused.values()]
        data = json.dumps(replies if isinstance(body, list) else replies[0]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_node_without_traces_is_refused_unless_the_gap_is_accepted(
    cli: Cli, tracer_home: Path, node: tuple[Anvil, dc.Scenario]
) -> None:
    anvil, s = node
    handler = type("Proxy", (_NoTraceProxy,), {"upstream": anvil.url})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        cli("case", "create", "op-eth")
        refused = cli("ingest", "evm", "--chain", CHAIN, "--node", url, "--from", "1", "--to", str(s.last_block),
                      "--case", "op-eth")
        assert refused.exit_code == 2
        assert "internal transfers" in refused.stderr and "--allow-missing-traces" in refused.stderr
        assert not (tracer_home / "cases" / "op-eth" / "graph.lbug.ingest").exists()
        accepted = _ingest(cli, url, "op-eth", "--from", "1", "--to", str(s.last_block),
                           "--allow-missing-traces")
        assert accepted["missing"] == ["internal"] and accepted["node"]["traces"] is None
        assert "internal" not in accepted["transfers"]
        frames = _stored(tracer_home, "op-eth")
        assert frames.transfers.filter(pl.col("kind") == "internal").height == 0
    finally:
        server.shutdown()
        server.server_close()

